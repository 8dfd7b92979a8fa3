//! Any text as an HTML page: extraction gives a text or an error, never a panic or a
//! hang.

#![no_main]

use atelier_extract::{ExtractConfig, extract_html};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let html = String::from_utf8_lossy(data);
    let config = ExtractConfig::default();
    let _ = extract_html(&html, Some("https://example.com/a/b.html"), &config);
});
