//! Turning bytes of unknown encoding into UTF-8.
//!
//! [`decode_html`] mostly follows the order browsers use: a byte-order mark, then the
//! charset the transport declared (an HTTP `Content-Type`), then a `<meta charset>`,
//! `<meta http-equiv="Content-Type">` or `<?xml encoding?>` found in the first 4096 bytes,
//! then a statistical guess by `chardetng`. One exception: bytes that are valid UTF-8 and
//! not pure ASCII are read as UTF-8 whatever is declared, since declarations are often
//! stale and other encodings almost never form valid UTF-8 by chance. [`decode_text`]
//! does the same without looking for markup. HTML file and WARC readers share these.

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

/// How far into a page [`sniff_html_charset`] looks.
pub const PRESCAN_BYTES: usize = 4096;

/// How much of the input the statistical guess reads.
const GUESS_BYTES: usize = 1 << 20;

/// Decodes an HTML (or XML) page; returns the text and the encoding used.
pub fn decode_html(bytes: &[u8], declared: Option<&str>) -> (String, &'static Encoding) {
    let encoding = Encoding::for_bom(bytes)
        .map(|(e, _)| e)
        .or_else(|| utf8_beyond_ascii(bytes).then_some(UTF_8))
        .or_else(|| declared.and_then(label))
        .or_else(|| sniff_html_charset(&bytes[..bytes.len().min(PRESCAN_BYTES)]))
        .unwrap_or_else(|| guess(bytes));
    (decode_with(encoding, bytes), encoding)
}

/// Decodes plain text; returns the text and the encoding used.
pub fn decode_text(bytes: &[u8], declared: Option<&str>) -> (String, &'static Encoding) {
    let encoding = Encoding::for_bom(bytes)
        .map(|(e, _)| e)
        .or_else(|| utf8_beyond_ascii(bytes).then_some(UTF_8))
        .or_else(|| declared.and_then(label))
        .unwrap_or_else(|| guess(bytes));
    (decode_with(encoding, bytes), encoding)
}

/// The encoding a charset label names (WHATWG labels: `latin1` is windows-1252).
pub fn label(name: &str) -> Option<&'static Encoding> {
    Encoding::for_label(name.trim().trim_matches(['"', '\'']).as_bytes())
}

/// The `charset` parameter of a `Content-Type` value.
pub fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(['"', '\'']))
    })
}

/// The media type of a `Content-Type` value, lowercase and without parameters.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The charset declared inside the head of an HTML or XML page, if any.
///
/// Looks at `<meta charset=...>`, `<meta http-equiv="Content-Type" content="...;
/// charset=...">` and `<?xml ... encoding="..."?>`. As browsers do, a declared UTF-16 is
/// read as UTF-8 (the page would not be readable as ASCII otherwise) and
/// `x-user-defined` as windows-1252.
pub fn sniff_html_charset(head: &[u8]) -> Option<&'static Encoding> {
    let found = xml_declaration(head).or_else(|| meta_charset(head))?;
    let encoding = label(&found)?;
    Some(
        if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
            UTF_8
        } else if encoding == encoding_rs::X_USER_DEFINED {
            WINDOWS_1252
        } else {
            encoding
        },
    )
}

fn xml_declaration(head: &[u8]) -> Option<String> {
    let head = head.strip_prefix(b"<?xml")?;
    let end = memchr::memmem::find(head, b"?>")?;
    let decl = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
    value_after(&decl, "encoding")
}

fn meta_charset(head: &[u8]) -> Option<String> {
    let lower = String::from_utf8_lossy(head).to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("<meta") {
        rest = &rest[i + 5..];
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        if let Some(found) = value_after(tag, "charset") {
            return Some(found);
        }
    }
    None
}

/// The value after `name` `=` in a tag, unquoted: `charset="utf-8"` gives `utf-8`.
fn value_after(text: &str, name: &str) -> Option<String> {
    let mut rest = text;
    while let Some(i) = rest.find(name) {
        rest = rest[i + name.len()..].trim_start();
        let Some(after) = rest.strip_prefix('=') else {
            continue;
        };
        let after = after.trim_start().trim_start_matches(['"', '\'']);
        let end = after
            .find(|c: char| c == '"' || c == '\'' || c == ';' || c == '>' || c.is_whitespace())
            .unwrap_or(after.len());
        if end > 0 {
            return Some(after[..end].to_string());
        }
    }
    None
}

/// Whether `bytes` are valid UTF-8 with at least one non-ASCII character.
fn utf8_beyond_ascii(bytes: &[u8]) -> bool {
    !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok()
}

fn guess(bytes: &[u8]) -> &'static Encoding {
    if std::str::from_utf8(bytes).is_ok() {
        return UTF_8;
    }
    let mut detector = chardetng::EncodingDetector::new();
    let sample = &bytes[..bytes.len().min(GUESS_BYTES)];
    detector.feed(sample, sample.len() == bytes.len());
    detector.guess(None, true)
}

fn decode_with(encoding: &'static Encoding, bytes: &[u8]) -> String {
    let (text, _) = encoding.decode_with_bom_removal(bytes);
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_of_evidence() {
        let page = b"<html><head><meta charset=\"windows-1252\"></head>caf\xe9</html>";
        let (text, enc) = decode_html(page, None);
        assert_eq!(enc, WINDOWS_1252);
        assert!(text.contains("café"));
        // The transport's charset wins over the page's.
        let (_, enc) = decode_html(page, Some("iso-8859-2"));
        assert_eq!(enc.name(), "ISO-8859-2");
        // A BOM wins over everything.
        let (text, enc) = decode_html(b"\xef\xbb\xbfhi", Some("latin1"));
        assert_eq!((text.as_str(), enc), ("hi", UTF_8));
        // Valid UTF-8 beyond ASCII wins over a stale declaration.
        let (text, enc) = decode_html("<meta charset=latin1>é".as_bytes(), Some("latin1"));
        assert_eq!((text.as_str(), enc), ("<meta charset=latin1>é", UTF_8));
        // Pure ASCII follows the declaration.
        assert_eq!(decode_html(b"<meta charset=latin1>e", None).1, WINDOWS_1252);
    }

    #[test]
    fn http_equiv_and_xml_declarations() {
        let page = b"<meta http-equiv='Content-Type' content='text/html; charset=KOI8-R'>";
        assert_eq!(sniff_html_charset(page).unwrap().name(), "KOI8-R");
        let xml = b"<?xml version=\"1.0\" encoding=\"ISO-8859-15\"?><a/>";
        assert_eq!(sniff_html_charset(xml).unwrap().name(), "ISO-8859-15");
        assert_eq!(sniff_html_charset(b"<meta charset=utf-16>"), Some(UTF_8));
        assert_eq!(sniff_html_charset(b"<p>charset=latin1</p>"), None);
    }

    #[test]
    fn guesses_when_nothing_is_declared() {
        let (text, enc) = decode_text("plain é".as_bytes(), None);
        assert_eq!((text.as_str(), enc), ("plain é", UTF_8));
        let (text, _) = decode_text(b"Gr\xfc\xdfe aus M\xfcnchen, sch\xf6ne Gr\xfc\xdfe", None);
        assert!(text.contains("Grüße"), "{text}");
    }

    #[test]
    fn content_type_parts() {
        assert_eq!(charset_param("text/html; charset=\"UTF-8\""), Some("UTF-8"));
        assert_eq!(charset_param("text/html"), None);
        assert_eq!(media_type(" Text/HTML ; charset=x"), "text/html");
    }
}
