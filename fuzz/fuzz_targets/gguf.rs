//! Any bytes as a `.gguf` model: its header, metadata and tensor table, its tokenizer and
//! chat template, and the model's weights load or fail with an error naming the file,
//! never a panic, a hang or an allocation the file's size does not justify.

#![no_main]

use atelier_lm::{ChatTemplate, GgufFile, Message, Tokenizer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // candle's GGUF reader's panics, which `GgufFile::open` catches.
    atelier_fuzz::let_panics_unwind_from(&["quantized/gguf_file.rs"]);
    let path = atelier_fuzz::file("model.gguf", data);
    let Ok(gguf) = GgufFile::open(&path) else {
        return;
    };
    let _ = gguf.metadata().len();
    let _ = atelier_lm::Config::from_gguf(&gguf);
    if let Ok(tokenizer) = Tokenizer::from_gguf(&gguf) {
        let ids = tokenizer.encode("Hello, world! ü 😀").unwrap_or_default();
        let _ = tokenizer.decode(&ids);
        if let Ok(template) = ChatTemplate::from_gguf(&gguf, &tokenizer) {
            let _ = template
                .template
                .render(&[Message::new("user", "hi")], true);
        }
    }
});
