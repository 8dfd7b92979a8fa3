//! Hostile and broken inputs: none may panic, overflow the stack or take long.

use std::time::{Duration, Instant};

use atelier_core::{Document, Verdict};
use atelier_extract::{ExtractConfig, extract_document, extract_html};
use serde_json::json;

/// Runs `f` on a thread with a normal 2 MiB stack, as a runner's worker would.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic and no stack overflow")
}

fn html_doc(html: String) -> Document {
    let mut doc = Document::new("d", html);
    doc.metadata
        .insert("content_type".into(), json!("text/html"));
    doc
}

#[test]
fn a_50_mb_page_is_refused_without_parsing() {
    let mut html = String::with_capacity(50 << 20);
    html.push_str("<html><body>");
    while html.len() < 50 << 20 {
        html.push_str("<div><p>Some words in a paragraph that repeats.</p></div>");
    }
    let mut doc = html_doc(html);
    let start = Instant::now();
    let error = extract_document(&mut doc, &ExtractConfig::default()).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "refused before parsing"
    );
    assert!(error.0.contains("max_html_bytes"), "{error}");
}

#[test]
fn a_large_page_under_the_limit_is_extracted() {
    // 4 MB of table rows: many elements, handled in bounded time.
    let mut html = String::from("<html><body><table>");
    let mut rows = 0;
    while html.len() < 4 << 20 {
        html.push_str("<tr><td>cell</td><td>another cell with words</td></tr>");
        rows += 1;
    }
    html.push_str("</table></body></html>");
    let extraction = on_small_stack(move || extract_html(&html, None, &ExtractConfig::default()));
    let text = extraction.unwrap().text;
    assert_eq!(text.lines().count(), rows);
}

#[test]
fn a_hundred_thousand_nested_elements_do_not_overflow_the_stack() {
    const DEPTH: usize = 100_000;
    let shapes: [(&str, &str); 6] = [
        ("<div>", "</div>"),
        ("<span>", "</span>"),
        ("<b><i>", "</i></b>"),
        ("<ul><li>", "</li></ul>"),
        ("<table><tr><td>", "</td></tr></table>"),
        ("<div>", ""), // never closed
    ];
    for (open, close) in shapes {
        let mut html = String::with_capacity(DEPTH * (open.len() + close.len()) + 64);
        html.push_str("<html><body>");
        for _ in 0..DEPTH {
            html.push_str(open);
        }
        html.push_str("The innermost text survives.");
        for _ in 0..DEPTH {
            html.push_str(close);
        }
        html.push_str("</body></html>");
        let start = Instant::now();
        let result = on_small_stack(move || extract_html(&html, None, &ExtractConfig::default()));
        let text = result.expect("no error").text;
        assert!(
            text.contains("The innermost text survives."),
            "{open}: {text:.200}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{open}: took {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn binary_junk_does_not_panic() {
    // A fixed pseudo-random byte stream, read as (lossy) UTF-8 as a reader would.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = Vec::with_capacity(1 << 20);
    for _ in 0..(1 << 20) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.push((state >> 24) as u8);
    }
    // Sprinkle markup-significant bytes so the tokenizer sees tags and entities too.
    for (i, b) in bytes.iter_mut().enumerate() {
        if i % 97 == 0 {
            *b = b'<';
        } else if i % 89 == 0 {
            *b = b'>';
        } else if i % 83 == 0 {
            *b = b'&';
        }
    }
    let junk = String::from_utf8_lossy(&bytes).into_owned();
    let mut doc = html_doc(junk);
    let verdict = on_small_stack(move || {
        let verdict = extract_document(&mut doc, &ExtractConfig::default());
        (verdict, doc)
    });
    assert!(verdict.0.is_ok(), "{:?}", verdict.0);
}

#[test]
fn pages_without_a_body_or_anything_else() {
    let config = ExtractConfig::default();
    for html in [
        "",
        "   ",
        "<html></html>",
        "<html><head><title>Only a head</title></head></html>",
        "<frameset><frame src='a.html'></frameset>",
        "<!doctype html>",
        "<svg><text>drawing</text></svg>",
        "<?xml version='1.0'?><rss><channel><title>x</title></channel></rss>",
    ] {
        let mut doc = html_doc(html.to_owned());
        let verdict = extract_document(&mut doc, &config);
        assert!(
            matches!(verdict, Ok(Verdict::Drop("no_text")) | Ok(Verdict::Keep)),
            "{html:?}: {verdict:?}"
        );
        assert_eq!(doc.metadata["content_type"], json!("text/plain"));
    }
    // Text with no markup at all is still text.
    let mut doc = html_doc("Just a sentence with no markup at all.".to_owned());
    assert_eq!(extract_document(&mut doc, &config), Ok(Verdict::Keep));
    assert_eq!(doc.text, "Just a sentence with no markup at all.");
}

#[test]
fn odd_text_does_not_panic() {
    let config = ExtractConfig::default();
    let samples = [
        // Mojibake from a wrong charset, replacement characters, controls.
        "<p>Ã©tÃ© Ã  la plage â€” cafÃ©</p>".to_owned(),
        format!("<p>{}</p>", "\u{FFFD}".repeat(10_000)),
        "<p>a\u{0}b\u{1}c\u{7f}d\u{200b}e\u{feff}f</p>".to_owned(),
        "<p dir=rtl>مرحبا بالعالم</p><p>こんにちは世界</p>".to_owned(),
        // Unterminated constructs.
        "<p>text <!-- never closed".to_owned(),
        "<script>var a = '</scr' + 'ipt>';".to_owned(),
        "<div title=\"unterminated attribute>text".to_owned(),
        "<plaintext><div>raw</div>".to_owned(),
        format!("<div class=\"{}\">x</div>", "a".repeat(1 << 20)),
        format!(
            "<p>{}</p>",
            "&amp;&#x1F600;&#0;&#xD800;&bogus;".repeat(1000)
        ),
        "<table><td><table><td><table><td>cells".to_owned(),
        "<ol start=-5><li>a<li>b</ol><pre>\n\n  x\n</pre>".to_owned(),
        "<math><mi>x</mi></math><svg><foreignObject><p>in svg</p></foreignObject></svg>".to_owned(),
    ];
    for html in samples {
        let shown = html.chars().take(60).collect::<String>();
        let result = on_small_stack(move || extract_html(&html, None, &ExtractConfig::default()));
        assert!(result.is_ok(), "{shown}: {result:?}");
    }
    let _ = config;
}
