//! Character sets and counting helpers shared by the quality rules, with Python's
//! string semantics where datatrove relies on them (lengths in characters, `isspace`,
//! `splitlines`, `isalpha`).

use std::collections::HashSet;
use std::sync::LazyLock;

/// Sentence-final punctuation of many scripts: datatrove's `TERMINAL_PUNCTUATION`
/// (the default `stop_chars` of the FineWeb rule, and part of the symbol set).
pub const TERMINAL_PUNCTUATION: &str = "!.?։؝؞؟۔܀܁܂߹࠷࠹࠽࠾।॥၊။።፧፨᙮᜵᜶។៕៖៙៚᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟\u{1b7d}\u{1b7e}᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼\u{2e53}\u{2e54}。꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？｡\u{10a56}\u{10a57}\u{10f55}\u{10f56}\u{10f57}\u{10f58}\u{10f59}\u{10f86}\u{10f87}\u{10f88}\u{10f89}\u{11047}\u{11048}\u{110be}\u{110bf}\u{110c0}\u{110c1}\u{11141}\u{11142}\u{11143}\u{111c5}\u{111c6}\u{111cd}\u{111de}\u{111df}\u{11238}\u{11239}\u{1123b}\u{1123c}\u{112a9}\u{1144b}\u{1144c}\u{115c2}\u{115c3}\u{115c9}\u{115ca}\u{115cb}\u{115cc}\u{115cd}\u{115ce}\u{115cf}\u{115d0}\u{115d1}\u{115d2}\u{115d3}\u{115d4}\u{115d5}\u{115d6}\u{115d7}\u{11641}\u{11642}\u{1173c}\u{1173d}\u{1173e}\u{11944}\u{11946}\u{11a42}\u{11a43}\u{11a9b}\u{11a9c}\u{11c41}\u{11c42}\u{11ef7}\u{11ef8}\u{11f43}\u{11f44}\u{16a6e}\u{16a6f}\u{16af5}\u{16b37}\u{16b38}\u{16b44}\u{16e98}\u{1bc9f}\u{1da88}";

/// datatrove's `PUNCTUATION`: ASCII and CJK punctuation and the control characters
/// other than tab and newline.
const PUNCTUATION: &str =
    "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»";

static SYMBOLS: LazyLock<HashSet<char>> = LazyLock::new(|| {
    PUNCTUATION
        .chars()
        .chain(TERMINAL_PUNCTUATION.chars())
        .chain(
            (0u32..9)
                .chain(11..32)
                .chain(127..160)
                .filter_map(char::from_u32),
        )
        .collect()
});

/// Whether `c` is in datatrove's `PUNCTUATION_SET` (punctuation, terminal punctuation,
/// control characters).
pub fn is_symbol(c: char) -> bool {
    SYMBOLS.contains(&c)
}

/// Whether `c` is one of [`TERMINAL_PUNCTUATION`].
pub fn is_terminal(c: char) -> bool {
    TERMINAL_PUNCTUATION.contains(c)
}

/// Length in characters, as Python's `len`.
pub fn chars(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

static LETTERS: LazyLock<Vec<(char, char)>> =
    LazyLock::new(
        || match regex_syntax::parse(r"\p{L}").expect("a class").kind() {
            regex_syntax::hir::HirKind::Class(regex_syntax::hir::Class::Unicode(class)) => class
                .ranges()
                .iter()
                .map(|r| (r.start(), r.end()))
                .collect(),
            _ => unreachable!("a Unicode class"),
        },
    );

/// Python's `str.isalpha` for one character: a letter of any category `L*`.
pub fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    let i = LETTERS.partition_point(|&(_, hi)| hi < c);
    LETTERS.get(i).is_some_and(|&(lo, _)| lo <= c)
}

/// Python's `str.isspace` for one character.
pub fn is_space(c: char) -> bool {
    crate::words::english::is_space(c)
}

/// Python's `str.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Python's `str.splitlines()`: lines without their ends, at `\n`, `\r`, `\r\n`, `\v`,
/// `\f`, `\x1c`-`\x1e`, `\x85`, U+2028 and U+2029.
pub fn splitlines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\u{b}'
                | '\u{c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if is_break {
            out.push(&s[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' && iter.peek().is_some_and(|&(_, n)| n == '\n') {
                iter.next();
                end += 1;
            }
            start = end;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// The items that repeat an earlier one, as [`find_duplicates`] counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Duplicates {
    /// How many items repeat an earlier one.
    pub count: usize,
    /// Their total length, in characters.
    pub chars: usize,
}

/// datatrove's `find_duplicates`: how many items repeat an earlier one, and their
/// total length in characters.
pub fn find_duplicates<'a>(items: impl ExactSizeIterator<Item = &'a str>) -> Duplicates {
    let mut seen = rustc_hash::FxHashSet::with_capacity_and_hasher(items.len(), Default::default());
    let (mut count, mut length) = (0, 0);
    for item in items {
        if !seen.insert(item) {
            count += 1;
            length += chars(item);
        }
    }
    Duplicates {
        count,
        chars: length,
    }
}

/// Non-overlapping occurrences of `needle`, as Python's `str.count`.
pub fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_string_semantics() {
        assert_eq!(splitlines("a\r\nb\rc\u{2028}d\n"), ["a", "b", "c", "d"]);
        assert_eq!(splitlines("\n\nx"), ["", "", "x"]);
        assert_eq!(chars("héllo"), 5);
        assert_eq!(count("......", "..."), 2);
        assert_eq!(py_strip("\u{1f} x \u{a0}"), "x");
        assert!(is_letter('é') && is_letter('中') && !is_letter('1'));
        assert_eq!(
            find_duplicates(["a", "bb", "a", "bb", "bb"].into_iter()),
            Duplicates { count: 3, chars: 5 }
        );
        assert!(is_symbol('\u{1}') && is_symbol('。') && !is_symbol('\t') && !is_symbol('a'));
        assert!(is_terminal('।') && !is_terminal(','));
    }
}
