//! Text normalization: what two texts must share to count as the same words.
//!
//! The text is turned into a sequence of words written into one string, separated by
//! single spaces. In order, each switchable by a setting:
//!
//! 1. **NFKC** (`nfkc`): Unicode compatibility composition, so full-width `Ａ１` reads as
//!    `A1` and the ligature `ﬁ` as `fi`. The result is exactly NFKC, computed cheaply:
//!    NFKC's quick check runs along the way from a per-character cache; a character whose
//!    compatibility image is made of starters that never compose (`…` → `...`,
//!    `，` → `,`, a no-break space) is mapped on its own; only a text that still fails the
//!    check (decomposed accents, some Indic letters) is composed as a whole.
//! 2. **Lowercase** (`lowercase`): Unicode lowercase mapping, character by character.
//! 3. **Accents** (`strip_accents`): letters of the Latin, Greek and Cyrillic scripts lose
//!    their diacritics (`é` → `e`, `ё` → `е`, `ά` → `α`), and the combining diacritical
//!    marks U+0300–U+036F are removed wherever they stand. Marks of other scripts
//!    (Devanagari vowel signs, Thai tone marks, ...) are kept: there they spell different
//!    words.
//! 4. **Digits** (`zero_digits`): every numeric character becomes `0`, one for one
//!    (`1999` → `0000`), so dates and counters do not hide a copy.
//! 5. **Words**. With `remove_punctuation`, a word is a run of letters, numbers and
//!    combining marks; everything else (punctuation, symbols, spaces) only separates words
//!    and is dropped (`don't` → `don t`). Without it, words are split on whitespace only.
//!    Scripts written without spaces between words (Han, Hiragana, Katakana, Thai, Lao,
//!    Khmer, Myanmar) are split one character per word (with the marks that follow it),
//!    so a shingle of 5 words there is a 5-character window, as in character n-gram dedup
//!    of CJK text. Hangul is written with spaces and is split like Latin.
//!
//! Whitespace is collapsed as a consequence: words are joined by exactly one space.

use unicode_normalization::char::{
    canonical_combining_class, decompose_canonical, is_combining_mark,
};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

/// Which normalizations apply; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NormalizeOptions {
    /// Unicode NFKC first.
    pub nfkc: bool,
    /// Lowercase.
    pub lowercase: bool,
    /// Strip diacritics from Latin, Greek and Cyrillic letters.
    pub strip_accents: bool,
    /// Treat punctuation and symbols as separators (else split on whitespace only).
    pub remove_punctuation: bool,
    /// Numeric characters become `0`.
    pub zero_digits: bool,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        NormalizeOptions {
            nfkc: true,
            lowercase: true,
            strip_accents: true,
            remove_punctuation: true,
            zero_digits: true,
        }
    }
}

/// A reusable normalizer: its buffers grow to the largest text seen and are kept.
#[derive(Debug, Clone)]
pub struct Normalizer {
    options: NormalizeOptions,
    /// What each ASCII byte becomes; 0 for a separator.
    ascii: [u8; 128],
    /// What recent non-ASCII characters became, by character (direct-mapped).
    cache: Box<[Cached]>,
    scratch: Vec<(char, Class)>,
    /// For the character expanded into `scratch`: passes NFKC's quick check, and the
    /// canonical combining classes of the first and last characters it becomes.
    scratch_nfkc: (bool, u8, u8),
    composed: String,
    words: Words,
}

/// Entries of the cache of non-ASCII characters.
const CACHE: usize = 4096;

/// What one non-ASCII character becomes (when that is at most 4 characters), and what
/// NFKC's quick check needs to know of it.
#[derive(Debug, Clone, Copy)]
struct Cached {
    /// The character; NUL (ASCII, never cached) for an empty entry.
    key: char,
    len: u8,
    /// The canonical combining class of the first and of the last character it becomes
    /// (for NFKC's ordering check).
    ccc: u8,
    ccc_last: u8,
    /// NFKC leaves it alone (quick check `Yes`).
    stable: bool,
    items: [(char, Class); 4],
}

impl Cached {
    const EMPTY: Cached = Cached {
        key: '\0',
        len: 0,
        ccc: 0,
        ccc_last: 0,
        stable: true,
        items: [('\0', Class::Separator); 4],
    };
}

/// How one character takes part in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Ends the current word and is dropped.
    Separator,
    /// Continues (or starts) a word.
    Letter,
    /// A word of its own (scripts written without spaces).
    Solo,
    /// Attaches to the word before it.
    Mark,
}

impl Normalizer {
    /// A normalizer with these options.
    pub fn new(options: NormalizeOptions) -> Self {
        let mut ascii = [0u8; 128];
        for (byte, out) in (0u8..).zip(ascii.iter_mut()) {
            *out = if byte.is_ascii_digit() && options.zero_digits {
                b'0'
            } else if byte.is_ascii_alphanumeric() {
                if options.lowercase {
                    byte.to_ascii_lowercase()
                } else {
                    byte
                }
            } else if byte.is_ascii_whitespace()
                || byte.is_ascii_control()
                || options.remove_punctuation
            {
                0
            } else {
                byte
            };
        }
        Normalizer {
            options,
            ascii,
            cache: vec![Cached::EMPTY; CACHE].into_boxed_slice(),
            scratch: Vec::new(),
            scratch_nfkc: (true, 0, 0),
            composed: String::new(),
            words: Words::default(),
        }
    }

    /// Normalizes `text`; the result stays readable through [`Normalizer::text`] and
    /// [`Normalizer::words`] until the next call.
    pub fn normalize(&mut self, text: &str) {
        // NFKC's quick check runs along the way, from the cache; only a text that fails
        // it pays for composing the whole text and a second pass.
        if !self.pass(text, self.options.nfkc) {
            let mut composed = std::mem::take(&mut self.composed);
            composed.clear();
            composed.extend(text.nfkc());
            let done = self.pass(&composed, false);
            debug_assert!(done, "a pass without the NFKC check always completes");
            self.composed = composed;
        }
    }

    /// One pass over `input`; with `check_nfkc`, stops and returns `false` at the first
    /// sign that the text is not NFKC.
    fn pass(&mut self, input: &str, check_nfkc: bool) -> bool {
        self.words.clear();
        self.words.bytes.reserve(input.len());
        let ascii = self.ascii;
        let bytes = input.as_bytes();
        let mut last_ccc = 0u8;
        let mut i = 0;
        while i < bytes.len() {
            let byte = bytes[i];
            if byte < 0x80 {
                // The common case, kept tight: runs of ASCII separators, then of ASCII
                // word bytes, each a loop of one table look-up per byte.
                last_ccc = 0;
                let w = &mut self.words;
                if ascii[usize::from(byte)] == 0 {
                    i += 1;
                    while i < bytes.len() && bytes[i] < 0x80 && ascii[usize::from(bytes[i])] == 0 {
                        i += 1;
                    }
                    w.in_word = false;
                    continue;
                }
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] < 0x80 && ascii[usize::from(bytes[i])] != 0 {
                    i += 1;
                }
                if !w.in_word || w.solo {
                    w.start_word();
                    w.in_word = true;
                    w.solo = false;
                }
                w.bytes
                    .extend(bytes[start..i].iter().map(|&b| ascii[usize::from(b)]));
                continue;
            }
            let c = input[i..].chars().next().expect("a character starts here");
            i += c.len_utf8();
            if let Some(class) = plain(c) {
                // Ideographs, kana, Hangul syllables: NFKC-stable, no case, no accents.
                last_ccc = 0;
                self.words.push(c, class, true);
                continue;
            }
            let slot = (c as usize ^ (c as usize >> 12)) & (CACHE - 1);
            if self.cache[slot].key != c {
                self.fill_entry(c, slot);
            }
            let entry = &self.cache[slot];
            if entry.key != c {
                // Too long to cache: the expansion is in the scratch buffer.
                let (stable, ccc, ccc_last) = self.scratch_nfkc;
                if check_nfkc && (!stable || (ccc != 0 && last_ccc > ccc)) {
                    return false;
                }
                last_ccc = ccc_last;
                for &(mapped, class) in &self.scratch {
                    self.words
                        .push(mapped, class, self.options.remove_punctuation);
                }
                continue;
            }
            if check_nfkc && (!entry.stable || (entry.ccc != 0 && last_ccc > entry.ccc)) {
                return false;
            }
            last_ccc = entry.ccc_last;
            for &(mapped, class) in &entry.items[..usize::from(entry.len)] {
                self.words
                    .push(mapped, class, self.options.remove_punctuation);
            }
        }
        true
    }

    /// Computes what a non-ASCII character becomes into its cache slot, or, when it is
    /// too long for an entry, into `scratch` (then the slot keeps its old key).
    #[cold]
    fn fill_entry(&mut self, c: char, slot: usize) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let quick_yes = is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes;
        // A character that fails the quick check is mapped here, once, to its NFKC image
        // when every character of the image passes it (`…` to `...`, `，` to `,`, a
        // Bengali letter to its base and nukta): nothing in the image can compose with
        // a neighbour, and what could compose with the image fails the quick check itself;
        // the image's marks are in canonical order, and its first and last classes are
        // checked against its neighbours'. Whole-text NFKC gives the same.
        let mut image = None;
        if self.options.nfkc && !quick_yes {
            let mapped: Vec<char> = std::iter::once(c).nfkc().collect();
            if mapped
                .iter()
                .all(|&d| is_nfkc_quick(std::iter::once(d)) == IsNormalized::Yes)
            {
                image = Some(mapped);
            }
        }
        let (ccc, ccc_last) = match &image {
            Some(mapped) => {
                for &d in mapped {
                    self.lowered(d, &mut scratch);
                }
                let class = |d: Option<&char>| d.map_or(0, |&d| canonical_combining_class(d));
                (class(mapped.first()), class(mapped.last()))
            }
            None => {
                self.lowered(c, &mut scratch);
                let ccc = canonical_combining_class(c);
                (ccc, ccc)
            }
        };
        let mut entry = Cached {
            key: c,
            len: 0,
            ccc,
            ccc_last,
            stable: quick_yes || image.is_some(),
            ..Cached::EMPTY
        };
        if scratch.len() <= entry.items.len() {
            entry.len = scratch.len() as u8;
            entry.items[..scratch.len()].copy_from_slice(&scratch);
            self.cache[slot] = entry;
        }
        self.scratch_nfkc = (entry.stable, entry.ccc, entry.ccc_last);
        self.scratch = scratch;
    }

    /// The reference the fast path must equal: whole-text NFKC first, then one pass.
    #[cfg(test)]
    fn normalize_reference(&mut self, text: &str) {
        let composed: String = if self.options.nfkc {
            text.nfkc().collect()
        } else {
            text.to_owned()
        };
        assert!(self.pass(&composed, false));
    }

    /// The normalized text: words joined by single spaces.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.words.bytes).expect("only whole characters are written")
    }

    /// The normalized text as bytes.
    pub(crate) fn text_bytes(&self) -> &[u8] {
        &self.words.bytes
    }

    /// The number of words.
    pub fn word_count(&self) -> usize {
        self.words.starts.len()
    }

    /// The normalized text of words `from..to` (exclusive), joined by single spaces.
    pub fn words(&self, from: usize, to: usize) -> &str {
        std::str::from_utf8(self.word_bytes(from, to)).expect("words are whole characters")
    }

    /// [`Normalizer::words`] as bytes.
    pub(crate) fn word_bytes(&self, from: usize, to: usize) -> &[u8] {
        let starts = &self.words.starts;
        debug_assert!(from < to && to <= starts.len());
        let start = starts[from] as usize;
        let end = if to < starts.len() {
            starts[to] as usize - 1
        } else {
            self.words.bytes.len()
        };
        &self.words.bytes[start..end]
    }

    /// Lowercase (if asked), accents, then classes, of one character.
    fn lowered(&self, c: char, out: &mut Vec<(char, Class)>) {
        if c.is_ascii() || !self.options.lowercase {
            let c = if self.options.lowercase {
                c.to_ascii_lowercase()
            } else {
                c
            };
            return self.expand(c, out);
        }
        for lower in c.to_lowercase() {
            self.expand(lower, out);
        }
    }

    /// Accents, then classes, of one (lowercased) character.
    fn expand(&self, c: char, out: &mut Vec<(char, Class)>) {
        if self.options.strip_accents && accented_script(c) {
            let mut parts = [None; 4];
            let mut n = 0;
            decompose_canonical(c, |d| {
                if n < parts.len() {
                    parts[n] = Some(d);
                }
                n += 1;
            });
            if n > parts.len() {
                // No canonical decomposition is this long; keep the character whole.
                return out.push(self.classify(c));
            }
            for d in parts.into_iter().flatten() {
                if !is_combining_diacritic(d) {
                    out.push(self.classify(d));
                }
            }
        } else if self.options.strip_accents && is_combining_diacritic(c) {
            // A diacritic that did not compose with its letter.
        } else {
            out.push(self.classify(c));
        }
    }

    fn classify(&self, c: char) -> (char, Class) {
        let o = &self.options;
        if c.is_ascii() {
            // Lowercasing or decomposing gave an ASCII letter.
            let out = self.ascii[c as usize];
            return if out == 0 {
                (' ', Class::Separator)
            } else {
                (out as char, Class::Letter)
            };
        }
        if c.is_whitespace() {
            (' ', Class::Separator)
        } else if c.is_numeric() {
            (if o.zero_digits { '0' } else { c }, Class::Letter)
        } else if is_combining_mark(c) {
            (c, Class::Mark)
        } else if written_without_spaces(c) {
            (c, Class::Solo)
        } else if c.is_alphabetic() || !o.remove_punctuation {
            (c, Class::Letter)
        } else {
            (c, Class::Separator)
        }
    }
}

/// Characters that every setting leaves as they are, and their class: CJK unified
/// ideographs, Hiragana and Katakana letters (one word each), Hangul syllables.
#[inline]
fn plain(c: char) -> Option<Class> {
    match c as u32 {
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x3041..=0x3096 | 0x30A1..=0x30FA => Some(Class::Solo),
        0xAC00..=0xD7A3 => Some(Class::Letter),
        _ => None,
    }
}

/// The words being written: UTF-8 bytes, words joined by single spaces.
#[derive(Debug, Clone, Default)]
struct Words {
    bytes: Vec<u8>,
    starts: Vec<u32>,
    in_word: bool,
    /// The current word is a character of a script written without spaces.
    solo: bool,
}

impl Words {
    fn clear(&mut self) {
        self.bytes.clear();
        self.starts.clear();
        self.in_word = false;
        self.solo = false;
    }

    #[inline]
    fn push(&mut self, c: char, class: Class, marks_alone_dropped: bool) {
        match class {
            Class::Separator => {
                self.in_word = false;
                return;
            }
            Class::Mark if !self.in_word => {
                // A mark with no letter before it: nothing to attach to.
                if marks_alone_dropped {
                    return;
                }
                self.start_word();
            }
            Class::Mark => {}
            Class::Letter if self.in_word && !self.solo => {}
            Class::Letter | Class::Solo => self.start_word(),
        }
        let mut utf8 = [0u8; 4];
        // Byte by byte: a call to memcpy for 1 to 4 bytes costs more than the copy.
        for &b in c.encode_utf8(&mut utf8).as_bytes() {
            self.bytes.push(b);
        }
        self.in_word = true;
        self.solo = match class {
            Class::Mark => self.solo,
            other => other == Class::Solo,
        };
    }

    fn start_word(&mut self) {
        if !self.bytes.is_empty() {
            self.bytes.push(b' ');
        }
        self.starts
            .push(u32::try_from(self.bytes.len()).expect("a document's text is below 4 GiB"));
    }
}

/// Latin, Greek and Cyrillic letters, whose diacritics `strip_accents` removes.
fn accented_script(c: char) -> bool {
    matches!(c as u32, 0x00C0..=0x052F | 0x1E00..=0x1FFF)
}

/// The Combining Diacritical Marks block.
fn is_combining_diacritic(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F)
}

/// Scripts written without spaces between words: each character is one word.
fn written_without_spaces(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF       // Thai, Lao
        | 0x1000..=0x109F     // Myanmar
        | 0x1780..=0x17FF     // Khmer
        | 0x2E80..=0x2FDF     // CJK radicals
        | 0x3005..=0x3007     // ideographic iteration mark, closing mark, zero
        | 0x3021..=0x3029     // Hangzhou numerals
        | 0x3040..=0x30FF     // Hiragana, Katakana
        | 0x31F0..=0x31FF     // Katakana extensions
        | 0x3400..=0x4DBF     // CJK extension A
        | 0x4E00..=0x9FFF     // CJK unified ideographs
        | 0xF900..=0xFAFF     // CJK compatibility ideographs
        | 0xFF66..=0xFF9F     // half-width Katakana
        | 0x20000..=0x3134F // CJK extensions B to G
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> String {
        norm_with(NormalizeOptions::default(), text)
    }

    fn norm_with(options: NormalizeOptions, text: &str) -> String {
        let mut n = Normalizer::new(options);
        n.normalize(text);
        n.text().to_owned()
    }

    #[test]
    fn default_normalization_is_documented_behaviour() {
        assert_eq!(
            norm("  Hello,   WORLD!\n\tIt's 1999. "),
            "hello world it s 0000"
        );
        assert_eq!(norm("Ｆｕｌｌ　ｗｉｄｔｈ １２"), "full width 00");
        assert_eq!(norm("Crème brûlée à Noël"), "creme brulee a noel");
        assert_eq!(norm("Ёлка, ἀθήνα"), "елка αθηνα");
        assert_eq!(
            norm("e\u{301}te\u{301}"),
            "ete",
            "decomposed accents go too"
        );
        assert_eq!(norm("ﬁne — “quoted” 😀 text"), "fine quoted text");
        assert_eq!(norm(""), "");
        assert_eq!(norm(" .,;!? "), "");
    }

    #[test]
    fn other_scripts_keep_their_marks_and_split_where_they_must() {
        assert_eq!(norm("नमस्ते दुनिया"), "नमस्ते दुनिया", "Devanagari marks stay");
        assert_eq!(norm("東京タワー。"), "東 京 タ ワ ー");
        assert_eq!(
            norm("สวัสดีครับ"),
            "ส วั ส ดี ค รั บ",
            "Thai marks follow their letter"
        );
        assert_eq!(norm("안녕하세요 세계"), "안녕하세요 세계");
        assert_eq!(norm("abc東京def"), "abc 東 京 def");
    }

    #[test]
    fn every_switch_does_something() {
        let off = NormalizeOptions {
            nfkc: false,
            lowercase: false,
            strip_accents: false,
            remove_punctuation: false,
            zero_digits: false,
        };
        assert_eq!(norm_with(off, " Héllo,  Ｗorld 42! "), "Héllo, Ｗorld 42!");
        let only = |f: fn(&mut NormalizeOptions)| {
            let mut o = off;
            f(&mut o);
            norm_with(o, "Héllo, Ｗorld 42!")
        };
        assert_eq!(only(|o| o.nfkc = true), "Héllo, World 42!");
        assert_eq!(only(|o| o.lowercase = true), "héllo, ｗorld 42!");
        assert_eq!(only(|o| o.strip_accents = true), "Hello, Ｗorld 42!");
        assert_eq!(only(|o| o.remove_punctuation = true), "Héllo Ｗorld 42");
        assert_eq!(only(|o| o.zero_digits = true), "Héllo, Ｗorld 00!");
    }

    #[test]
    fn nfkc_is_exact_even_where_the_fast_path_is_not_enough() {
        let keep_accents = NormalizeOptions {
            strip_accents: false,
            ..NormalizeOptions::default()
        };
        // Decomposed input composes, as whole-text NFKC would.
        assert_eq!(
            norm_with(keep_accents, "cafe\u{301} Cafe\u{301}"),
            "café café"
        );
        assert_eq!(norm("か\u{3099}が"), "が が");
        assert_eq!(
            norm("\u{1100}\u{1161}\u{11A8} 각"),
            "각 각",
            "Hangul jamo compose"
        );
        // Marks out of canonical order are reordered (ccc 220 before 230).
        assert_eq!(
            norm_with(keep_accents, "a\u{301}\u{316}"),
            norm_with(keep_accents, "a\u{316}\u{301}")
        );
        // A text that passes the quick check is not composed at all, and the cache
        // gives the same result on a second sight.
        let mut n = Normalizer::new(NormalizeOptions::default());
        for _ in 0..2 {
            n.normalize("Ünïcödé ÜNÏCÖDÉ，ｆｕｌｌ");
            assert_eq!(n.text(), "unicode unicode full");
        }
    }

    /// Characters where a per-character shortcut could go wrong: accents precomposed
    /// and combining (in and out of order), compatibility forms, Indic letters excluded
    /// from composition and their nuktas, Hangul jamo, kana voicing marks, Thai, CJK.
    const TRICKY: &[char] = &[
        'a', 'e', 'E', ' ', '.', 'é', 'Å', 'ǆ', 'İ', 'ß', 'ﬁ', '…', '\u{a0}', '²', '™', '，', 'Ａ',
        '\u{301}', '\u{308}', '\u{316}', '\u{323}', '\u{344}', '\u{2dd}', '´', '\u{9df}',
        '\u{9af}', '\u{9bc}', '\u{9be}', '\u{9c7}', '\u{9cb}', '\u{a36}', '\u{a38}', '\u{a3c}',
        '\u{95c}', '\u{94d}', '\u{1100}', '\u{1161}', '\u{11a8}', '가', 'か', '\u{3099}', 'ｶ',
        '\u{ff9e}', 'ำ', 'ส', '\u{e48}', '東', '㍻', '①', 'Ω', '\u{1e9b}', '\u{fdfa}',
    ];

    proptest::proptest! {
        #[test]
        fn the_fast_path_equals_whole_text_nfkc(
            picks in proptest::collection::vec(0..TRICKY.len(), 0..24),
            strip in proptest::bool::ANY,
        ) {
            let text: String = picks.iter().map(|&i| TRICKY[i]).collect();
            let options = NormalizeOptions {
                strip_accents: strip,
                ..NormalizeOptions::default()
            };
            let mut fast = Normalizer::new(options);
            let mut reference = Normalizer::new(options);
            fast.normalize(&text);
            reference.normalize_reference(&text);
            proptest::prop_assert_eq!(fast.text(), reference.text(), "{:?}", text);
        }
    }

    #[test]
    fn the_fast_path_equals_whole_text_nfkc_on_75_languages() {
        let dir = std::env::var_os("ATELIER_DATA")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
            })
            .join("langid/lingua-sentences");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("skipped: no {}", dir.display());
            return;
        };
        let (mut fast, mut reference) = (
            Normalizer::new(NormalizeOptions::default()),
            Normalizer::new(NormalizeOptions::default()),
        );
        let mut checked = 0;
        for entry in entries {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines() {
                fast.normalize(line);
                reference.normalize_reference(line);
                assert_eq!(fast.text(), reference.text(), "{line}");
                checked += 1;
            }
        }
        assert!(checked >= 70_000, "{checked} sentences");
    }

    #[test]
    fn word_slices_cover_the_words() {
        let mut n = Normalizer::new(NormalizeOptions::default());
        n.normalize("One, two; THREE four.");
        assert_eq!(n.word_count(), 4);
        assert_eq!(n.words(0, 1), "one");
        assert_eq!(n.words(1, 3), "two three");
        assert_eq!(n.words(0, 4), "one two three four");
        n.normalize("x");
        assert_eq!((n.word_count(), n.words(0, 1)), (1, "x"));
    }
}
