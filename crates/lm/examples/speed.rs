//! Prefill and decode speed of one model on this machine, as `bench/lm/run.sh speed`
//! measures llama.cpp: a prompt of N tokens of English text, then M greedy steps (end
//! tokens ignored), best of R; peak resident memory. One JSON line on stdout.
//!
//! `cargo run --release -p atelier-lm --example speed -- MODEL.gguf THREADS [q8_0]
//! [PROMPT_TOKENS DECODE_TOKENS REPEATS TEXT_FILE]`

use atelier_lm::model::rows;
use atelier_lm::sample::argmax;
use atelier_lm::{Lm, LoadOptions, Requantize};
use std::time::Instant;

fn peak_rss_mib() -> f64 {
    atelier_bill::energy::peak_rss_bytes() as f64 / (1024.0 * 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = &args[1];
    let threads = &args[2];
    atelier_lm::set_threads(threads.parse().ok());
    let requantize = args
        .get(3)
        .filter(|s| *s != "-")
        .map(|s| Requantize::parse(s).unwrap());
    let n: usize = args.get(4).map_or(256, |s| s.parse().unwrap());
    let steps: usize = args.get(5).map_or(128, |s| s.parse().unwrap());
    let repeats: usize = args.get(6).map_or(3, |s| s.parse().unwrap());
    let text = args.get(7).map_or_else(
        || "The quick brown fox jumps over the lazy dog.\n".repeat(64),
        |p| std::fs::read_to_string(p).unwrap(),
    );
    let started = Instant::now();
    let options = LoadOptions {
        requantize,
        ..LoadOptions::default()
    };
    let lm = Lm::load(model.as_ref(), &options).unwrap();
    let load_s = started.elapsed().as_secs_f64();
    let mut prompt = Vec::new();
    for line in text.lines() {
        prompt.extend(lm.tokenizer.encode(&format!("{line}\n")).unwrap());
        if prompt.len() >= n {
            break;
        }
    }
    assert!(prompt.len() >= n, "not enough text for {n} tokens");
    prompt.truncate(n);
    let (mut prefill, mut decode) = (f64::MAX, f64::MAX);
    for _ in 0..repeats {
        let mut session = lm.session();
        let t = Instant::now();
        let logits = rows(&session.feed(&prompt, false).unwrap()).unwrap();
        let mut token = argmax(&logits[0]);
        prefill = prefill.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for _ in 0..steps {
            let logits = rows(&session.feed(&[token], false).unwrap()).unwrap();
            token = argmax(&logits[0]);
        }
        decode = decode.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{}",
        serde_json::json!({
            "engine": "atelier",
            "model": std::path::Path::new(model).file_name().unwrap().to_string_lossy(),
            "requantize": requantize.map(|r| format!("{r:?}")),
            "threads": threads.parse::<usize>().unwrap(),
            "prompt_tokens": n,
            "decode_tokens": steps,
            "load_s": load_s,
            "prefill_tok_s": n as f64 / prefill,
            "decode_tok_s": steps as f64 / decode,
            "peak_rss_mib": peak_rss_mib(),
        })
    );
}
