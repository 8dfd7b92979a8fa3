//! `cc::run` against Debian's nginx playing a paged CDX index (as Common Crawl's answers:
//! `showNumPages`, `page=N`, rows with numbers as strings, `404` for no captures) and
//! the data server (byte ranges, or none). Without nginx the tests say they are
//! skipped, unless `ATELIER_REQUIRE_NGINX` is set.

use atelier_fetch::cc::{self, CcOptions, CcStats};
use atelier_io::{WarcRecord, WarcWriter, new_record_id, warc_digest};
use atelier_testkit::Nginx;
use std::path::Path;

/// Rows per page of the made-up index.
const PAGE_ROWS: usize = 4;

/// Records of the source file.
const RECORDS: usize = 10;

/// A source WARC under `root/crawl-data/` and its index in pages under `root/cdx/`;
/// gives each record's (offset, length).
fn source(root: &Path) -> Vec<(u64, u64)> {
    let dir = root.join("crawl-data");
    let mut writer = WarcWriter::new(&dir, "src", u64::MAX, "software: test\r\n").unwrap();
    let mut rows = Vec::new();
    let mut places = Vec::new();
    for i in 0..RECORDS {
        let url = format!("https://example.com/{i}");
        let payload = format!(
            "<html><body><p>page {i}</p>{}</body></html>",
            "<p>text</p>".repeat(i * 40)
        );
        let block = format!("HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n\r\n{payload}");
        let written = writer
            .write(&[WarcRecord {
                warc_type: "response",
                id: new_record_id(),
                target_uri: Some(&url),
                date: "2024-02-18T09:06:04Z",
                content_type: "application/http;msgtype=response",
                block: block.as_bytes(),
                payload_start: Some(block.len() - payload.len()),
                fields: Vec::new(),
            }])
            .unwrap();
        let length = written.end - written.offset;
        places.push((written.offset, length));
        let digest = warc_digest(payload.as_bytes());
        rows.push(format!(
            r#"{{"urlkey": "com,example)/{i}", "timestamp": "20240218090604", "url": "{url}", "mime": "text/html", "status": "200", "digest": "{}", "length": "{length}", "offset": "{}", "filename": "crawl-data/src-00000.warc.gz"}}"#,
            digest.trim_start_matches("sha1:"),
            written.offset
        ));
    }
    writer.finish().unwrap();
    std::fs::create_dir_all(root.join("cdx")).unwrap();
    for (page, chunk) in rows.chunks(PAGE_ROWS).enumerate() {
        std::fs::write(
            root.join(format!("cdx/page-{page}.jsonl")),
            chunk.join("\n") + "\n",
        )
        .unwrap();
    }
    places
}

/// nginx as a paged index at `/CC-TEST-index` and the data server at `/` (and without
/// byte ranges at `/noranges/`).
fn server(root: &Path) -> Option<Nginx> {
    let pages = RECORDS.div_ceil(PAGE_ROWS);
    let conf = format!(
        r#"
        location = /CC-TEST-index {{
            default_type application/json;
            if ($arg_url != "example.com%2F*") {{
                return 404 '{{"message": "No Captures found for: $arg_url"}}';
            }}
            if ($arg_showNumPages = "true") {{
                return 200 '{{"pages": {pages}, "pageSize": {PAGE_ROWS}, "blocks": {pages}}}';
            }}
            rewrite ^ /cdx/page-$arg_page.jsonl last;
        }}
        location /noranges/ {{
            max_ranges 0;
            alias {root}/;
        }}
        "#,
        root = root.display()
    );
    Nginx::start(root, &conf, "")
}

fn options(nginx: &Nginx, data: &str, out: &Path) -> CcOptions {
    let mut options = CcOptions::new(
        &format!("{}/CC-TEST-index", nginx.url()),
        &format!("{}{data}", nginx.url()),
        "example.com/*",
        out,
    );
    options.http.backoff = std::time::Duration::from_millis(10);
    options
}

fn run(options: &CcOptions) -> CcStats {
    cc::run(options, &mut |_, _| {}).unwrap().stats
}

#[test]
fn a_paged_index_is_read_page_by_page_and_a_rerun_adds_only_new_rows() {
    let root = tempfile::tempdir().unwrap();
    let places = source(root.path());
    let Some(nginx) = server(root.path()) else {
        return;
    };
    let out = root.path().join("out");
    let source = std::fs::read(root.path().join("crawl-data/src-00000.warc.gz")).unwrap();

    let mut options = options(&nginx, "/", &out);
    options.limit = Some(6);
    let stats = run(&options);
    assert_eq!((stats.listed, stats.written, stats.failed), (6, 6, 0));
    options.limit = None;
    let stats = run(&options);
    assert_eq!((stats.listed, stats.skipped, stats.written), (10, 6, 4));

    // Each record once, byte for byte the source's member, in the one output file.
    let copy = std::fs::read(out.join("cc-00000.warc.gz")).unwrap();
    let mut found = 0;
    for (offset, length) in &places {
        let member = &source[*offset as usize..(*offset + *length) as usize];
        let at = copy.windows(member.len()).filter(|w| *w == member).count();
        assert_eq!(at, 1, "the record at {offset} is in the copy once");
        found += member.len();
    }
    // The copy is the records and one warcinfo record, nothing else.
    assert!(copy.len() > found && copy.len() < found + 1000);
    let log = nginx.access_log();
    for page in 0..3 {
        assert!(log.contains(&format!("page={page}")), "{log}");
    }
}

#[test]
fn no_captures_is_an_empty_pull() {
    let root = tempfile::tempdir().unwrap();
    source(root.path());
    let Some(nginx) = server(root.path()) else {
        return;
    };
    let mut options = options(&nginx, "/", &root.path().join("out"));
    options.url = "nothing.example/*".to_string();
    let stats = run(&options);
    assert_eq!(stats, CcStats::default());
}

#[test]
fn an_index_that_is_not_there_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    source(root.path());
    let Some(nginx) = server(root.path()) else {
        return;
    };
    let mut options = options(&nginx, "/", &root.path().join("out"));
    options.cdx = format!("{}/CC-NONE-index", nginx.url());
    let error = cc::run(&options, &mut |_, _| {}).unwrap_err().to_string();
    assert!(
        error.contains("CC-NONE-index") && error.contains("HTTP 404"),
        "{error}"
    );
}

#[test]
fn a_data_server_without_ranges_fails_each_record_and_the_run_goes_on() {
    let root = tempfile::tempdir().unwrap();
    source(root.path());
    let Some(nginx) = server(root.path()) else {
        return;
    };
    let out = root.path().join("out");
    let options = options(&nginx, "/noranges/", &out);
    let mut reasons = Vec::new();
    let summary = cc::run(&options, &mut |event, _| {
        if let cc::Event::Failed { reason, .. } = event {
            reasons.push(reason.to_string());
        }
    })
    .unwrap();
    assert_eq!((summary.stats.written, summary.stats.failed), (0, 10));
    assert!(
        reasons[0].contains("does not serve byte ranges"),
        "{}",
        reasons[0]
    );
    let log = std::fs::read_to_string(out.join(cc::LOG_FILE)).unwrap();
    assert_eq!(log.lines().filter(|l| l.contains("\"failed\"")).count(), 10);
}

#[test]
fn warc_files_of_another_run_are_not_touched() {
    let root = tempfile::tempdir().unwrap();
    source(root.path());
    let Some(nginx) = server(root.path()) else {
        return;
    };
    let out = root.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("cc-00000.warc.gz"), b"someone else's").unwrap();
    let error = cc::run(&options(&nginx, "/", &out), &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(error.contains("another run"), "{error}");
    assert_eq!(
        std::fs::read(out.join("cc-00000.warc.gz")).unwrap(),
        b"someone else's"
    );
}
