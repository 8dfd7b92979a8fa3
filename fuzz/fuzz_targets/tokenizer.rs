//! Any bytes as a `tokenizer.json`: it loads (for language models and for token shards)
//! or fails with an error naming the file; what loads encodes and decodes text.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// libFuzzer's panic hook aborts before `catch_unwind` runs. The tokenizers library
/// panics on some files it cannot parse (a malformed decoder, a BPE model whose
/// `continuing_subword_prefix` is longer than a merge: crates/lm/tests/data/fuzz/), and
/// `Tokenizer::from_json` catches those and refuses the file; so panics raised in that
/// library are let through to that catch. One it raised outside the catch (while
/// encoding, say) still reaches libFuzzer's own catch and counts as a crash.
fn let_known_panics_unwind() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fuzzer = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let known = info
                .location()
                .is_some_and(|l| l.file().contains("/tokenizers-"));
            if !known {
                fuzzer(info)
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    let_known_panics_unwind();
    let path = atelier_fuzz::file("tokenizer.json", data);
    if let Ok(tokenizer) = atelier_lm::Tokenizer::from_json(&path, None) {
        let ids = tokenizer
            .encode("Hello, world! ü 😀 <|im_start|>")
            .unwrap_or_default();
        let _ = tokenizer.decode(&ids);
        let _ = tokenizer.to_json();
    }
    let _ = atelier_tokens::TokenizerFile::load(&path);
});
