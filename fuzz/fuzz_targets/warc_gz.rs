//! A `.warc.gz` file: the input cut into gzip members at each `WARC/` (as writers make
//! them), or, when its first byte is odd, the raw bytes as they are (corrupt members,
//! garbage between members). Records or errors, never a panic or a hang.

#![no_main]

use atelier_core::Format;
use flate2::{Compression, write::GzEncoder};
use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let file = if mode & 1 == 1 {
        data.to_vec()
    } else {
        let mut out = Vec::new();
        let mut starts: Vec<usize> = data
            .windows(5)
            .enumerate()
            .filter(|(i, w)| *w == b"WARC/" && *i > 0)
            .map(|(i, _)| i)
            .collect();
        starts.insert(0, 0);
        starts.push(data.len());
        for pair in starts.windows(2) {
            let mut member = GzEncoder::new(Vec::new(), Compression::fast());
            member.write_all(&data[pair[0]..pair[1]]).unwrap();
            out.extend(member.finish().unwrap());
        }
        out
    };
    atelier_fuzz::read_all("input.warc.gz", &file, Format::Warc, mode);
});
