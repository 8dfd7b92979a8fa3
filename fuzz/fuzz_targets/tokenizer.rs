//! Any bytes as a `tokenizer.json`: it loads (for language models and for token shards)
//! or fails with an error naming the file; what loads encodes and decodes text.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The tokenizers library's panics, which `Tokenizer::from_json` catches.
    atelier_fuzz::let_panics_unwind_from(&["/tokenizers-"]);
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
