//! Bad input: clear errors naming the file, bad lines quarantined, nothing written when
//! the settings cannot hold the ids, and shards refused to a reader of another tokenizer.

use atelier_tokens::{
    Dtype, Layout, TokenShards, Tokenize, TokenizeSettings, TokensError, tokenize_files,
};

use crate::common::{TEXTS, jsonl, trained};

fn settings(tokenizer: &std::path::Path) -> TokenizeSettings {
    TokenizeSettings {
        tokenizer: tokenizer.to_path_buf(),
        eos: Some("<|endoftext|>".into()),
        ..TokenizeSettings::default()
    }
}

#[test]
fn a_tokenizer_that_does_not_parse_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken-tokenizer.json");
    std::fs::write(&bad, "{\"version\": \"1.0\", \"model\": 12").unwrap();
    let err = Tokenize::new(settings(&bad)).err().unwrap().to_string();
    assert!(err.contains("broken-tokenizer.json"), "{err}");
    let missing = dir.path().join("nowhere.json");
    let err = Tokenize::new(settings(&missing)).err().unwrap().to_string();
    assert!(
        err.contains("nowhere.json") && err.contains("no such file"),
        "{err}"
    );
    let err = Tokenize::new(TokenizeSettings {
        eos: Some("<|no-such-token|>".into()),
        ..settings(trained())
    })
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("<|no-such-token|>"), "{err}");
}

#[test]
fn ids_wider_than_the_layout_are_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    // A word-level vocabulary of 70,000 tokens: ids above 65,535.
    let vocab: serde_json::Map<String, serde_json::Value> = (0..70_000)
        .map(|i| (format!("w{i}"), serde_json::json!(i)))
        .collect();
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "w0"},
    });
    let path = dir.path().join("wide.json");
    std::fs::write(&path, tokenizer.to_string()).unwrap();
    let wide = TokenizeSettings {
        eos: Some("w1".into()),
        dtype: Some(Dtype::Uint16),
        ..settings(&path)
    };
    let err = Tokenize::new(wide.clone()).err().unwrap();
    assert!(matches!(err, TokensError::Settings(_)), "{err}");
    assert!(err.to_string().contains("69999"), "{err}");
    // Left to choose, it stores them in four bytes.
    let tokenize = Tokenize::new(TokenizeSettings {
        dtype: None,
        ..wide
    })
    .unwrap();
    assert_eq!(tokenize.dtype, Dtype::Uint32);
    let input = dir.path().join("in.jsonl");
    jsonl(&input, &["w69999 w5 w65536"]);
    let out = dir.path().join("tokens");
    tokenize_files(&tokenize, &[input], &out, 1, 1, &|_| {}).unwrap();
    let docs = TokenShards::open(&out)
        .unwrap()
        .documents("train", Layout::Datatrove)
        .unwrap();
    assert_eq!(docs, vec![vec![69_999, 5, 65_536, 1]]);
}

#[test]
fn bad_lines_are_quarantined_and_empty_documents_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mixed.jsonl");
    let lines = [
        serde_json::json!({"id": "a", "text": TEXTS[0]}).to_string(),
        "{not json".to_owned(),
        serde_json::json!({"id": "b", "text": ""}).to_string(),
        serde_json::json!({"id": "c", "body": "no text field"}).to_string(),
        String::new(),
        serde_json::json!({"id": "d", "text": TEXTS[1]}).to_string(),
    ];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let tokenize = Tokenize::new(settings(trained())).unwrap();
    let out = dir.path().join("tokens");
    let index = tokenize_files(&tokenize, &[input], &out, 1, 1, &|_| {}).unwrap();
    assert_eq!(index.stats.documents_in, 5, "the blank line is no document");
    assert_eq!(index.stats.kept, 2);
    assert_eq!(index.stats.dropped["empty"], 1);
    assert_eq!(index.stats.quarantined, 2);
    index.stats.check_balance().unwrap();
    let quarantine = std::fs::read_to_string(out.join(&index.quarantine[0])).unwrap();
    assert!(
        quarantine.contains("mixed.jsonl") && quarantine.contains("\"line\":2"),
        "{quarantine}"
    );
    assert!(quarantine.contains("no `text` string"), "{quarantine}");
}

#[test]
fn an_empty_dataset_gives_empty_shards() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("empty.jsonl");
    std::fs::write(&input, "").unwrap();
    let tokenize = Tokenize::new(settings(trained())).unwrap();
    let out = dir.path().join("tokens");
    let index = tokenize_files(&tokenize, &[input], &out, 1, 1, &|_| {}).unwrap();
    assert_eq!(index.stats.documents_in, 0);
    let docs = TokenShards::open(&out)
        .unwrap()
        .documents("train", Layout::Datatrove)
        .unwrap();
    assert!(docs.is_empty());
}

#[test]
fn shards_of_another_tokenizer_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    jsonl(&input, TEXTS);
    let tokenize = Tokenize::new(settings(trained())).unwrap();
    let out = dir.path().join("tokens");
    tokenize_files(&tokenize, &[input], &out, 1, 1, &|_| {}).unwrap();
    let shards = TokenShards::open(&out).unwrap();
    let other = "0".repeat(64);
    let err = shards.expect_tokenizer(&other).unwrap_err().to_string();
    assert!(err.contains("index.json") && err.contains(&other), "{err}");
    assert!(err.contains(&tokenize.tokenizer.hash.hex()), "{err}");
}
