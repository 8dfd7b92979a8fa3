//! Pinned formats: files the store wrote, kept in `tests/data/formats/`, must still read
//! into the same values, and today's code must write the same bytes for those values. A
//! test that fails here means a format changed: bump its version, add a new fixture and
//! keep reading this one (see each format's definition).

use atelier_core::{StepStats, TaskStats};
use atelier_store::{
    FileEntry, Hash, Kind, LISTS_FILE, Manifest, NewVersion, RecipeInfo, Record, SourceFile,
    StepInfo, Store,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A pinned fixture file.
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

/// The counters of a small run: read, one filter that reused work, write.
fn stats() -> TaskStats {
    let mut filter = step("length", 10, 8);
    filter.counts.insert("short_lines".into(), 3);
    filter.reused_documents = 10;
    filter.saved_cpu_seconds = 0.125;
    filter.saved_wall_seconds = 0.375;
    TaskStats {
        tasks: 2,
        files: 1,
        steps: vec![step("read", 10, 10), filter, step("write", 8, 8)],
        wall_seconds: 1.5,
        cpu_seconds: 0.75,
        peak_rss_bytes: 52_428_800,
    }
}

const RECIPE: &str = "[[source]]\npath = \"data/mail.jsonl\"\n\n[[step]]\ntype = \"length\"\n\n\
                      [output]\npath = \"out\"\n";

/// The lists of format 2 for the dataset below: `lists.json.zst` holds `lists.json`.
fn lists_entry() -> FileEntry {
    let bytes = std::fs::read(fixture("lists.json.zst")).unwrap();
    FileEntry {
        path: LISTS_FILE.into(),
        bytes: bytes.len() as u64,
        hash: Hash::of(&bytes),
    }
}

/// `versions/v2/manifest.json` of a dataset in manifest format `format`: every field
/// filled.
fn dataset_manifest(format: u32) -> Manifest {
    let mut stages = BTreeMap::new();
    stages.insert(
        "tokenize".to_owned(),
        json!({"tokenizer": "tokenizer.json", "splits": {"train": {"documents": 8, "tokens": 640}}}),
    );
    Manifest {
        format,
        id: "v2".into(),
        kind: Kind::Dataset,
        name: "mail".into(),
        created: "2026-12-04T20:00:00Z".into(),
        created_unix: 1_796_414_400,
        atelier_version: "0.1.0".into(),
        parent: Some("v1".into()),
        trained_on: Vec::new(),
        recipe: Some(RecipeInfo {
            path: "/project/atelier.toml".into(),
            hash: Hash::of(RECIPE.as_bytes()),
            text: RECIPE.into(),
        }),
        sources: vec![SourceFile {
            path: "data/mail.jsonl".into(),
            size: 1000,
            hash: Hash::of(b"the input file"),
        }],
        settings: json!({"dataset": {"tasks": 2}, "output": {"path": "out", "compression": "gzip"}}),
        steps: vec![StepInfo {
            name: "length".into(),
            version: 1,
            settings: json!({"min_words": 5, "max_words": null}),
        }],
        shards: vec![FileEntry {
            path: "part-00000.jsonl.gz".into(),
            bytes: 412,
            hash: Hash::of(b"shard 0"),
        }],
        files: vec![
            FileEntry {
                path: "quarantine/part-00000.jsonl".into(),
                bytes: 96,
                hash: Hash::of(b"quarantine 0"),
            },
            FileEntry {
                path: "summary.json".into(),
                bytes: 1200,
                hash: Hash::of(b"summary"),
            },
        ],
        documents: 8,
        stats: stats(),
        metrics: serde_json::Value::Null,
        stages,
        keys: vec![Hash::key("atelier-unit").text("a").finish()],
        lists: (format >= 2).then(lists_entry),
    }
}

/// `versions/v3/manifest.json` of a classifier trained on `v2`, in manifest format
/// `format`: no recipe, metrics, no lists.
fn model_manifest(format: u32) -> Manifest {
    Manifest {
        format,
        id: "v3".into(),
        kind: Kind::Model,
        name: "spam-classifier".into(),
        created: "2026-12-04T20:05:00Z".into(),
        created_unix: 1_796_414_700,
        atelier_version: "0.1.0".into(),
        parent: None,
        trained_on: vec!["v2".into()],
        recipe: None,
        sources: Vec::new(),
        settings: json!({"epochs": 5}),
        steps: Vec::new(),
        shards: vec![FileEntry {
            path: "model.bin".into(),
            bytes: 2048,
            hash: Hash::of(b"weights"),
        }],
        files: Vec::new(),
        documents: 0,
        stats: TaskStats::default(),
        metrics: json!({"test": {"accuracy": 0.875}, "examples": {"train": 6, "test": 2}}),
        stages: BTreeMap::new(),
        keys: Vec::new(),
        lists: None,
    }
}

/// Installs the pinned manifests of a dataset (as `v2`) and a model (as `v3`) written
/// in manifest format `format`, each version's folder given the pinned
/// `lists.json.zst`, and reads them back.
fn assert_reads_pinned_manifests(format: u32, dataset: &str, model: &str) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (id, name) in [("v2", dataset), ("v3", model)] {
        let version = store.version_dir(id);
        std::fs::create_dir_all(&version).unwrap();
        std::fs::copy(fixture(name), version.join("manifest.json")).unwrap();
        std::fs::copy(fixture("lists.json.zst"), version.join(LISTS_FILE)).unwrap();
    }
    assert_eq!(store.resolve("v2").unwrap(), dataset_manifest(format));
    assert_eq!(store.resolve("3").unwrap(), model_manifest(format));
    assert_eq!(
        store.versions().unwrap(),
        [dataset_manifest(format), model_manifest(format)]
    );
}

#[test]
fn manifests_written_today_still_read() {
    assert_reads_pinned_manifests(2, "manifest-dataset-2.json", "manifest-model-2.json");
}

#[test]
fn manifests_of_the_first_format_still_read() {
    assert_reads_pinned_manifests(1, "manifest-dataset.json", "manifest-model.json");
}

#[test]
fn manifests_are_written_as_pinned() {
    // The lists: the JSON that `lists.json.zst` holds.
    let pinned = dataset_manifest(2);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let made = store
        .commit(NewVersion {
            sources: pinned.sources.clone(),
            keys: pinned.keys.clone(),
            ..NewVersion::default()
        })
        .unwrap();
    let lists = std::fs::read(store.version_dir(&made.id).join(LISTS_FILE)).unwrap();
    let json = zstd::decode_all(lists.as_slice()).unwrap();
    assert_writes_fixture("lists.json", &json);
    let compressed = std::fs::read(fixture("lists.json.zst")).unwrap();
    assert_eq!(zstd::decode_all(compressed.as_slice()).unwrap(), json);
    assert_eq!(
        (made.sources, made.keys),
        (pinned.sources, pinned.keys),
        "the lists read back"
    );

    // The manifests, as `Store::commit` writes them.
    assert_writes_fixture("manifest-dataset-2.json", &dataset_manifest(2).file_json());
    assert_writes_fixture("manifest-model-2.json", &model_manifest(2).file_json());
}

/// What an owner of records keeps in one (the runner keeps its unit records).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Payload {
    documents: u64,
    note: String,
}

fn record() -> Record<Payload> {
    Record {
        objects: vec![Hash::of(b"documents"), Hash::of(b"quarantine")],
        records: vec![Hash::key("atelier-unit").text("base").finish()],
        data: Payload {
            documents: 3,
            note: "kept".into(),
        },
    }
}

fn record_key() -> Hash {
    Hash::key("atelier-step").text("pinned").finish()
}

#[test]
fn records_written_today_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let path = store.record_path(&record_key());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(fixture("record.json"), &path).unwrap();
    assert_eq!(store.record::<Payload>(&record_key()), Some(record()));
}

#[test]
fn records_are_written_as_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.put_record(&record_key(), &record()).unwrap();
    let today = std::fs::read(store.record_path(&record_key())).unwrap();
    assert_writes_fixture("record.json", &today);
}

/// Today's pack of one object (`documents`) and the pinned record, its creation time
/// (the trailer's third number) set to 0.
fn pack_today(store: &Store) -> Vec<u8> {
    let pack = store.pack();
    pack.put_bytes(b"documents").unwrap();
    pack.put_record(&record_key(), &record()).unwrap();
    let path = pack.commit().unwrap().unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    let n = bytes.len();
    bytes[n - 16..n - 8].fill(0);
    bytes
}

/// Reads the pinned record and object from a pack of the store.
fn assert_reads_pinned_pack(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let packs = store.root().join("store/packs");
    std::fs::copy(fixture(name), packs.join("pinned.pack")).unwrap();
    assert_eq!(
        store.record::<Payload>(&record_key()),
        Some(record()),
        "{name}"
    );
    let mut documents = String::new();
    std::io::Read::read_to_string(
        &mut store.open_object(&Hash::of(b"documents")).unwrap(),
        &mut documents,
    )
    .unwrap();
    assert_eq!(documents, "documents", "{name}");
}

#[test]
fn packs_written_today_still_read() {
    assert_reads_pinned_pack("pack-v2.pack");
}

#[test]
fn packs_with_objects_and_records_in_one_block_still_read() {
    // As version 2 packs were written before objects and records had blocks of their
    // own: the same format, entries of both kinds in one block.
    assert_reads_pinned_pack("pack-v2-mixed.pack");
}

#[test]
fn packs_of_the_first_format_still_read() {
    assert_reads_pinned_pack("pack-v1.pack");
}

#[test]
fn packs_are_written_as_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let today = pack_today(&Store::open(dir.path()).unwrap());
    if std::env::var_os("ATELIER_PIN_PACK").is_some() {
        // How the fixture was made; only for a new format version, under a new name.
        std::fs::write(fixture("pack-v2.pack"), &today).unwrap();
    }
    assert_writes_fixture("pack-v2.pack", &today);
}
