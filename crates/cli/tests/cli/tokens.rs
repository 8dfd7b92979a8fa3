//! `atelier tokenizer train`, `atelier tokenize`, and a recipe's `[tokenize]` stage: token
//! shards in the dataset version, reused across versions, resumed after SIGKILL.

use crate::common::{atelier, example_recipe, repo, run_json, stderr, stdout, step};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tokenizer trained on the example's mails.
fn trained(dir: &Path) -> PathBuf {
    let path = dir.join("tokenizer.json");
    let out = atelier(&[
        "tokenizer",
        "train",
        repo().join("examples/spam/data").to_str().unwrap(),
        "--vocab-size",
        "600",
        "--special",
        "<|endoftext|>",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    path
}

fn tokenize_section(layouts: &str) -> String {
    format!(
        "[tokenize]\ntokenizer = \"tokenizer.json\"\neos = \"<|endoftext|>\"\nvalidation = \
         0.1\nlayouts = [{layouts}]\n"
    )
}

/// Every file under a token folder but the tasks' work files, with its bytes' hash.
fn token_files(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel.starts_with(".tasks") || rel == "index.json" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((rel, blake3::hash(&bytes).to_hex().to_string()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn a_recipe_tokenizes_its_dataset_into_the_version() {
    let dir = tempfile::tempdir().unwrap();
    trained(dir.path());
    let recipe = example_recipe(dir.path(), &tokenize_section("\"datatrove\", \"megatron\""));
    let check = atelier(&["check", recipe.to_str().unwrap()]);
    assert!(
        stdout(&check).contains("dedup -> tokenize"),
        "{}",
        stdout(&check)
    );

    let first = run_json(&recipe, "2");
    let tokenize = step(&first, "tokenize");
    assert_eq!(tokenize["documents_in"], step(&first, "write")["kept"]);
    assert!(tokenize["counts"]["tokens"].as_u64().unwrap() > 100_000);
    let version = first["version"].as_str().unwrap().to_owned();
    let folder = dir
        .path()
        .join(".atelier/versions")
        .join(&version)
        .join("tokens");
    assert!(folder.join("index.json").is_file() && folder.join("tokenizer.json").is_file());
    assert!(folder.join("megatron/validation/part-00003.idx").is_file());
    assert!(
        !folder.join(".tasks").exists(),
        "work files stay out of the version"
    );

    let show = atelier(&["show", &version, "-p", dir.path().to_str().unwrap()]);
    let text = stdout(&show);
    assert!(text.contains("tokens:  tokenizer"), "{text}");
    assert!(text.contains("validation"), "{text}");

    let report = atelier(&["report", recipe.to_str().unwrap()]);
    assert!(report.status.success(), "{}", stderr(&report));
    let page = std::fs::read_to_string(dir.path().join("out/dataset/report.html")).unwrap();
    assert!(page.contains("id=\"tokens\"") && page.contains("Tokens per document"));
    assert!(page.contains("easy-ham-1.jsonl.gz"), "tokens per source");

    // The version keeps its cached units alive: gc removes none of them.
    let gc = atelier(&["gc", "-p", dir.path().to_str().unwrap()]);
    assert!(gc.status.success(), "{}", stderr(&gc));

    // Another layout: the documents are not tokenized again, the version is new.
    let recipe = example_recipe(
        dir.path(),
        &tokenize_section("\"datatrove\", \"megatron\", \"llmc\""),
    );
    let second = run_json(&recipe, "2");
    assert_eq!(
        second["tasks_resumed"], 4,
        "the dataset's tasks are not redone"
    );
    let tokenize = step(&second, "tokenize");
    assert_eq!(tokenize["reused_documents"], tokenize["documents_in"]);
    assert_ne!(second["version"], first["version"]);
    let llmc = dir
        .path()
        .join("out/dataset/tokens/llmc/train/part-00000.bin");
    assert!(llmc.is_file());
}

#[test]
fn a_killed_tokenize_resumes_to_identical_bytes() {
    let whole = tempfile::tempdir().unwrap();
    trained(whole.path());
    let section = tokenize_section("\"datatrove\", \"llmc\", \"megatron\"");
    run_json(&example_recipe(whole.path(), &section), "2");
    let reference = token_files(&whole.path().join("out/dataset/tokens"));

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        whole.path().join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    let recipe = example_recipe(dir.path(), &section);
    let killed = Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args(["run", recipe.to_str().unwrap(), "--quiet", "--workers", "2"])
        .env("ATELIER_CRASH_AFTER_TOKENIZED", "500")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(killed.status.signal(), Some(9), "{}", stderr(&killed));
    let resumed = run_json(&recipe, "2");
    assert_eq!(resumed["tasks_resumed"], 4);
    assert_eq!(
        token_files(&dir.path().join("out/dataset/tokens")),
        reference,
        "token files are byte-identical"
    );
}

#[test]
fn tokenize_files_and_a_bad_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = trained(dir.path());
    let out_dir = dir.path().join("tokens");
    let out = atelier(&[
        "tokenize",
        repo().join("examples/spam/data").to_str().unwrap(),
        "-t",
        tokenizer.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
        "--layout",
        "llmc-raw,megatron",
        "--eos",
        "<|endoftext|>",
        "--tasks",
        "2",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let index: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(index["stats"]["documents_in"], 1210);
    assert_eq!(
        index["shards"].as_array().unwrap().len(),
        4,
        "2 tasks x 2 layouts"
    );

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "not json").unwrap();
    let out = atelier(&[
        "tokenize",
        repo().join("examples/spam/data").to_str().unwrap(),
        "-t",
        bad.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bad.json"), "{}", stderr(&out));

    let recipe = example_recipe(dir.path(), "[tokenize]\ntokenizer = \"missing.json\"\n");
    let out = atelier(&["run", recipe.to_str().unwrap(), "--quiet"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("[tokenize]") && err.contains("missing.json"),
        "{err}"
    );
}
