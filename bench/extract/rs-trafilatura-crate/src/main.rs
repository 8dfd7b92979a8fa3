//! Extracts every page named on standard input (`path<TAB>url` lines, `.html.gz`) with
//! rs-trafilatura and writes one JSON line per page: `{"path", "text", "ms",
//! "cpu_ms"}`, the times those of the extraction call alone. The page's URL goes in
//! `Options::url`, as the crate's README shows (its page-type classifier reads it).

use std::io::{BufRead, Read, Write};
use std::time::Instant;

fn main() {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("read a line");
        let (path, url) = line.split_once('\t').unwrap_or((&line, ""));
        let mut gz = flate2::read::GzDecoder::new(std::fs::File::open(path).expect("open"));
        let mut bytes = Vec::new();
        gz.read_to_end(&mut bytes).expect("gunzip");
        let html = String::from_utf8_lossy(&bytes);
        let options = rs_trafilatura::Options {
            url: (!url.is_empty()).then(|| url.to_owned()),
            ..Default::default()
        };
        let start = Instant::now();
        let cpu_start = thread_cpu_ms();
        let text = match rs_trafilatura::extract_with_options(&html, &options) {
            Ok(result) => result.content_text,
            Err(e) => {
                eprintln!("rs-trafilatura: {path}: {e}");
                String::new()
            }
        };
        let cpu_ms = thread_cpu_ms() - cpu_start;
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let row = serde_json::json!({"path": path, "text": text, "ms": ms, "cpu_ms": cpu_ms});
        writeln!(out, "{row}").expect("write");
    }
}

/// CPU time (user and system) of this thread so far, in milliseconds.
fn thread_cpu_ms() -> f64 {
    // SAFETY: an all-zero `rusage` is a valid value, and `getrusage` writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is valid and writable for the duration of the call.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
        return 0.0;
    }
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}
