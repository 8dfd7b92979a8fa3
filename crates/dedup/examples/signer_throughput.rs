//! Throughput of the per-document work alone, on texts held in memory: normalization,
//! then normalization with MinHash band keys. Best of 5 runs.
//!
//! ```text
//! cargo run --release -p atelier-dedup --example signer_throughput -- IN.jsonl
//! ```

use atelier_core::Document;
use atelier_dedup::{DedupConfig, Normalizer, Signer};
use std::io::BufRead;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: signer_throughput IN.jsonl")?;
    let mut texts = Vec::new();
    for line in std::io::BufReader::new(std::fs::File::open(&path)?).lines() {
        texts.push(Document::from_json_slice(line?.as_bytes(), String::new)?.text);
    }
    let bytes: usize = texts.iter().map(String::len).sum();
    let config = DedupConfig::default();
    let report = |what: &str, seconds: f64| {
        println!(
            "{what:<24} {:>8.0} documents/s {:>7.1} MB/s",
            texts.len() as f64 / seconds,
            bytes as f64 / seconds / 1e6
        );
    };
    let best = |f: &mut dyn FnMut()| {
        (0..5)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64()
            })
            .fold(f64::MAX, f64::min)
    };
    let mut normalizer = Normalizer::new(config.normalize_options());
    let mut words = 0;
    report(
        "normalize",
        best(&mut || {
            for t in &texts {
                normalizer.normalize(t);
                words += normalizer.word_count();
            }
        }),
    );
    let mut signer = Signer::new(&config);
    let mut keys = Vec::new();
    report(
        "normalize + minhash keys",
        best(&mut || {
            for t in &texts {
                signer.keys(t, &mut keys);
            }
        }),
    );
    println!(
        "{} documents, {bytes} bytes, {} words",
        texts.len(),
        words / 5
    );
    Ok(())
}
