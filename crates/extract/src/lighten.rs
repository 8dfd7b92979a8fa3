//! Lightens the HTML before it reaches the parser: caps how deeply elements nest, and
//! leaves out the text of scripts and style sheets.
//!
//! An HTML tree builder checks the stack of open elements for many start and end tags, so
//! a page of 100,000 nested `<div>`s costs time quadratic in its depth (minutes), and every
//! later pass over ancestors pays again. Browsers cap the depth of the tree they build for
//! the same reason. This pass does the same before parsing: a light tag scanner keeps a
//! model of the open elements and leaves out the start and end tags of elements that
//! would open deeper than the limit, keeping their text.
//!
//! The same scan empties `<script>` (except JSON-LD, which the metadata pass reads) and
//! `<style>` elements: no pass reads their text, and it is 46% of the bytes of the
//! shared extraction pages (scripts 31%, styles 15%), which the parser would otherwise
//! tokenize and keep. It also leaves out attributes that neither the passes nor
//! dom_smoothie read for text: `data-*` (scripts' data, 11% of what remains), `srcset`
//! (3%) and the shapes of inline drawings (`d` and `points` inside `<svg>`, 8%); each
//! would be a name to intern and a value to keep, copy and free. (Emptying inline `<svg>`
//! drawings too, 7% of the bytes, saved another 4% of the time but changed
//! dom_smoothie's choices on a few WCXB pages for the worse.) Pages with none of these
//! (and within the depth limit) come back borrowed and unchanged.
//!
//! The model is approximate by design: elements whose end tag is optional (`p`, `li`,
//! `td`, ...) and void elements are not counted (but their tags are left out too below
//! the limit, so nothing nests deeper there), raw-text elements (`script`, `style`,
//! `textarea`, ...) are skipped whole, and an end tag closes the nearest open element of
//! its name among the topmost [`END_TAG_SEARCH`] entries, as the parser's generic end-tag
//! rule does.

use std::borrow::Cow;

/// How many open elements an end tag looks through for its match; bounds the cost of
/// unmatched end tags on deep pages.
const END_TAG_SEARCH: usize = 512;

/// One entry of the open-element model: where its tag name lies in the page and
/// whether its tags were kept in the output.
struct Open {
    name: std::ops::Range<usize>,
    kept: bool,
}

/// Returns `html` with elements nested deeper than `max_depth` flattened into their
/// ancestor at that depth (their tags removed, their content kept), and scripts and
/// style sheets emptied.
pub(crate) fn lighten(html: &str, max_depth: usize) -> Cow<'_, str> {
    let bytes = html.as_bytes();
    let mut stack: Vec<Open> = Vec::new();
    // Filled lazily: only a page that needs a change is copied.
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut drop_range = |out: &mut Option<String>, start: usize, end: usize| {
        let buf = out.get_or_insert_with(|| String::with_capacity(html.len()));
        buf.push_str(&html[copied..start]);
        copied = end;
    };
    let mut in_foreign = 0usize;
    let mut dropped = Vec::new();
    let mut i = 0;
    while let Some(offset) = memchr::memchr(b'<', &bytes[i..]) {
        let start = i + offset;
        let rest = &bytes[start + 1..];
        match rest.first() {
            Some(b'!') => {
                i = if rest.starts_with(b"!--") {
                    find(bytes, start + 4, b"-->").map_or(bytes.len(), |p| p + 3)
                } else {
                    memchr::memchr(b'>', &bytes[start..]).map_or(bytes.len(), |p| start + p + 1)
                };
            }
            Some(b'?') => {
                i = memchr::memchr(b'>', &bytes[start..]).map_or(bytes.len(), |p| start + p + 1);
            }
            Some(b'/') if rest.get(1).is_some_and(u8::is_ascii_alphabetic) => {
                let (range, end) = scan_tag(bytes, start + 2);
                i = end;
                let name = &bytes[range];
                if is_uncounted(name) {
                    if stack.len() >= max_depth {
                        drop_range(&mut out, start, end);
                    }
                    continue;
                }
                let lowest = stack.len().saturating_sub(END_TAG_SEARCH);
                let matching = (lowest..stack.len())
                    .rev()
                    .find(|&p| bytes[stack[p].name.clone()].eq_ignore_ascii_case(name));
                if let Some(pos) = matching {
                    if !stack[pos].kept {
                        drop_range(&mut out, start, end);
                    }
                    for open in stack.drain(pos..) {
                        if is_foreign_root(&bytes[open.name]) {
                            in_foreign = in_foreign.saturating_sub(1);
                        }
                    }
                }
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let (range, end) = scan_tag(bytes, start + 1);
                i = end;
                let name = &bytes[range.clone()];
                if let Some(close) = raw_text_end(name) {
                    // Skip the element's text up to its end tag; it holds no elements.
                    let close_at = find_ignore_case(bytes, end, close).unwrap_or(bytes.len());
                    if close_at > end && is_code(name, &bytes[start..end]) {
                        drop_range(&mut out, end, close_at);
                    }
                    i = close_at;
                    continue;
                }
                if name.eq_ignore_ascii_case(b"plaintext") {
                    break;
                }
                let self_closing = end >= 2 && bytes[end - 2] == b'/';
                let kept = stack.len() < max_depth;
                if kept {
                    let foreign = in_foreign > 0 || is_foreign_root(name);
                    unread_attributes(bytes, range.end, end, foreign, &mut dropped);
                    for attribute in dropped.drain(..) {
                        drop_range(&mut out, attribute.start, attribute.end);
                    }
                } else {
                    drop_range(&mut out, start, end);
                }
                if is_uncounted(name) || (in_foreign > 0 && self_closing) {
                    // Not counted, but below the limit nothing nests any deeper.
                    continue;
                }
                if is_foreign_root(name) {
                    in_foreign += 1;
                }
                stack.push(Open { name: range, kept });
            }
            _ => i = start + 1,
        }
        if i >= bytes.len() {
            break;
        }
    }
    match out {
        Some(mut buf) => {
            buf.push_str(&html[copied..]);
            Cow::Owned(buf)
        }
        None => Cow::Borrowed(html),
    }
}

/// Reads a tag name starting at `at` and finds the end of the tag (just past its `>`,
/// skipping quoted attribute values). Returns where the name lies and that end.
fn scan_tag(bytes: &[u8], at: usize) -> (std::ops::Range<usize>, usize) {
    let mut i = at;
    while i < bytes.len()
        && !matches!(
            bytes[i],
            b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' | b'/' | b'>'
        )
    {
        i += 1;
    }
    let name = at..i;
    let mut quote: Option<u8> = None;
    let mut after_equals = false;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'>' => return (name, i + 1),
                b'"' | b'\'' if after_equals => quote = Some(b),
                b'=' => {
                    after_equals = true;
                    i += 1;
                    continue;
                }
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' if after_equals => {
                    i += 1;
                    continue;
                }
                _ => {}
            },
        }
        after_equals = false;
        i += 1;
    }
    (name, bytes.len())
}

/// Finds the [`unread`] attributes of a start tag whose name ends at `at` and which ends
/// at `end` (just past its `>`, as [`scan_tag`] found it), reading attributes as the
/// tokenizer does; pushes each one's range, from the space before it to the end of its
/// value. `foreign`: the tag is inside (or is) an `<svg>` or `<math>`.
fn unread_attributes(
    bytes: &[u8],
    at: usize,
    end: usize,
    foreign: bool,
    found: &mut Vec<std::ops::Range<usize>>,
) {
    let space = |b: u8| matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ');
    let end = end.min(bytes.len());
    let mut i = at;
    while i < end {
        let before = i;
        while i < end && (space(bytes[i]) || bytes[i] == b'/') {
            i += 1;
        }
        if i >= end || bytes[i] == b'>' {
            return;
        }
        let name = i;
        // A name's first character may be `=`; after it, `=` ends the name.
        i += 1;
        while i < end && !space(bytes[i]) && !matches!(bytes[i], b'/' | b'>' | b'=') {
            i += 1;
        }
        let drop = unread(&bytes[name..i], foreign);
        let mut after = i;
        while after < end && space(bytes[after]) {
            after += 1;
        }
        if after < end && bytes[after] == b'=' {
            i = after + 1;
            while i < end && space(bytes[i]) {
                i += 1;
            }
            match bytes[..end].get(i) {
                Some(&q @ (b'"' | b'\'')) => {
                    i = memchr::memchr(q, &bytes[i + 1..end]).map_or(end, |p| i + 1 + p + 1);
                }
                _ => {
                    while i < end && !space(bytes[i]) && bytes[i] != b'>' {
                        i += 1;
                    }
                }
            }
        }
        if drop {
            found.push(before..i.min(end));
        }
    }
}

/// Attributes no pass reads for text: `data-*`, `srcset`, and drawings' shapes.
fn unread(name: &[u8], foreign: bool) -> bool {
    (name.len() > 5 && name[..5].eq_ignore_ascii_case(b"data-"))
        || name.eq_ignore_ascii_case(b"srcset")
        || (foreign && (name.eq_ignore_ascii_case(b"d") || name.eq_ignore_ascii_case(b"points")))
}

/// Elements the model does not push: void elements and those whose end tag is optional
/// (the parser closes them implicitly, so counting them would drift).
fn is_uncounted(name: &[u8]) -> bool {
    let mut buf = [0u8; 10];
    let Some(name) = lowercase(name, &mut buf) else {
        return false;
    };
    matches!(
        name,
        b"area"
            | b"base"
            | b"br"
            | b"col"
            | b"embed"
            | b"hr"
            | b"img"
            | b"input"
            | b"link"
            | b"meta"
            | b"param"
            | b"source"
            | b"track"
            | b"wbr"
            | b"keygen"
            | b"p"
            | b"li"
            | b"dt"
            | b"dd"
            | b"tr"
            | b"td"
            | b"th"
            | b"thead"
            | b"tbody"
            | b"tfoot"
            | b"colgroup"
            | b"caption"
            | b"option"
            | b"optgroup"
            | b"rb"
            | b"rt"
            | b"rp"
            | b"rtc"
            | b"html"
            | b"head"
            | b"body"
    )
}

fn is_foreign_root(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"svg") || name.eq_ignore_ascii_case(b"math")
}

/// `name` in lowercase, in `buf`; `None` when it is longer than any name looked for.
fn lowercase<'a>(name: &[u8], buf: &'a mut [u8; 10]) -> Option<&'a [u8]> {
    let out = buf.get_mut(..name.len())?;
    for (o, b) in out.iter_mut().zip(name) {
        *o = b.to_ascii_lowercase();
    }
    Some(out)
}

/// For raw-text and escapable raw-text elements, the end tag that closes them.
fn raw_text_end(name: &[u8]) -> Option<&'static [u8]> {
    let mut buf = [0u8; 10];
    Some(match lowercase(name, &mut buf)? {
        b"script" => b"</script",
        b"style" => b"</style",
        b"textarea" => b"</textarea",
        b"title" => b"</title",
        b"xmp" => b"</xmp",
        b"iframe" => b"</iframe",
        b"noembed" => b"</noembed",
        b"noframes" => b"</noframes",
        _ => return None,
    })
}

/// Whether a raw-text element is code no pass reads: a script (other than JSON-LD,
/// which the metadata pass reads) or a style sheet. Their text is often half of a
/// page's bytes, which the parser would tokenize and keep for nothing.
fn is_code(name: &[u8], tag: &[u8]) -> bool {
    let mut buf = [0u8; 10];
    match lowercase(name, &mut buf) {
        Some(b"style") => true,
        Some(b"script") => !tag.windows(7).any(|w| w.eq_ignore_ascii_case(b"ld+json")),
        _ => false,
    }
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(bytes.get(from..)?, needle).map(|p| from + p)
}

/// Finds an ASCII needle (given in lowercase) case-insensitively.
fn find_ignore_case(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let mut i = from;
    while let Some(p) = memchr::memchr(b'<', bytes.get(i..)?) {
        let at = i + p;
        if bytes.len() >= at + needle.len()
            && bytes[at..at + needle.len()].eq_ignore_ascii_case(needle)
        {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shallow_pages_are_borrowed_unchanged() {
        let html =
            "<html><body><div><p>a<p>b<ul><li>c<li>d</ul></div><br><img src=x></body></html>";
        assert!(matches!(lighten(html, 3), Cow::Borrowed(_)));
    }

    #[test]
    fn deep_nesting_is_flattened_keeping_text() {
        let html = format!("{}text{}", "<div>".repeat(10), "</div>".repeat(10));
        let out = lighten(&html, 4);
        assert_eq!(
            out,
            format!("{}text{}", "<div>".repeat(4), "</div>".repeat(4))
        );
    }

    #[test]
    fn uncounted_tags_below_the_limit_are_left_out_too() {
        let html = format!("{}x", "<ul><li>".repeat(5));
        assert_eq!(lighten(&html, 2), "<ul><li><ul>x");
    }

    #[test]
    fn unclosed_children_are_closed_by_their_parent() {
        // Spans left open inside each div must not drift the depth upwards.
        let html = "<div><span>x</div>".repeat(50);
        assert!(matches!(lighten(&html, 3), Cow::Borrowed(_)));
    }

    #[test]
    fn scripts_and_styles_are_emptied_json_ld_kept() {
        let html = "<head><STYLE>p{color:red}</style><script src=a.js></script>\
                    <script type=\"application/ld+json\">{\"a\":1}</script></head>\
                    <body><script>document.write(\"<p>x</p>\")</SCRIPT><p>kept</p>";
        assert_eq!(
            lighten(html, 100),
            "<head><STYLE></style><script src=a.js></script>\
             <script type=\"application/ld+json\">{\"a\":1}</script></head>\
             <body><script></SCRIPT><p>kept</p>"
        );
        // An unclosed script runs to the end of the page, as the parser reads it.
        assert_eq!(lighten("<p>a</p><script>b<p>c", 100), "<p>a</p><script>");
    }

    #[test]
    fn scripts_comments_and_quoted_brackets_are_skipped() {
        // The script's text (emptied) and the comment hold no elements: one div deep.
        let html = r#"<div title="a>b"><script>if (a<b) "<div><div><div>"</script><!-- <div><div> --></div>"#;
        assert_eq!(
            lighten(html, 1),
            r#"<div title="a>b"><script></script><!-- <div><div> --></div>"#
        );
    }

    #[test]
    fn unread_attributes_are_left_out() {
        let html = r#"<img src=a srcset="a 1x, b 2x"><svg viewBox="0 0 1 1"><path d="M0 0L1 1"/><polygon points="0,0 1,1"/></svg><p d=1 points=2>t"#;
        assert_eq!(
            lighten(html, 100),
            r#"<img src=a><svg viewBox="0 0 1 1"><path/><polygon/></svg><p d=1 points=2>t"#
        );
    }

    #[test]
    fn data_attributes_are_left_out() {
        let html = r#"<div data-id="1" class=a data-x='y>z' DATA-Y=plain id="b"data-z><p data-q>t</p></div><img src=x data-src="a b">"#;
        assert_eq!(
            lighten(html, 100),
            r#"<div class=a id="b"><p>t</p></div><img src=x>"#
        );
        // Not attributes: text, other names, a value that says data-.
        let kept = r#"<p title="data-x=1">data-y="2"</p><a database=1 data=2>x</a>"#;
        assert!(matches!(lighten(kept, 100), Cow::Borrowed(_)));
    }

    #[test]
    fn attributes_of_every_shape_leave_a_page_that_reads_the_same() {
        // Every small combination of attribute pieces: nothing panics, and what is left
        // is the page without its unread attributes, its text and other tags intact.
        let pieces = [
            "data-a", "x", "=", "\"", "'", " ", ">", "/", "d", "srcset", "<p>",
        ];
        let mut seen = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in pieces {
                        let html = format!("<div {a}{b}{c}{d}>t</div><svg><path {a}{c}></svg>u");
                        let out = lighten(&html, 100);
                        let text = |h: &str| dom_query::Document::from(h).root().text();
                        assert_eq!(text(&out), text(&html), "{html} -> {out}");
                        seen += 1;
                    }
                }
            }
        }
        assert_eq!(seen, pieces.len().pow(4));
    }

    #[test]
    fn odd_input_does_not_panic() {
        for html in [
            "<",
            "</",
            "<a",
            "<a b='",
            "<!--",
            "<!",
            "<?",
            "<script>",
            "<é<ü>",
            "</é>",
            "<a data-",
            "<a data-x=",
            "<a data-x='",
            "<a data-x= ",
            "<a =data-x>",
        ] {
            let _ = lighten(html, 1);
        }
    }
}
