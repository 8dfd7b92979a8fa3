//! WARC: record types, HTTP responses, gzip members, corruption and ranges.

use crate::common::*;
use atelier_core::Format;
use atelier_io::ReadOptions;
use serde_json::json;

/// One WARC record.
fn record(kind: &str, id: u32, content_type: Option<&str>, content: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "WARC/1.1\r\nWARC-Type: {kind}\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{id:012}>\r\nWARC-Date: 2024-05-0{}T10:00:00Z\r\nWARC-Target-URI: https://example.org/{id}\r\n",
        id % 9 + 1
    )
    .into_bytes();
    if let Some(ct) = content_type {
        out.extend(format!("Content-Type: {ct}\r\n").as_bytes());
    }
    out.extend(format!("Content-Length: {}\r\n\r\n", content.len()).as_bytes());
    out.extend(content);
    out.extend(b"\r\n\r\n");
    out
}

fn http(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 200 OK\r\n{headers}\r\n").into_bytes();
    out.extend(body);
    out
}

const HTTP: &str = "application/http; msgtype=response";

/// The records of the main fixture; the comments say which become documents.
pub(crate) fn records() -> Vec<Vec<u8>> {
    let mut chunked = Vec::new();
    for chunk in [
        "<html><body><p>Hello, chu",
        "nked world</p></b",
        "ody></html>",
    ] {
        chunked.extend(format!("{:x};ext=1\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    chunked.extend(b"0\r\nTrailer: x\r\n\r\n");
    let latin =
        b"<html><head><meta charset=\"windows-1252\"></head><body>Caf\xe9 cr\xe8me</body></html>";
    vec![
        record(
            "warcinfo",
            1,
            Some("application/warc-fields"),
            b"software: test\r\n",
        ),
        record(
            "request",
            2,
            Some("application/http; msgtype=request"),
            b"GET /3 HTTP/1.1\r\nHost: example.org\r\n\r\n",
        ),
        // 3: a document.
        record(
            "response",
            3,
            Some(HTTP),
            &http(
                "Content-Type: text/html; charset=utf-8\r\nTransfer-Encoding: chunked\r\nServer: test\r\n",
                &chunked,
            ),
        ),
        record(
            "response",
            4,
            Some(HTTP),
            &http("Content-Type: image/png\r\n", b"\x89PNG\r\n\x1a\n\0\0"),
        ),
        // 5: a document.
        record(
            "resource",
            5,
            Some("text/plain"),
            "A resource, with ünïcode.\n".as_bytes(),
        ),
        // 6: a document.
        record(
            "conversion",
            6,
            Some("text/plain"),
            b"Converted text of a page.\n",
        ),
        record(
            "metadata",
            7,
            Some("application/warc-fields"),
            b"via: x\r\n",
        ),
        record(
            "revisit",
            8,
            Some(HTTP),
            b"HTTP/1.1 304 Not Modified\r\n\r\n",
        ),
        // 9: a document, gzip-encoded windows-1252 HTML.
        record("response", 9, Some(HTTP), &{
            let mut h = http("Content-Type: text/html\r\nContent-Encoding: gzip\r\n", b"");
            h.extend(gzip(latin));
            h
        }),
        // 10: a document whose text holds lines that look like a WARC version line.
        record(
            "resource",
            10,
            Some("text/plain"),
            b"line one\r\nWARC/1.0\r\nnot: a header\r\n\r\nWARC/1.1\r\n",
        ),
    ]
}

fn uuid(id: u32) -> String {
    format!("urn:uuid:00000000-0000-0000-0000-{id:012}")
}

fn check_main_fixture(docs: &[atelier_core::Document], offsets: &[usize]) {
    let expected: Vec<String> = [3, 5, 6, 9, 10].into_iter().map(uuid).collect();
    assert_eq!(ids(docs), expected);
    let d = &docs[0];
    assert_eq!(
        d.text,
        "<html><body><p>Hello, chunked world</p></body></html>"
    );
    assert_eq!(d.metadata["url"], json!("https://example.org/3"));
    assert_eq!(d.metadata["date"], json!("2024-05-04T10:00:00Z"));
    assert_eq!(d.metadata["record_id"], json!(uuid(3)));
    assert_eq!(d.metadata["warc_type"], json!("response"));
    assert_eq!(d.metadata["content_type"], json!("text/html"));
    assert_eq!(d.metadata["charset"], json!("UTF-8"));
    assert_eq!(d.metadata["http_status"], json!(200));
    assert_eq!(d.metadata["http_headers"]["server"], json!("test"));
    assert_eq!(
        d.metadata["http_headers"]["transfer-encoding"],
        json!("chunked")
    );
    assert_eq!(d.metadata["offset"], json!(offsets[2]));
    assert_eq!(docs[1].text, "A resource, with ünïcode.\n");
    assert_eq!(docs[1].metadata["warc_type"], json!("resource"));
    assert_eq!(docs[1].metadata["content_type"], json!("text/plain"));
    assert_eq!(docs[2].metadata["warc_type"], json!("conversion"));
    assert!(docs[3].text.contains("Café crème"), "{}", docs[3].text);
    assert_eq!(docs[3].metadata["charset"], json!("windows-1252"));
    assert_eq!(docs[3].metadata["offset"], json!(offsets[8]));
}

fn offsets(parts: &[Vec<u8>]) -> Vec<usize> {
    parts
        .iter()
        .scan(0, |at, p| Some(std::mem::replace(at, *at + p.len())))
        .collect()
}

#[test]
fn plain_warc() {
    let dir = tempfile::tempdir().unwrap();
    let records = records();
    let path = write(dir.path(), "crawl.warc", &records.concat());
    let (docs, errors) = read(&unit(&path, Format::Warc));
    assert!(errors.is_empty(), "{errors:?}");
    check_main_fixture(&docs, &offsets(&records));
    assert_eq!(docs[0].metadata["source"], json!(path.to_string_lossy()));
}

#[test]
fn gzip_warc_one_member_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Vec<u8>> = records().iter().map(|r| gzip(r)).collect();
    let path = write(dir.path(), "crawl.warc.gz", &members.concat());
    let (docs, errors) = read(&unit(&path, Format::Warc));
    assert!(errors.is_empty(), "{errors:?}");
    check_main_fixture(&docs, &offsets(&members));
}

#[test]
fn zstd_warc_uses_stream_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let records = records();
    let path = write(dir.path(), "crawl.warc.zst", &zstd(&records.concat()));
    let (docs, errors) = read(&unit(&path, Format::Warc));
    assert!(errors.is_empty(), "{errors:?}");
    check_main_fixture(&docs, &offsets(&records));
}

fn three(middle: Vec<u8>) -> Vec<Vec<u8>> {
    vec![
        record("resource", 1, Some("text/plain"), b"first"),
        middle,
        record("resource", 3, Some("text/plain"), b"third"),
    ]
}

fn assert_two_and_an_error(path: &std::path::Path, error_offset: usize) {
    let items = items(&unit(path, Format::Warc), &ReadOptions::default());
    let (docs, errors) = split_items(items);
    assert_eq!(
        ids(&docs),
        [uuid(1), uuid(3)],
        "{}: {errors:?}",
        path.display()
    );
    assert_eq!(errors.len(), 1, "{}: {errors:?}", path.display());
    assert_eq!(errors[0].offset, Some(error_offset as u64), "{}", errors[0]);
}

#[test]
fn a_corrupt_record_in_the_middle_is_reported_and_passed() {
    let dir = tempfile::tempdir().unwrap();
    let good = record("resource", 2, Some("text/plain"), b"the middle record");
    let text = String::from_utf8(good.clone()).unwrap();
    let cases = [
        ("no-version", text.replace("WARC/1.1", "GARBAGE!")),
        (
            "bad-length",
            text.replace("Content-Length: 17", "Content-Length: x7"),
        ),
        ("no-length", text.replace("Content-Length: 17\r\n", "")),
        (
            "long-length",
            text.replace("Content-Length: 17", "Content-Length: 90"),
        ),
        (
            "short-length",
            text.replace("Content-Length: 17", "Content-Length: 11"),
        ),
        (
            "bad-field",
            text.replace("WARC-Date: 2024-05-03T10:00:00Z", "WARC-Date 2024"),
        ),
    ];
    for (name, middle) in cases {
        let parts = three(middle.into_bytes());
        let path = write(dir.path(), &format!("{name}.warc"), &parts.concat());
        assert_two_and_an_error(&path, parts[0].len());
        // The same record, gzipped in its own member.
        let members: Vec<Vec<u8>> = parts.iter().map(|p| gzip(p)).collect();
        let path = write(dir.path(), &format!("{name}.warc.gz"), &members.concat());
        assert_two_and_an_error(&path, members[0].len());
    }
    // A member whose deflate data is damaged.
    let mut members: Vec<Vec<u8>> = three(good).iter().map(|p| gzip(p)).collect();
    let n = members[1].len();
    for b in &mut members[1][12..n - 10] {
        *b ^= 0x5a;
    }
    let path = write(dir.path(), "damaged.warc.gz", &members.concat());
    assert_two_and_an_error(&path, members[0].len());
    // Garbage between members.
    let mut bytes = members[0].clone();
    bytes.extend(b"\0\0junk\x1f\x8b\x08junk");
    bytes.extend(&members[2]);
    let path = write(dir.path(), "junk.warc.gz", &bytes);
    assert_two_and_an_error(&path, members[0].len());
}

#[test]
fn truncated_warc_gz_keeps_the_members_before() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Vec<u8>> = records().iter().map(|r| gzip(r)).collect();
    let mut bytes = members.concat();
    let last = members.last().unwrap().len();
    bytes.truncate(bytes.len() - last / 2);
    let path = write(dir.path(), "cut.warc.gz", &bytes);
    let (docs, errors) = read(&unit(&path, Format::Warc));
    assert_eq!(docs.len(), 4);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].message.contains("truncated"),
        "{}",
        errors[0].message
    );
    assert_eq!(
        errors[0].offset,
        Some((bytes.len() - (last - last / 2)) as u64)
    );
    // A plain file cut inside a record.
    let plain = records().concat();
    let path = write(dir.path(), "cut.warc", &plain[..plain.len() - 20]);
    let (docs, errors) = read(&unit(&path, Format::Warc));
    assert_eq!((docs.len(), errors.len()), (4, 1), "{errors:?}");
}

#[test]
fn oversized_records_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![b'a'; 5000];
    let parts = three(record("resource", 2, Some("text/plain"), &big));
    let path = write(dir.path(), "big.warc", &parts.concat());
    let options = ReadOptions {
        max_record_bytes: 1000,
    };
    let (docs, errors) = split_items(items(&unit(&path, Format::Warc), &options));
    assert_eq!(ids(&docs), [uuid(1), uuid(3)]);
    assert_eq!(
        errors[0].message,
        "record of 5000 bytes exceeds max_record_bytes (1000)"
    );
}

#[test]
fn ranges_give_every_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let records = records();
    let plain = write(dir.path(), "r.warc", &records.concat());
    assert_ranges_match(&plain, Format::Warc);
    let members: Vec<Vec<u8>> = records.iter().map(|r| gzip(r)).collect();
    let gz = write(dir.path(), "r.warc.gz", &members.concat());
    assert_ranges_match(&gz, Format::Warc);
}
