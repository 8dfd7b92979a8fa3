//! The `dedup` step driven by the real runner: recipes, intermediate shards, stages,
//! the same output whatever the number of tasks, and an incremental second version.

use atelier_core::{Document, Recipe, Registry};
use atelier_dedup::{CLUSTER_KEY, CLUSTER_SIZE_KEY, DUPLICATE, DUPLICATE_OF_INDEX, DedupConfig};
use atelier_runner::{RunOptions, RunSummary, run};
use std::path::Path;

fn word(mut n: usize) -> String {
    let mut w = String::new();
    loop {
        w.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            return w;
        }
    }
}

fn text(seed: usize, len: usize) -> String {
    (0..len)
        .map(|i| word((seed * 7919 + i * 104_729) % 40_000))
        .collect::<Vec<_>>()
        .join(" ")
}

fn write_input(path: &Path, docs: &[(String, String)]) {
    let lines: String = docs
        .iter()
        .map(|(id, t)| {
            format!(
                "{}\n",
                serde_json::to_string(&Document::new(id, t)).unwrap()
            )
        })
        .collect();
    std::fs::write(path, lines).unwrap();
}

fn recipe(dir: &Path, input: &str, out: &str, tasks: usize, extra: &str) -> Recipe {
    let src = format!(
        "[dataset]\ntasks = {tasks}\ntask_bytes = 2000\n\n[[source]]\npath = \"{input}\"\n\n\
         [[step]]\ntype = \"dedup\"\n{extra}\n\n[output]\npath = \"{out}\"\ncompression = \"none\"\n"
    );
    let registry = Registry::new().register::<DedupConfig>();
    Recipe::parse(&src, &dir.join("atelier.toml"), &registry).unwrap()
}

fn go(recipe: &Recipe) -> RunSummary {
    run(
        recipe,
        &RunOptions {
            workers: 2,
            progress: false,
            after: None,
        },
    )
    .unwrap()
}

fn written(summary: &RunSummary) -> Vec<Document> {
    let mut docs = Vec::new();
    for shard in &summary.shards {
        for line in std::fs::read_to_string(shard).unwrap().lines() {
            docs.push(Document::from_json_slice(line.as_bytes(), String::new).unwrap());
        }
    }
    docs
}

/// 30 originals, each followed later by copies (every third one twice).
fn corpus() -> Vec<(String, String)> {
    let mut docs = Vec::new();
    for i in 0..30 {
        docs.push((format!("orig{i:02}"), text(i, 80)));
    }
    for i in 0..30 {
        docs.push((format!("copy{i:02}"), text(i, 80).to_uppercase()));
        if i % 3 == 0 {
            docs.push((format!("again{i:02}"), format!("{}!", text(i, 80))));
        }
    }
    docs
}

#[test]
fn the_runner_drives_dedup_the_same_whatever_the_tasks() {
    let dir = tempfile::tempdir().unwrap();
    write_input(&dir.path().join("in.jsonl"), &corpus());
    let one = go(&recipe(dir.path(), "in.jsonl", "one", 1, ""));
    let many = go(&recipe(dir.path(), "in.jsonl", "many", 5, ""));
    assert_eq!(many.tasks, 5);
    let (a, b) = (written(&one), written(&many));
    assert_eq!(a, b, "same documents, same order, same metadata");
    assert_eq!(a.len(), 30);
    for d in &a {
        assert!(d.id.starts_with("orig"));
        assert_eq!(d.metadata[CLUSTER_KEY], d.id.as_str());
        let i: usize = d.id[4..].parse().unwrap();
        assert_eq!(
            d.metadata[CLUSTER_SIZE_KEY],
            if i.is_multiple_of(3) { 3 } else { 2 }
        );
    }
    let step = &many.stats.steps[1];
    assert_eq!(step.name, "dedup");
    assert_eq!((step.documents_in, step.kept), (70, 30));
    assert_eq!(step.dropped[DUPLICATE], 40);
    let index = atelier_dedup::find_index(&dir.path().join("many"), "minhash")
        .unwrap()
        .1;
    assert_eq!(index.documents, 30);
}

#[test]
fn a_second_version_is_deduplicated_against_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let first: Vec<(String, String)> = (0..20).map(|i| (format!("v1-{i}"), text(i, 60))).collect();
    write_input(&dir.path().join("v1.jsonl"), &first);
    go(&recipe(dir.path(), "v1.jsonl", "v1", 2, ""));

    let mut second: Vec<(String, String)> = (15..25)
        .map(|i| (format!("v2-{i}"), text(i, 60).to_uppercase()))
        .collect();
    second.push(("v2-again-24".into(), text(24, 60)));
    write_input(&dir.path().join("v2.jsonl"), &second);
    let summary = go(&recipe(dir.path(), "v2.jsonl", "v2", 3, "against = \"v1\""));
    let ids: Vec<String> = written(&summary).into_iter().map(|d| d.id).collect();
    assert_eq!(ids, ["v2-20", "v2-21", "v2-22", "v2-23", "v2-24"]);
    let step = &summary.stats.steps[1];
    assert_eq!(step.dropped[DUPLICATE_OF_INDEX], 5);
    assert_eq!(step.dropped[DUPLICATE], 1);
    let index = atelier_dedup::find_index(&dir.path().join("v2"), "minhash")
        .unwrap()
        .1;
    assert_eq!(index.documents, 25);
}
