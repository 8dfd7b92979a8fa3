//! Writes a random-weight llama-family GGUF model (the tests' tiny models, at any size):
//! for trying the commands without downloading a model, and for speed checks of an
//! architecture's shape on a device.
//!
//! `cargo run --release -p atelier-lm --example tiny -- OUT.gguf [llama|qwen2] [f32|f16|q8_0|q4_0|q4_1|q4k]
//! [WIDTH LAYERS HEADS KV_HEADS FFN CONTEXT]`

use atelier_lm::tiny::{self, Spec};
use candle_core::quantized::GgmlDType;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        eprintln!(
            "usage: tiny OUT.gguf [llama|qwen2] [f32|f16|q8_0|q4_0|q4_1|q4k] [WIDTH LAYERS HEADS KV_HEADS FFN CONTEXT]"
        );
        std::process::exit(2);
    };
    let architecture = match args.get(2).map(String::as_str) {
        Some("qwen2") => "qwen2",
        _ => "llama",
    };
    let dtype = match args.get(3).map(String::as_str) {
        Some("f16") => GgmlDType::F16,
        Some("q8_0") => GgmlDType::Q8_0,
        Some("q4_0") => GgmlDType::Q4_0,
        Some("q4_1") => GgmlDType::Q4_1,
        Some("q4k") => GgmlDType::Q4K,
        _ => GgmlDType::F32,
    };
    let n = |i: usize, default: usize| args.get(i).map_or(default, |s| s.parse().unwrap());
    let spec = Spec {
        architecture,
        dtype,
        width: n(4, 64),
        layers: n(5, 2),
        heads: n(6, 4),
        kv_heads: n(7, 2),
        ffn: n(8, 128),
        context: n(9, 256),
        ..Spec::default()
    };
    let vocab = tiny::write(out.as_ref(), &spec);
    eprintln!("wrote {out}: {architecture}, {dtype:?}, vocabulary {vocab}, {spec:?}");
}
