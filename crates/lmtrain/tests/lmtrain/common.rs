//! A tiny GGUF base model and token shards made with its tokenizer.

use atelier_lm::tiny::{Spec, write};
use atelier_lmtrain::{Job, LmSettings, Source};
use atelier_tokens::{Layout, Tokenize, TokenizeSettings, tokenize_files};
use candle_core::Device;
use candle_core::quantized::GgmlDType;
use std::path::{Path, PathBuf};

/// A tiny llama GGUF with f32 weights (exact round trips) in `dir`.
pub fn tiny_base(dir: &Path) -> PathBuf {
    let path = dir.join("tiny.gguf");
    write(
        &path,
        &Spec {
            dtype: GgmlDType::F32,
            ..Spec::default()
        },
    );
    path
}

/// Repetitive sentences a tiny model learns in a few dozen steps.
pub fn sentences(n: usize) -> Vec<String> {
    let subjects = ["the cat", "a dog", "hello world", "the hell"];
    let verbs = ["sat on", "ran to", "looked at"];
    (0..n)
        .map(|i| {
            format!(
                "{} {} {} again and again.",
                subjects[i % 4],
                verbs[i % 3],
                subjects[(i / 3) % 4]
            )
        })
        .collect()
}

/// Token shards of `texts` made with `tokenizer` in `dir/tokens`, a share held out.
pub fn shards(dir: &Path, tokenizer: &Path, texts: &[String], validation: f64) -> PathBuf {
    let input = dir.join("texts.jsonl");
    let mut lines = String::new();
    for (i, t) in texts.iter().enumerate() {
        lines.push_str(&serde_json::json!({"id": format!("d{i}"), "text": t}).to_string());
        lines.push('\n');
    }
    std::fs::write(&input, lines).unwrap();
    let out = dir.join("tokens");
    let tokenize = Tokenize::new(TokenizeSettings {
        tokenizer: tokenizer.to_path_buf(),
        validation,
        layouts: vec![Layout::Datatrove],
        ..TokenizeSettings::default()
    })
    .unwrap();
    tokenize_files(&tokenize, &[input], &out, 1, 1, &|_| {}).unwrap();
    out
}

/// Settings for the tiny model: short windows, frequent checkpoints.
pub fn settings(base: &Path) -> LmSettings {
    LmSettings {
        base: Some(base.to_path_buf()),
        context: Some(32),
        batch: 4,
        steps: Some(12),
        lr: 3e-3,
        warmup_steps: 2,
        eval_every: 4,
        eval_windows: 8,
        checkpoint_every: 4,
        ..LmSettings::default()
    }
}

/// A tiny base, shards of its tokenizer and a job on them, in `dir`.
pub fn job(dir: &Path, settings: impl FnOnce(LmSettings) -> LmSettings) -> Job {
    let base = tiny_base(dir);
    let tokens = shards(dir, &base, &sentences(400), 0.1);
    Job::new(
        settings(self::settings(&base)),
        &Source::Shards(tokens.clone()),
        None,
        &Device::Cpu,
    )
    .unwrap()
}

/// The largest absolute value of a tensor.
pub fn max_abs(t: &candle_core::Tensor) -> f32 {
    t.abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// The largest absolute difference of two tensors.
pub fn max_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    max_abs(&(a - b).unwrap())
}
