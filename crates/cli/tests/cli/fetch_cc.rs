//! `atelier fetch cc` against a real pywb (PyPI) serving the CDX index of a local WARC
//! collection, and Debian's nginx serving the WARC files with byte ranges: the records
//! written must be byte for byte the members of the source files; a damaged or cut
//! record is reported and skipped; a run killed or stopped by `--limit` resumes without
//! writing any record twice.
//!
//! pywb comes from the venv `scripts/test.sh` makes (`ATELIER_PYWB`: its `bin` folder);
//! without it (or without nginx) these tests say they are skipped, unless
//! `ATELIER_REQUIRE_PYWB=1`.

use crate::common::{repo, stderr, stdout};
use atelier_io::http::{HttpClient, HttpOptions};
use atelier_testkit::Nginx;
use serde_json::Value;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Writes the source collection with warcio (pywb's WARC library): response records of
/// real pages in two files, one with a chunked payload stored as sent, and a revisit.
const MAKE_WARCS: &str = r#"
import gzip, io, os, sys
from warcio.warcwriter import WARCWriter
from warcio.statusandheaders import StatusAndHeaders

out, pages = sys.argv[1], sys.argv[2:]
half = (len(pages) + 1) // 2

def response(w, url, body, headers):
    h = StatusAndHeaders('200 OK', headers, protocol='HTTP/1.1')
    record = w.create_warc_record(url, 'response', payload=io.BytesIO(body), http_headers=h)
    w.write_record(record)
    return record

first = None
for name, items in (('a.warc.gz', list(enumerate(pages))[:half]), ('b.warc.gz', list(enumerate(pages))[half:])):
    with open(os.path.join(out, name), 'wb') as f:
        w = WARCWriter(f, gzip=True)
        for i, path in items:
            body = gzip.open(path).read()
            record = response(w, 'http://example.com/page/%d' % i, body,
                              [('Content-Type', 'text/html; charset=utf-8'), ('Content-Length', str(len(body)))])
            if first is None:
                first = record
        if name == 'b.warc.gz':
            response(w, 'http://example.com/chunked', b'5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
                     [('Content-Type', 'text/plain'), ('Transfer-Encoding', 'chunked')])
            h = StatusAndHeaders('200 OK', [('Content-Type', 'text/html; charset=utf-8')], protocol='HTTP/1.1')
            w.write_record(w.create_revisit_record(
                'http://example.com/page/0', first.rec_headers.get_header('WARC-Payload-Digest'),
                'http://example.com/page/0', first.rec_headers.get_header('WARC-Date'), http_headers=h))
"#;

/// Pages of the source collection.
const PAGES: usize = 12;

/// pywb's `bin` folder, or `None` (after saying so) when the test is skipped.
fn pywb_bin() -> Option<PathBuf> {
    match std::env::var_os("ATELIER_PYWB").map(PathBuf::from) {
        Some(bin) if bin.join("wayback").exists() => Some(bin),
        _ if std::env::var_os("ATELIER_REQUIRE_PYWB").is_some() => {
            panic!("ATELIER_REQUIRE_PYWB is set but ATELIER_PYWB names no pywb venv bin folder")
        }
        _ => {
            eprintln!(
                "skipped: set ATELIER_PYWB to the bin folder of a venv with pywb (scripts/test.sh makes one)"
            );
            None
        }
    }
}

/// A running `wayback`, stopped when dropped.
struct Pywb {
    child: Child,
    port: u16,
}

impl Pywb {
    /// The collection `coll`'s CDX endpoint.
    fn cdx(&self) -> String {
        format!("http://127.0.0.1:{}/coll/cdx", self.port)
    }
}

impl Drop for Pywb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pywb collection of the source WARC files under `root`, served by `wayback`.
struct Collection {
    /// `collections/coll/archive`: the WARC files as pywb indexed them.
    archive: PathBuf,
    pywb: Pywb,
}

fn collection(bin: &Path, root: &Path) -> Collection {
    let pages = source_pages();
    let script = root.join("make_warcs.py");
    std::fs::write(&script, MAKE_WARCS).unwrap();
    let sources = root.join("sources");
    std::fs::create_dir_all(&sources).unwrap();
    checked(
        Command::new(bin.join("python"))
            .arg(&script)
            .arg(&sources)
            .args(&pages),
    );
    checked(
        Command::new(bin.join("wb-manager"))
            .args(["init", "coll"])
            .current_dir(root),
    );
    checked(
        Command::new(bin.join("wb-manager"))
            .args(["add", "coll"])
            .arg(sources.join("a.warc.gz"))
            .arg(sources.join("b.warc.gz"))
            .current_dir(root),
    );
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let child = Command::new(bin.join("wayback"))
        .args(["-p", &port.to_string(), "-b", "127.0.0.1"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wayback");
    let mut pywb = Pywb { child, port };
    // Ready when the index answers a query (start-up takes seconds).
    let client = HttpClient::new(HttpOptions {
        timeout: Duration::from_secs(5),
        ..HttpOptions::default()
    });
    let probe = format!("{}?url=example.com/*&output=json&limit=1", pywb.cdx());
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if client
            .get_once(&probe, &[])
            .is_ok_and(|e| e.status == 200 && !e.body.is_empty())
        {
            break;
        }
        if let Ok(Some(status)) = pywb.child.try_wait() {
            panic!("wayback exited ({status}) before answering");
        }
        assert!(
            Instant::now() < deadline,
            "wayback did not answer within 90 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Collection {
        archive: root.join("collections/coll/archive"),
        pywb,
    }
}

/// The first pages of the benchmark data (real pages), or pages made up without it.
fn source_pages() -> Vec<PathBuf> {
    let dir = repo().join("../shared/data/extraction/scrapinghub/html");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    pages.sort();
    if pages.len() >= PAGES {
        pages.truncate(PAGES);
        return pages;
    }
    // Words that do not repeat, so that the pages stay large once compressed (the
    // tests rotate output files at 150 kB).
    let made = tempfile::tempdir().unwrap().keep();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..PAGES)
        .map(|i| {
            let path = made.join(format!("{i}.html.gz"));
            let words: String = (0..2000 * (i + 1))
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    format!("w{:x} ", state >> 40)
                })
                .collect();
            let html = format!("<html><body><h1>Page {i}</h1><p>{words}</p></body></html>");
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut encoder, html.as_bytes()).unwrap();
            std::fs::write(&path, encoder.finish().unwrap()).unwrap();
            path
        })
        .collect()
}

fn checked(command: &mut Command) {
    let out = command.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The gzip members of a file, in order, with their offsets.
fn members(path: &Path) -> Vec<(u64, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let mut rest = &bytes[..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let offset = (bytes.len() - rest.len()) as u64;
        let mut decoder = flate2::bufread::GzDecoder::new(rest);
        std::io::copy(&mut decoder, &mut std::io::sink()).unwrap();
        let after = decoder.into_inner();
        let len = rest.len() - after.len();
        out.push((offset, rest[..len].to_vec()));
        rest = after;
    }
    out
}

/// The first bytes a member decodes to (its WARC header's start).
fn head(member: &[u8]) -> String {
    let mut text = String::new();
    let _ = flate2::read::GzDecoder::new(member)
        .take(300)
        .read_to_string(&mut text);
    text
}

/// The records of the source files, sorted: the members that are not `warcinfo`.
fn source_records(archive: &Path) -> Vec<Vec<u8>> {
    let mut records: Vec<Vec<u8>> = ["a.warc.gz", "b.warc.gz"]
        .iter()
        .flat_map(|name| members(&archive.join(name)))
        .map(|(_, member)| member)
        .filter(|m| !head(m).contains("WARC-Type: warcinfo"))
        .collect();
    records.sort();
    records
}

/// The records written into `out`: each file's members after its `warcinfo`, sorted.
fn written_records(out: &Path) -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    for file in warc_files(out) {
        let members = members(&file);
        assert!(
            head(&members[0].1).contains("WARC-Type: warcinfo"),
            "{} opens with a warcinfo",
            file.display()
        );
        records.extend(members.into_iter().skip(1).map(|(_, m)| m));
    }
    records.sort();
    records
}

fn warc_files(out: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".warc.gz"))
        .collect();
    files.sort();
    files
}

fn log(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("cc-log.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn fetch_cc(cdx: &str, data: &str, out: &Path, extra: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args([
            "fetch",
            "cc",
            "--cdx",
            cdx,
            "--url",
            "example.com/*",
            "--data",
            data,
        ])
        .arg("--output")
        .arg(out)
        .args(extra)
        .output()
        .expect("atelier runs");
    assert!(
        output.status.success(),
        "fetch cc failed: {}{}",
        stdout(&output),
        stderr(&output)
    );
    output
}

#[test]
fn fetch_cc_writes_the_indexed_records_byte_for_byte() {
    let Some(bin) = pywb_bin() else { return };
    let root = tempfile::tempdir().unwrap();
    let collection = collection(&bin, root.path());
    let Some(nginx) = Nginx::start(&collection.archive, "", "") else {
        return;
    };
    let out = root.path().join("out");

    // Small files: the output rotates.
    let output = fetch_cc(
        &collection.pywb.cdx(),
        &nginx.url(),
        &out,
        &["--max-file-bytes", "150000"],
    );
    let sources = source_records(&collection.archive);
    assert_eq!(
        sources.len(),
        PAGES + 2,
        "pages, the chunked one and the revisit"
    );
    assert!(
        stdout(&output).contains(&format!("{} record(s) written", sources.len())),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        written_records(&out),
        sources,
        "the records are the source members"
    );
    assert!(warc_files(&out).len() > 1, "rotated at 150 kB");

    // The log places each copy: the bytes there are the source's at the row's offset.
    let log = log(&out);
    assert_eq!(log.len(), sources.len());
    for line in &log {
        assert_eq!(line["outcome"], "written", "{line}");
        let source =
            std::fs::read(collection.archive.join(line["filename"].as_str().unwrap())).unwrap();
        let copy = std::fs::read(out.join(line["warc"].as_str().unwrap())).unwrap();
        let (offset, length, at) = (
            line["offset"].as_u64().unwrap() as usize,
            line["length"].as_u64().unwrap() as usize,
            line["warc_offset"].as_u64().unwrap() as usize,
        );
        assert_eq!(
            &copy[at..at + length],
            &source[offset..offset + length],
            "{line}"
        );
    }
    // Each request was one byte range of the record's length.
    let ranges = nginx
        .access_log()
        .lines()
        .filter(|l| l.contains("\" 206 "))
        .count();
    assert_eq!(ranges, sources.len(), "{}", nginx.access_log());

    // warcio reads the output and checks every digest in it.
    for file in warc_files(&out) {
        checked(Command::new(bin.join("warcio")).arg("check").arg(&file));
    }

    // Filters pass through to the index: pywb lists the revisit as `warc/revisit` and
    // the chunked record as `text/plain`, so `mime:text/html` leaves them out.
    let filtered = root.path().join("filtered");
    fetch_cc(
        &collection.pywb.cdx(),
        &nginx.url(),
        &filtered,
        &["--filter", "mime:text/html"],
    );
    assert_eq!(written_records(&filtered).len(), PAGES);
}

/// The rows pywb lists for the collection: (url, filename, offset, length).
fn rows(cdx: &str) -> Vec<(String, String, u64, u64)> {
    let client = HttpClient::new(HttpOptions::default());
    let answer = client
        .get(&format!("{cdx}?url=example.com/*&output=json"), &[])
        .unwrap();
    String::from_utf8(answer.body)
        .unwrap()
        .lines()
        .map(|l| {
            let row: Value = serde_json::from_str(l).unwrap();
            let number = |name: &str| row[name].as_str().unwrap().parse::<u64>().unwrap();
            (
                row["url"].as_str().unwrap().to_string(),
                row["filename"].as_str().unwrap().to_string(),
                number("offset"),
                number("length"),
            )
        })
        .collect()
}

#[test]
fn fetch_cc_skips_damaged_records_and_resumes_without_duplicates() {
    let Some(bin) = pywb_bin() else { return };
    let root = tempfile::tempdir().unwrap();
    let collection = collection(&bin, root.path());
    let cdx = collection.pywb.cdx();
    let rows = rows(&cdx);
    assert_eq!(rows.len(), PAGES + 2);

    // The data server's copies: the third row's record damaged in its middle, and the
    // file of a later row that is its file's last record cut short by 7 bytes.
    let served = root.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    for name in ["a.warc.gz", "b.warc.gz"] {
        std::fs::copy(collection.archive.join(name), served.join(name)).unwrap();
    }
    let damaged = rows[2].clone();
    let mut bytes = std::fs::read(served.join(&damaged.1)).unwrap();
    bytes[(damaged.2 + damaged.3 / 2) as usize] ^= 0x55;
    std::fs::write(served.join(&damaged.1), &bytes).unwrap();
    let cut = rows[5..]
        .iter()
        .find(|(_, file, offset, length)| {
            std::fs::metadata(served.join(file)).unwrap().len() == offset + length
        })
        .expect("a later row is the last record of its file")
        .clone();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(served.join(&cut.1))
        .unwrap();
    file.set_len(cut.2 + cut.3 - 7).unwrap();
    drop(file);
    let source_member = |row: &(String, String, u64, u64)| {
        let bytes = std::fs::read(collection.archive.join(&row.1)).unwrap();
        bytes[row.2 as usize..(row.2 + row.3) as usize].to_vec()
    };
    let Some(nginx) = Nginx::start(&served, "", "") else {
        return;
    };
    let out = root.path().join("out");

    // The first five rows: the third is damaged, reported, fetched once more, skipped.
    let first = fetch_cc(&cdx, &nginx.url(), &out, &["--limit", "5", "--quiet"]);
    assert!(
        stdout(&first).contains("4 record(s) written"),
        "{}",
        stdout(&first)
    );
    assert!(stdout(&first).contains("1 failed"), "{}", stdout(&first));
    assert!(
        stderr(&first).contains(&format!("failed, skipped: {}", damaged.0)),
        "{}",
        stderr(&first)
    );
    let failed: Vec<Value> = log(&out)
        .into_iter()
        .filter(|l| l["outcome"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["offset"].as_u64(), Some(damaged.2));
    let reason = failed[0]["reason"].as_str().unwrap();
    assert!(reason.contains("gzip"), "{reason}");
    assert_eq!(
        nginx.access_log().lines().count(),
        6,
        "four good records, the damaged one twice"
    );

    // The same limit again: nothing new; the failed one is tried again.
    let again = fetch_cc(&cdx, &nginx.url(), &out, &["--limit", "5"]);
    assert!(
        stdout(&again).contains("0 record(s) written"),
        "{}",
        stdout(&again)
    );
    assert!(
        stdout(&again).contains("4 already there"),
        "{}",
        stdout(&again)
    );

    // A stop in the middle of a write: bytes after the last recorded end, and a state
    // line cut short. The next run cuts them off.
    let warc = warc_files(&out).pop().unwrap();
    let recorded = std::fs::metadata(&warc).unwrap().len();
    let append = |path: &Path, bytes: &[u8]| {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, bytes))
            .unwrap()
    };
    append(&warc, &source_member(&rows[0])[..100]);
    append(&out.join("cc-state.jsonl"), b"{\"filename\": \"a.warc");

    // Killed for real in the middle of a slow run, then run to the end.
    let mut child = Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args(["fetch", "cc", "--cdx", &cdx, "--url", "example.com/*"])
        .args([
            "--data",
            &nginx.url(),
            "--connections",
            "1",
            "--delay-ms",
            "600",
        ])
        .args(["--quiet", "--output"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let state_lines = || {
        std::fs::read_to_string(out.join("cc-state.jsonl"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    // Four lines and the cut one until the run truncates it; six once it recorded two.
    let deadline = Instant::now() + Duration::from_secs(60);
    while state_lines() < 6 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the slow run ended before it was killed"
        );
        assert!(
            Instant::now() < deadline,
            "the slow run recorded nothing in 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(std::fs::metadata(&warc).unwrap().len() > recorded);

    let last = fetch_cc(&cdx, &nginx.url(), &out, &[]);
    // Every source record but the damaged and the cut one, each once.
    let (damaged_member, cut_member) = (source_member(&damaged), source_member(&cut));
    let expected: Vec<Vec<u8>> = source_records(&collection.archive)
        .into_iter()
        .filter(|m| *m != damaged_member && *m != cut_member)
        .collect();
    let written = written_records(&out);
    assert_eq!(written.len(), PAGES, "{}", stdout(&last));
    assert_eq!(written, expected, "no record missing, none twice");
    let log = log(&out);
    let cut_reason = log
        .iter()
        .find(|l| l["outcome"] == "failed" && l["offset"].as_u64() == Some(cut.2))
        .map(|l| l["reason"].as_str().unwrap().to_string())
        .expect("the cut record is reported");
    assert!(
        cut_reason.contains("Content-Range") || cut_reason.contains("bytes of the"),
        "{cut_reason}"
    );
    for file in warc_files(&out) {
        checked(Command::new(bin.join("warcio")).arg("check").arg(&file));
    }
}
