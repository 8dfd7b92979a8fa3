//! Predicts labels for every line of the given files and prints one JSON array per
//! line: `[[label, prob], ...]`. With `--time R`, predicts all lines R times on one
//! thread and prints lines per second to stderr (the langid benchmark uses both).
//!
//! ```sh
//! cargo run --release -p atelier-fasttext --example predict -- \
//!     models/lid.176.ftz --k 1 --time 5 a.txt b.txt > predictions.jsonl
//! ```

use std::io::Write;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let model_path = args
        .next()
        .expect("usage: predict MODEL [--k K] [--threshold T] [--time R] FILES...");
    let (mut k, mut threshold, mut repeats) = (1usize, 0.0f32, 0usize);
    let mut files = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match arg.as_str() {
            "--k" => {
                k = value()
                    .parse::<i64>()
                    .map_or(1, |k| if k < 0 { usize::MAX } else { k as usize })
            }
            "--threshold" => threshold = value().parse().expect("a number"),
            "--time" => repeats = value().parse().expect("a count"),
            _ => files.push(arg),
        }
    }
    let start = Instant::now();
    let model = atelier_fasttext::Model::load(&model_path).expect("model loads");
    eprintln!(
        "loaded {model_path} in {:.3}s",
        start.elapsed().as_secs_f64()
    );
    let text: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("input reads"))
        .collect();
    // Lines as Python's `split("\n")` gives them, without the empty one after the last
    // newline, so both sides predict the same strings.
    let lines: Vec<&str> = text
        .iter()
        .flat_map(|t| t.strip_suffix('\n').unwrap_or(t).split('\n'))
        .collect();
    let mut predictor = model.predictor();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in &lines {
        let preds: Vec<(&str, f32)> = predictor
            .predict(line, k, threshold)
            .iter()
            .map(|p| (model.label(p.label), p.prob))
            .collect();
        serde_json::to_writer(&mut out, &preds).expect("stdout");
        out.write_all(b"\n").expect("stdout");
    }
    out.flush().expect("stdout");
    if repeats > 0 {
        let mut best = f64::INFINITY;
        let mut checksum = 0.0f64;
        for _ in 0..repeats {
            let start = Instant::now();
            for line in &lines {
                if let Some(p) = predictor.predict(line, k, threshold).first() {
                    checksum += f64::from(p.prob);
                }
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
        eprintln!(
            "{} lines in {best:.4}s (best of {repeats}): {:.0} lines/s (checksum {checksum:.3})",
            lines.len(),
            lines.len() as f64 / best
        );
    }
}
