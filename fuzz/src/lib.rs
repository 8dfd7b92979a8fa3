//! Helpers of the fuzz targets: the readers take files, so each input is written to a
//! file of this process on a RAM-backed folder first.

use atelier_core::Format;
use atelier_io::{ReadOptions, Unit, read_unit};
use std::path::PathBuf;

/// A folder of this process for its inputs (`/dev/shm` where there is one).
pub fn scratch() -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("atelier-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

/// libFuzzer's panic hook aborts before `catch_unwind` runs. Some libraries panic on
/// files they cannot parse (tokenizers, candle's GGUF reader: crates/lm/tests/data/fuzz/),
/// and atelier catches those and refuses the file; so panics raised in source files
/// whose path contains one of `sources` are let through to that catch. One raised
/// outside the catch still reaches libFuzzer's own catch and counts as a crash.
pub fn let_panics_unwind_from(sources: &'static [&'static str]) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fuzzer = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let known = info
                .location()
                .is_some_and(|l| sources.iter().any(|s| l.file().contains(s)));
            if !known {
                fuzzer(info)
            }
        }));
    });
}

/// Writes `data` to `name` in the scratch folder and returns its path.
pub fn file(name: &str, data: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, data).expect("writing the input");
    path
}

/// Reads every record of `name` (holding `data`) as `format`: once whole, then as two
/// byte ranges cut at `cut` (a fraction of 256 of its length), as a split plan reads it.
/// Returns the documents read whole.
pub fn read_all(name: &str, data: &[u8], format: Format, cut: u8) -> usize {
    let path = file(name, data);
    let options = ReadOptions {
        max_record_bytes: 1 << 20,
    };
    let whole = Unit::whole(&path, format);
    let documents = read_unit(&whole, &options).filter(|r| r.is_ok()).count();
    let middle = data.len() as u64 * u64::from(cut) / 256;
    for (start, end) in [(0, Some(middle)), (middle, None)] {
        let unit = Unit {
            start,
            end,
            ..whole.clone()
        };
        for record in read_unit(&unit, &options) {
            let _ = record.map(|doc| doc.text.len());
        }
    }
    documents
}
