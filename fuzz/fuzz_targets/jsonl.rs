//! Any bytes as a `jsonl` file, read whole and as two byte ranges: records or errors
//! naming the record, never a panic, a hang or unbounded memory.

#![no_main]

use atelier_core::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (cut, data) = data.split_first().unwrap_or((&128, data));
    atelier_fuzz::read_all("input.jsonl", data, Format::Jsonl, *cut);
});
