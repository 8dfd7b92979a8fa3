//! Recipe sources over HTTP, end to end, from nginx on the loopback: a `.warc.gz` split
//! into byte ranges, a Common Crawl style path list, and raw mails saved as `.txt` read
//! with `format = "mail"` and include/exclude patterns. They give the documents the same
//! recipe gives from local files, a rerun reuses their work, and a missing URL is a
//! clear error.

use crate::common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// One gzip member.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A `.warc.gz` of `count` text records, one gzip member each.
fn warc_gz(name: &str, count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..count {
        let content = format!(
            "{name} page {i}: {}\n",
            "some words of a web page that make it long enough to count ".repeat(3 + i % 5)
        );
        let record = format!(
            "WARC/1.1\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:{name}-{i:04}>\r\n\
             WARC-Date: 2024-05-01T10:00:00Z\r\nWARC-Target-URI: https://example.org/{name}/{i}\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{content}\r\n\r\n",
            content.len()
        );
        out.extend(gzip(record.as_bytes()));
    }
    out
}

/// Raw mails (the bundled SpamAssassin messages), saved one a file as `.txt`.
fn mails(count: usize) -> Vec<String> {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(
        std::fs::File::open(repo().join("examples/spam/data/spam-1.jsonl.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    text.lines()
        .take(count)
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The served folder: `crawl/`, `mail/` and the lists in `lists/`.
fn site(www: &Path) {
    let put = |name: &str, bytes: &[u8]| {
        let path = www.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    put("crawl/a.warc.gz", &warc_gz("a", 40));
    put("crawl/b.warc.gz", &warc_gz("b", 7));
    put("lists/warc.paths.gz", &gzip(b"crawl/b.warc.gz\n"));
    put("lists/bad.paths", b"crawl/b.warc.gz\ncrawl/gone.warc.gz\n");
    let mut lines = Vec::new();
    for (i, mail) in mails(12).iter().enumerate() {
        let name = match i {
            0..8 => format!("ham/{i:04}.txt"),
            8 => format!("ham/{i:04}.txt.gz"),
            _ => format!("spam/{i:04}.txt"),
        };
        match name.ends_with(".gz") {
            true => put(&format!("mail/{name}"), &gzip(mail.as_bytes())),
            false => put(&format!("mail/{name}"), mail.as_bytes()),
        }
        lines.push(name);
    }
    // Not a mail: left out by `include`.
    put("mail/cmds", b"rm -rf /\n");
    lines.insert(0, "cmds".into());
    lines.sort();
    put(
        "lists/mail.paths",
        format!("{}\n", lines.join("\n")).as_bytes(),
    );
}

const PATTERNS: &str = "include = [\"**/*.txt\", \"**/*.txt.gz\"]\nexclude = [\"spam/0011.txt\"]";

fn recipe(dir: &Path, sources: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let recipe = dir.join("atelier.toml");
    std::fs::write(
        &recipe,
        format!(
            "[dataset]\nname = \"sources\"\ntasks = 3\ntask_bytes = 2048\n\n{sources}\n\
             [output]\npath = \"out/dataset\"\n"
        ),
    )
    .unwrap();
    recipe
}

/// The documents of each shard, without `metadata.source` (a path or a URL).
fn unsourced(summary: &Value) -> Vec<Vec<Value>> {
    summary["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|shard| {
            let one = serde_json::json!({ "shards": [shard] });
            documents(&one)
                .into_iter()
                .map(|mut d| {
                    d["metadata"].as_object_mut().unwrap().remove("source");
                    d
                })
                .collect()
        })
        .collect()
}

/// GET requests in an access log (not the `HEAD`s that listing makes).
fn gets(log: &str, prefix: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(&format!("\"GET {prefix}")))
        .count()
}

#[test]
fn remote_sources_read_as_local_ones_and_are_reused() {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    site(&www);
    let Some(nginx) = atelier_testkit::Nginx::start(&www, "", "") else {
        return;
    };
    let url = nginx.url();
    let w = www.to_str().unwrap();

    let local = recipe(
        &dir.path().join("local"),
        &format!(
            "[[source]]\npath = \"{w}/crawl/a.warc.gz\"\n\n\
             [[source]]\npaths = \"{w}/lists/warc.paths.gz\"\nbase = \"{w}\"\n\n\
             [[source]]\npath = \"{w}/mail\"\nformat = \"mail\"\n{PATTERNS}\n"
        ),
    );
    let remote = recipe(
        &dir.path().join("remote"),
        &format!(
            "[[source]]\npath = \"{url}/crawl/a.warc.gz\"\n\n\
             [[source]]\npaths = \"{url}/lists/warc.paths.gz\"\nbase = \"{url}/\"\n\n\
             [[source]]\npaths = \"{url}/lists/mail.paths\"\nbase = \"{url}/mail\"\n\
             format = \"mail\"\n{PATTERNS}\n"
        ),
    );
    let from_files = run_json(&local, "2");
    let from_http = run_json(&remote, "2");
    let expected = unsourced(&from_files);
    assert_eq!(expected.iter().map(Vec::len).sum::<usize>(), 40 + 7 + 11);
    assert_eq!(unsourced(&from_http), expected);
    let docs = documents(&from_http);
    let mail = docs
        .iter()
        .find(|d| d["id"] == "0008")
        .expect("the gzipped .txt mail is read");
    assert!(mail["metadata"]["subject"].is_string(), "{mail}");
    assert_eq!(
        mail["metadata"]["source"],
        format!("{url}/mail/ham/0008.txt.gz")
    );
    assert_eq!(step(&from_http, "read")["quarantined"], 0);
    // `a.warc.gz` (about 9 KiB) is read in byte ranges of about 2 KiB.
    let log = nginx.access_log();
    assert!(gets(&log, "/crawl/a.warc.gz") >= 4, "{log}");
    assert_eq!(gets(&log, "/mail/cmds") + gets(&log, "/mail/spam/0011"), 0);

    // A file added to the list is the only one read again: the others are known by
    // their URL, size and ETag.
    std::fs::write(www.join("crawl/c.warc.gz"), warc_gz("c", 5)).unwrap();
    std::fs::write(
        www.join("lists/warc.paths.gz"),
        gzip(b"crawl/b.warc.gz\ncrawl/c.warc.gz\n"),
    )
    .unwrap();
    let again = run_json(&remote, "2");
    let read = step(&again, "read");
    assert_eq!(read["documents_in"], 40 + 7 + 5 + 11, "{read}");
    assert_eq!(read["reused_documents"], 40 + 7 + 11, "{read}");
    let after = nginx.access_log();
    let new = &after[log.len()..];
    assert!(gets(new, "/crawl/c.warc.gz") >= 1, "{new}");
    assert_eq!(
        gets(new, "/crawl/a") + gets(new, "/crawl/b") + gets(new, "/mail/"),
        0,
        "{new}"
    );
}

#[test]
fn missing_urls_are_named_with_their_status() {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    site(&www);
    let Some(nginx) = atelier_testkit::Nginx::start(&www, "", "") else {
        return;
    };
    let url = nginx.url();
    let one = recipe(
        &dir.path().join("one"),
        &format!("[[source]]\npath = \"{url}/crawl/missing.warc.gz\"\n"),
    );
    let out = atelier(&["run", one.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{url}/crawl/missing.warc.gz: HTTP 404")),
        "{err}"
    );
    let listed = recipe(
        &dir.path().join("listed"),
        &format!("[[source]]\npaths = \"{url}/lists/bad.paths\"\nbase = \"{url}\"\n"),
    );
    let out = atelier(&["run", listed.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "1 file(s) of {url}/lists/bad.paths cannot be read: {url}/crawl/gone.warc.gz: HTTP 404"
        )),
        "{err}"
    );
}
