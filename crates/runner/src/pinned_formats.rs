//! Pinned formats of the runner's internal files, kept in `tests/data/formats/`: the unit
//! records it keeps in the project store (both forms of their documents) and the
//! quarantine entries. Files written by today's code must still read into the same
//! values, and today's code must write the same bytes for those values. A test that fails
//! here means a format changed: bump its version, add a new fixture and keep reading this
//! one. (The task marker and `summary.json` are pinned by the integration tests.)

use atelier_core::format::Compression;
use atelier_core::{Document, StepStats};
use atelier_io::RecordError;
use atelier_store::{Hash, Store};
use std::path::{Path, PathBuf};

use crate::chunks::{ChunkEntry, ChunkList};
use crate::quarantine::{document_line, record_line};
use crate::reuse::{Docs, UnitRecord};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/formats")
        .join(name)
}

/// Fails unless `today` is byte for byte the pinned fixture `name`.
fn assert_writes_fixture(name: &str, today: &[u8]) {
    let pinned = std::fs::read(fixture(name)).unwrap();
    assert!(
        pinned == today,
        "today's code writes {name} differently from the pinned file:\n{}\n\
         A format that changes must bump its version and keep reading the old one.",
        String::from_utf8_lossy(today)
    );
}

fn step(name: &str, documents_in: u64, kept: u64) -> StepStats {
    let mut s = StepStats::named(name);
    s.documents_in = documents_in;
    s.kept = kept;
    if kept < documents_in {
        s.dropped.insert("too_short".into(), documents_in - kept);
    }
    s.bytes_in = 100 * documents_in;
    s.bytes_out = 100 * kept;
    s.wall_seconds = 0.5;
    s.cpu_seconds = 0.25;
    s
}

/// The record of a unit after the stage's last step: its documents whole, as the
/// dataset's gzip member, with what writing it cost.
fn whole() -> UnitRecord {
    UnitRecord {
        docs: Docs::Whole {
            object: Some(Hash::of(b"member")),
            compression: Compression::Gzip,
            zstd_level: None,
            member_form: None,
        },
        documents: 4,
        text_bytes: 400,
        stats: vec![step("read", 5, 5), step("length", 5, 4)],
        quarantine: vec![None, Some(Hash::of(b"quarantined by length"))],
        write: Some(step("write", 4, 4)),
    }
}

/// The record of a unit after a filter that is not the stage's last step: runs picked
/// from the read's documents, one of them rewritten.
fn picks() -> UnitRecord {
    UnitRecord {
        docs: Docs::Picks {
            base: Hash::key("atelier-unit").text("read").finish(),
            runs: vec![[0, 0, 2], [1, 0, 1], [0, 3, 1]],
            object: Some(Hash::of(b"rewritten")),
        },
        documents: 4,
        text_bytes: 390,
        stats: vec![step("read", 5, 5), step("length", 5, 4)],
        quarantine: vec![None, None],
        write: None,
    }
}

fn key(name: &str) -> Hash {
    Hash::key("atelier-step").text(name).finish()
}

/// Both forms of a unit record, by fixture name.
fn unit_records() -> [(&'static str, UnitRecord); 2] {
    [
        ("unit-record-whole.json", whole()),
        ("unit-record-picks.json", picks()),
    ]
}

#[test]
fn unit_records_written_today_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (name, new) in unit_records() {
        let path = store.record_path(&key(name));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::copy(fixture(name), &path).unwrap();
        let old = store.record::<UnitRecord>(&key(name)).unwrap();
        let links = new.clone().into_record();
        assert_eq!((old.objects, old.records), (links.objects, links.records));
        let old = old.data;
        assert_eq!(old.docs, new.docs, "{name}");
        assert_eq!(
            (old.documents, old.text_bytes, old.quarantine),
            (new.documents, new.text_bytes, new.quarantine),
            "{name}"
        );
        assert_eq!((old.stats, old.write), (new.stats, new.write), "{name}");
    }
}

#[test]
fn unit_records_are_written_as_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (name, record) in unit_records() {
        // As the first map stage keeps them.
        store.put_record(&key(name), &record.into_record()).unwrap();
        let today = std::fs::read(store.record_path(&key(name))).unwrap();
        assert_writes_fixture(name, &today);
    }
}

/// A record a reader could not read, then a document a step failed on.
fn quarantine_lines() -> Vec<u8> {
    let mut out = record_line(&RecordError {
        path: "/project/data/mail.jsonl.gz".into(),
        offset: Some(1234),
        record: Some(7),
        message: "invalid JSON: expected value at line 1 column 1".into(),
        excerpt: Some("{\"id\": 7, \"text\": tru".into()),
    });
    let mut doc = Document::new("mail-8", "Dear friend, ✉ a text with \"quotes\".");
    doc.metadata
        .insert("source".into(), "/project/data/mail.jsonl.gz".into());
    doc.metadata.insert("score".into(), 0.1.into());
    out.extend(document_line(
        "pii",
        "the step failed on this document",
        &doc,
    ));
    out
}

#[test]
fn quarantine_entries_written_today_still_read() {
    // Nothing in atelier parses them back (the store replays their bytes): people and
    // their scripts do, as JSON lines with these fields.
    let bytes = std::fs::read(fixture("quarantine.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["step"], "read");
    assert_eq!(lines[0]["file"], "/project/data/mail.jsonl.gz");
    assert_eq!(
        (lines[0]["offset"].as_u64(), lines[0]["record"].as_u64()),
        (Some(1234), Some(7))
    );
    assert_eq!(lines[0]["excerpt"], "{\"id\": 7, \"text\": tru");
    assert_eq!(lines[1]["step"], "pii");
    assert_eq!(lines[1]["error"], "the step failed on this document");
    let doc = Document::from_json_value(lines[1]["document"].clone(), String::new).unwrap();
    assert_eq!(doc.text, "Dear friend, ✉ a text with \"quotes\".");
    assert_eq!(doc.meta_str("source"), Some("/project/data/mail.jsonl.gz"));
}

#[test]
fn quarantine_entries_are_written_as_pinned() {
    assert_writes_fixture("quarantine.jsonl", &quarantine_lines());
}

/// A shard's chunk list, as a dataset shard behind a barrier keeps it.
fn chunk_list() -> ChunkList {
    ChunkList {
        chunks: vec![
            ChunkEntry {
                key: Hash::of(b"lines of the first chunk"),
                offset: 10,
                bytes: 81_234,
                hash: Hash::of(b"first chunk"),
                documents: 120,
                cpu_seconds: 0.0125,
            },
            ChunkEntry {
                key: Hash::of(b"lines of the second chunk"),
                offset: 81_244,
                bytes: 70_001,
                hash: Hash::of(b"second chunk"),
                documents: 98,
                cpu_seconds: 0.011,
            },
        ],
    }
}

#[test]
fn chunk_lists_are_written_as_pinned_and_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let record = atelier_store::Record {
        objects: Vec::new(),
        records: Vec::new(),
        data: chunk_list(),
    };
    let name = "chunk-list.json";
    store.put_record(&key(name), &record).unwrap();
    let today = std::fs::read(store.record_path(&key(name))).unwrap();
    assert_writes_fixture(name, &today);
    let path = store.record_path(&key("pinned"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(fixture(name), &path).unwrap();
    let old = store.record::<ChunkList>(&key("pinned")).unwrap();
    assert_eq!(old.data, chunk_list());
}

/// Lines enough for a few chunks, each different.
fn member_lines() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..4000u32 {
        let doc = Document::new(
            format!("doc-{i}"),
            format!(
                "Message {i}: the {} of {} in {}.",
                ["meeting", "report", "offer", "invoice"][(i % 4) as usize],
                i.wrapping_mul(2_654_435_761) % 10_007,
                ["March", "April", "May"][(i % 3) as usize]
            )
            .repeat(1 + (i as usize % 5)),
        );
        doc.write_json_line(&mut out);
    }
    out
}

#[test]
fn members_are_written_as_pinned() {
    // Kept members and chunks are copied into shards that must equal a fresh run's: a
    // change to these bytes must bump `MEMBER_FORM`.
    assert_eq!(atelier_io::MEMBER_FORM, 1);
    let lines = member_lines();
    for (compression, name) in [
        (Compression::Gzip, "member-1.gz"),
        (Compression::Zstd, "member-1.zst"),
    ] {
        let mut shard = atelier_io::ShardWriter::in_memory(compression);
        let mut member = shard.start(std::io::sink()).unwrap();
        for line in lines.split_inclusive(|&b| b == b'\n') {
            member.write_line(line).unwrap();
        }
        shard.end(member).unwrap();
        let today = shard.into_bytes().unwrap();
        assert_writes_fixture(name, &today);
        let mut back = Vec::new();
        let mut reader: Box<dyn std::io::Read> = match compression {
            Compression::Gzip => Box::new(flate2::read::GzDecoder::new(&today[..])),
            _ => Box::new(zstd::Decoder::new(&today[..]).unwrap()),
        };
        reader.read_to_end(&mut back).unwrap();
        assert_eq!(back, lines, "{name}");
    }
}
