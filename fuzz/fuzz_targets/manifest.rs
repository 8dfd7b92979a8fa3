//! Any bytes as a version's `manifest.json` in a store: resolving the version and
//! verifying its files give a manifest or an error naming the file, never a panic; a
//! manifest that reads writes back to JSON that reads the same.

#![no_main]

use atelier_store::{Manifest, Store};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static STORE: LazyLock<Store> = LazyLock::new(|| {
    let project = atelier_fuzz::scratch().join("project");
    std::fs::create_dir_all(&project).unwrap();
    Store::open(&project).expect("a store")
});

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = serde_json::from_slice::<Manifest>(data) {
        let json = serde_json::to_vec(&manifest).expect("manifests serialize");
        let again: Manifest = serde_json::from_slice(&json).expect("a written manifest reads");
        assert_eq!(again, manifest, "a manifest changes when written and read");
    }
    let dir = STORE.project().join(".atelier/versions/v1");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("manifest.json"), data).unwrap();
    if let Ok(manifest) = STORE.resolve("v1") {
        let _ = STORE.verify(&manifest);
    }
    let _ = STORE.resolve("latest");
});
