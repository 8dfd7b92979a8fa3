//! `atelier lm train`: a run killed with SIGKILL resumes to the weights of an
//! uninterrupted run; a full disk while checkpointing keeps the previous checkpoint.

use crate::common::{atelier, stderr, stdout};
use atelier_lm::tiny::{self, Spec};
use candle_core::quantized::GgmlDType;
use std::ffi::OsStr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A tiny GGUF base, token shards made with its tokenizer, and settings checkpointing
/// every 4 of 12 steps.
fn setup(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let base = dir.join("tiny.gguf");
    tiny::write(
        &base,
        &Spec {
            dtype: GgmlDType::F32,
            ..Spec::default()
        },
    );
    let mut lines = String::new();
    for i in 0..300 {
        let text = format!("hello world number {} says the cat {}.", i % 7, i % 5);
        lines.push_str(&serde_json::json!({"id": format!("d{i}"), "text": text}).to_string());
        lines.push('\n');
    }
    let texts = dir.join("texts.jsonl");
    std::fs::write(&texts, lines).unwrap();
    let tokens = dir.join("tokens");
    let out = atelier(&[
        "tokenize",
        texts.to_str().unwrap(),
        "-t",
        base.to_str().unwrap(),
        "-o",
        tokens.to_str().unwrap(),
        "--validation",
        "0.1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let settings = dir.join("lm.toml");
    std::fs::write(
        &settings,
        "steps = 12\nbatch = 4\ncontext = 32\nlr = 3e-3\nwarmup_steps = 2\n\
         eval_every = 4\neval_windows = 4\ncheckpoint_every = 4\n",
    )
    .unwrap();
    (base, tokens, settings)
}

/// `atelier lm train` on one thread from the tiny base with the setup's settings, into
/// `out`, with more arguments (the data) and an environment variable.
fn lm_train(
    (base, _, settings): &(PathBuf, PathBuf, PathBuf),
    out: &Path,
    more: &[&OsStr],
    env: Option<(&str, &str)>,
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_atelier"));
    cmd.args(["lm", "train", "--threads", "1", "--base"])
        .arg(base)
        .arg("--settings")
        .arg(settings)
        .arg("-o")
        .arg(out)
        .args(more);
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `atelier lm train` on the setup's token shards.
fn train(setup: &(PathBuf, PathBuf, PathBuf), out: &Path, env: Option<(&str, &str)>) -> Output {
    lm_train(setup, out, &["--tokens".as_ref(), setup.1.as_os_str()], env)
}

fn weights(out: &Path, step: usize) -> Vec<u8> {
    std::fs::read(out.join(format!("checkpoints/step-{step:08}/weights.safetensors"))).unwrap()
}

#[test]
fn a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let whole = dir.path().join("whole");
    let out = train(&s, &whole, None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("done: 12 of 12 steps"),
        "{}",
        stdout(&out)
    );

    let killed = dir.path().join("killed");
    let out = train(&s, &killed, Some(("ATELIER_CRASH_AFTER_CHECKPOINTS", "2")));
    assert_eq!(out.status.signal(), Some(9), "{}", stderr(&out));
    assert!(killed.join("checkpoints/step-00000008").is_dir());
    assert!(!killed.join("outcome.json").exists());
    let out = train(&s, &killed, None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("resuming from"), "{}", stderr(&out));
    assert!(
        weights(&whole, 12) == weights(&killed, 12),
        "final weights differ"
    );
    let gguf = |d: &Path| std::fs::read(d.join("model/model-f16.gguf")).unwrap();
    assert!(gguf(&whole) == gguf(&killed), "exports differ");
}

#[test]
fn a_full_disk_while_checkpointing_keeps_the_previous_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let run = dir.path().join("run");
    // The second checkpoint's first file fails as on a full disk.
    let out = train(&s, &run, Some(("ATELIER_DISK_FULL_AT_CHECKPOINT", "3")));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("step-00000008"), "{err}");
    let left: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["step-00000004"], "no partial checkpoint is left");
    let out = train(&s, &run, None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("step 4 of 12"), "{}", stderr(&out));
}

#[test]
fn a_trained_model_becomes_a_version_prod_moves_only_on_a_better_perplexity_and_warm_starts() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let project = dir.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let keep_with = |out: &str, extra: &[&str]| {
        let flags = ["--name", "tiny", "--promote", "prod", "-p"].map(OsStr::new);
        let mut more = vec![OsStr::new("--tokens"), s.1.as_os_str()];
        more.extend(flags);
        more.push(project.as_os_str());
        more.extend(extra.iter().map(OsStr::new));
        lm_train(&s, &dir.path().join(out), &more, None)
    };
    let keep = |out: &str| keep_with(out, &[]);
    let first = keep("a");
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("kept as v1 (tiny)"),
        "{}",
        stdout(&first)
    );
    assert!(!stdout(&first).contains("not moved"), "{}", stdout(&first));
    // The same training again: the same perplexity, which is not an improvement.
    let second = keep("b");
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("kept as v2 (tiny)"),
        "{}",
        stdout(&second)
    );
    assert!(
        stdout(&second).contains("`prod` not moved"),
        "{}",
        stdout(&second)
    );
    let show = atelier(&["show", "prod", "-p", project.to_str().unwrap()]);
    assert!(stdout(&show).contains("v1"), "{}", stdout(&show));

    // A warm start goes on from the newest version (v2): it starts at the perplexity
    // v2 ended with (its f16 export), far below the base's.
    let third = keep_with("c", &["--warm-start"]);
    assert!(third.status.success(), "{}", stderr(&third));
    assert!(
        stderr(&third).contains("warm start: from v2 (tiny)"),
        "{}",
        stderr(&third)
    );
    let outcome = |out: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(dir.path().join(out).join("outcome.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let (b, c) = (outcome("b"), outcome("c"));
    assert_eq!(c["warm_start_from"], "v2");
    assert!(b["warm_start_from"].is_null());
    let perplexity =
        |o: &serde_json::Value, at: &str| o["outcome"][at]["perplexity"].as_f64().unwrap();
    let (ended, started) = (perplexity(&b, "validation"), perplexity(&c, "base"));
    assert!(
        (started / ended - 1.0).abs() < 0.01,
        "v2 ended at {ended}, the warm start began at {started}"
    );
    assert!(
        started < 0.8 * perplexity(&b, "base"),
        "{started} vs the base's"
    );
}

#[test]
fn conversations_are_instruction_tuned_and_bad_lines_named() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let chats = dir.path().join("chats.jsonl");
    let mut lines = String::new();
    for i in 0..200 {
        let answer = ["hello world", "the cat"][i % 2];
        let messages = serde_json::json!([
            {"role": "user", "content": format!("question {}", i % 4)},
            {"role": "assistant", "content": answer},
        ]);
        lines.push_str(&serde_json::json!({ "messages": messages }).to_string());
        lines.push('\n');
    }
    lines.push_str("{\"messages\": 3}\n");
    std::fs::write(&chats, lines).unwrap();
    let more = ["--chat".as_ref(), chats.as_os_str()];
    let out = lm_train(&s, &dir.path().join("run"), &more, None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("skipped: ") && stderr(&out).contains("chats.jsonl:201"),
        "{}",
        stderr(&out)
    );
    let outcome: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run/outcome.json")).unwrap())
            .unwrap();
    assert_eq!(outcome["skipped"].as_array().unwrap().len(), 1);
    let o = &outcome["outcome"];
    assert!(
        o["validation"]["loss"].as_f64().unwrap() < o["base"]["loss"].as_f64().unwrap(),
        "{o}"
    );
}
