//! Any bytes: loading returns a model or an error, never panics; a model that loads
//! predicts, and writes bytes that load back to the same model.

#![no_main]

use atelier_fasttext::Model;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = Model::from_bytes(data) {
        let _ = model.predict("the quick brown fox", 2, 0.0);
        let _ = model.predict("", 1, 0.5);
        let bytes = model.to_bytes();
        let again = Model::from_bytes(&bytes).expect("a written model loads");
        assert!(again.to_bytes() == bytes, "writing is not stable");
    }
});
