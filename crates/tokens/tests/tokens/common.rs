//! Texts and tokenizers shared by the tests.

use atelier_tokens::{TrainTokenizer, train};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Sentences in several scripts, written for these tests.
pub const TEXTS: &[&str] = &[
    "The quick brown fox jumps over the lazy dog. It was 12:45 on 2026-12-04!",
    "Le renard brun saute par-dessus le chien paresseux, n'est-ce pas ?",
    "Der schnelle braune Fuchs springt über den faulen Hund; 3.14159 ist π.",
    "Быстрая коричневая лиса прыгает через ленивую собаку.",
    "敏捷的棕色狐狸跳过了懒狗。  Spaces,\ttabs\nand newlines\n\n   matter too.",
    "def main():\n    return [x ** 2 for x in range(10)]  # code, with 'quotes' and \"more\"",
    "Emoji 🦀🚀 and accents: café, naïve, coöperate; URLs like https://example.org/a?b=c.",
];

/// A small byte-level BPE trained on [`TEXTS`] repeated, with `<|endoftext|>` as id 0.
pub fn trained() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let texts = TEXTS.iter().cycle().take(TEXTS.len() * 20);
        let json = train(
            &TrainTokenizer {
                vocab_size: 400,
                min_frequency: 2,
                special: vec!["<|endoftext|>".into(), "<|pad|>".into()],
            },
            texts,
        )
        .expect("training works");
        // Under cargo's folder for test files, so that runs leave nothing in /tmp; the
        // training is deterministic, so every run writes the same bytes.
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("atelier-tokens-trained.json");
        atelier_core::atomic::write_atomic(&path, json.as_bytes()).unwrap();
        path
    })
}

/// Writes JSON lines `{"id", "text"}` for texts.
pub fn jsonl(path: &Path, texts: &[&str]) {
    let mut out = String::new();
    for (i, t) in texts.iter().enumerate() {
        out.push_str(&serde_json::json!({"id": format!("doc-{i}"), "text": t}).to_string());
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

/// SmolLM2-135M-Instruct's GGUF when the environment names it (scripts/test.sh does).
pub fn smollm2() -> Option<PathBuf> {
    let path = std::env::var_os("ATELIER_SMOLLM2").map(PathBuf::from);
    match path.filter(|p| p.is_file()) {
        Some(p) => Some(p),
        None if std::env::var_os("ATELIER_REQUIRE_SMOLLM2").is_some() => {
            panic!("ATELIER_REQUIRE_SMOLLM2 is set but ATELIER_SMOLLM2 names no file")
        }
        None => {
            eprintln!("skipped: set ATELIER_SMOLLM2 (scripts/test.sh does)");
            None
        }
    }
}

/// The repository's shared data folder, when present.
pub fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    dir.is_dir().then_some(dir)
}
