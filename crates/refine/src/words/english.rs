//! English words as spaCy's blank English tokenizer splits them, which is what
//! datatrove's quality filters count (`spacy.blank("en")`, spaCy 3.8).
//!
//! The algorithm follows spaCy's tokenizer: the text is cut at whitespace (a single
//! space between two words is dropped, any other whitespace run is a token of its own);
//! each piece loses prefixes and suffixes one at a time until an exception matches or
//! nothing more comes off; what remains is a URL, an exception, or is split at infixes.
//! The rules below are spaCy's English punctuation rules, written out as character
//! tests. spaCy's character classes (`english_classes.rs`) and its exceptions
//! (contractions, abbreviations, emoticons: `english_exceptions.txt`) are data
//! generated from spaCy by `bench/quality/spacy_data.py`.

use std::sync::LazyLock;

use regex::Regex;
use rustc_hash::FxHashMap;

mod classes {
    include!("english_classes.rs");
}

/// One token: its text, or a whitespace run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// The token's text, a slice of the input.
    pub text: &'a str,
    /// Whether it is a run of whitespace (which datatrove's word lists leave out).
    pub space: bool,
}

/// Python's `str.isspace`: Unicode whitespace plus the separators U+001C..U+001F.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Ranges of a Unicode property, for binary search.
fn class_ranges(pattern: &str) -> Vec<(char, char)> {
    match regex_syntax::parse(pattern).expect("a valid class").kind() {
        regex_syntax::hir::HirKind::Class(regex_syntax::hir::Class::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|r| (r.start(), r.end()))
            .collect(),
        _ => unreachable!("a Unicode class"),
    }
}

fn in_ranges(ranges: &[(char, char)], c: char) -> bool {
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

static PUNCTUATION: LazyLock<Vec<(char, char)>> = LazyLock::new(|| class_ranges(r"\p{P}"));

/// Whether `c` lies in one of spaCy's classes, given as sorted inclusive ranges.
fn in_class(class: &[(u32, u32)], c: char) -> bool {
    let c = u32::from(c);
    let i = class.partition_point(|&(_, hi)| hi < c);
    class.get(i).is_some_and(|&(lo, _)| lo <= c)
}

/// spaCy's icons (`LIST_ICONS`): symbols of category So as an older Unicode had them.
fn is_icon(c: char) -> bool {
    !c.is_ascii() && in_class(classes::ICONS, c)
}

/// spaCy's `is_punct`: every character is of a punctuation category.
pub fn is_punct(text: &str) -> bool {
    !text.is_empty()
        && text.chars().all(|c| {
            if c.is_ascii() {
                c.is_ascii_punctuation() && !"$+<=>^`|~".contains(c)
            } else {
                in_ranges(&PUNCTUATION, c)
            }
        })
}

/// spaCy's `ALPHA`.
fn is_alpha(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        in_class(classes::ALPHA, c)
    }
}

/// spaCy's `ALPHA_LOWER` (lower-case letters and letters without case).
fn is_lower(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_lowercase()
    } else {
        in_class(classes::ALPHA_LOWER, c)
    }
}

/// spaCy's `ALPHA_UPPER` (upper-case letters and letters without case).
fn is_upper(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_uppercase()
    } else {
        in_class(classes::ALPHA_UPPER, c)
    }
}

/// spaCy's punctuation list (`LIST_PUNCT`), single characters.
const PUNCT: &str = "…,:;!?¿؟¡()[]{}<>_#*&。？！，、；：～·।،۔؛٪";
/// spaCy's quotes (`LIST_QUOTES`).
const QUOTES: &str = "'\"”“`‘´’‚,„»«「」『』（）〔〕【】《》〈〉\u{2329}\u{232a}⟦⟧";
/// spaCy's currency symbols (`LIST_CURRENCY`), longest first where one starts another.
const CURRENCY: &[&str] = &[
    "$", "£", "€", "¥", "฿", "US$", "C$", "A$", "₽", "﷼", "₴", "₠", "₡", "₢", "₣", "₤", "₥", "₦",
    "₧", "₨", "₩", "₪", "₫", "₭", "₮", "₯", "₰", "₱", "₲", "₳", "₵", "₶", "₷", "₸", "₹", "₺", "₻",
    "₼", "₾", "₿",
];
/// spaCy's units (`UNITS`), a suffix after a digit. `тбكم` is one unit in spaCy (a
/// missing space in its list), kept for agreement.
const UNITS: &[&str] = &[
    "km",
    "km²",
    "km³",
    "m",
    "m²",
    "m³",
    "dm",
    "dm²",
    "dm³",
    "cm",
    "cm²",
    "cm³",
    "mm",
    "mm²",
    "mm³",
    "ha",
    "µm",
    "nm",
    "yd",
    "in",
    "ft",
    "kg",
    "g",
    "mg",
    "µg",
    "t",
    "lb",
    "oz",
    "m/s",
    "km/h",
    "kmh",
    "mph",
    "hPa",
    "Pa",
    "mbar",
    "mb",
    "MB",
    "kb",
    "KB",
    "gb",
    "GB",
    "tb",
    "TB",
    "T",
    "G",
    "M",
    "K",
    "%",
    "км",
    "км²",
    "км³",
    "м",
    "м²",
    "м³",
    "дм",
    "дм²",
    "дм³",
    "см",
    "см²",
    "см³",
    "мм",
    "мм²",
    "мм³",
    "нм",
    "кг",
    "г",
    "мг",
    "м/с",
    "км/ч",
    "кПа",
    "Па",
    "мбар",
    "Кб",
    "КБ",
    "кб",
    "Мб",
    "МБ",
    "мб",
    "Гб",
    "ГБ",
    "гб",
    "Тб",
    "ТБ",
    "тбكم",
    "كم²",
    "كم³",
    "م",
    "م²",
    "م³",
    "سم",
    "سم²",
    "سم³",
    "مم",
    "مم²",
    "مم³",
    "كم",
    "غرام",
    "جرام",
    "جم",
    "كغ",
    "ملغ",
    "كوب",
    "اكواب",
];
/// Bit `c` set for each ASCII character `c` of `chars`.
const fn ascii_mask(chars: &str) -> u128 {
    let bytes = chars.as_bytes();
    let mut mask = 0u128;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] < 128 {
            mask |= 1 << bytes[i];
        }
        i += 1;
    }
    mask
}

const PUNCT_ASCII: u128 = ascii_mask(PUNCT);
const QUOTES_ASCII: u128 = ascii_mask(QUOTES);

/// Whether `c` is one of [`PUNCT`] (a bit test for ASCII, the hot case).
fn is_punct_char(c: char) -> bool {
    if c.is_ascii() {
        PUNCT_ASCII & (1 << c as u32) != 0
    } else {
        PUNCT.contains(c)
    }
}

/// Whether `c` is one of [`QUOTES`].
fn is_quote_char(c: char) -> bool {
    if c.is_ascii() {
        QUOTES_ASCII & (1 << c as u32) != 0
    } else {
        QUOTES.contains(c)
    }
}

/// Whether some currency symbol of [`CURRENCY`] can start with `c`.
fn may_start_currency(c: char) -> bool {
    matches!(
        c,
        '$' | 'U' | 'C' | 'A' | '£' | '¥' | '฿' | '﷼' | '\u{20a0}'..='\u{20bf}'
    )
}

/// Characters after which a final period is a suffix: digits, lower-case letters,
/// `%²-+`, spaCy's punctuation and quotes, and the `|(?:)` its pattern text holds.
fn before_final_period(c: char) -> bool {
    c.is_ascii_digit()
        || is_lower(c)
        || "%²-+|(?:)".contains(c)
        || is_punct_char(c)
        || is_quote_char(c)
}

/// Length in bytes of the prefix spaCy takes off `s`, 0 for none.
fn find_prefix(s: &str) -> usize {
    let mut chars = s.chars();
    let Some(c) = chars.next() else { return 0 };
    let one = c.len_utf8();
    match c {
        '§' | '%' | '=' | '—' | '–' => return one,
        '+' => {
            return if chars.next().is_some_and(|n| n.is_ascii_digit()) {
                0
            } else {
                one
            };
        }
        '.' => {
            let dots = s.bytes().take_while(|&b| b == b'.').count();
            return if dots >= 2 { dots } else { 0 };
        }
        _ => {}
    }
    if is_punct_char(c) || is_quote_char(c) {
        return one;
    }
    if may_start_currency(c)
        && let Some(cur) = CURRENCY.iter().find(|cur| s.starts_with(*cur))
    {
        return cur.len();
    }
    if is_icon(c) { one } else { 0 }
}

/// Whether the whole of `rest` (which follows `before` in the piece) is one of spaCy's
/// suffixes.
fn is_suffix(before: &str, rest: &str) -> bool {
    let mut chars = rest.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let single = chars.next().is_none();
    let mut prev = before.chars().rev();
    let p1 = prev.next();
    let p2 = prev.next();
    let after_digit = p1.is_some_and(|c| c.is_ascii_digit());
    if single
        && (is_punct_char(first)
            || is_quote_char(first)
            || first == '—'
            || first == '–'
            || is_icon(first))
    {
        return true;
    }
    if rest == "……" || (rest.len() >= 2 && rest.bytes().all(|b| b == b'.')) {
        return true;
    }
    if matches!(rest, "'s" | "'S" | "’s" | "’S") {
        return true;
    }
    if after_digit && (rest == "+" || CURRENCY.contains(&rest) || UNITS.contains(&rest)) {
        return true;
    }
    if rest == "." {
        if p2 == Some('°') && p1.is_some_and(|c| "FfCcKk".contains(c)) {
            return true;
        }
        if p1.is_some_and(before_final_period) {
            return true;
        }
        if p1.is_some_and(is_upper) && p2.is_some_and(is_upper) {
            return true;
        }
    }
    false
}

/// Length in bytes of the suffix spaCy takes off `s`: the longest one any rule matches
/// (its regex search finds the leftmost start).
fn find_suffix(s: &str) -> usize {
    for (i, _) in s.char_indices() {
        if is_suffix(&s[..i], &s[i..]) {
            return s.len() - i;
        }
    }
    0
}

/// The infixes of `s`, as (start, end) byte ranges, left to right without overlap.
fn find_infixes(s: &str, out: &mut Vec<(usize, usize)>) {
    out.clear();
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let end_of = |k: usize| chars.get(k).map_or(s.len(), |&(i, _)| i);
    let mut k = 0;
    while k < chars.len() {
        let (i, c) = chars[k];
        let prev = k.checked_sub(1).map(|p| chars[p].1);
        let next = chars.get(k + 1).map(|&(_, n)| n);
        // spaCy's alternatives in its order: dots, ellipsis and icons, an operator
        // between digits, a period between lower and upper case, a comma between
        // letters, then hyphens and `:<>=/` after a letter or digit.
        let one_char = c == '…'
            || is_icon(c)
            || (prev.is_some_and(|p| p.is_ascii_digit())
                && "+-*^".contains(c)
                && next.is_some_and(|n| n.is_ascii_digit() || n == '-'))
            || (c == '.'
                && prev.is_some_and(|p| is_lower(p) || is_quote_char(p))
                && next.is_some_and(|n| is_upper(n) || is_quote_char(n)))
            || (c == ',' && prev.is_some_and(is_alpha) && next.is_some_and(is_alpha));
        let mut len_chars = 0;
        if c == '.' && next == Some('.') {
            len_chars = chars[k..].iter().take_while(|&&(_, d)| d == '.').count();
        } else if one_char {
            len_chars = 1;
        } else if matches!(c, '-' | '–' | '—' | '~' | ':' | '<' | '>' | '=' | '/')
            && prev.is_some_and(|p| is_alpha(p) || p.is_ascii_digit())
        {
            for hyphen in ["-", "–", "—", "--", "---", "——", "~"] {
                if s[i..].starts_with(hyphen) {
                    let n = hyphen.chars().count();
                    if chars.get(k + n).is_some_and(|&(_, a)| is_alpha(a)) {
                        len_chars = n;
                        break;
                    }
                }
            }
            if len_chars == 0 && ":<>=/".contains(c) && next.is_some_and(is_alpha) {
                len_chars = 1;
            }
        }
        if len_chars > 0 {
            out.push((i, end_of(k + len_chars)));
            k += len_chars;
        } else {
            k += 1;
        }
    }
}

/// spaCy's URL pattern, host names branch (labels of any length).
static URL_DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    let host_char = r"A-Za-z0-9\x{a1}-\x{ffff}";
    let lower: String = classes::ALPHA_LOWER
        .iter()
        .map(|&(a, b)| format!(r"\x{{{a:x}}}-\x{{{b:x}}}"))
        .collect();
    let pattern = format!(
        r"^(?:[\w+\-.]{{2,}}://)?(?:\S+(?::\S*)?@)?(?:(?:[{host_char}][{host_char}_-]*)?[{host_char}]\.)+(?:[{lower}]{{2,63}})(?::\d{{2,5}})?(?:[/?#]\S*)?$"
    );
    Regex::new(&pattern).expect("the URL pattern compiles")
});

/// spaCy's URL pattern, IP address branch; the address is captured so that private
/// networks can be refused as spaCy's look-aheads do.
static URL_IP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[\w+\-.]{2,}://)?(?:\S+(?::\S*)?@)?((?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])(?:\.(?:1?\d{1,2}|2[0-4]\d|25[0-5])){2}(?:\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4])))(?::\d{2,5})?(?:[/?#]\S*)?$",
    )
    .expect("the URL pattern compiles")
});

/// Whether spaCy's URL pattern matches the whole of `s`.
fn is_url(s: &str) -> bool {
    // Both branches need a dot in the host.
    if !s.contains('.') {
        return false;
    }
    if URL_DOMAIN.is_match(s) {
        return true;
    }
    URL_IP.captures(s).is_some_and(|caps| {
        let ip = &caps[1];
        let mut octets = ip.split('.').map(|o| o.parse::<u32>().unwrap_or(0));
        let (a, b) = (octets.next().unwrap_or(0), octets.next().unwrap_or(0));
        !(a == 10
            || a == 127
            || (a == 169 && b == 254)
            || (a == 192 && b == 168)
            || (a == 172 && (16..=31).contains(&b)))
    })
}

/// Exceptions: a piece that is one of these keys becomes the listed tokens.
static EXCEPTIONS: LazyLock<FxHashMap<&'static str, Vec<&'static str>>> = LazyLock::new(|| {
    include_str!("english_exceptions.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let mut parts = line.split('\t');
            let key = parts.next().expect("a key");
            let tokens: Vec<&str> = parts.collect();
            (key, if tokens.is_empty() { vec![key] } else { tokens })
        })
        .collect()
});

fn exception(s: &str) -> Option<&'static [&'static str]> {
    EXCEPTIONS.get(s).map(Vec::as_slice)
}

/// Pushes the tokens of one whitespace-free piece.
fn piece<'a>(
    s: &'a str,
    out: &mut Vec<Token<'a>>,
    infixes: &mut Vec<(usize, usize)>,
    specials: bool,
) {
    let word = |text| Token { text, space: false };
    let exception = |s: &str| if specials { exception(s) } else { None };
    if let Some(tokens) = exception(s) {
        push_exception(s, tokens, out);
        return;
    }
    // Most pieces are all ASCII letters or all digits: no prefix, suffix or infix rule
    // and no URL can match those, so they are a word (or the exception seen above).
    if s.bytes().all(|b| b.is_ascii_alphabetic()) || s.bytes().all(|b| b.is_ascii_digit()) {
        out.push(word(s));
        return;
    }
    let mut prefixes: Vec<&str> = Vec::new();
    let mut suffixes: Vec<&str> = Vec::new();
    let mut rest = s;
    let mut last_len = usize::MAX;
    while !rest.is_empty() && rest.len() != last_len {
        if exception(rest).is_some() {
            break;
        }
        last_len = rest.len();
        let pre = find_prefix(rest);
        if pre > 0 {
            let minus_pre = &rest[pre..];
            if !minus_pre.is_empty() && exception(minus_pre).is_some() {
                prefixes.push(&rest[..pre]);
                rest = minus_pre;
                break;
            }
        }
        let suf = find_suffix(&rest[pre..]);
        if suf > 0 {
            let minus_suf = &rest[..rest.len() - suf];
            if !minus_suf.is_empty() && exception(minus_suf).is_some() {
                suffixes.push(&rest[rest.len() - suf..]);
                rest = minus_suf;
                break;
            }
        }
        if pre > 0 && suf > 0 && pre + suf <= rest.len() {
            prefixes.push(&rest[..pre]);
            suffixes.push(&rest[rest.len() - suf..]);
            rest = &rest[pre..rest.len() - suf];
        } else if pre > 0 {
            prefixes.push(&rest[..pre]);
            rest = &rest[pre..];
        } else if suf > 0 {
            suffixes.push(&rest[rest.len() - suf..]);
            rest = &rest[..rest.len() - suf];
        }
    }
    out.extend(prefixes.into_iter().map(word));
    if !rest.is_empty() {
        if let Some(tokens) = exception(rest) {
            push_exception(rest, tokens, out);
        } else if is_url(rest) {
            out.push(word(rest));
        } else {
            find_infixes(rest, infixes);
            let mut start = 0;
            for &(a, b) in infixes.iter() {
                if a == 0 {
                    continue;
                }
                if a != start {
                    out.push(word(&rest[start..a]));
                }
                out.push(word(&rest[a..b]));
                start = b;
            }
            if start < rest.len() {
                out.push(word(&rest[start..]));
            }
        }
    }
    out.extend(suffixes.into_iter().rev().map(word));
}

/// Pushes an exception's tokens as slices of the input (their texts concatenate to it).
fn push_exception<'a>(s: &'a str, tokens: &[&str], out: &mut Vec<Token<'a>>) {
    let mut at = 0;
    for t in tokens {
        let end = (at + t.len()).min(s.len());
        out.push(Token {
            text: &s[at..end],
            space: false,
        });
        at = end;
    }
}

/// All tokens of `text`, whitespace runs included, as spaCy's English tokenizer gives
/// them.
pub fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut infixes = Vec::new();
    let mut start = 0;
    let mut in_space = text.chars().next().is_some_and(is_space);
    for (i, c) in text.char_indices() {
        if is_space(c) != in_space {
            if start < i {
                let span = &text[start..i];
                if in_space {
                    out.push(Token {
                        text: span,
                        space: true,
                    });
                } else {
                    piece(span, &mut out, &mut infixes, true);
                }
            }
            start = if c == ' ' { i + 1 } else { i };
            in_space = !in_space;
        }
    }
    if start < text.len() {
        let span = &text[start..];
        if in_space {
            out.push(Token {
                text: span,
                space: true,
            });
        } else {
            piece(span, &mut out, &mut infixes, true);
        }
    }
    merge_exceptions(text, &mut out);
    out
}

/// Exceptions that affix splitting cuts apart (`):`, `''`, `a.m.`), by their first
/// piece: the pieces, and the exception's own tokens.
type Merges = FxHashMap<&'static str, Vec<(Vec<&'static str>, &'static [&'static str])>>;

static MERGES: LazyLock<Merges> = LazyLock::new(|| {
    let mut merges = Merges::default();
    let mut infixes = Vec::new();
    for (&key, tokens) in EXCEPTIONS.iter() {
        find_infixes(key, &mut infixes);
        if find_prefix(key) == 0 && find_suffix(key) == 0 && infixes.is_empty() {
            continue;
        }
        let mut pieces = Vec::new();
        piece(key, &mut pieces, &mut infixes, false);
        if pieces.len() >= 2 {
            let pieces: Vec<&'static str> = pieces.iter().map(|t| t.text).collect();
            merges
                .entry(pieces[0])
                .or_default()
                .push((pieces, tokens.as_slice()));
        }
    }
    merges
});

/// spaCy's second pass (`_apply_special_cases`): runs of adjacent tokens that spell an
/// exception as affix splitting cut it become the exception's tokens. Longer matches
/// win, then earlier ones; a match touching a token of one looked at before is left.
fn merge_exceptions<'a>(text: &'a str, tokens: &mut Vec<Token<'a>>) {
    let offset = |t: &str| t.as_ptr() as usize - text.as_ptr() as usize;
    let mut spans: Vec<(usize, usize, &'static [&'static str])> = Vec::new();
    for i in 0..tokens.len() {
        let Some(candidates) = MERGES.get(tokens[i].text) else {
            continue;
        };
        for (pieces, exception) in candidates {
            let end = i + pieces.len();
            if end > tokens.len() {
                continue;
            }
            // spaCy's phrase matcher compares texts only: a match may span a space
            // (then it still takes part in choosing below, but is not applied).
            let matches = tokens[i..end].iter().zip(pieces).all(|(t, p)| t.text == *p);
            if matches {
                spans.push((i, end, exception));
            }
        }
    }
    if spans.is_empty() {
        return;
    }
    spans.sort_by(|a, b| (a.1 - a.0).cmp(&(b.1 - b.0)).then(b.0.cmp(&a.0)));
    let mut seen = rustc_hash::FxHashSet::default();
    let mut chosen = Vec::new();
    for &(start, end, exception) in spans.iter().rev() {
        if !seen.contains(&start) && !seen.contains(&(end - 1)) {
            chosen.push((start, end, exception));
        }
        seen.extend(start..end);
    }
    chosen.sort_by_key(|c| c.0);
    let old = std::mem::take(tokens);
    let mut next = 0;
    let adjacent = |span: &[Token<'_>]| {
        span.windows(2)
            .all(|w| offset(w[0].text) + w[0].text.len() == offset(w[1].text))
    };
    for (start, end, exception) in chosen {
        if !adjacent(&old[start..end]) {
            continue;
        }
        tokens.extend_from_slice(&old[next..start]);
        let last = old[end - 1].text;
        let whole = &text[offset(old[start].text)..offset(last) + last.len()];
        push_exception(whole, exception, tokens);
        next = end;
    }
    tokens.extend_from_slice(&old[next..]);
}

/// The words of `text` as datatrove counts them: spaCy's tokens without whitespace.
pub fn words(text: &str) -> Vec<&str> {
    tokens(text)
        .into_iter()
        .filter(|t| !t.space)
        .map(|t| t.text)
        .collect()
}

/// Sentence-final characters of spaCy's sentencizer (`Sentencizer.default_punct_chars`),
/// the ones outside the Basic Multilingual Plane left out.
const SENTENCE_END: &str =
    "!.?։؟۔܀܁܂߹।॥၊။።፧፨᙮᜵᜶᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？｡。";

/// Whether a token is one sentence-final character of the sentencizer.
pub fn is_sentence_end(token: &str) -> bool {
    let mut chars = token.chars();
    chars.next().is_some_and(|c| SENTENCE_END.contains(c)) && chars.next().is_none()
}

/// How many sentences spaCy's sentencizer finds in `text` (at least 1): a sentence
/// ends after a sentence-final token once a token that is not punctuation follows.
pub fn sentence_count(text: &str) -> usize {
    let tokens = tokens(text);
    let mut count = 1;
    let mut seen_end = false;
    for t in &tokens {
        let end = is_sentence_end(t.text);
        if seen_end && !end && !is_punct(t.text) {
            count += 1;
            seen_end = false;
        } else if end {
            seen_end = true;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affixes_come_off_as_spacy_takes_them() {
        assert_eq!(
            words("(Hello, world!)"),
            ["(", "Hello", ",", "world", "!", ")"]
        );
        assert_eq!(words("$5 10km 5."), ["$", "5", "10", "km", "5", "."]);
        assert_eq!(
            words("Smith's U.S.A. end..."),
            ["Smith", "'s", "U.S.A.", "end", "..."]
        );
        assert_eq!(
            words("hello--world a-b x/y"),
            ["hello", "--", "world", "a", "-", "b", "x", "/", "y"]
        );
        assert_eq!(
            words("one.Two 3-4 a,b"),
            ["one", ".", "Two", "3", "-", "4", "a", ",", "b"]
        );
        // Plain words and numbers take the short way, exceptions still apply to them,
        // and currency symbols are found after their first letters (`US$`, `C$`).
        assert_eq!(
            words("cannot gonna Word 2024 US$5 C$3 €2"),
            [
                "can", "not", "gon", "na", "Word", "2024", "US$", "5", "C$", "3", "€", "2"
            ]
        );
    }

    #[test]
    fn urls_stay_whole() {
        assert_eq!(
            words("see http://example.com/x-y and www.example.org."),
            [
                "see",
                "http://example.com/x-y",
                "and",
                "www.example.org",
                "."
            ]
        );
    }

    #[test]
    fn whitespace_runs_are_tokens_a_single_space_is_not() {
        let t = tokens("Hi.  There\n\nx");
        let texts: Vec<&str> = t.iter().map(|t| t.text).collect();
        assert_eq!(texts, ["Hi", ".", " ", "There", "\n\n", "x"]);
        assert!(t[2].space && t[4].space);
    }

    #[test]
    fn exceptions_and_merges_match_recorded_spacy_tokens() {
        // Recorded with spaCy 3.8.18: [t.text for t in spacy.blank("en").tokenizer(s)].
        let recorded: &[(&str, &[&str])] = &[
            (
                "U.S.A. e.g. Mr. Smith's don't 10km 5.",
                &[
                    "U.S.A.", "e.g.", "Mr.", "Smith", "'s", "do", "n't", "10", "km", "5", ".",
                ],
            ),
            ("C++, :) (:)", &["C++", ",", ":)", "(", ":)"]),
            ("(see below):", &["(", "see", "below", "):"]),
            ("he said ''hi''", &["he", "said", "''", "hi", "''"]),
            ("x):)", &["x", "):", ")"]),
            ("a ) : b", &["a", ")", ":", "b"]),
            ("Smith Jr.'s", &["Smith", "Jr.", "'s"]),
            ("(Jr.)x", &["(", "Jr.)x"]),
            ("8) and 8 )", &["8)", "and", "8", ")"]),
            ("' ''Hello there", &["'", "'", "'", "Hello", "there"]),
            ("যদি চ.বি তে", &["যদি", "চ.বি", "তে"]),
            (
                "এ-কা 5-6 x–y",
                &["এ", "-", "কা", "5", "-", "6", "x", "–", "y"],
            ),
            (
                "Visit example.com/path, or 10.0.0.1:80/x and 8.8.8.8:80/x.",
                &[
                    "Visit",
                    "example.com/path",
                    ",",
                    "or",
                    "10.0.0.1:80",
                    "/",
                    "x",
                    "and",
                    "8.8.8.8:80/x",
                    ".",
                ],
            ),
        ];
        for (text, want) in recorded {
            assert_eq!(&words(text), want, "{text:?}");
        }
    }

    #[test]
    fn sentences_end_after_final_punctuation() {
        assert_eq!(sentence_count("One. Two! Three"), 3);
        assert_eq!(sentence_count("Wait... what?!"), 1);
        assert_eq!(sentence_count("No end here"), 1);
        assert_eq!(sentence_count("\"Quoted.\" Next one."), 2);
    }
}
