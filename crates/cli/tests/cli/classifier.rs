//! End-to-end tests of `atelier classifier`: train, test, predict and quantize as a
//! fastText user would run them, and bad input.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn atelier(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("atelier runs")
}

fn ok(args: &[&str], dir: &Path) -> String {
    let out = atelier(args, dir);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Two labels, each with its own words, and shared filler.
fn write_data(dir: &Path) {
    let (mut train, mut test) = (String::new(), String::new());
    let mut seed = 7u64;
    let mut pick = |n: usize| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) as usize % n
    };
    for i in 0..1200 {
        let (label, words) = if pick(2) == 0 {
            ("spam", ["win", "prize", "free", "claim", "cash"])
        } else {
            ("ham", ["lunch", "meeting", "tomorrow", "thanks", "call"])
        };
        let line = format!(
            "__label__{label} {} the {} and {}\n",
            words[pick(5)],
            words[pick(5)],
            ["you", "we", "it"][pick(3)]
        );
        if i % 5 == 0 {
            test.push_str(&line);
        } else {
            train.push_str(&line);
        }
    }
    train.push_str("a line without a label\n\n");
    std::fs::write(dir.join("train.txt"), train).unwrap();
    std::fs::write(dir.join("test.txt"), test).unwrap();
}

#[test]
fn train_test_predict_and_quantize_like_fasttext() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_data(d);
    let out = atelier(
        &[
            "classifier",
            "train",
            "--input",
            "train.txt",
            "--output",
            "model.bin",
            "--epoch",
            "10",
            "--lr",
            "0.5",
            "--dim",
            "10",
            "--wordNgrams",
            "2",
            "--bucket",
            "20000",
            "--threads",
            "1",
            "--seed",
            "3",
        ],
        d,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("Number of labels: 2"), "{log}");
    assert!(log.contains("1 without a label, 1 empty"), "{log}");

    // fastText's test output: N, P@k, R@k, tab-separated.
    let report = ok(&["classifier", "test", "model.bin", "test.txt"], d);
    assert_eq!(report, "N\t240\nP@1\t1\nR@1\t1\n");
    let report = ok(
        &["classifier", "test", "model.bin", "test.txt", "--k", "2"],
        d,
    );
    assert_eq!(report, "N\t240\nP@2\t0.5\nR@2\t1\n");
    let per_label = ok(
        &["classifier", "test", "model.bin", "test.txt", "--per-label"],
        d,
    );
    assert!(
        per_label.starts_with("F1-Score : 1.000000  Precision : 1.000000"),
        "{per_label}"
    );

    // One output line per input line, labels first.
    let predicted = ok(&["classifier", "predict", "model.bin", "test.txt"], d);
    let test = std::fs::read_to_string(d.join("test.txt")).unwrap();
    assert_eq!(predicted.lines().count(), test.lines().count());
    for (p, t) in predicted.lines().zip(test.lines()) {
        assert_eq!(p, t.split(' ').next().unwrap());
    }
    let with_prob = ok(
        &[
            "classifier",
            "predict",
            "model.bin",
            "test.txt",
            "--k",
            "2",
            "--prob",
        ],
        d,
    );
    let first: Vec<&str> = with_prob.lines().next().unwrap().split(' ').collect();
    assert_eq!(first.len(), 4, "{first:?}");
    let (p1, p2): (f64, f64) = (first[1].parse().unwrap(), first[3].parse().unwrap());
    assert!(
        p1 >= p2 && p1 > 0.5 && (p1 + p2 - 1.0).abs() < 1e-3,
        "{first:?}"
    );

    // Standard input, several threads, the same answers.
    let mut child = Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args(["classifier", "predict", "model.bin", "-", "--threads", "3"])
        .current_dir(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(test.as_bytes())
        .unwrap();
    let piped = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(piped.stdout).unwrap(), predicted);

    // Quantized: a much smaller file that predicts the same labels here.
    ok(
        &[
            "classifier",
            "quantize",
            "model.bin",
            "--input",
            "train.txt",
            "--cutoff",
            "1000",
            "--retrain",
            "--qnorm",
            "--threads",
            "2",
        ],
        d,
    );
    let (bin, ftz) = (
        std::fs::metadata(d.join("model.bin")).unwrap().len(),
        std::fs::metadata(d.join("model.ftz")).unwrap().len(),
    );
    assert!(ftz * 10 < bin, "{ftz} vs {bin}");
    let report = ok(&["classifier", "test", "model.ftz", "test.txt"], d);
    assert_eq!(report, "N\t240\nP@1\t1\nR@1\t1\n");
}

#[test]
fn bad_models_and_bad_arguments_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_data(d);
    ok(
        &[
            "classifier",
            "train",
            "--input",
            "train.txt",
            "--output",
            "m.bin",
            "--dim",
            "4",
            "--epoch",
            "1",
            "--threads",
            "1",
            "-q",
        ],
        d,
    );
    let bytes = std::fs::read(d.join("m.bin")).unwrap();
    std::fs::write(d.join("cut.bin"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(d.join("junk.bin"), b"this is not a model").unwrap();
    for (model, message) in [
        ("cut.bin", "model file ends inside"),
        ("junk.bin", "not a fastText model"),
        ("missing.bin", "missing.bin"),
    ] {
        for command in ["test", "predict"] {
            let out = atelier(&["classifier", command, model, "test.txt"], d);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success());
            assert!(err.contains(message), "{command} {model}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    let out = atelier(
        &[
            "classifier",
            "train",
            "--input",
            "train.txt",
            "--output",
            "x.bin",
            "--loss",
            "nope",
        ],
        d,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown loss"));
    std::fs::write(d.join("nolabel.txt"), "only words\nhere\n").unwrap();
    let out = atelier(
        &[
            "classifier",
            "train",
            "--input",
            "nolabel.txt",
            "--output",
            "x.bin",
        ],
        d,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no labels"));
    assert!(!d.join("x.bin").exists());
    let out = atelier(&["classifier", "test", "m.bin", "test.txt", "--k", "0"], d);
    assert!(!out.status.success());
    let out = atelier(
        &[
            "classifier",
            "quantize",
            "m.bin",
            "--retrain",
            "--cutoff",
            "10",
        ],
        d,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--input"));
}
