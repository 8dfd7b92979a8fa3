//! Damaged inputs of every format: reading never panics and always ends.

use crate::common::*;
use atelier_core::Format;
use atelier_core::format::Compression;
use atelier_io::{ReadOptions, Unit, read_unit};

/// A small deterministic pseudo-random generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

fn warc_records() -> Vec<Vec<u8>> {
    (0..4)
        .map(|i| {
            let body = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>page {i}</p>");
            format!(
                "WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:x:{i}>\r\nContent-Type: application/http; msgtype=response\r\nContent-Length: {}\r\n\r\n{body}\r\n\r\n",
                body.len()
            )
            .into_bytes()
        })
        .collect()
}

fn fixtures() -> Vec<(&'static str, Format, Vec<u8>)> {
    let mbox = "From a\nFrom: a@x\nContent-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nhi=20there\n--q--\n\nFrom b\nFrom: b@x\n\nbody\n";
    let spam = r#"{"id":"1","group":"spam","text":"From: a@x\nSubject: s\n\nbody"}"#;
    vec![
        (
            "a.jsonl",
            Format::Jsonl,
            b"{\"id\":\"a\",\"text\":\"x\"}\n{\"text\":\"y\",\"metadata\":{}}\n".to_vec(),
        ),
        ("a.warc", Format::Warc, warc_records().concat()),
        ("a.mbox", Format::Mbox, mbox.as_bytes().to_vec()),
        (
            "a.json",
            Format::Spamassassin,
            format!("[{spam},{spam}]").into_bytes(),
        ),
        (
            "a.html",
            Format::Html,
            b"<meta charset=latin1><p>caf\xe9</p>".to_vec(),
        ),
    ]
}

fn read_all_of(path: &std::path::Path, format: Format, start: u64, end: Option<u64>) -> usize {
    let unit = Unit {
        location: path.into(),
        format,
        compression: Compression::detect(path),
        start,
        end,
    };
    let options = ReadOptions {
        max_record_bytes: 300,
    };
    let n = read_unit(&unit, &options).take(10_000).count();
    assert!(n < 10_000, "{} does not end", path.display());
    n
}

#[test]
fn mutations_and_truncations_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (name, format, bytes) in fixtures() {
        let gz = match format {
            // One member per record, as crawlers write.
            Format::Warc => warc_records().iter().flat_map(|r| gzip(r)).collect(),
            _ => gzip(&bytes),
        };
        let variants = [
            (format!("{name}.zst"), zstd(&bytes)),
            (format!("{name}.gz"), gz),
            (name.to_string(), bytes),
        ];
        for (file, original) in variants {
            for round in 0..45 {
                let mut damaged = original.clone();
                match round % 3 {
                    0 => damaged.truncate(rng.next(original.len())),
                    1 => {
                        for _ in 0..1 + rng.next(4) {
                            let i = rng.next(damaged.len());
                            damaged[i] = rng.next(256) as u8;
                        }
                    }
                    _ => {
                        let i = rng.next(damaged.len());
                        let n = rng.next(20).min(damaged.len() - i);
                        damaged.drain(i..i + n);
                    }
                }
                let path = write(dir.path(), &file, &damaged);
                read_all_of(&path, format, 0, None);
                let len = damaged.len() as u64;
                let cut = rng.next(damaged.len().max(1)) as u64;
                read_all_of(&path, format, cut, Some(len.max(cut + 1)));
            }
        }
    }
}
