//! Files that are not models this engine runs: each refused with an error that names the
//! file and what is wrong, never a panic.

use atelier_lm::tiny::{self, Spec};
use atelier_lm::{Lm, LmError, LoadOptions};
use std::path::Path;

fn load(path: &Path) -> Result<Lm, LmError> {
    Lm::load(path, &LoadOptions::default())
}

#[test]
fn truncated_and_corrupt_files_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.gguf");
    tiny::write(&good, &Spec::default());
    let bytes = std::fs::read(&good).unwrap();
    for (name, data) in [
        ("truncated.gguf", bytes[..bytes.len() / 2].to_vec()),
        ("header-only.gguf", bytes[..64].to_vec()),
        ("empty.gguf", Vec::new()),
        (
            "junk.gguf",
            b"GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xffjunk".to_vec(),
        ),
        ("text.gguf", b"this is not a model at all\n".repeat(50)),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, data).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains(name), "{name}: {err}");
    }
    // A flipped byte in a tensor's type field.
    let mut flipped = bytes.clone();
    let at = bytes
        .windows(17)
        .position(|w| w == b"token_embd.weight")
        .unwrap()
        + 17;
    flipped[at + 4 + 16] = 0xEE;
    let path = dir.path().join("flipped.gguf");
    std::fs::write(&path, flipped).unwrap();
    assert!(load(&path).is_err());
    assert!(matches!(
        load(&dir.path().join("absent.gguf")),
        Err(LmError::Io { .. })
    ));
}

#[test]
fn an_unsupported_architecture_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpt2.gguf");
    tiny::write(
        &path,
        &Spec {
            architecture: "gpt2",
            ..Spec::default()
        },
    );
    let err = load(&path).unwrap_err();
    assert!(matches!(err, LmError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("architecture `gpt2`"), "{err}");
}

#[test]
fn a_model_without_tokenizer_metadata_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-tokenizer.gguf");
    tiny::write(
        &path,
        &Spec {
            tokenizer: false,
            ..Spec::default()
        },
    );
    let err = load(&path).unwrap_err().to_string();
    assert!(
        err.contains("tokenizer.ggml.model") && err.contains("tokenizer.json"),
        "{err}"
    );
}

#[test]
fn a_model_without_a_template_gets_chatml() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.gguf");
    tiny::write(
        &path,
        &Spec {
            template: None,
            ..Spec::default()
        },
    );
    let lm = load(&path).unwrap();
    assert!(!lm.info.own_template);
    let broken = dir.path().join("broken-template.gguf");
    tiny::write(
        &broken,
        &Spec {
            template: Some("{% for m in messages %}{{ m.content }"),
            ..Spec::default()
        },
    );
    let err = load(&broken).unwrap_err().to_string();
    assert!(err.contains("chat template"), "{err}");
}

/// Fuzzing's finds (fuzz/, target `tokenizer`): each input is refused with an error, not
/// a panic.
#[test]
fn tokenizer_files_found_by_fuzzing_are_refused() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    // Files on which the tokenizers library panics while parsing: decoders whose JSON
    // it unwraps, and a BPE model whose `continuing_subword_prefix` ("BPE") is longer
    // than a merge's second part ("l"), which it slices past its end.
    for name in [
        "tokenizer-decoder-panic.json",
        "tokenizer-decoder-panic-2.json",
        "tokenizer-bpe-prefix-panic.json",
    ] {
        let Err(err) = atelier_lm::Tokenizer::from_json(&dir.join(name), None) else {
            panic!("{name}: a malformed tokenizer is refused");
        };
        let err = err.to_string();
        assert!(err.contains(name), "{err}");
    }
    // An added token whose id lies past the vocabulary: loads or is refused, no panic.
    let _ = atelier_lm::Tokenizer::from_json(&dir.join("tokenizer-added-id-past-vocab.json"), None);
}

/// Fuzzing's finds (fuzz/, target `gguf`): each model is refused with an error naming
/// the file, not a panic.
#[test]
fn gguf_files_found_by_fuzzing_are_refused() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    // A `token_embd.weight` with no dimensions, and no `vocab_size` key: the
    // vocabulary's size was read from its first dimension without checking one exists.
    // An alignment of 0, by which candle's reader divided the tensor data's offset.
    let path = dir.join("gguf-alignment-zero.gguf");
    let Err(err) = atelier_lm::GgufFile::open(&path) else {
        panic!("a GGUF aligned to 0 is refused");
    };
    let err = err.to_string();
    assert!(
        err.contains("gguf-alignment-zero.gguf") && err.contains("divide by zero"),
        "{err}"
    );
    let path = dir.join("gguf-embedding-without-dimensions.gguf");
    let gguf = atelier_lm::GgufFile::open(&path).expect("the header and tables read");
    let err = atelier_lm::Config::from_gguf(&gguf)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("gguf-embedding-without-dimensions.gguf") && err.contains("no dimensions"),
        "{err}"
    );
}
