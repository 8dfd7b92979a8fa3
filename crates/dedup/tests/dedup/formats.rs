//! Pinned format: a dataset's deduplication index (`index.json` and its sealed band
//! files), as today's code writes it, kept in `tests/data/formats/dedup-index/`. A later
//! run must still deduplicate against it, and today's code must write the same bytes
//! from the same documents. A test that fails here means the format changed: bump its
//! version, add a new fixture and keep reading this one.

use atelier_core::{Document, Verdict};
use atelier_dedup::{
    DUPLICATE_OF_INDEX, DedupConfig, IndexManifest, IndexParams, dedup_in_memory, find_index,
};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats/dedup-index")
}

/// Small MinHash settings: two bands, so two band files.
fn config() -> DedupConfig {
    DedupConfig {
        bands: 2,
        rows: 4,
        seed: 7,
        ..DedupConfig::default()
    }
}

const TEXTS: [&str; 5] = [
    "The quarterly report shows revenue growing in every region except the north.",
    "Please find attached the minutes of yesterday's meeting about the new office.",
    "Winner! Claim your free prize now by replying with your bank details today.",
    "The garden needs watering twice a week during the long dry summer months.",
    "ok",
];

/// The documents the pinned index was made from, in two tasks: each text, then a copy of
/// the first.
fn documents() -> Vec<Vec<Document>> {
    let mut first: Vec<Document> = TEXTS
        .iter()
        .enumerate()
        .map(|(i, t)| Document::new(format!("d{i}"), *t))
        .collect();
    let mut second = first.split_off(3);
    second.push(Document::new("copy-of-d0", TEXTS[0]));
    vec![first, second]
}

fn manifest() -> IndexManifest {
    IndexManifest {
        format: 1,
        params: IndexParams::of(&config()),
        documents: 5,
        keyed: 5,
        bands: vec!["band-000.idx".into(), "band-001.idx".into()],
        bytes: 2 * (5 * 12 + 32),
        bytes_per_document: (2.0 * (5.0 * 12.0 + 32.0)) / 5.0,
    }
}

#[test]
fn an_index_written_today_is_still_deduplicated_against() {
    let (dir, old) = find_index(&fixture(), "minhash").unwrap();
    assert_eq!(dir, fixture());
    assert_eq!(old, manifest());

    let out = tempfile::tempdir().unwrap();
    let against = DedupConfig {
        against: Some(fixture()),
        write_index: false,
        ..config()
    };
    let docs = vec![vec![
        Document::new("again", TEXTS[1]),
        Document::new(
            "new",
            "An entirely new message about something else altogether here.",
        ),
    ]];
    let outcomes: Vec<_> = dedup_in_memory(&against, &out.path().join("work"), out.path(), &docs)
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(outcomes[0].1, Verdict::Drop(DUPLICATE_OF_INDEX));
    assert_eq!(outcomes[1].1, Verdict::Keep);
}

#[test]
fn an_index_is_written_as_pinned() {
    let out = tempfile::tempdir().unwrap();
    dedup_in_memory(
        &config(),
        &out.path().join("work"),
        out.path(),
        &documents(),
    )
    .unwrap();
    let written = out.path().join("index/minhash");
    let mut names: Vec<String> = std::fs::read_dir(&written)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["band-000.idx", "band-001.idx", "index.json"]);
    for name in names {
        let today = std::fs::read(written.join(&name)).unwrap();
        let pinned = std::fs::read(fixture().join(&name)).unwrap();
        assert!(
            today == pinned,
            "today's code writes {name} differently from the pinned index; a format that \
             changes must bump its version and keep reading the old one"
        );
    }
}
