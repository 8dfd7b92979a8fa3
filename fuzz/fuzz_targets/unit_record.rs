//! Any bytes as one of the runner's unit records in a project store, read back as a
//! rerun that reuses it would (`atelier_runner::replay_record`): refused or read, never
//! a panic, a hang or a stack overflow. The store also holds a genuine base record and
//! the object of its three documents, whose keys the seeds name, so that picks can
//! reach real documents.

#![no_main]

use atelier_store::{Hash, Record, Store};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

/// The key the fuzzed record is kept under (seeds use it as their own base, a loop).
fn fuzzed_key() -> Hash {
    Hash::of(b"unit-record")
}

static STORE: LazyLock<Store> = LazyLock::new(|| {
    let project = atelier_fuzz::scratch().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let store = Store::open(&project).expect("a store");
    let lines = b"{\"id\":\"a\",\"text\":\"one\"}\n{\"id\":\"b\",\"text\":\"two\"}\n{\"id\":\"c\",\"text\":\"three\"}\n";
    let object = store.put_bytes(lines).expect("an object");
    let base = serde_json::json!({
        "docs": {"form": "whole", "object": object, "compression": "none"},
        "documents": 3,
        "text_bytes": 11,
        "stats": [],
        "quarantine": [],
        "write": null
    });
    let record = Record {
        objects: vec![object],
        records: Vec::new(),
        data: base,
    };
    store
        .put_record(&Hash::of(b"base"), &record)
        .expect("a record");
    let path = store.record_path(&fuzzed_key());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    store
});

fuzz_target!(|data: &[u8]| {
    let key = fuzzed_key();
    std::fs::write(STORE.record_path(&key), data).unwrap();
    let _ = atelier_runner::replay_record(&STORE, &key);
});
