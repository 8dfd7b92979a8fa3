//! Identity with Python `tokenizers` (the library datatrove and transformers encode
//! with): the ids of the bundled example's mails, of `../shared/data` texts and of these
//! tests' texts, with SmolLM2's tokenizer and with one trained by atelier; and a
//! tokenizer trained by atelier equal to one trained by Python on the same texts.
//! `scripts/test.sh` makes a venv with `tokenizers` and sets `ATELIER_TEST_PYTHON`.

use atelier_tokens::{Layout, TokenShards, Tokenize, TokenizeSettings, TrainTokenizer, train};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{TEXTS, shared_data, smollm2};

fn python() -> Option<PathBuf> {
    match std::env::var_os("ATELIER_TEST_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            eprintln!("skipped: set ATELIER_TEST_PYTHON to a Python with `tokenizers`");
            None
        }
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/tokenizers_check.py")
}

fn run(python: &Path, args: &[&str]) {
    let out = Command::new(python)
        .arg(script())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The example's mails, `../shared/data` texts when present, and the tests' own.
fn corpus() -> Vec<String> {
    let mut texts: Vec<String> = TEXTS.iter().map(|t| t.to_string()).collect();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/spam/data");
    let mut files: Vec<_> = std::fs::read_dir(&examples)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    files.sort();
    for file in files {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&file).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        for line in text.lines().take(60) {
            let v: Value = serde_json::from_str(line).unwrap();
            texts.push(v["text"].as_str().unwrap().to_owned());
        }
    }
    if let Some(data) = shared_data() {
        let truth =
            std::fs::read_to_string(data.join("extraction/scrapinghub/ground-truth.json")).unwrap();
        let truth: serde_json::Map<String, Value> = serde_json::from_str(&truth).unwrap();
        texts.extend(
            truth
                .values()
                .take(60)
                .map(|v| v["articleBody"].as_str().unwrap().to_owned()),
        );
        let mut languages: Vec<_> = std::fs::read_dir(data.join("langid/lingua-sentences"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        languages.sort();
        for file in languages {
            let text = std::fs::read_to_string(&file).unwrap();
            texts.push(text.lines().take(20).collect::<Vec<_>>().join("\n"));
        }
    } else {
        eprintln!("note: ../shared/data is absent; only the example and the tests' texts");
    }
    texts
}

fn write_corpus(path: &Path, texts: &[String]) {
    let mut out = String::new();
    for (i, t) in texts.iter().enumerate() {
        out.push_str(&serde_json::json!({"id": i.to_string(), "text": t}).to_string());
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

/// Tokenizes the corpus with atelier and checks every document against Python's ids.
fn identical_ids(python: &Path, tokenizer: &Path, eos: &str) {
    let dir = tempfile::tempdir().unwrap();
    let texts = corpus();
    let input = dir.path().join("corpus.jsonl");
    write_corpus(&input, &texts);
    let out = dir.path().join("tokens");
    let tokenize = Tokenize::new(TokenizeSettings {
        tokenizer: tokenizer.to_path_buf(),
        eos: Some(eos.into()),
        ..TokenizeSettings::default()
    })
    .unwrap();
    atelier_tokens::tokenize_files(&tokenize, std::slice::from_ref(&input), &out, 1, 1, &|_| {})
        .unwrap();
    let ours = TokenShards::open(&out)
        .unwrap()
        .documents("train", Layout::Datatrove)
        .unwrap();
    let theirs_path = dir.path().join("python.jsonl");
    run(
        python,
        &[
            "encode",
            out.join("tokenizer.json").to_str().unwrap(),
            input.to_str().unwrap(),
            theirs_path.to_str().unwrap(),
        ],
    );
    let theirs: Vec<Vec<u32>> = std::fs::read_to_string(&theirs_path)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect()
        })
        .collect();
    let eos = tokenize.eos;
    let non_empty: Vec<Vec<u32>> = theirs
        .into_iter()
        .filter(|ids| !ids.is_empty())
        .map(|mut ids| {
            ids.push(eos);
            ids
        })
        .collect();
    assert_eq!(ours.len(), non_empty.len(), "documents");
    for (i, (a, b)) in ours.iter().zip(&non_empty).enumerate() {
        assert_eq!(a, b, "document {i} differs from Python tokenizers");
    }
}

#[test]
fn smollm2_ids_are_python_tokenizers_ids() {
    let (Some(python), Some(model)) = (python(), smollm2()) else {
        return;
    };
    identical_ids(&python, &model, "<|endoftext|>");
}

#[test]
fn a_trained_tokenizer_equals_python_trainer_and_encodes_identically() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let texts = corpus();
    let input = dir.path().join("corpus.jsonl");
    write_corpus(&input, &texts);
    let settings = TrainTokenizer {
        vocab_size: 2000,
        min_frequency: 2,
        special: vec!["<|endoftext|>".into(), "<|im_start|>".into()],
    };
    let ours = train(&settings, texts.iter()).unwrap();
    let ours_path = dir.path().join("ours.json");
    std::fs::write(&ours_path, &ours).unwrap();
    let theirs_path = dir.path().join("theirs.json");
    run(
        &python,
        &[
            "train",
            input.to_str().unwrap(),
            "2000",
            "2",
            theirs_path.to_str().unwrap(),
            "<|endoftext|>",
            "<|im_start|>",
        ],
    );
    let model = |path: &Path| -> Value {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["model"].clone()
    };
    let (a, b) = (model(&ours_path), model(&theirs_path));
    assert_eq!(a["vocab"], b["vocab"], "the same vocabulary, ids included");
    assert_eq!(
        a["merges"], b["merges"],
        "the same merges in the same order"
    );
    assert_eq!(a["vocab"].as_object().unwrap().len(), 2000);
    identical_ids(&python, &ours_path, "<|endoftext|>");
}
