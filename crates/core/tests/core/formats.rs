//! Pinned format: documents as JSON lines (`{id, text, metadata}`), as today's code
//! writes them into shards and into the project store, kept in `tests/data/formats/`.
//! They must still read into the same documents, and today's code must write the same
//! bytes for them: a run that reuses stored documents writes the same shards as one that
//! computes them again. A test that fails here means the format changed.

use atelier_core::Document;
use serde_json::json;
use std::path::Path;

fn fixture() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats/documents.jsonl");
    std::fs::read(path).unwrap()
}

/// Documents with what a pipeline adds to them: nested metadata, numbers, escapes and
/// text outside ASCII.
fn documents() -> Vec<Document> {
    let mut plain = Document::new("mail-1", "Hello,\nsee you at 10:30.\t\"Bye\"");
    plain
        .metadata
        .insert("source".into(), json!("data/mail.jsonl.gz"));
    let mut rich = Document::new("page-7", "Ünïcödé ✉ 日本語のテキスト and \\ backslashes");
    rich.metadata.insert("language".into(), json!("ja"));
    rich.metadata
        .insert("language_score".into(), json!(0.912_345_678_901_234_5));
    rich.metadata
        .insert("dedup_cluster".into(), json!("page-3"));
    rich.metadata.insert("dedup_cluster_size".into(), json!(3));
    rich.metadata.insert(
        "warc".into(),
        json!({"url": "https://example.org/a?b=1&c=2", "date": "2026-12-04T20:00:00Z", "headers": [null, true, -1]}),
    );
    vec![plain, rich, Document::new("empty", "")]
}

#[test]
fn documents_written_today_still_read() {
    let old: Vec<Document> = fixture()
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| Document::from_json_slice(line, String::new).unwrap())
        .collect();
    assert_eq!(old, documents());
}

#[test]
fn documents_are_written_as_pinned() {
    let mut today = Vec::new();
    for doc in documents() {
        doc.write_json_line(&mut today);
    }
    assert!(
        today == fixture(),
        "today's code writes documents differently from the pinned file:\n{}",
        String::from_utf8_lossy(&today)
    );
}
