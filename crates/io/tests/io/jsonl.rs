//! JSON lines: shapes, compression, ranges and bad input.

use crate::common::*;
use atelier_core::Format;
use atelier_core::format::Compression;
use atelier_io::{ReadOptions, Unit, read_unit};
use serde_json::json;
use std::io::Write;

const LINES: &str = concat!(
    r#"{"id":"dt-1","text":"datatrove doc","metadata":{"url":"https://a.example/"},"media":[]}"#,
    "\n",
    r#"{"id":"dolma-1","text":"dolma doc","source":"c4","added":"2024-01-01","created":"2019"}"#,
    "\n",
    "\n",
    r#"{"text":"no id here","metadata":{"source":"kept"}}"#,
    "\r\n",
    r#"{"id":7,"text":"numeric id"}"#,
    "\n",
);

#[test]
fn reads_datatrove_and_dolma_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "part.jsonl", LINES.as_bytes());
    let (docs, errors) = read(&unit(&path, Format::Jsonl));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ids(&docs), ["dt-1", "dolma-1", "part/3", "7"]);
    assert_eq!(docs[0].metadata["url"], json!("https://a.example/"));
    assert_eq!(docs[0].metadata["media"], json!([]));
    assert_eq!(docs[0].metadata["source"], json!(path.to_string_lossy()));
    assert_eq!(docs[1].metadata["source"], json!("c4"));
    assert_eq!(docs[1].metadata["added"], json!("2024-01-01"));
    assert_eq!(docs[2].metadata["source"], json!("kept"));
}

#[test]
fn reads_gzip_and_zstd() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "a.jsonl", LINES.as_bytes());
    // Two gzip members, as `cat a.gz b.gz` makes.
    let (head, tail) = LINES.split_at(LINES.find('\n').unwrap() + 1);
    let mut members = gzip(head.as_bytes());
    members.extend(gzip(tail.as_bytes()));
    let gz = write(dir.path(), "a.jsonl.gz", &members);
    let zst = write(dir.path(), "a.jsonl.zst", &zstd(LINES.as_bytes()));
    let (expected, _) = read(&unit(&plain, Format::Jsonl));
    for path in [gz, zst] {
        let (docs, errors) = read(&unit(&path, Format::Jsonl));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(ids(&docs), ids(&expected));
        assert_eq!(docs[0].text, "datatrove doc");
    }
}

#[test]
fn bad_lines_are_errors_and_the_rest_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = b"{\"id\":\"a\",\"text\":\"ok\"}\n{\"id\":\"b\",\"text\":\"caf\xe9\"}\nnot json\n[1]\n{\"id\":\"c\",\"text\":\"ok\"}\n";
    let path = write(dir.path(), "bad.jsonl", bytes);
    let items = items(&unit(&path, Format::Jsonl), &ReadOptions::default());
    let (docs, errors) = split_items(items);
    assert_eq!(ids(&docs), ["a", "c"]);
    assert_eq!(errors.len(), 3);
    assert!(
        errors[0].message.contains("invalid UTF-8"),
        "{}",
        errors[0].message
    );
    assert_eq!(errors[0].offset, Some(23));
    assert_eq!(errors[0].record, Some(1));
    assert!(
        errors[0]
            .excerpt
            .as_deref()
            .unwrap()
            .starts_with("{\"id\":\"b\"")
    );
    assert!(
        errors[2].message.contains("an array"),
        "{}",
        errors[2].message
    );
    assert!(
        errors[0]
            .to_string()
            .contains("bad.jsonl (record 1 at byte 23)")
    );
}

#[test]
fn a_huge_line_is_skipped_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    out.write_all(b"{\"id\":\"a\",\"text\":\"first\"}\n{\"text\":\"")
        .unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        out.write_all(&chunk).unwrap();
    }
    out.write_all(b"\"}\n{\"id\":\"b\",\"text\":\"last\"}\n")
        .unwrap();
    out.flush().unwrap();
    drop(out);
    let options = ReadOptions {
        max_record_bytes: 1 << 20,
    };
    let (docs, errors) = split_items(items(&unit(&path, Format::Jsonl), &options));
    assert_eq!(ids(&docs), ["a", "b"]);
    assert_eq!(errors.len(), 1);
    let size = 100 * (1 << 20) + 11;
    assert_eq!(
        errors[0].message,
        format!(
            "record of {size} bytes exceeds max_record_bytes ({})",
            1 << 20
        )
    );
    assert_eq!(errors[0].offset, Some(26));
    assert!(errors[0].excerpt.as_ref().unwrap().len() <= 2048);
}

#[test]
fn truncated_compressed_streams_keep_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..20000 {
        text.push_str(&format!(
            "{{\"id\":\"d{i}\",\"text\":\"document number {i} {}\"}}\n",
            i * 7919
        ));
    }
    for (name, bytes) in [
        ("t.jsonl.gz", gzip(text.as_bytes())),
        ("t.jsonl.zst", zstd(text.as_bytes())),
    ] {
        let cut = &bytes[..bytes.len() * 2 / 3];
        let path = write(dir.path(), name, cut);
        let items = items(&unit(&path, Format::Jsonl), &ReadOptions::default());
        let last = items.last().unwrap().as_ref().unwrap_err();
        assert!(
            last.message.contains("truncated"),
            "{name}: {}",
            last.message
        );
        assert!(last.offset.is_some());
        let (docs, errors) = split_items(items);
        assert_eq!(errors.len(), 1, "{name}");
        assert!(docs.len() > 100, "{name}: {}", docs.len());
        for (i, doc) in docs.iter().enumerate() {
            assert_eq!(doc.id, format!("d{i}"));
        }
    }
}

#[test]
fn empty_and_missing_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty.jsonl", b"");
    assert!(items(&unit(&empty, Format::Jsonl), &ReadOptions::default()).is_empty());
    let empty_gz = write(dir.path(), "empty.jsonl.gz", &gzip(b""));
    assert!(items(&unit(&empty_gz, Format::Jsonl), &ReadOptions::default()).is_empty());
    for format in Format::ALL {
        let missing = dir.path().join("missing.file");
        for path in [missing.as_path(), dir.path()] {
            let unit = Unit {
                location: path.into(),
                format,
                compression: Compression::None,
                start: 0,
                end: None,
            };
            let items = items(&unit, &ReadOptions::default());
            assert_eq!(items.len(), 1, "{format:?} {}", path.display());
            let error = items[0].as_ref().unwrap_err();
            assert_eq!(error.offset, None);
            assert!(
                error.message.starts_with("cannot open"),
                "{}",
                error.message
            );
        }
        let empty = write(dir.path(), "empty", b"");
        assert!(
            read_unit(&unit(&empty, format), &ReadOptions::default())
                .next()
                .is_none(),
            "{format:?}"
        );
    }
}

#[test]
fn ranges_give_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..60 {
        match i % 4 {
            0 => text.push_str(&format!("{{\"text\":\"no id {i}\"}}\n")),
            1 => text.push('\n'),
            _ => text.push_str(&format!(
                "{{\"id\":\"x{i}\",\"text\":\"{}\"}}\n",
                "y".repeat(i)
            )),
        }
    }
    text.push_str("{\"text\":\"last line without newline\"}");
    let path = write(dir.path(), "r.jsonl", text.as_bytes());
    assert_ranges_match(&path, Format::Jsonl);
    let (docs, _) = read(&unit(&path, Format::Jsonl));
    assert_eq!(docs[0].id, "r/0");
    assert_eq!(docs[3].id, "r/4");
}
