//! The `extract` step as a recipe uses it: settings, verdicts, text and metadata.

use atelier_core::{Document, Registry, StepConfig, Verdict};
use atelier_extract::{ExtractConfig, extract_document, extract_html};
use serde_json::json;

fn html_doc(html: &str) -> Document {
    let mut doc = Document::new("d1", html);
    doc.metadata
        .insert("content_type".into(), json!("text/html; charset=utf-8"));
    doc.metadata.insert(
        "url".into(),
        json!("https://news.example.org/world/2024/story.html"),
    );
    doc
}

fn paragraph(n: usize) -> String {
    format!(
        "<p>Paragraph {n} of the story explains, in plain and complete sentences, what the \
         council decided on Tuesday and why residents of the valley care about it.</p>"
    )
}

fn article_page() -> String {
    let body: String = (1..=8).map(paragraph).collect();
    format!(
        r##"<!doctype html><html lang="en-GB"><head>
        <title>Council approves budget | Example News</title>
        <meta property="og:title" content="Council approves budget">
        <meta property="article:published_time" content="2024-03-05T10:00:00Z">
        <link rel="canonical" href="/world/story">
        </head><body>
        <nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
        <div id="cookie-banner">We use cookies. <button>Accept</button></div>
        <main><article>
          <h1>Council approves budget</h1>
          <div class="byline">By Jane Doe</div>
          {body}
          <h2>What happens next</h2>
          <p>The budget takes effect in April, after a final vote that is expected to pass.</p>
          <table><tr><th>Item</th><th>Cost</th></tr><tr><td>Roads</td><td>12</td></tr></table>
          <div class="share-tools"><a href="#">Share on Facebook</a></div>
        </article></main>
        <aside><h3>Most read</h3><ul><li><a href="/a">Another story</a></li></ul></aside>
        <footer><p>© 2024 Example News. All rights reserved.</p></footer>
        </body></html>"##
    )
}

#[test]
fn other_content_types_pass_unchanged() {
    let config = ExtractConfig::default();
    let mut plain = Document::new("p", "<p>not html</p>");
    plain
        .metadata
        .insert("content_type".into(), json!("text/plain"));
    let before = plain.clone();
    assert_eq!(extract_document(&mut plain, &config), Ok(Verdict::Keep));
    assert_eq!(plain, before);

    let mut untyped = Document::new("u", "<p>no content type</p>");
    let before = untyped.clone();
    assert_eq!(extract_document(&mut untyped, &config), Ok(Verdict::Keep));
    assert_eq!(untyped, before);
}

#[test]
fn an_article_becomes_its_main_text_with_metadata() {
    let mut doc = html_doc(&article_page());
    assert_eq!(
        extract_document(&mut doc, &ExtractConfig::default()),
        Ok(Verdict::Keep)
    );

    let text = &doc.text;
    assert!(text.contains("Paragraph 1 of the story"), "{text}");
    assert!(text.contains("Paragraph 8 of the story"), "{text}");
    assert!(
        text.contains("What happens next\nThe budget takes effect"),
        "{text}"
    );
    assert!(text.contains("Roads | 12"), "{text}");
    for junk in [
        "Home",
        "cookies",
        "Accept",
        "Most read",
        "Another story",
        "rights reserved",
        "Share",
    ] {
        assert!(!text.contains(junk), "{junk:?} in {text}");
    }
    // One paragraph a line.
    assert!(
        text.lines().filter(|l| l.starts_with("Paragraph")).count() == 8,
        "{text}"
    );

    let meta = &doc.metadata;
    assert_eq!(meta["title"], json!("Council approves budget"));
    assert_eq!(
        meta["canonical_url"],
        json!("https://news.example.org/world/story")
    );
    assert_eq!(meta["date"], json!("2024-03-05T10:00:00Z"));
    assert_eq!(meta["html_lang"], json!("en-GB"));
    assert_eq!(meta["content_type"], json!("text/plain"));
    assert_eq!(meta["extractor"], json!("main"));
    assert_eq!(
        meta["url"],
        json!("https://news.example.org/world/2024/story.html"),
        "kept"
    );
}

#[test]
fn tables_can_be_left_out() {
    let config = ExtractConfig {
        include_tables: false,
        ..ExtractConfig::default()
    };
    let extraction = extract_html(&article_page(), None, &config).unwrap();
    assert!(!extraction.text.contains("Roads"), "{}", extraction.text);
    assert!(extraction.text.contains("Paragraph 3"));
}

/// The shared data folder (`../shared/data` beside the project root, or `ATELIER_DATA`).
fn shared_data() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("ATELIER_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
        });
    dir.is_dir().then_some(dir)
}

fn gunzip(path: &std::path::Path) -> String {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// A real Q&A thread (WCXB dev page 0566): Readability picks one answer, while most of
/// the page's prose is in the others, so the fallback is used.
#[test]
fn pages_of_many_parts_use_the_fallback() {
    let Some(data) = shared_data() else {
        eprintln!("shared data not found; skipped");
        return;
    };
    let html = gunzip(&data.join("extraction/wcxb-dev/html/0566.html.gz"));
    let extraction = extract_html(&html, None, &ExtractConfig::default()).unwrap();
    assert_eq!(extraction.extractor.as_str(), "fallback");
    let text = &extraction.text;
    assert!(
        text.contains("RAID guards against one kind of hardware failure"),
        "{text:.300}"
    );
    assert!(
        text.contains("Backups help you get back in time"),
        "{text:.300}"
    );

    let no_fallback = ExtractConfig {
        fallback: false,
        ..ExtractConfig::default()
    };
    let extraction = extract_html(&html, None, &no_fallback).unwrap();
    assert_eq!(extraction.extractor.as_str(), "main");
    assert!(extraction.text.len() < text.len());
}

#[test]
fn html_mail_bodies_keep_their_text() {
    let mail = "<html><body><div>Hi Bob,</div><div><br></div><div>The invoice is attached. \
                Can you pay it by Friday?</div><div>Thanks,<br>Alice</div></body></html>";
    let mut doc = html_doc(mail);
    assert_eq!(
        extract_document(&mut doc, &ExtractConfig::default()),
        Ok(Verdict::Keep)
    );
    assert!(
        doc.text
            .contains("The invoice is attached. Can you pay it by Friday?"),
        "{}",
        doc.text
    );
    assert!(doc.text.contains("Hi Bob,"), "{}", doc.text);
}

#[test]
fn too_little_text_is_dropped_as_no_text() {
    let config = ExtractConfig::default();
    let mut empty = html_doc("<html><head><title>Nothing</title></head><body> </body></html>");
    assert_eq!(
        extract_document(&mut empty, &config),
        Ok(Verdict::Drop("no_text"))
    );
    assert_eq!(empty.metadata["title"], json!("Nothing"));

    let strict = ExtractConfig {
        min_text_chars: 100_000,
        ..ExtractConfig::default()
    };
    let mut doc = html_doc(&article_page());
    assert_eq!(
        extract_document(&mut doc, &strict),
        Ok(Verdict::Drop("no_text"))
    );
}

#[test]
fn pages_over_the_size_limit_are_errors() {
    let config = ExtractConfig {
        max_html_bytes: 1000,
        ..ExtractConfig::default()
    };
    let mut doc = html_doc(&article_page());
    let error = extract_document(&mut doc, &config).unwrap_err();
    assert!(error.0.contains("max_html_bytes"), "{error}");
}

#[test]
fn the_step_is_configured_like_any_other() {
    assert_eq!(ExtractConfig::NAME, "extract");
    assert_eq!(ExtractConfig::VERSION, 1);

    let registry = Registry::new().register::<ExtractConfig>();
    let kind = registry.get("extract").unwrap();
    let settings = kind.settings();
    let mut keys: Vec<&str> = settings.iter().map(|s| s.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "fallback",
            "include_tables",
            "max_html_bytes",
            "min_text_chars"
        ]
    );
    assert!(
        settings.iter().all(|s| !s.doc.is_empty()),
        "every setting is documented"
    );

    let config: ExtractConfig = serde_json::from_value(json!({"include_tables": false})).unwrap();
    assert_eq!(
        config,
        ExtractConfig {
            include_tables: false,
            ..ExtractConfig::default()
        }
    );
    assert!(serde_json::from_value::<ExtractConfig>(json!({"max_bytes": 1})).is_err());

    let mut problems = Vec::new();
    ExtractConfig {
        max_html_bytes: 0,
        ..ExtractConfig::default()
    }
    .validate(&mut problems);
    assert_eq!(problems.len(), 1);

    let mut step = StepConfig::build(&ExtractConfig::default()).unwrap();
    let mut doc = html_doc(&article_page());
    assert_eq!(step.process(&mut doc), Ok(Verdict::Keep));
    assert_eq!(doc.metadata["content_type"], json!("text/plain"));
}
