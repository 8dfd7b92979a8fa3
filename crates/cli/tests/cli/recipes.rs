//! End-to-end tests of the `atelier` binary: recipes, the bundled example, bad input and
//! resuming after SIGKILL.

use crate::common::*;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::Command;

#[test]
fn bundled_example_becomes_a_clean_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let summary = run_json(&example_recipe(dir.path(), ""), "2");
    let steps = summary["stats"]["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "read",
            "extract",
            "pii",
            "language",
            "length",
            "gopher_repetition",
            "dedup",
            "write"
        ]
    );
    let pii = &steps[2]["counts"];
    let in_metadata: u64 = documents(&summary)
        .iter()
        .filter_map(|d| d["metadata"]["pii"]["email"].as_u64())
        .sum();
    assert!(
        in_metadata > 100,
        "mail is full of addresses: {in_metadata}"
    );
    // Messages dropped after `pii` (repeated lines, copies) took their replacements with
    // them: the counter holds every replacement, the dataset's metadata most of them.
    let counted = pii["email"].as_u64().unwrap();
    assert!(
        in_metadata <= counted && counted - in_metadata < counted / 10,
        "counters add up the replacements: {counted} counted, {in_metadata} in metadata"
    );
    assert_eq!(
        steps[0]["documents_in"], 1210,
        "every message of the sample is read"
    );
    let docs = documents(&summary);
    assert_eq!(
        docs.len() as u64,
        step(&summary, "write")["kept"].as_u64().unwrap()
    );
    let repeated = step(&summary, "gopher_repetition")["dropped"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum::<u64>();
    assert!(
        repeated > 0 && repeated * 20 < docs.len() as u64,
        "the repetition rules drop a few messages, not the mail: {repeated}"
    );
    assert!(
        step(&summary, "dedup")["dropped"]["duplicate"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "the sample holds copies of some messages"
    );
    assert!(
        docs.len() > 1100,
        "most messages keep a body: {}",
        docs.len()
    );
    // A few spam messages are broken beyond repair (a blank line inside the headers makes
    // the rest of the headers body text); they must stay rare.
    let leaked = docs
        .iter()
        .filter(|d| {
            d["text"]
                .as_str()
                .unwrap()
                .contains("Content-Transfer-Encoding:")
        })
        .count();
    assert!(
        leaked * 100 <= docs.len(),
        "MIME headers leaked into {leaked} texts"
    );
    for doc in &docs {
        let text = doc["text"].as_str().unwrap();
        if doc["metadata"]["extractor"].is_string() {
            let lower = text.to_ascii_lowercase();
            assert!(
                !lower.contains("<html") && !lower.contains("<td"),
                "HTML left in {}",
                doc["id"]
            );
        }
        assert_eq!(
            doc["metadata"]["content_type"], "text/plain",
            "{}",
            doc["id"]
        );
        assert!(doc["metadata"]["group"].is_string());
        assert!(
            doc["metadata"]["language"].is_string(),
            "labelled: {}",
            doc["id"]
        );
    }
    let from_html = docs
        .iter()
        .filter(|d| d["metadata"]["extractor"].is_string())
        .count();
    assert!(from_html > 50, "HTML-only mails become text: {from_html}");
    let ids: std::collections::HashSet<&str> =
        docs.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), docs.len(), "ids are unique");
    assert!(ids.contains("spam-2/00001"), "ids are group/id");
}

#[test]
fn human_summary_shows_the_funnel() {
    let dir = tempfile::tempdir().unwrap();
    let out = atelier(&[
        "run",
        example_recipe(dir.path(), "").to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for word in [
        "read",
        "extract",
        "length",
        "write",
        "quarantined",
        "documents in",
    ] {
        assert!(text.contains(word), "missing {word:?} in:\n{text}");
    }
}

/// Where each whitespace-separated word of a line ends.
fn word_ends(line: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        if c == ' ' && previous != ' ' {
            ends.push(i);
        }
        previous = c;
    }
    if previous != ' ' {
        ends.push(line.len());
    }
    ends
}

#[test]
fn funnel_and_bill_line_up_under_long_step_names() {
    let dir = tempfile::tempdir().unwrap();
    let long = "gopher_quality";
    let recipe = example_recipe(dir.path(), &format!("[[step]]\ntype = \"{long}\"\n"));
    let out = atelier(&["run", recipe.to_str().unwrap(), "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    // The funnel (its header names `quarantined`), then the bill (`reused EUR`): under
    // each header, every step's `in`, `kept` and `dropped` end where the header's do.
    // A step's row is a name and a count of documents.
    for table in ["quarantined", "reused EUR"] {
        let at = lines
            .iter()
            .position(|l| l.starts_with("step ") && l.contains(table))
            .unwrap_or_else(|| panic!("no table with {table:?} in:\n{text}"));
        let header = &word_ends(lines[at])[1..4];
        let rows: Vec<&str> = lines[at + 1..]
            .iter()
            .copied()
            .take_while(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|w| w.parse::<u64>().is_ok())
            })
            .collect();
        assert!(
            rows.iter().any(|r| r.starts_with(long)),
            "no {long} row in:\n{text}"
        );
        for row in rows {
            assert_eq!(
                &word_ends(row)[1..4],
                header,
                "{row:?} under {:?}",
                lines[at]
            );
        }
    }
}

#[test]
fn recipe_errors_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("atelier.toml");
    std::fs::write(
        &recipe,
        "[dataset]\ntasks = \"four\"\n\n[[source]]\npath = \"data\"\n\n[[step]]\ntype = \"lenght\"\n\n[[step]]\ntype = \"length\"\nmin_char = 3\n",
    )
    .unwrap();
    let out = atelier(&["check", recipe.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    let file = recipe.display().to_string();
    assert!(err.contains(&format!("{file}:2:9: key `tasks`")), "{err}");
    assert!(
        err.contains(&format!(
            "{file}:8:8: key `type`: unknown step `lenght`; did you mean `length`?"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:12:1: key `min_char`: unknown field `min_char`"
        )),
        "{err}"
    );
    assert!(err.contains("3 problem(s)"), "{err}");
}

#[test]
fn every_registered_step_parses_in_the_example_recipe() {
    let out = atelier(&["steps", "--example"]);
    assert!(out.status.success());
    let steps = stdout(&out);
    let listed = stdout(&atelier(&["steps"]));
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("atelier.toml");
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(&recipe, format!("[[source]]\npath = \"data\"\n\n{steps}")).unwrap();
    let out = atelier(&["check", recipe.to_str().unwrap()]);
    assert!(out.status.success(), "{}\n{steps}", stderr(&out));
    for name in [
        "extract",
        "length",
        "dedup",
        "language",
        "url",
        "gopher_repetition",
        "gopher_quality",
        "c4_quality",
        "fineweb_quality",
        "pii",
    ] {
        assert!(
            steps.contains(&format!("type = \"{name}\"")),
            "{name} missing from the example"
        );
        assert!(listed.contains(name), "{name} missing from `atelier steps`");
    }
    assert!(stdout(&out).contains("extract -> length"));
}

#[test]
fn bundled_recipe_checks_and_init_writes_a_valid_recipe() {
    let out = atelier(&[
        "check",
        repo().join("examples/spam/atelier.toml").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("proj");
    let out = atelier(&["init", project.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(project.join("data").is_dir());
    let out = atelier(&["check", project.join("atelier.toml").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = atelier(&["init", project.to_str().unwrap()]);
    assert!(!again.status.success(), "init does not overwrite");
}

#[test]
fn killed_run_resumes_to_identical_output() {
    let whole = tempfile::tempdir().unwrap();
    let reference = run_json(&example_recipe(whole.path(), ""), "2");

    let dir = tempfile::tempdir().unwrap();
    let recipe = example_recipe(dir.path(), "");
    let killed = Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args(["run", recipe.to_str().unwrap(), "--quiet", "--workers", "2"])
        .env("ATELIER_CRASH_AFTER_DOCUMENTS", "700")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        killed.status.signal(),
        Some(9),
        "the crash hook kills the run with SIGKILL"
    );
    let markers =
        std::fs::read_dir(dir.path().join("out/dataset/.atelier/tasks")).map_or(0, |d| d.count());
    assert!(markers < 4, "the run stopped midway ({markers} tasks done)");

    // `atelier status` tells the tasks never started from those waiting in a queue.
    let status = stdout(&atelier(&["status", recipe.to_str().unwrap()]));
    let header: Vec<&str> = status.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "stage", "tasks", "done", "running", "queued", "failed", "not", "started"
        ],
        "{status}"
    );
    let map0: Vec<usize> = status
        .lines()
        .find_map(|l| l.strip_prefix("map0"))
        .unwrap_or_else(|| panic!("no map0 in {status}"))
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(map0, [4, markers, 0, 0, 0, 4 - markers], "{status}");
    assert!(status.contains("not complete\nnot started: "), "{status}");

    let resumed = run_json(&recipe, "2");
    assert!(resumed["tasks_resumed"].as_u64().unwrap() < 4);
    assert_eq!(
        shards(&resumed),
        shards(&reference),
        "shards are byte-identical"
    );
    assert_eq!(
        step(&resumed, "write")["kept"],
        step(&reference, "write")["kept"]
    );
}

/// Writes a gzip member holding `lines`, without its last `cut` bytes.
fn truncated_gzip(path: &Path, lines: &str, cut: usize) {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(lines.as_bytes()).unwrap();
    let bytes = enc.finish().unwrap();
    std::fs::write(path, &bytes[..bytes.len() - cut]).unwrap();
}

fn warc_record(id: &str, url: &str, html: &str) -> String {
    let http = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}");
    format!(
        "WARC/1.1\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:{id}>\r\nWARC-Target-URI: {url}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\nContent-Type: application/http; msgtype=response\r\nContent-Length: {}\r\n\r\n{http}\r\n\r\n",
        http.len()
    )
}

#[test]
fn bad_input_is_quarantined_and_nothing_else_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let line = |id: &str| format!("{{\"id\":\"{id}\",\"text\":\"a good document called {id}\"}}\n");
    // Truncated gzip: the first lines survive.
    let long: String = (0..2000).map(|i| line(&format!("gz{i}"))).collect();
    truncated_gzip(&data.join("a-truncated.jsonl.gz"), &long, 20);
    // A WARC with a corrupt record between two good ones.
    let page =
        "<html><body><p>Plenty of words for a page that is worth keeping here.</p></body></html>";
    let mut warc = warc_record("1", "https://a.example/", page);
    warc.push_str(
        "WARC/1.1\r\nWARC-Type: response\r\nContent-Length: banana\r\n\r\ngarbage\r\n\r\n",
    );
    warc.push_str(&warc_record("3", "https://c.example/", page));
    std::fs::write(data.join("b.warc"), warc).unwrap();
    // Invalid UTF-8 in the middle of a JSONL file.
    let mut bytes = line("u1").into_bytes();
    bytes.extend_from_slice(b"{\"id\":\"u2\",\"text\":\"bad \xff\xfe byte\"}\n");
    bytes.extend_from_slice(line("u3").as_bytes());
    std::fs::write(data.join("c-utf8.jsonl"), bytes).unwrap();
    // A single line larger than max_record_bytes, between good lines.
    let mut big = std::io::BufWriter::new(std::fs::File::create(data.join("d-big.jsonl")).unwrap());
    big.write_all(line("b1").as_bytes()).unwrap();
    big.write_all(b"{\"id\":\"huge\",\"text\":\"").unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        big.write_all(&chunk).unwrap();
    }
    big.write_all(b"\"}\n").unwrap();
    big.write_all(line("b2").as_bytes()).unwrap();
    drop(big);
    // An empty file, and a file that cannot be read (a dangling link).
    std::fs::write(data.join("e-empty.txt"), "").unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("nowhere.txt"),
        data.join("f-unreadable.txt"),
    )
    .unwrap();

    let recipe = dir.path().join("atelier.toml");
    std::fs::write(
        &recipe,
        "[dataset]\ntasks = 3\nmax_record_bytes = 10000000\nmax_quarantined_fraction = 1.0\n\n[[source]]\npath = \"data\"\n\n[output]\npath = \"out\"\n",
    )
    .unwrap();
    let summary = run_json(&recipe, "2");
    let docs = documents(&summary);
    let ids: Vec<&str> = docs.iter().map(|d| d["id"].as_str().unwrap()).collect();
    for id in ["u1", "u3", "b1", "b2", "gz0", "gz1000"] {
        assert!(ids.contains(&id), "{id} lost; kept {} docs", ids.len());
    }
    assert_eq!(
        docs.iter()
            .filter(|d| d["metadata"]["url"].is_string())
            .count(),
        2,
        "both good WARC records kept"
    );

    let mut quarantined = Vec::new();
    for q in summary["quarantine"].as_array().unwrap() {
        let text = std::fs::read_to_string(q.as_str().unwrap()).unwrap();
        quarantined.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    let about = |name: &str| {
        quarantined
            .iter()
            .filter(|q| q["file"].as_str().is_some_and(|f| f.ends_with(name)))
            .count()
    };
    assert_eq!(about("a-truncated.jsonl.gz"), 1, "{quarantined:?}");
    assert_eq!(about("b.warc"), 1, "{quarantined:?}");
    assert_eq!(about("c-utf8.jsonl"), 1, "{quarantined:?}");
    assert_eq!(about("d-big.jsonl"), 1, "{quarantined:?}");
    assert_eq!(about("f-unreadable.txt"), 1, "{quarantined:?}");
    for q in &quarantined {
        assert!(
            q["error"].as_str().is_some_and(|e| !e.is_empty()),
            "each entry says why: {q}"
        );
        assert_eq!(q["step"], "read");
    }
    let records = summary["stats"]["steps"][0]["documents_in"]
        .as_u64()
        .unwrap();
    assert_eq!(
        records,
        docs.len() as u64 + quarantined.len() as u64,
        "read = kept + quarantined"
    );
}

#[test]
fn too_much_quarantine_fails_the_run_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data/x.jsonl"),
        "{\"text\":\"ok\"}\nnot json\nnot json either\n",
    )
    .unwrap();
    let recipe = dir.path().join("atelier.toml");
    std::fs::write(
        &recipe,
        "[dataset]\nmax_quarantined_fraction = 0.5\n\n[[source]]\npath = \"data\"\n",
    )
    .unwrap();
    let out = atelier(&["run", recipe.to_str().unwrap(), "--quiet"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("2 of 3 records") && err.contains("max_quarantined_fraction"),
        "{err}"
    );
    assert!(
        dir.path().join("out/dataset/part-00000.jsonl.gz").exists(),
        "good records are still written"
    );
}

#[test]
fn check_reports_every_problem_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("atelier.toml");
    std::fs::write(
        &recipe,
        "[dataset]\ntask = 4\n\n[[source]]\npath = \"data\"\nformt = \"jsonl\"\n\n\
         [output]\ncompression = \"gz\"\n",
    )
    .unwrap();
    let out = atelier(&["check", recipe.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    for key in ["`task`", "`formt`", "`compression`"] {
        assert!(err.contains(key), "{key} in {err}");
    }

    // Well-formed, but a run would fail at once: every such problem in one check.
    std::fs::write(
        &recipe,
        "[[source]]\npath = \"missing-folder\"\n\n[train]\nlabel = \"group\"\ntest = 2.0\n\n\
         [tokenize]\ntokenizer = \"no-tokenizer.json\"\n",
    )
    .unwrap();
    let out = atelier(&["check", recipe.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    for part in [
        "missing-folder",
        "[train]",
        "no-tokenizer.json",
        "3 problem(s)",
    ] {
        assert!(err.contains(part), "{part} in {err}");
    }
}

#[test]
fn sources_with_nothing_to_read_fail_naming_what_was_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("notes.xyz"), "not a known format").unwrap();
    let recipe = dir.path().join("atelier.toml");
    std::fs::write(&recipe, "[[source]]\npath = \"data\"\n").unwrap();
    let out = atelier(&["run", recipe.to_str().unwrap(), "--quiet"]);
    assert!(!out.status.success(), "an empty run is not a success");
    let err = stderr(&out);
    assert!(
        err.contains("nothing to read") && err.contains("data") && err.contains("notes.xyz"),
        "{err}"
    );
    assert!(
        !dir.path().join(".atelier/versions/v1").exists(),
        "no version is made"
    );

    std::fs::write(
        &recipe,
        "[dataset]\nallow_empty = true\n\n[[source]]\npath = \"data\"\n",
    )
    .unwrap();
    let out = atelier(&["run", recipe.to_str().unwrap(), "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn extract_one_shot_writes_one_jsonl_file() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    let article = "<html><head><title>Tides</title></head><body><nav><a href='/'>Home</a></nav>\
                   <article><h1>Tides</h1><p>The tide rises twice a day along this coast, and the \
                   harbour empties at low water so that boats rest on the mud.</p><p>Fishermen \
                   plan their trips around it, leaving at dawn when the water is high.</p></article>\
                   <footer>Copyright 2024</footer></body></html>";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(article.as_bytes()).unwrap();
    std::fs::write(pages.join("0001.html.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(
        pages.join("b.warc"),
        warc_record("7", "https://t.example/", article),
    )
    .unwrap();
    let output = dir.path().join("out.jsonl");
    let out = atelier(&[
        "extract",
        pages.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let docs: Vec<Value> = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["id"], "0001", "file ids drop every extension");
    assert_eq!(docs[1]["id"], "urn:uuid:7");
    assert_eq!(docs[1]["metadata"]["url"], "https://t.example/");
    for doc in &docs {
        let text = doc["text"].as_str().unwrap();
        assert!(text.contains("The tide rises twice a day"), "{text}");
        assert!(
            !text.contains("Copyright 2024") && !text.contains("Home"),
            "boilerplate kept: {text}"
        );
        assert_eq!(doc["metadata"]["title"], "Tides");
    }
    assert!(stderr(&out).contains("2 documents written"));
}

#[test]
fn bill_report_and_estimate_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = example_recipe(
        dir.path(),
        "[bill]\ncountry = \"DE\"\ncpu_watts_per_core = 10.0\n",
    );
    let summary = run_json(&recipe, "2");
    let recipe_arg = recipe.to_str().unwrap();

    let out = atelier(&["bill", recipe_arg, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bill: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(bill["country"], "DE");
    let steps = bill["steps"].as_array().unwrap();
    // The run's steps, then the recipe's training.
    assert_eq!(
        steps.len(),
        summary["stats"]["steps"].as_array().unwrap().len() + 1
    );
    assert_eq!(steps.last().unwrap()["name"], "train");
    assert!(bill["total"]["kwh"].as_f64().unwrap() > 0.0);
    // CPU energy at 10 W per core is at least CPU seconds x 10 W.
    let cpu_kwh = bill["total"]["cpu_seconds"].as_f64().unwrap() * 10.0 / 3.6e6;
    assert!(
        bill["total"]["kwh"].as_f64().unwrap() >= cpu_kwh * 0.999,
        "{bill}"
    );

    let out = atelier(&["report", recipe_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = std::fs::read_to_string(dir.path().join("out/dataset/report.html")).unwrap();
    for plot in ["plot-funnel", "plot-lengths", "plot-bill"] {
        assert!(
            page.contains(&format!("<figure id=\"{plot}\">\n<svg")),
            "{plot} missing"
        );
    }
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "self-contained"
    );

    let out = atelier(&[
        "estimate", "--params", "1e9", "--tokens", "2e10", "--gpu", "h100-sxm", "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let estimate: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(estimate["flops"].as_f64().unwrap(), 1.2e20, "6 N D");

    let bad = example_recipe(dir.path(), "[bill]\ncountri = \"DE\"\n");
    let out = atelier(&["check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("countri"), "{}", stderr(&out));
}

#[test]
fn dedup_one_shot_keeps_the_first_copy() {
    let dir = tempfile::tempdir().unwrap();
    let base = "the harbour empties at low water so that the fishing boats rest on the mud \
                until the evening tide lifts them again and the crews go back to sea";
    let lines = [
        ("a", base.to_owned()),
        (
            "b",
            "a completely different text about mountains, snow and the long winter".to_owned(),
        ),
        ("c", format!("{base}.")),
        ("d", base.to_uppercase()),
    ];
    let input = dir.path().join("in.jsonl");
    let text: String = lines
        .iter()
        .map(|(id, t)| format!("{}\n", serde_json::json!({"id": id, "text": t})))
        .collect();
    std::fs::write(&input, text).unwrap();
    let output = dir.path().join("out.jsonl");
    let out = atelier(&[
        "dedup",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let docs: Vec<Value> = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = docs.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "b"], "normalized copies c and d go");
    assert_eq!(docs[0]["metadata"]["dedup_cluster_size"], 3);
    assert!(stderr(&out).contains("duplicate 2"), "{}", stderr(&out));
}
