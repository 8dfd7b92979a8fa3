//! `atelier fetch crawl` killed with SIGKILL in the middle of a crawl, then run again:
//! the WARC files hold every page once, the log every URL once, and nothing the first
//! run had committed is asked again.

use crate::common::{atelier, stderr};
use atelier_core::Format;
use atelier_fetch::crawl::{LogLine, frontier::Frontier};
use atelier_io::{ReadOptions, Unit, read_unit};
use atelier_testkit::{Nginx, site};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PAGES: usize = 2_000;

fn crawl_args(base: &str, out: &Path) -> Vec<String> {
    [
        "fetch",
        "crawl",
        &format!("{base}/index.html"),
        "--output",
        &out.display().to_string(),
        "--delay",
        "0.002",
        "--connections-per-host",
        "2",
        "--warc-max-bytes",
        "200000",
        "--user-agent",
        "atelier-test/1.0 (+mailto:test@example.invalid)",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn log_lines(text: &str) -> Vec<LogLine> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn a_crawl_killed_with_sigkill_resumes_without_losing_or_repeating_a_page() {
    let root = tempfile::tempdir().unwrap();
    let paths = site::write_tree_site(root.path(), PAGES, |_| String::new());
    let log = root.path().join("access.log");
    let server = format!("access_log {} uris;", log.display());
    let Some(nginx) = Nginx::start(root.path(), &server, "log_format uris '$request_uri';") else {
        return;
    };
    let base = nginx.url();
    let out = tempfile::tempdir().unwrap();
    let args = crawl_args(&base, out.path());

    // First run, killed once a few hundred URLs are logged.
    let mut child = Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let log_path = out.path().join("crawl-log.jsonl");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n = std::fs::read_to_string(&log_path).map_or(0, |t| t.lines().count());
        if n >= 400 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the crawl ended before the kill"
        );
        assert!(
            Instant::now() < deadline,
            "the crawl logged {n} URLs in 120 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // What the killed run had committed: the log up to its checkpointed length.
    let committed: Vec<LogLine> = {
        let frontier = Frontier::open(&out.path().join("frontier.redb"), 1 << 20).unwrap();
        let text = std::fs::read(&log_path).unwrap();
        let len = frontier.checkpoint.log_len as usize;
        log_lines(std::str::from_utf8(&text[..len]).unwrap())
    };
    assert!(committed.len() > 100, "{} URLs committed", committed.len());

    // Second run, to the end.
    let run = atelier(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(run.status.success(), "{}", stderr(&run));

    // The log: every page once, fetched.
    let lines = log_lines(&std::fs::read_to_string(&log_path).unwrap());
    let mut logged = BTreeMap::new();
    for line in &lines {
        assert!(
            logged.insert(line.url.clone(), line.clone()).is_none(),
            "{} logged twice",
            line.url
        );
    }
    let want: BTreeSet<String> = paths.iter().map(|p| format!("{base}{p}")).collect();
    let fetched: BTreeSet<String> = logged
        .values()
        .filter(|l| l.outcome == atelier_fetch::crawl::Outcome::Fetched)
        .map(|l| l.url.clone())
        .collect();
    assert_eq!(fetched, want);
    assert_eq!(committed.as_slice(), &lines[..committed.len()]);

    // The WARC files: every page once, and where the log says.
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".warc.gz"))
        .collect();
    files.sort();
    let mut written = BTreeMap::new();
    for file in &files {
        for doc in read_unit(&Unit::whole(file, Format::Warc), &ReadOptions::default()) {
            let doc = doc.unwrap();
            let url = doc.metadata["url"].as_str().unwrap().to_string();
            let at = (
                file.file_name().unwrap().to_string_lossy().into_owned(),
                doc.metadata["offset"].as_u64().unwrap(),
            );
            assert!(
                written.insert(url.clone(), at).is_none(),
                "{url} written twice"
            );
        }
    }
    assert_eq!(written.keys().cloned().collect::<BTreeSet<_>>(), want);
    for (url, at) in &written {
        let line = &logged[url];
        assert_eq!(
            (line.warc.clone().unwrap(), line.offset.unwrap()),
            *at,
            "{url}"
        );
    }
    if let Some(python) = std::env::var_os("ATELIER_TEST_PYTHON") {
        let check = Command::new(python)
            .args(["-m", "warcio.cli", "check"])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
    } else {
        eprintln!("skipped: warcio check (ATELIER_TEST_PYTHON is unset)");
    }

    // Server side: what the first run committed was never asked again.
    let access = std::fs::read_to_string(&log).unwrap();
    let mut asked: BTreeMap<&str, usize> = BTreeMap::new();
    for uri in access.lines() {
        *asked.entry(uri).or_default() += 1;
    }
    for line in &committed {
        let path = line.url.strip_prefix(&base).unwrap();
        assert_eq!(asked[path], 1, "{path} asked again after the resume");
    }
}

#[test]
fn a_recipe_source_crawls_then_refines_and_a_rerun_fetches_nothing_new() {
    let site = tempfile::tempdir().unwrap();
    let pages = site::write_tree_site(site.path(), 40, |_| String::new());
    let Some(nginx) = Nginx::start(site.path(), "", "") else {
        return;
    };
    let project = tempfile::tempdir().unwrap();
    let recipe = project.path().join("atelier.toml");
    std::fs::write(
        &recipe,
        format!(
            "[[source]]\npath = \"crawl\"\n[source.crawl]\nseeds = [\"{}/index.html\"]\ndelay_secs = 0.0\n\n\
             [[step]]\ntype = \"extract\"\n\n[output]\npath = \"out\"\n",
            nginx.url()
        ),
    )
    .unwrap();
    let first = crate::common::atelier(&["run", recipe.to_str().unwrap()]);
    assert!(first.status.success(), "{}", stderr(&first));
    let text = crate::common::stdout(&first);
    assert!(
        text.contains(&format!("crawled {} pages", pages.len())),
        "{text}"
    );
    // The crawl leads the run's summary, and so its bill.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.path().join("out/summary.json")).unwrap())
            .unwrap();
    let crawl = &saved["fetched"][0];
    assert_eq!(crawl["name"], "crawl");
    assert_eq!(crawl["kept"], pages.len() as u64, "{saved}");
    assert!(crawl["bytes_in"].as_u64().unwrap() > 0, "{saved}");
    let bill = crate::common::atelier(&["bill", recipe.to_str().unwrap()]);
    assert!(bill.status.success(), "{}", stderr(&bill));
    let bill_text = crate::common::stdout(&bill);
    assert!(
        bill_text
            .lines()
            .any(|l| l.trim_start().starts_with("crawl")),
        "{bill_text}"
    );
    let summary = crate::common::run_json(&recipe, "2");
    // Every page is a document; the crawl's log and frontier in the folder are not read.
    let docs = crate::common::documents(&summary);
    assert_eq!(docs.len(), pages.len(), "{summary}");
    assert!(docs.iter().all(|d| {
        d["metadata"]["url"]
            .as_str()
            .unwrap()
            .starts_with(&nginx.url())
    }));
    // The second and third runs resumed a finished crawl: nothing fetched again.
    let third = crate::common::atelier(&["run", recipe.to_str().unwrap()]);
    assert!(third.status.success(), "{}", stderr(&third));
    assert!(
        crate::common::stdout(&third).contains("crawled 0 pages"),
        "{}",
        crate::common::stdout(&third)
    );
}
