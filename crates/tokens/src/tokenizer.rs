//! The tokenizer of a token dataset: loaded from a `tokenizer.json`, taken from a GGUF
//! model (the language-model engine's own tokenizer), or trained here as a byte-level
//! BPE. Whatever its origin, it is kept as a `tokenizer.json` whose BLAKE3 hash names it
//! in store keys and in every shard index, so shards are never read with another one.

use atelier_core::Format;
use atelier_io::{ReadOptions, Unit, read_unit};
use atelier_lm::{GgufFile, Tokenizer};
use atelier_store::Hash;
use std::path::{Path, PathBuf};
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, TokenizerBuilder};

use crate::TokensError;

/// A tokenizer with the `tokenizer.json` that describes it.
#[derive(Clone)]
pub struct TokenizerFile {
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// Its `tokenizer.json`.
    pub json: String,
    /// BLAKE3 of `json`.
    pub hash: Hash,
    /// Where it was loaded from.
    pub path: PathBuf,
}

impl std::fmt::Debug for TokenizerFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenizerFile")
            .field("path", &self.path)
            .field("hash", &self.hash.short())
            .finish_non_exhaustive()
    }
}

impl TokenizerFile {
    /// Loads a `tokenizer.json`, or the tokenizer of a `.gguf` model.
    pub fn load(path: &Path) -> Result<TokenizerFile, TokensError> {
        let bad = |message: String| TokensError::Tokenizer {
            path: path.to_path_buf(),
            message,
        };
        if !path.is_file() {
            return Err(bad("no such file".into()));
        }
        let is_gguf = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
        let tokenizer = if is_gguf {
            let gguf = GgufFile::open(path).map_err(|e| bad(e.to_string()))?;
            Tokenizer::from_gguf(&gguf).map_err(|e| bad(e.to_string()))?
        } else {
            Tokenizer::from_json(path, None).map_err(|e| bad(e.to_string()))?
        };
        let json = tokenizer.to_json().map_err(|e| bad(e.to_string()))?;
        Ok(TokenizerFile {
            hash: Hash::of(json.as_bytes()),
            tokenizer,
            json,
            path: path.to_path_buf(),
        })
    }

    /// The id of a token given by its text, as a recipe names EOS or BOS.
    pub fn id_of(&self, token: &str) -> Result<u32, TokensError> {
        self.tokenizer
            .token_id(token)
            .ok_or_else(|| TokensError::Tokenizer {
                path: self.path.clone(),
                message: format!("has no token `{token}`"),
            })
    }
}

/// How to train a tokenizer.
#[derive(Debug, Clone)]
pub struct TrainTokenizer {
    /// Tokens in the vocabulary, specials and the 256 bytes included.
    pub vocab_size: usize,
    /// Pairs seen fewer times are not merged.
    pub min_frequency: u64,
    /// Special tokens, given the first ids in this order.
    pub special: Vec<String>,
}

/// Trains a byte-level BPE (GPT-2's scheme, as SmolLM's) on texts with the `tokenizers`
/// trainer, and returns its `tokenizer.json`. The same settings in Python's
/// `tokenizers` (`BpeTrainer` with the byte-level alphabet, `ByteLevel` pre-tokenizer
/// without prefix space) give the same vocabulary and merges.
pub fn train<I, S>(settings: &TrainTokenizer, texts: I) -> Result<String, TokensError>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    let failed = |e: tokenizers::Error| TokensError::Training(e.to_string());
    let byte_level = ByteLevel::new(false, true, true);
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(settings.vocab_size)
        .min_frequency(settings.min_frequency)
        .special_tokens(
            settings
                .special
                .iter()
                .map(|s| AddedToken::from(s.clone(), true))
                .collect(),
        )
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .show_progress(false)
        .build();
    let mut tokenizer = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(None::<tokenizers::NormalizerWrapper>)
        .with_pre_tokenizer(Some(byte_level))
        .with_post_processor(Some(byte_level))
        .with_decoder(Some(byte_level))
        .build()
        .map_err(failed)?;
    tokenizer.train(&mut trainer, texts).map_err(failed)?;
    let tokenizer: tokenizers::Tokenizer = tokenizer.into();
    tokenizer.to_string(true).map_err(failed)
}

/// The texts of some JSON-lines files, in order, for training: read by atelier's own
/// JSONL reader (gzip and zstd included); records that do not read are left out, with a
/// warning.
pub fn texts(files: Vec<PathBuf>) -> impl Iterator<Item = String> + Send {
    files.into_iter().flat_map(|path| {
        read_unit(&Unit::whole(path, Format::Jsonl), &ReadOptions::default()).filter_map(|record| {
            match record {
                Ok(doc) => Some(doc.text),
                Err(e) => {
                    eprintln!("warning: {e}");
                    None
                }
            }
        })
    })
}
