//! Benchmark driver for `bench/extract/run.py`: extracts every page named on standard
//! input (one path a line, `.html` or `.html.gz`) and writes one JSON line per page:
//! `{"path", "text", "extractor", "ms", "cpu_ms"}`, where `ms` is the median wall time of
//! `--repeat` timed runs of the extraction alone (decompression and output excluded) and
//! `cpu_ms` the median CPU time of this thread over the same runs (steadier when other
//! work shares the machine).
//!
//! ```text
//! ls pages/*.html.gz | cargo run --release -p atelier-extract --example extract_bench \
//!     -- [--mode ours|smoothie] [--repeat N] > out.jsonl
//! ```
//!
//! `--mode smoothie` runs dom_smoothie alone in its formatted-text mode, the baseline
//! this crate starts from.

use std::io::{BufRead, Read, Write};
use std::time::Instant;

use atelier_extract::{ExtractConfig, extract_html};

fn main() {
    let mut mode = "ours".to_owned();
    let mut repeat = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--mode" => mode = args.next().expect("--mode needs a value"),
            "--repeat" => {
                repeat = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--repeat needs a number")
            }
            other => panic!("unknown argument {other}"),
        }
    }
    let config = ExtractConfig::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for path in std::io::stdin().lock().lines() {
        let path = path.expect("read a path");
        let html = read_page(&path);
        let mut times = Vec::with_capacity(repeat);
        let mut cpu_times = Vec::with_capacity(repeat);
        let mut result = (String::new(), String::new());
        for _ in 0..repeat.max(1) {
            let start = Instant::now();
            let cpu_start = thread_cpu_ms();
            result = match mode.as_str() {
                "ours" => match extract_html(&html, None, &config) {
                    Ok(e) => (e.text, e.extractor.as_str().to_owned()),
                    Err(e) => (String::new(), format!("error: {e}")),
                },
                "smoothie" => smoothie(&html),
                "passes" => {
                    let passes = atelier_extract::debug_passes(&html, &config);
                    let json = serde_json::json!({
                        "main": passes.main,
                        "full": passes.full,
                        "main_share": passes.main_share,
                        "article": passes.article,
                        "items_missed": passes.items_missed,
                    });
                    (json.to_string(), "passes".into())
                }
                other => panic!("unknown mode {other}"),
            };
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            cpu_times.push(thread_cpu_ms() - cpu_start);
        }
        times.sort_by(f64::total_cmp);
        cpu_times.sort_by(f64::total_cmp);
        let line = serde_json::json!({
            "path": path,
            "text": result.0,
            "extractor": result.1,
            "ms": times[times.len() / 2],
            "cpu_ms": cpu_times[cpu_times.len() / 2],
        });
        writeln!(out, "{line}").expect("write");
    }
}

/// CPU time used by this thread so far, in milliseconds.
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

fn read_page(path: &str) -> String {
    let bytes = std::fs::read(path).expect("read page");
    let bytes = if path.ends_with(".gz") {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut plain)
            .expect("gunzip");
        plain
    } else {
        bytes
    };
    String::from_utf8_lossy(&bytes).into_owned()
}

fn smoothie(html: &str) -> (String, String) {
    let config = dom_smoothie::Config {
        text_mode: dom_smoothie::TextMode::Formatted,
        ..Default::default()
    };
    let parsed =
        dom_smoothie::Readability::new(html, None, Some(config)).and_then(|mut r| r.parse());
    match parsed {
        Ok(article) => (article.text_content.to_string(), "main".into()),
        Err(e) => (String::new(), format!("error: {e}")),
    }
}
