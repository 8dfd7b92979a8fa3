//! The tokenizer of a token dataset: loaded from a `tokenizer.json`, taken from a GGUF
//! model (the language-model engine's own tokenizer), or trained here as a byte-level
//! BPE. Whatever its origin, it is kept as a `tokenizer.json` whose BLAKE3 hash names it
//! in store keys and in every shard index, so shards are never read with another one.

use atelier_lm::{GgufFile, Tokenizer};
use atelier_store::Hash;
use std::io::BufRead;
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

/// The `text` of every line of some JSON-lines files, for training (lines without one
/// are skipped).
pub struct Texts {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<Box<dyn BufRead + Send>>,
}

impl Texts {
    /// The texts of these files, in order.
    pub fn new(files: Vec<PathBuf>) -> Texts {
        Texts {
            files: files.into_iter(),
            current: None,
        }
    }
}

impl Iterator for Texts {
    type Item = String;
    fn next(&mut self) -> Option<String> {
        let mut line = String::new();
        loop {
            if self.current.is_none() {
                let path = self.files.next()?;
                let file = match std::fs::File::open(&path) {
                    Ok(f) => f,
                    Err(e) => {
                        eprintln!("warning: {}: {e}", path.display());
                        continue;
                    }
                };
                let name = path.to_string_lossy();
                let reader: Box<dyn std::io::Read + Send> = if name.ends_with(".gz") {
                    Box::new(flate2::read::MultiGzDecoder::new(file))
                } else if name.ends_with(".zst") {
                    match zstd::stream::read::Decoder::new(file) {
                        Ok(d) => Box::new(d),
                        Err(e) => {
                            eprintln!("warning: {}: {e}", path.display());
                            continue;
                        }
                    }
                } else {
                    Box::new(file)
                };
                self.current = Some(Box::new(std::io::BufReader::new(reader)));
            }
            line.clear();
            match self
                .current
                .as_mut()
                .expect("set above")
                .read_line(&mut line)
            {
                Ok(0) | Err(_) => self.current = None,
                Ok(_) => {
                    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str(&line)
                        && let Some(serde_json::Value::String(text)) = o.get("text")
                    {
                        return Some(text.clone());
                    }
                }
            }
        }
    }
}
