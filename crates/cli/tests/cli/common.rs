//! Helpers shared by the binary's integration tests.
#![allow(dead_code)]

use flate2::read::MultiGzDecoder;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn atelier(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args(args)
        .output()
        .expect("atelier runs")
}

/// Runs atelier in a folder, as a user who went there with `cd`.
pub fn atelier_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("atelier runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// All documents of a run's shards, in shard order.
pub fn documents(summary: &Value) -> Vec<Value> {
    let mut docs = Vec::new();
    for shard in summary["shards"].as_array().unwrap() {
        let mut text = String::new();
        MultiGzDecoder::new(std::fs::File::open(shard.as_str().unwrap()).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        docs.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    docs
}

/// The bundled example's recipe, rewritten to read the bundled data and write under `dir`.
pub fn example_recipe(dir: &Path, extra: &str) -> PathBuf {
    let data = repo().join("examples/spam/data");
    let recipe = dir.join("atelier.toml");
    let text = std::fs::read_to_string(repo().join("examples/spam/atelier.toml"))
        .unwrap()
        .replace(
            "path = \"data\"",
            &format!("path = {:?}", data.to_str().unwrap()),
        );
    std::fs::write(&recipe, format!("{text}\n{extra}")).unwrap();
    recipe
}

pub fn run_json(recipe: &Path, workers: &str) -> Value {
    let out = atelier(&[
        "run",
        recipe.to_str().unwrap(),
        "--json",
        "--workers",
        workers,
    ]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("--json prints the summary")
}

/// The shards of a run, by file name, with their bytes.
pub fn shards(summary: &Value) -> Vec<(String, Vec<u8>)> {
    summary["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let p = Path::new(p.as_str().unwrap());
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(p).unwrap(),
            )
        })
        .collect()
}

/// The counters of one step in a run summary.
pub fn step<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["stats"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}"))
}
