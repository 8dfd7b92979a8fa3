//! The Slurm executor against a real Slurm (`scripts/slurm-local.sh` starts a single-node
//! one). Without Slurm on the machine these tests say so and pass, unless
//! `ATELIER_REQUIRE_SLURM=1` (as `scripts/test.sh` sets it), where its absence fails them.

use crate::common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn slurm_available() -> bool {
    let up = Command::new("sinfo")
        .arg("-h")
        .output()
        .is_ok_and(|o| o.status.success());
    if !up {
        assert!(
            std::env::var("ATELIER_REQUIRE_SLURM").is_err(),
            "ATELIER_REQUIRE_SLURM is set but Slurm is not running (bash scripts/slurm-local.sh)"
        );
        eprintln!("note: Slurm is not running here; skipping");
    }
    up
}

const SLURM: &str = "[executor]\nkind = \"slurm\"\npoll_seconds = 0.2\n";

/// `atelier ARGS` under `timeout`, so that a run stuck in the queue fails the test
/// instead of hanging it.
fn bounded(args: &[&str]) -> std::process::Output {
    Command::new("timeout")
        .arg("300")
        .arg(env!("CARGO_BIN_EXE_atelier"))
        .args(args)
        .output()
        .unwrap()
}

fn run_slurm_json(recipe: &Path) -> Value {
    let out = bounded(&["run", recipe.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn jobs(dir: &Path) -> Value {
    let path = dir.join("out/dataset/.atelier/slurm/jobs.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn slurm_run_gives_the_local_dataset() {
    if !slurm_available() {
        return;
    }
    let local = tempfile::tempdir().unwrap();
    let reference = run_json(&example_recipe(local.path(), ""), "2");
    let dir = tempfile::tempdir().unwrap();
    let summary = run_slurm_json(&example_recipe(dir.path(), SLURM));
    assert_eq!(summary["tasks"], 4);
    assert_eq!(
        shards(&summary),
        shards(&reference),
        "byte-identical shards"
    );
    assert_eq!(
        step(&summary, "write")["kept"],
        step(&reference, "write")["kept"]
    );
    let status = atelier(&["status", dir.path().join("atelier.toml").to_str().unwrap()]);
    assert!(stdout(&status).contains("complete"), "{}", stdout(&status));
}

#[test]
fn a_cancelled_task_is_the_only_one_resubmitted() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Held at submission, so that one element can be cancelled before anything runs.
    let recipe = example_recipe(
        dir.path(),
        &format!("{SLURM}sbatch_options = [\"--hold\"]\n"),
    );
    let recipe_arg = recipe.to_str().unwrap();
    let out = atelier(&["run", recipe_arg, "--detach"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let job = jobs(dir.path())["stages"]["map0"][0]["job"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        Command::new("scancel")
            .arg(format!("{job}_1"))
            .status()
            .unwrap()
            .success()
    );
    assert!(
        Command::new("scontrol")
            .args(["release", &job])
            .status()
            .unwrap()
            .success()
    );

    // Executor settings do not change the plan: the same run goes on, without --hold.
    let text = std::fs::read_to_string(&recipe)
        .unwrap()
        .replace("sbatch_options = [\"--hold\"]\n", "");
    std::fs::write(&recipe, text).unwrap();
    let summary = run_slurm_json(&recipe);
    let arrays = jobs(dir.path())["stages"]["map0"]
        .as_array()
        .unwrap()
        .clone();
    let last = &arrays.last().unwrap()["ranks"];
    assert_eq!(
        last,
        &serde_json::json!([1]),
        "only task 1 is resubmitted: {arrays:?}"
    );

    let local = tempfile::tempdir().unwrap();
    let reference = run_json(&example_recipe(local.path(), ""), "2");
    assert_eq!(
        shards(&summary),
        shards(&reference),
        "the dataset is still identical"
    );
}

#[test]
fn a_failing_task_stops_after_its_attempts_with_its_log() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let recipe = example_recipe(dir.path(), &format!("{SLURM}attempts = 2\n"));
    // Every task kills itself after its first document (sbatch passes the environment on).
    let out = Command::new("timeout")
        .args([
            "300",
            env!("CARGO_BIN_EXE_atelier"),
            "run",
            recipe.to_str().unwrap(),
            "--quiet",
        ])
        .env("ATELIER_CRASH_AFTER_DOCUMENTS", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("failed after 2 attempt(s); log: "), "{err}");
    // The first task to fail both attempts stops the run: read the log it names (the
    // others may still be running).
    let log = err
        .split("; log: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap();
    assert!(
        log.starts_with(
            dir.path()
                .join("out/dataset/.atelier/logs/map0")
                .to_str()
                .unwrap()
        )
    );
    let text = std::fs::read_to_string(log).unwrap();
    assert!(
        text.contains("attempt 2 of 2") && text.contains("failed 2 time(s)"),
        "{text}"
    );
}

#[test]
fn dry_run_prints_the_scripts_and_submits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = example_recipe(
        dir.path(),
        &format!("{SLURM}partition = \"big\"\nmem = \"2G\"\n"),
    );
    let out = atelier(&["run", recipe.to_str().unwrap(), "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "#SBATCH --array=0-3",
        "#SBATCH --partition=big",
        "#SBATCH --mem=2G",
        "task ",
        "--stage map0",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(
        !dir.path()
            .join("out/dataset/.atelier/slurm/jobs.json")
            .exists()
    );
}
