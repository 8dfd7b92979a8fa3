//! `.vec` and `.output` files as `fasttext supervised` writes them beside a model: the
//! same bytes from the same model. The fixtures `fasttext-cli.*` were made by the real
//! fastText 0.9.2 command line (`tests/data/fasttext-cli.sh`); where a `fasttext`
//! command is on the PATH, one more model is trained by it and checked the same way.

use atelier_fasttext::{Model, TrainArgs, Vectors, train};
use std::path::{Path, PathBuf};
use std::process::Command;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn vectors_of(model: &Model) -> Vec<u8> {
    let mut out = Vec::new();
    model.write_vectors(&mut out).unwrap();
    out
}

/// The first line that differs, to show a mismatch readably.
fn first_difference(got: &[u8], want: &[u8]) -> String {
    let (got, want) = (String::from_utf8_lossy(got), String::from_utf8_lossy(want));
    got.lines()
        .zip(want.lines())
        .enumerate()
        .find(|(_, (g, w))| g != w)
        .map_or_else(
            || {
                format!(
                    "{} lines against {}",
                    got.lines().count(),
                    want.lines().count()
                )
            },
            |(i, (g, w))| format!("line {}:\n  got  {g:?}\n  want {w:?}", i + 1),
        )
}

fn assert_same(got: &[u8], want: &[u8], what: &str) {
    assert!(got == want, "{what}: {}", first_difference(got, want));
}

#[test]
fn vec_files_match_fasttexts_byte_for_byte() {
    for (model, vec) in [
        ("fasttext-cli.bin", "fasttext-cli.vec"),
        ("fasttext-cli.ftz", "fasttext-cli.ftz.vec"),
    ] {
        let model = Model::load(data().join(model)).unwrap();
        let want = std::fs::read(data().join(vec)).unwrap();
        assert_same(&vectors_of(&model), &want, vec);
    }
}

#[test]
fn output_files_match_fasttexts_and_quantized_models_have_none() {
    let model = Model::load(data().join("fasttext-cli.bin")).unwrap();
    let mut out = Vec::new();
    model.write_output_vectors(&mut out).unwrap();
    let want = std::fs::read(data().join("fasttext-cli.output")).unwrap();
    assert_same(&out, &want, "fasttext-cli.output");

    let quantized = Model::load(data().join("fasttext-cli.ftz")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.output");
    let err = quantized.save_output_vectors(&path).unwrap_err();
    assert!(err.to_string().contains("quantized"), "{err}");
    assert!(!path.exists());
}

#[test]
fn saved_vectors_read_back_as_pretrained_vectors() {
    let model = Model::load(data().join("fasttext-cli.bin")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.vec");
    model.save_vectors(&path).unwrap();
    assert!(!dir.path().join("m.vec.tmp").exists());
    let back = Vectors::load(&path).unwrap();
    let dict = model.dictionary();
    assert_eq!((back.len(), back.dim()), (dict.nwords(), 8));
    for i in 0..back.len() {
        assert_eq!(back.word(i), dict.entry(i).word);
        for (a, b) in back.vector(i).iter().zip(model.word_vector(back.word(i))) {
            // Five significant digits: within half a unit of the fifth.
            assert!((a - b).abs() <= 6e-5 * b.abs(), "{a} vs {b}");
        }
    }
    // A word the model never saw still has the vector of its character n-grams.
    assert!(
        model
            .word_vector("crèmes".as_bytes())
            .iter()
            .any(|&v| v != 0.0)
    );
}

#[test]
fn a_label_prefix_of_ones_own_marks_the_labels() {
    let data = b"#yes good fine __label__x\n#no bad awful\n".repeat(30);
    let args = TrainArgs {
        dim: 4,
        epoch: 5,
        lr: 0.5,
        threads: 1,
        label: "#".into(),
        ..TrainArgs::default()
    };
    let model = train(&args, &data).unwrap().model;
    assert_eq!(model.labels(), ["#yes", "#no"]);
    // `__label__x` is a word here, as in fastText with `-label '#'`.
    assert!(model.dictionary().id(b"__label__x").unwrap() < model.dictionary().nwords());
    assert_eq!(model.predict("fine", 1, 0.0)[0].0, "#yes");
    let err = train(
        &TrainArgs {
            label: "@".into(),
            ..args
        },
        &data,
    )
    .unwrap_err();
    assert!(err.to_string().contains("start with @NAME"), "{err}");
}

/// Trains with the real fastText, if a `fasttext` command is found, and checks the `.vec`
/// and `.output` it wrote against what atelier writes from its `.bin`.
#[test]
fn vec_files_match_a_fresh_fasttext_training() {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("fasttext"))
            .find(|p| p.is_file())
    });
    let Some(fasttext) = found else {
        eprintln!("skipped: no fasttext command on the PATH (apt-get install fasttext)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("fresh");
    let status = Command::new(&fasttext)
        .args(["supervised", "-input"])
        .arg(data().join("fasttext-cli.txt"))
        .arg("-output")
        .arg(&prefix)
        .args([
            "-dim",
            "5",
            "-epoch",
            "3",
            "-wordNgrams",
            "3",
            "-minn",
            "3",
            "-maxn",
            "5",
        ])
        .args([
            "-bucket",
            "3000",
            "-loss",
            "hs",
            "-thread",
            "1",
            "-saveOutput",
            "-verbose",
            "0",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let read =
        |ext: &str| std::fs::read(Path::new(&format!("{}.{ext}", prefix.display()))).unwrap();
    let model = Model::load(format!("{}.bin", prefix.display())).unwrap();
    assert_same(&vectors_of(&model), &read("vec"), "fresh.vec");
    let mut out = Vec::new();
    model.write_output_vectors(&mut out).unwrap();
    assert_same(&out, &read("output"), "fresh.output");
}
