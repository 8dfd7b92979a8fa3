//! `crawl` against a generated site of 2,000 pages served by Debian's nginx on the
//! loopback, with a robots.txt, a sitemap, redirects and a loop, 404s, 500s that
//! recover, a page slower than the timeout, one larger than the cap and non-HTML files.

use atelier_core::Format;
use atelier_fetch::crawl::{CrawlConfig, LogLine, Outcome, crawl};
use atelier_io::{ReadOptions, Unit, read_unit};
use atelier_testkit::{FlakyServer, Nginx, site};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Pages of the tree: with the index, 100 sitemap-only pages, two that fail once and
/// a text file, 2,000 pages to fetch.
const TREE: usize = 1_896;
const ORPHANS: usize = 100;
const CRAWL_DELAY: f64 = 0.005;

/// One line of the access log: `$msec $request_time $connection $request_uri`.
struct Hit {
    start: f64,
    end: f64,
    connection: u64,
    uri: String,
}

fn hits(log: &str) -> Vec<Hit> {
    log.lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let end: f64 = f[0].parse().unwrap();
            let took: f64 = f[1].parse().unwrap();
            Hit {
                start: end - took,
                end,
                connection: f[2].parse().unwrap(),
                uri: f[3].to_string(),
            }
        })
        .collect()
}

/// The most intervals open at once.
fn max_overlap(spans: impl Iterator<Item = (f64, f64)>) -> usize {
    let mut events: Vec<(f64, i32)> = Vec::new();
    for (start, end) in spans {
        events.push((start, 1));
        events.push((end, -1));
    }
    // Ends before starts at the same instant: back-to-back is not overlap.
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut open, mut most) = (0i32, 0i32);
    for (_, delta) in events {
        open += delta;
        most = most.max(open);
    }
    most as usize
}

struct Site {
    _root: tempfile::TempDir,
    _flaky: FlakyServer,
    nginx: Nginx,
    log: PathBuf,
}

fn serve() -> Option<Site> {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    site::write_tree_site(r, TREE, |i| {
        let mut extra = String::new();
        if i % 50 == 0 {
            extra.push_str(&format!("<a href=\"/private/s{i}.html\">secret</a>\n"));
        }
        if i % 40 == 1 {
            extra.push_str(&format!("<a href=\"/missing/m{i}.html\">gone</a>\n"));
        }
        if i == 3 {
            for link in [
                "/loop/a",
                "/moved",
                "/slow.html",
                "/big.html",
                "/logo.png",
                "/data.json",
                "/notes.txt",
                "/error500",
                "/flaky/f1.html",
                "/flaky/f2-ra.html",
                "http://example.invalid/out.html",
                "mailto:someone@example.invalid",
                "#top",
                "p3.html?",
                "/pages/p7.html#frag",
            ] {
                extra.push_str(&format!("<a href=\"{link}\">x</a>\n"));
            }
        }
        extra
    });
    std::fs::create_dir_all(r.join("private")).unwrap();
    for i in (0..TREE).step_by(50) {
        std::fs::write(r.join(format!("private/s{i}.html")), "<html>secret</html>").unwrap();
    }
    std::fs::create_dir_all(r.join("orphans")).unwrap();
    for i in 0..ORPHANS {
        std::fs::write(
            r.join(format!("orphans/o{i}.html")),
            format!("<html><body>orphan {i}</body></html>"),
        )
        .unwrap();
    }
    std::fs::write(r.join("slow.html"), "<html>".repeat(400)).unwrap();
    std::fs::File::create(r.join("big.html"))
        .unwrap()
        .set_len(50 << 20)
        .unwrap();
    std::fs::write(r.join("logo.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    std::fs::write(r.join("data.json"), "{\"a\": 1}").unwrap();
    std::fs::write(r.join("notes.txt"), "plain notes\n").unwrap();
    let flaky = FlakyServer::start(1, 1);
    let log = r.join("access.log");
    let server = format!(
        r#"
        access_log {log} crawl;
        location = /loop/a {{ return 301 /loop/b; }}
        location = /loop/b {{ return 301 /loop/a; }}
        location = /moved {{ return 301 /pages/p5.html; }}
        location = /error500 {{ return 500; }}
        location = /slow.html {{ limit_rate 100; }}
        location /flaky/ {{ proxy_pass {flaky}; }}
        "#,
        log = log.display(),
        flaky = flaky.url(),
    );
    let http = "log_format crawl '$msec $request_time $connection $request_uri';";
    let nginx = Nginx::start(r, &server, http)?;
    let base = nginx.url();
    std::fs::write(
        r.join("robots.txt"),
        format!(
            "User-agent: *\nDisallow: /private/\nCrawl-delay: {CRAWL_DELAY}\nSitemap: {base}/sitemap.xml\n"
        ),
    )
    .unwrap();
    let mut sitemap = String::from(
        "<?xml version=\"1.0\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for i in 0..ORPHANS {
        sitemap.push_str(&format!("<url><loc>{base}/orphans/o{i}.html</loc></url>\n"));
    }
    sitemap.push_str(&format!(
        "<url><loc>{base}/pages/p0.html</loc></url>\n</urlset>\n"
    ));
    std::fs::write(r.join("sitemap.xml"), sitemap).unwrap();
    Some(Site {
        _root: root,
        _flaky: flaky,
        nginx,
        log,
    })
}

/// What each URL of the site must end as: (outcome, reason).
fn expected(base: &str) -> BTreeMap<String, (Outcome, Option<String>)> {
    let mut want = BTreeMap::new();
    let mut put = |path: &str, outcome, reason: Option<&str>| {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{base}{path}")
        };
        want.insert(url, (outcome, reason.map(str::to_string)));
    };
    put("/index.html", Outcome::Fetched, None);
    for i in 0..TREE {
        put(&format!("/pages/p{i}.html"), Outcome::Fetched, None);
        if i % 50 == 0 {
            put(
                &format!("/private/s{i}.html"),
                Outcome::RobotsDisallowed,
                Some("robots.txt"),
            );
        }
        if i % 40 == 1 {
            put(
                &format!("/missing/m{i}.html"),
                Outcome::Error,
                Some("http-404"),
            );
        }
    }
    for i in 0..ORPHANS {
        put(&format!("/orphans/o{i}.html"), Outcome::Fetched, None);
    }
    put("/sitemap.xml", Outcome::Sitemap, None);
    put("/loop/a", Outcome::Redirected, None);
    put("/loop/b", Outcome::Error, Some("redirect-loop"));
    put("/moved", Outcome::Redirected, None);
    put("/error500", Outcome::Error, Some("http-500"));
    put("/slow.html", Outcome::Error, Some("timeout"));
    put("/big.html", Outcome::Error, Some("too-large"));
    put(
        "/logo.png",
        Outcome::Filtered,
        Some("content-type image/png"),
    );
    put(
        "/data.json",
        Outcome::Filtered,
        Some("content-type application/json"),
    );
    put("/notes.txt", Outcome::Fetched, None);
    put("/flaky/f1.html", Outcome::Fetched, None);
    put("/flaky/f2-ra.html", Outcome::Fetched, None);
    put(
        "http://example.invalid/out.html",
        Outcome::Filtered,
        Some("scope"),
    );
    want
}

fn config(base: &str) -> CrawlConfig {
    CrawlConfig {
        seeds: vec![format!("{base}/index.html")],
        user_agent: "atelier-test/1.0 (+mailto:test@example.invalid)".to_string(),
        concurrency: 8,
        max_connections_per_host: 2,
        delay_secs: 0.0,
        timeout_secs: 1.0,
        retries: 2,
        backoff_secs: 0.05,
        max_backoff_secs: 2.0,
        warc_max_bytes: 256 << 10,
        ..CrawlConfig::default()
    }
}

fn read_log(dir: &Path) -> Vec<LogLine> {
    std::fs::read_to_string(dir.join("crawl-log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn warc_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".warc.gz"))
        .collect();
    files.sort();
    files
}

#[test]
fn crawls_the_allowed_reachable_pages_once_and_logs_every_other_url() {
    let Some(site) = serve() else { return };
    let base = site.nginx.url();
    let out = tempfile::tempdir().unwrap();
    let summary = crawl(&config(&base), out.path(), &|_| {}).unwrap();

    // Every URL settled once, as it should be.
    let log = read_log(out.path());
    let mut got = BTreeMap::new();
    for line in &log {
        let old = got.insert(line.url.clone(), (line.outcome, line.reason.clone()));
        assert!(old.is_none(), "{} logged twice", line.url);
    }
    let want = expected(&base);
    let diff: Vec<_> = want
        .iter()
        .filter(|(url, w)| got.get(*url) != Some(w))
        .map(|(url, w)| format!("{url}: want {w:?}, got {:?}", got.get(url)))
        .chain(
            got.keys()
                .filter(|u| !want.contains_key(*u))
                .map(|u| format!("{u}: not expected ({:?})", got[u])),
        )
        .collect();
    assert!(
        diff.is_empty(),
        "{} differences:\n{}",
        diff.len(),
        diff.join("\n")
    );
    let fetched = want.values().filter(|w| w.0 == Outcome::Fetched).count() as u64;
    assert_eq!(summary.pages, fetched);
    assert!(fetched >= 2_000, "{fetched}");
    assert_eq!(
        summary.outcomes["robots-disallowed"],
        (TREE as u64).div_ceil(50)
    );
    assert_eq!(summary.pending, 0);

    // Server side: each page asked once, retried ones as often as they failed, nothing
    // disallowed asked at all.
    let hits = hits(&std::fs::read_to_string(&site.log).unwrap());
    let mut asked: HashMap<&str, Vec<&Hit>> = HashMap::new();
    for hit in &hits {
        asked.entry(hit.uri.as_str()).or_default().push(hit);
    }
    for (url, (outcome, _)) in &want {
        let Some(path) = url.strip_prefix(&base) else {
            continue;
        };
        let n = asked.get(path).map_or(0, Vec::len);
        let expect = match path {
            "/flaky/f1.html" | "/flaky/f2-ra.html" => 2,
            "/slow.html" | "/error500" => 3,
            _ if *outcome == Outcome::RobotsDisallowed => 0,
            _ => 1,
        };
        assert_eq!(n, expect, "{path} asked {n} times");
    }
    assert_eq!(asked["/robots.txt"].len(), 1);
    // Retry-After: 1 honoured.
    let ra = &asked["/flaky/f2-ra.html"];
    assert!(
        ra[1].start - ra[0].end >= 0.99,
        "{} {}",
        ra[0].end,
        ra[1].start
    );

    // Crawl-delay: request starts after robots.txt keep the delay. The server sees a
    // request late when the client's thread is late to run (the machine is shared), so
    // what is checked is that any 11 starts in a row span 10 delays, less 10 ms.
    let robots_end = asked["/robots.txt"][0].end;
    let mut starts: Vec<f64> = hits
        .iter()
        .filter(|h| h.start >= robots_end)
        .map(|h| h.start)
        .collect();
    starts.sort_by(f64::total_cmp);
    let tightest = starts
        .windows(11)
        .map(|w| w[10] - w[0])
        .fold(f64::MAX, f64::min);
    assert!(
        tightest >= 10.0 * CRAWL_DELAY - 0.010,
        "11 requests within {tightest} s"
    );
    let span = starts.last().unwrap() - starts[0];
    assert!(span >= (starts.len() - 1) as f64 * CRAWL_DELAY, "{span}");

    // Never more than two connections at once: each connection's life from its first
    // request's start to its last one's end. The slow and the big page are left out:
    // the client hangs up on them, which the server logs only when it next writes.
    let mut spans: HashMap<u64, (f64, f64)> = HashMap::new();
    for hit in hits
        .iter()
        .filter(|h| h.uri != "/slow.html" && h.uri != "/big.html")
    {
        let span = spans.entry(hit.connection).or_insert((hit.start, hit.end));
        span.0 = span.0.min(hit.start);
        span.1 = span.1.max(hit.end);
    }
    let most = max_overlap(spans.values().copied());
    assert!(most <= 2, "{most} connections at once");
    let requests = max_overlap(hits.iter().map(|h| (h.start, h.end)));
    assert!(requests <= 2, "{requests} requests at once");

    // The WARC files: rotated, each page once, read alike by atelier and warcio.
    let files = warc_files(out.path());
    assert!(files.len() > 1, "{files:?}");
    let ours = check_warcs(&files);
    let mut pages = BTreeSet::new();
    for (url, status) in ours.values() {
        if *status == 200 {
            assert!(pages.insert(url.clone()), "{url} written twice");
        }
    }
    let kept: BTreeSet<String> = want
        .iter()
        .filter(|(_, w)| w.0 == Outcome::Fetched || w.0 == Outcome::Sitemap)
        .map(|(u, _)| u.clone())
        .collect();
    assert_eq!(pages, kept);
}

/// Reads `files` with atelier's reader and, when `ATELIER_TEST_PYTHON` is set, checks
/// them with `warcio check` and `warcio index` and compares what both readers see.
/// Gives atelier's records: id → (url, HTTP status).
fn check_warcs(files: &[PathBuf]) -> BTreeMap<String, (String, u16)> {
    let mut ours = BTreeMap::new();
    for file in files {
        for doc in read_unit(&Unit::whole(file, Format::Warc), &ReadOptions::default()) {
            let doc = doc.unwrap();
            let m = &doc.metadata;
            let status = m["http_status"].as_u64().unwrap() as u16;
            ours.insert(
                doc.id.clone(),
                (m["url"].as_str().unwrap().to_string(), status),
            );
        }
    }
    let Some(python) = std::env::var_os("ATELIER_TEST_PYTHON") else {
        eprintln!("skipped: the warcio checks (ATELIER_TEST_PYTHON is unset)");
        return ours;
    };
    for command in ["check", "index"] {
        let run = Command::new(&python)
            .args(["-m", "warcio.cli", command])
            .args(files)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "warcio {command}: {}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
    }
    // The response records warcio reads, with a payload atelier's reader takes as text.
    let script = r#"
import sys
from warcio.archiveiterator import ArchiveIterator
for path in sys.argv[1:]:
    with open(path, 'rb') as f:
        for r in ArchiveIterator(f):
            if r.rec_type != 'response':
                continue
            ct = (r.http_headers.get_header('Content-Type') or '').split(';')[0].strip().lower()
            body = r.content_stream().read()
            textual = ct.startswith('text/') or any(w in ct for w in ('html', 'xml', 'json'))
            if textual and body:
                rid = r.rec_headers.get_header('WARC-Record-ID')[1:-1]
                print(rid, r.rec_headers.get_header('WARC-Target-URI'), r.http_headers.get_statuscode())
"#;
    let run = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(files)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let theirs: BTreeMap<String, (String, u16)> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].to_string(), (f[1].to_string(), f[2].parse().unwrap()))
        })
        .collect();
    assert_eq!(ours, theirs);
    ours
}
