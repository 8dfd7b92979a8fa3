//! `atelier lm` and `atelier chat` end to end on a tiny random model: tokenize,
//! generate (JSON lines, seeds), import into the store (and refusing broken files),
//! re-quantize, and a chat session fed on stdin.

use crate::common::*;
use atelier_lm::tiny::{self, Spec};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs atelier with `input` on stdin.
fn with_stdin(args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn tokenize_and_generate_print_one_json_line_per_input_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.gguf");
    tiny::write(&model, &Spec::endless());
    let m = model.to_str().unwrap();
    let out = with_stdin(&["lm", "tokenize", "-m", m], "hello\n\"two\\nlines\"\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Vec<u32>> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    // `he` + `ll` merge to `hell`, then `o`.
    assert_eq!(lines[0].len(), 2, "{lines:?}");
    let args = [
        "lm",
        "generate",
        "-m",
        m,
        "--max-tokens",
        "6",
        "--temperature",
        "0.9",
        "--seed",
        "3",
    ];
    let run = || {
        let out = with_stdin(&args, "hi\n\"a\\nb\"\n");
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let answers = run();
    let tokens = |a: &[Value]| a.iter().map(|a| a["tokens"].clone()).collect::<Vec<_>>();
    assert_eq!(
        tokens(&answers),
        tokens(&run()),
        "the same seed gives the same answers"
    );
    assert_eq!(answers.len(), 2);
    for a in &answers {
        assert_eq!(a["tokens"].as_array().unwrap().len(), 6);
        assert_eq!(a["finish_reason"], "length");
    }
}

#[test]
fn import_keeps_a_model_version_and_refuses_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.gguf");
    tiny::write(&model, &Spec::endless());
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    let p = project.to_str().unwrap();
    let broken = dir.path().join("broken.gguf");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    let out = atelier(&[
        "lm",
        "import",
        broken.to_str().unwrap(),
        "--name",
        "tiny",
        "-p",
        p,
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("broken.gguf"), "{}", stderr(&out));
    assert!(
        !project.join(".atelier/versions/v1").exists(),
        "no version made"
    );

    let out = atelier(&[
        "lm",
        "import",
        model.to_str().unwrap(),
        "--name",
        "tiny",
        "-p",
        p,
        "--alias",
        "prod",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("v1 (tiny): llama"),
        "{}",
        stdout(&out)
    );
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(project.join(".atelier/versions/v1/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["kind"], "lm");
    assert_eq!(manifest["settings"]["lm"]["architecture"], "llama");
    // The version answers by its alias.
    let out = with_stdin(
        &["lm", "generate", "-m", "prod", "-p", p, "--max-tokens", "2"],
        "hi\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let q8 = dir.path().join("q8.gguf");
    let out = atelier(&[
        "lm",
        "requantize",
        model.to_str().unwrap(),
        "--to",
        "q8_0",
        "-o",
        q8.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let info = atelier(&["lm", "info", "-m", q8.to_str().unwrap()]);
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["quantization"], "q8_0");
}

#[test]
fn chat_streams_answers_and_keeps_the_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.gguf");
    tiny::write(&model, &Spec::endless());
    let out = with_stdin(
        &["chat", "-m", model.to_str().unwrap(), "--max-tokens", "5"],
        "hello\n/reset\nagain\n/exit\nnever read\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Two answers, one line each.
    assert_eq!(stdout(&out).lines().count(), 2, "{:?}", stdout(&out));
}
