//! The `[tokenize]` section of a recipe (and the options of `atelier tokenize`).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::{Dtype, Layout};

/// What to do with a document longer than `max_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TooLong {
    /// Cut it into pieces of `max_tokens`, each ended by EOS (counted as `split`).
    #[default]
    Split,
    /// Leave it out (counted as `too_long`).
    Drop,
}

/// How a dataset becomes token shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenizeSettings {
    /// A `tokenizer.json`, or a `.gguf` model whose tokenizer to use; relative to the
    /// recipe. Required.
    pub tokenizer: PathBuf,
    /// The token put after every document, by its text (default: the tokenizer's EOS).
    pub eos: Option<String>,
    /// A token put before every document, by its text (default: none).
    pub bos: Option<String>,
    /// Longest document in tokens, BOS and EOS included (default: no limit).
    pub max_tokens: Option<u64>,
    /// `split` (default) or `drop` documents longer than `max_tokens`.
    pub too_long: TooLong,
    /// Share of documents held out for validation, by a stable hash of the id (the
    /// classifier's rule, so a document stays on its side across versions).
    pub validation: f64,
    /// Shuffle each shard's documents with this seed (default: keep the dataset's order).
    pub seed: Option<u64>,
    /// File layouts to write: `datatrove`, `llmc`, `llmc-raw`, `megatron`.
    pub layouts: Vec<Layout>,
    /// How ids are stored: `uint16` or `uint32` (default: the narrowest that holds the
    /// tokenizer's vocabulary).
    pub dtype: Option<Dtype>,
}

impl Default for TokenizeSettings {
    fn default() -> Self {
        TokenizeSettings {
            tokenizer: PathBuf::new(),
            eos: None,
            bos: None,
            max_tokens: None,
            too_long: TooLong::Split,
            validation: 0.0,
            seed: None,
            layouts: vec![Layout::Datatrove],
            dtype: None,
        }
    }
}

impl TokenizeSettings {
    /// Every problem with the settings.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.tokenizer.as_os_str().is_empty() {
            problems.push("`tokenizer` is required: a tokenizer.json or a .gguf model".into());
        }
        if !(0.0..1.0).contains(&self.validation) {
            problems.push(format!(
                "`validation` is {}; it must be in [0, 1)",
                self.validation
            ));
        }
        if self.layouts.is_empty() {
            problems.push("`layouts` is empty: name at least one".into());
        }
        let reserved = u64::from(self.bos.is_some()) + 1;
        if let Some(max) = self.max_tokens
            && max <= reserved
        {
            problems.push(format!(
                "`max_tokens` is {max}: it must leave room for text besides BOS and EOS"
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The same settings with the tokenizer's path resolved against `dir`.
    pub fn resolved(mut self, dir: &Path) -> TokenizeSettings {
        self.tokenizer = dir.join(&self.tokenizer);
        let mut seen = std::collections::BTreeSet::new();
        self.layouts.retain(|l| seen.insert(*l));
        self
    }
}
