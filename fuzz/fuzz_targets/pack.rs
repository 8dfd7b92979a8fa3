//! Any bytes as a pack of a project store (format 1 or 2, `crates/store/src/pack.rs`):
//! looking up the records and objects of the pinned packs gives them whole and checked
//! or not at all, never a panic or memory the file does not justify; gc's dry run reads
//! the pack's index or counts the pack as damaged.

#![no_main]

use atelier_store::{GcOptions, Hash, Store};
use libfuzzer_sys::fuzz_target;
use std::io::Read;
use std::path::PathBuf;
use std::sync::LazyLock;

static PROJECT: LazyLock<PathBuf> = LazyLock::new(|| {
    let project = atelier_fuzz::scratch().join("project");
    Store::open(&project).expect("a store");
    project
});

fuzz_target!(|data: &[u8]| {
    let packs = PROJECT.join(".atelier/store/packs");
    std::fs::write(packs.join("fuzzed.pack"), data).unwrap();
    // A store opened afresh reads the packs' indexes again.
    let store = Store::open(&PROJECT).unwrap();
    // The keys of the pinned packs (crates/store/tests/data/formats/pack-v*.pack), the
    // seeds: their record and their object.
    let record = Hash::key("atelier-step").text("pinned").finish();
    let _ = store.record::<serde_json::Value>(&record);
    let object = Hash::of(b"documents");
    if let Ok(mut reader) = store.open_object(&object) {
        let mut bytes = Vec::new();
        if reader.read_to_end(&mut bytes).is_ok() {
            assert_eq!(Hash::of(&bytes), object, "an object read unchecked");
        }
    }
    let _ = store.gc(&GcOptions {
        dry_run: true,
        keep_last: None,
    });
});
