//! The README's tour from `atelier init`: the starter project runs, trains a model on its
//! labelled sample and serves it; and what the starter recipe's comments say holds.

use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn ok_in(dir: &Path, args: &[&str]) -> String {
    let out = atelier_in(dir, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// `atelier serve` in a folder on a free port; killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_atelier"))
            .args(["serve", "--addr", "127.0.0.1:0", "--workers", "1"])
            .current_dir(dir)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server says where it listens")
                .unwrap();
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest.split('/').next().unwrap().to_owned();
            }
        };
        // Keep reading its log, so that it never writes to a closed pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, addr }
    }

    /// One request; the status and the body.
    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not HTTP: {response}"));
        let body = response
            .split_once("\r\n\r\n")
            .map_or(String::new(), |(_, b)| b.to_owned());
        (status, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_tour_works_from_init() {
    let dir = tempfile::tempdir().unwrap();
    let out = atelier_in(dir.path(), &["init", "my-project"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("cd my-project && atelier run"),
        "init says what to do next: {}",
        stdout(&out)
    );
    let project = dir.path().join("my-project");
    assert!(project.join("data/sample.jsonl").is_file());

    // The README's tour, in the project folder.
    ok_in(&project, &["check"]);
    let run = ok_in(&project, &["run"]);
    assert!(run.contains("version v1 (now `latest`)"), "{run}");
    assert!(
        run.contains("model `my-project-classifier` v2 (now `model`, `prod`): trained on v1"),
        "the sample trains a model good enough for `prod`: {run}"
    );
    let train = ok_in(&project, &["train"]);
    assert!(
        train.contains("model `my-project-classifier` v2 is up to date"),
        "{train}"
    );
    // A model shows what it was trained on, and its files (not shards, not sources).
    let shown = ok_in(&project, &["show", "model"]);
    for part in [
        "trained on: v1 (dataset `my-project`, 60 documents); ",
        "; classes: cooking 30, cycling 30\n",
        "\nfiles:   2 file(s), ",
    ] {
        assert!(shown.contains(part), "no `{part}` in {shown}");
    }
    assert!(
        !shown.contains("shards:") && !shown.contains("sources:"),
        "{shown}"
    );
    ok_in(&project, &["bill"]);
    ok_in(&project, &["report"]);

    let server = Server::start(&project);
    let (status, body) = server.request(
        "POST",
        "/v1/classify",
        r#"{"text": "Pump up the tyres and oil the chain before the ride"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["model"], "my-project-classifier");
    assert_eq!(answer["version"], "v2");
    assert_eq!(answer["predictions"][0]["label"], "cycling", "{body}");
    let (_, body) = server.request(
        "POST",
        "/v1/classify",
        r#"{"text": "Bake the cake in the oven with butter and a pinch of salt"}"#,
    );
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["predictions"][0]["label"], "cooking", "{body}");
}

#[test]
fn init_beside_files_of_ones_own_adds_no_sample() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data/notes.txt"),
        "A note of my own, long enough to be kept by the length step.\n",
    )
    .unwrap();
    let out = atelier_in(dir.path(), &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!dir.path().join("data/sample.jsonl").exists());
    let recipe = std::fs::read_to_string(dir.path().join("atelier.toml")).unwrap();
    assert!(
        recipe.contains("\n# [train]\n# label = \"topic\""),
        "{recipe}"
    );
    ok_in(dir.path(), &["check"]);
    let run = ok_in(dir.path(), &["run"]);
    assert!(run.contains("1 documents in 1 shard(s)"), "{run}");
    assert!(!run.contains("model `"), "no [train], no model: {run}");
}

/// What the starter recipe says of tasks and shards is what a run does: small inputs
/// spread over 16 tasks, one shard per task that kept documents, named by the task.
#[test]
fn small_inputs_spread_over_tasks_as_the_starter_recipe_says() {
    // 20 small files: 16 tasks. The first two hold only a short line, which the
    // `length` step drops: their task writes no shard.
    let dir = tempfile::tempdir().unwrap();
    let project = twenty_small_files(dir.path());
    let recipe = std::fs::read_to_string(project.join("atelier.toml")).unwrap();
    for claim in [
        "least 16, or one per input unit (a file, or a range of",
        "a task that keeps\n# nothing writes no shard, so the numbers can have gaps",
    ] {
        assert!(recipe.contains(claim), "the recipe says: {claim}");
    }
    let summary = run_json(&project.join("atelier.toml"), "2");
    assert_eq!(summary["tasks"], 16);
    let names: Vec<String> = shards(&summary).into_iter().map(|(n, _)| n).collect();
    assert!(names.len() < 16, "{names:?}");
    assert!(
        !names.contains(&"part-00000.jsonl.gz".to_owned()),
        "task 0 kept nothing: {names:?}"
    );
    assert_eq!(names.last().unwrap(), "part-00015.jsonl.gz");
    assert_eq!(step(&summary, "write")["kept"], 18);
}

/// `show` lists the first 10 sources and files of a version and says how many more
/// there are; `--all` lists every one.
#[test]
fn show_lists_ten_sources_and_files_unless_asked_for_all() {
    let dir = tempfile::tempdir().unwrap();
    let project = twenty_small_files(dir.path());
    run_json(&project.join("atelier.toml"), "2");
    let shown = ok_in(&project, &["show", "latest"]);
    assert!(shown.contains("sources: 20 file(s)"), "{shown}");
    assert!(shown.contains("data/f09.jsonl"), "{shown}");
    assert!(!shown.contains("data/f10.jsonl"), "{shown}");
    assert!(
        shown.contains("  ... 10 more (--all lists them)"),
        "{shown}"
    );
    assert!(!shown.contains("part-00015.jsonl.gz"), "{shown}");

    let all = ok_in(&project, &["show", "latest", "--all"]);
    assert!(all.contains("data/f19.jsonl"), "{all}");
    assert!(all.contains("part-00015.jsonl.gz"), "{all}");
    assert!(!all.contains("more (--all lists them)"), "{all}");
}

/// A starter project in `dir/p` whose `data/` holds 20 one-line JSONL files, the first
/// two with a line too short for the `length` step.
fn twenty_small_files(dir: &Path) -> PathBuf {
    let project = dir.join("p");
    let data = project.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..20 {
        let text = if i < 2 {
            "too short"
        } else {
            "A line long enough for the length step."
        };
        std::fs::write(
            data.join(format!("f{i:02}.jsonl")),
            format!("{{\"text\": \"{text}\"}}\n"),
        )
        .unwrap();
    }
    let out = atelier_in(dir, &["init", "p"]);
    assert!(out.status.success(), "{}", stderr(&out));
    project
}
