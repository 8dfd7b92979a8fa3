//! Any bytes as a runner's task marker and as a store record (the runner's unit
//! records are store records): parsed or refused, never a panic; what parses writes back
//! to JSON that parses the same.

#![no_main]

use atelier_runner::layout::Marker;
use atelier_store::{Hash, Store};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static STORE: LazyLock<Store> = LazyLock::new(|| {
    let project = atelier_fuzz::scratch().join("project");
    std::fs::create_dir_all(&project).unwrap();
    Store::open(&project).expect("a store")
});

fuzz_target!(|data: &[u8]| {
    if let Ok(marker) = serde_json::from_slice::<Marker>(data) {
        let json = serde_json::to_vec(&marker).expect("markers serialize");
        let again: Marker = serde_json::from_slice(&json).expect("a written marker reads");
        assert_eq!(
            serde_json::to_vec(&again).unwrap(),
            json,
            "a marker changes when written and read"
        );
    }
    let key = Hash::of(b"fuzz");
    let path = STORE.record_path(&key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, data).unwrap();
    let _ = STORE.record::<serde_json::Value>(&key);
});
