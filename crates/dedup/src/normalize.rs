//! Text normalization: what two texts must share to count as the same words.
//!
//! The text is turned into a sequence of words written into one string, separated by
//! single spaces. In order, each switchable by a setting:
//!
//! 1. **NFKC** (`nfkc`): Unicode compatibility composition, so full-width `Ａ１` reads as
//!    `A1` and the ligature `ﬁ` as `fi`. Skipped for text that is already NFKC (all ASCII
//!    text is).
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

use unicode_normalization::char::{decompose_canonical, is_combining_mark};
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
    composed: String,
    text: String,
    starts: Vec<u32>,
}

/// Entries of the cache of non-ASCII characters.
const CACHE: usize = 2048;

/// What one non-ASCII character becomes (when that is at most 4 characters).
#[derive(Debug, Clone, Copy)]
struct Cached {
    /// The character; NUL (ASCII, never cached) for an empty entry.
    key: char,
    len: u8,
    items: [(char, Class); 4],
}

impl Cached {
    const EMPTY: Cached = Cached {
        key: '\0',
        len: 0,
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
            composed: String::new(),
            text: String::new(),
            starts: Vec::new(),
        }
    }

    /// Normalizes `text`; the result stays readable through [`Normalizer::text`] and
    /// [`Normalizer::words`] until the next call.
    pub fn normalize(&mut self, text: &str) {
        let mut out = Words {
            bytes: std::mem::take(&mut self.text).into_bytes(),
            starts: std::mem::take(&mut self.starts),
            in_word: false,
            solo: false,
        };
        out.bytes.clear();
        out.starts.clear();
        let nfkc_needed = self.options.nfkc
            && !text.is_ascii()
            && is_nfkc_quick(text.chars()) != IsNormalized::Yes;
        let mut composed = std::mem::take(&mut self.composed);
        composed.clear();
        let input = if nfkc_needed {
            composed.extend(text.nfkc());
            composed.as_str()
        } else {
            text
        };
        let bytes = input.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let byte = bytes[i];
            if byte < 0x80 {
                // The common case, kept tight: one table look-up per byte.
                i += 1;
                let mapped = self.ascii[usize::from(byte & 0x7f)];
                if mapped == 0 {
                    out.in_word = false;
                    continue;
                }
                if !out.in_word || out.solo {
                    out.start_word();
                    out.in_word = true;
                    out.solo = false;
                }
                out.bytes.push(mapped);
                continue;
            }
            let c = input[i..].chars().next().expect("a character starts here");
            i += c.len_utf8();
            self.non_ascii(c, &mut out);
        }
        self.composed = composed;
        self.starts = out.starts;
        self.text = String::from_utf8(out.bytes).expect("only whole characters were written");
    }

    /// The normalized text: words joined by single spaces.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The number of words.
    pub fn word_count(&self) -> usize {
        self.starts.len()
    }

    /// The normalized text of words `from..to` (exclusive), joined by single spaces.
    pub fn words(&self, from: usize, to: usize) -> &str {
        debug_assert!(from < to && to <= self.starts.len());
        let start = self.starts[from] as usize;
        let end = if to < self.starts.len() {
            self.starts[to] as usize - 1
        } else {
            self.text.len()
        };
        &self.text[start..end]
    }

    /// Pushes what a non-ASCII character becomes, from the cache when it was seen.
    fn non_ascii(&mut self, c: char, out: &mut Words) {
        let slot = (c as usize ^ (c as usize >> 11)) & (CACHE - 1);
        let entry = self.cache[slot];
        if entry.key == c {
            for &(mapped, class) in &entry.items[..entry.len as usize] {
                out.push(mapped, class, self.options.remove_punctuation);
            }
            return;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        if self.options.lowercase {
            for lower in c.to_lowercase() {
                self.expand(lower, &mut scratch);
            }
        } else {
            self.expand(c, &mut scratch);
        }
        for &(mapped, class) in &scratch {
            out.push(mapped, class, self.options.remove_punctuation);
        }
        if scratch.len() <= 4 {
            let mut entry = Cached {
                key: c,
                len: scratch.len() as u8,
                ..Cached::EMPTY
            };
            entry.items[..scratch.len()].copy_from_slice(&scratch);
            self.cache[slot] = entry;
        }
        self.scratch = scratch;
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

/// The words being written: UTF-8 bytes, words joined by single spaces.
struct Words {
    bytes: Vec<u8>,
    starts: Vec<u32>,
    in_word: bool,
    /// The current word is a character of a script written without spaces.
    solo: bool,
}

impl Words {
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
        self.bytes
            .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
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
