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

/// `atelier` with `input` on standard input.
fn piped(args: &[&str], dir: &Path, input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The fixtures made by the real fastText 0.9.2 command line
/// (crates/fasttext/tests/data/fasttext-cli.sh).
fn fasttext_fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fasttext/tests/data")
}

#[test]
fn fasttexts_own_command_lines_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_data(d);
    // `supervised` with fastText's single-dash options; `-output` is a prefix.
    let out = atelier(
        &[
            "classifier",
            "supervised",
            "-input",
            "train.txt",
            "-output",
            "m",
            "-wordNgrams",
            "2",
            "-bucket",
            "20000",
            "-dim",
            "10",
            "-epoch",
            "10",
            "-lr",
            "0.5",
            "-thread",
            "1",
            "-seed",
            "3",
            "-minCount",
            "1",
            "-lrUpdateRate",
            "100",
            "-ws",
            "5",
            "-t",
            "0.0001",
            "-neg",
            "5",
            "-loss",
            "softmax",
            "-saveOutput",
            "-verbose",
            "0",
        ],
        d,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(err, "", "-verbose 0 prints nothing");
    for name in ["m.bin", "m.vec", "m.output"] {
        assert!(d.join(name).is_file(), "{name}");
    }
    // fastText's .vec: `nwords dim`, then a word and dim numbers per line.
    let vec = std::fs::read_to_string(d.join("m.vec")).unwrap();
    let mut lines = vec.lines();
    let header: Vec<usize> = lines
        .next()
        .unwrap()
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(header[1], 10);
    assert_eq!(lines.clone().count(), header[0]);
    assert!(lines.clone().any(|l| l.starts_with("prize ")));
    for line in lines {
        let fields: Vec<&str> = line.split(' ').collect();
        // The word, ten numbers and the empty field after the trailing space.
        assert_eq!(fields.len(), 12, "{line:?}");
        assert!(
            fields[1..11].iter().all(|f| f.parse::<f32>().is_ok()),
            "{line:?}"
        );
    }
    let output = std::fs::read_to_string(d.join("m.output")).unwrap();
    assert!(output.starts_with("2 10\n__label__"), "{output}");

    // `test model data [k] [threshold]`, k and threshold as positionals.
    let report = ok(&["classifier", "test", "m.bin", "test.txt", "2"], d);
    assert_eq!(report, "N\t240\nP@2\t0.5\nR@2\t1\n");
    let report = ok(&["classifier", "test", "m.bin", "test.txt", "2", "0.9"], d);
    assert_eq!(report, "N\t240\nP@2\t1\nR@2\t1\n");
    let report = ok(&["classifier", "test", "m.bin", "test.txt", "-1"], d);
    assert_eq!(report, "N\t240\nP@-1\t0.5\nR@-1\t1\n");
    let per_label = ok(&["classifier", "test-label", "m.bin", "test.txt"], d);
    assert!(per_label.starts_with("F1-Score : 1.000000"), "{per_label}");
    assert!(
        per_label.ends_with("N\t240\nP@1\t1.000\nR@1\t1.000\n"),
        "{per_label}"
    );

    // `predict model data k`: all (two) labels for k = 3.
    let predicted = ok(&["classifier", "predict", "m.bin", "test.txt", "3"], d);
    let test = std::fs::read_to_string(d.join("test.txt")).unwrap();
    assert_eq!(predicted.lines().count(), test.lines().count());
    assert!(
        predicted.lines().all(|l| l.split(' ').count() == 2),
        "{predicted}"
    );
    // `predict-prob model - 1`: standard input, `label probability` per line.
    let out = piped(
        &["classifier", "predict-prob", "m.bin", "-", "1"],
        d,
        test.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probs = String::from_utf8(out.stdout).unwrap();
    assert_eq!(probs.lines().count(), test.lines().count());
    for (p, t) in probs.lines().zip(test.lines()) {
        let (label, prob) = p.split_once(' ').unwrap();
        assert_eq!(label, t.split(' ').next().unwrap());
        assert!(prob.parse::<f64>().unwrap() > 0.5, "{p}");
    }

    // `quantize -output PREFIX`: reads PREFIX.bin, writes PREFIX.ftz, and says so.
    let out = atelier(
        &[
            "classifier",
            "quantize",
            "-output",
            "m",
            "-input",
            "train.txt",
            "-qnorm",
            "-retrain",
            "-cutoff",
            "1000",
            "-dsub",
            "2",
            "-epoch",
            "5",
            "-lr",
            "0.05",
            "-thread",
            "2",
        ],
        d,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Quantizing m.bin"), "{err}");
    assert!(
        err.contains("Keeping the 1000 rows of largest norm, then retraining"),
        "{err}"
    );
    assert!(err.contains("Wrote m.ftz: "), "{err}");
    assert!(err.contains(" before, "), "{err}");
    let report = ok(&["classifier", "test", "m.ftz", "test.txt"], d);
    assert_eq!(report, "N\t240\nP@1\t1\nR@1\t1\n");
}

#[test]
fn a_label_prefix_of_ones_own() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_data(d);
    let train = std::fs::read_to_string(d.join("train.txt"))
        .unwrap()
        .replace("__label__", "#");
    std::fs::write(d.join("hash.txt"), train).unwrap();
    ok(
        &[
            "classifier",
            "supervised",
            "-input",
            "hash.txt",
            "-output",
            "h",
            "-label",
            "#",
            "-dim",
            "8",
            "-epoch",
            "10",
            "-lr",
            "0.5",
            "-thread",
            "1",
        ],
        d,
    );
    let out = piped(
        &["classifier", "predict", "h.bin", "-"],
        d,
        b"win a free prize\nlunch meeting tomorrow\n",
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "#spam\n#ham\n");
    // Without `-label`, nothing in hash.txt is a label.
    let out = atelier(
        &[
            "classifier",
            "supervised",
            "-input",
            "hash.txt",
            "-output",
            "x",
        ],
        d,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no labels"));
}

#[test]
fn unknown_fasttext_options_fail_with_the_options_meant() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_data(d);
    for (args, message) in [
        (
            &[
                "supervised",
                "-input",
                "train.txt",
                "-output",
                "x",
                "-wordngrams",
                "2",
            ][..],
            "unknown option -wordngrams",
        ),
        (
            &[
                "supervised",
                "-input",
                "train.txt",
                "-output",
                "x",
                "-cutoff",
                "10",
            ][..],
            "-cutoff is an option of `atelier classifier quantize`",
        ),
        (&["test", "x.bin", "test.txt", "-epoch", "2"][..], "-epoch"),
    ] {
        let mut all = vec!["classifier"];
        all.extend_from_slice(args);
        let out = atelier(&all, d);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!d.join("x.bin").exists());
    }
    let out = atelier(
        &[
            "classifier",
            "supervised",
            "-input",
            "train.txt",
            "-output",
            "x",
            "-wordngrams",
            "2",
        ],
        d,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("-wordNgrams"));
    // Help still works, and names fastText's commands.
    let help = ok(&["classifier", "--help"], d);
    for name in ["supervised", "test-label", "predict-prob", "quantize"] {
        assert!(help.contains(name), "{help}");
    }
    let help = ok(&["classifier", "train", "--help"], d);
    assert!(help.contains("--word-ngrams"), "{help}");
}

#[test]
fn outputs_match_fasttexts_on_its_own_models() {
    let data = fasttext_fixtures();
    let expected = std::fs::read_to_string(data.join("fasttext-cli.expected")).unwrap();
    let mut sections = std::collections::HashMap::new();
    let mut name = String::new();
    for line in expected.lines() {
        if let Some(title) = line.strip_prefix("== ") {
            name = title.to_string();
            continue;
        }
        let text: &mut String = sections.entry(name.clone()).or_default();
        text.push_str(line);
        text.push('\n');
    }
    let test = std::fs::read(data.join("fasttext-cli.test.txt")).unwrap();
    for model in ["fasttext-cli.bin", "fasttext-cli.ftz"] {
        let got = ok(
            &[
                "classifier",
                "test",
                model,
                "fasttext-cli.test.txt",
                "2",
                "0.1",
            ],
            &data,
        );
        assert_eq!(got, sections[&format!("{model} test 2 0.1")], "{model}");
        // fastText's test-label also prints every label's scores first; the general
        // scores after them come in its fixed notation.
        let got = ok(
            &["classifier", "test-label", model, "fasttext-cli.test.txt"],
            &data,
        );
        let want = &sections[&format!("{model} test-label")];
        let tail = |s: &str| {
            s.lines()
                .skip_while(|l| !l.starts_with("N\t"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(tail(&got), tail(want), "{model}");
        assert_eq!(got.lines().count(), want.lines().count(), "{model}");
        let out = piped(
            &["classifier", "predict-prob", model, "-", "2"],
            &data,
            &test,
        );
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            sections[&format!("{model} predict-prob - 2")],
            "{model}"
        );
    }
}

#[test]
fn a_small_training_set_hears_about_the_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_data(d);
    let train = |ngrams: &str, extra: &[&str]| {
        let mut args = vec![
            "classifier",
            "supervised",
            "-input",
            "train.txt",
            "-output",
            "b",
            "-dim",
            "10",
            "-epoch",
            "1",
            "-thread",
            "1",
            "-wordNgrams",
            ngrams,
        ];
        args.extend_from_slice(extra);
        let out = atelier(&args, d);
        let log = String::from_utf8(out.stderr).unwrap();
        assert!(out.status.success(), "{log}");
        log
    };
    // 2,000,000 buckets of 10 values: 80 MB for 30 kB of data.
    let log = train("2", &[]);
    let note: Vec<&str> = log.lines().filter(|l| l.starts_with("note:")).collect();
    assert_eq!(note.len(), 1, "{log}");
    assert!(note[0].contains("2000000 n-gram buckets"), "{log}");
    assert!(note[0].contains("-bucket "), "{log}");
    assert!(log.contains("Wrote b.bin, b.vec ("), "{log}");
    // A bucket count given, or no n-grams: no note.
    assert!(!train("2", &["-bucket", "20000"]).contains("note:"));
    assert!(!train("1", &[]).contains("note:"));
}

#[test]
fn autotune_to_a_model_size_writes_a_small_ftz() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_data(d);
    let out = atelier(
        &[
            "classifier",
            "supervised",
            "-input",
            "train.txt",
            "-output",
            "t",
            "-autotune-validation",
            "test.txt",
            "-autotune-duration",
            "3",
            "-autotune-modelsize",
            "20k",
            "-dim",
            "8",
            "-wordNgrams",
            "2",
            "-bucket",
            "10000",
            "-thread",
            "1",
        ],
        d,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Autotune: "), "{err}");
    assert!(!d.join("t.bin").exists());
    let size = std::fs::metadata(d.join("t.ftz")).unwrap().len();
    assert!(size <= 20_000, "{size}");
    assert!(d.join("t.vec").is_file());
    let report = ok(&["classifier", "test", "t.ftz", "test.txt"], d);
    assert!(report.starts_with("N\t240\nP@1\t"), "{report}");
    let p: f64 = report.lines().nth(1).unwrap()[4..].parse().unwrap();
    assert!(p > 0.9, "{report}");
}
