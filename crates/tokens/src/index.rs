//! The token folder's index: which shard sets the tasks wrote, with the tokenizer that
//! made them, and the reader that refuses shards of another tokenizer.
//!
//! ```text
//! tokens/tokenizer.json                    the tokenizer, as Python `tokenizers` loads it
//! tokens/index.json                        this index
//! tokens/<layout>/<split>/part-00000.*     one shard set per task, split and layout
//! tokens/quarantine/part-00000.jsonl       lines that could not be read
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::layout::{Dtype, read_documents, write_atomic};
use crate::task::{Count, ShardEntry, TaskOutcome};
use crate::{Layout, Tokenize, TokensError};
use atelier_core::StepStats;

/// The index format this build writes.
pub const INDEX_FORMAT: u32 = 1;

/// The tokenizer of a token folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexTokenizer {
    /// BLAKE3 of `tokenizer.json`.
    pub hash: String,
    /// Tokens in its vocabulary.
    pub vocab_size: usize,
    /// The id after every document.
    pub eos: u32,
    /// The id before every document, if any.
    pub bos: Option<u32>,
}

// Pinned format (tests/data/formats/tokens/index.json): a change must bump INDEX_FORMAT
// and keep reading the indexes already written, which dataset versions keep.
/// `index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// [`INDEX_FORMAT`] when written.
    pub format: u32,
    /// The tokenizer (its file is `tokenizer.json` beside the index).
    pub tokenizer: IndexTokenizer,
    /// How ids are stored.
    pub dtype: Dtype,
    /// The settings, as [`Tokenize::describe`] gives them.
    pub settings: serde_json::Value,
    /// Every shard set, by rank, then split, then layout.
    pub shards: Vec<ShardEntry>,
    /// Documents and tokens per split.
    pub splits: BTreeMap<String, Count>,
    /// The tokenize step's counters, summed over tasks.
    pub stats: StepStats,
    /// Documents by their number of tokens (`histogram[k]`: `2^k ..= 2^(k+1) - 1`).
    pub histogram: Vec<u64>,
    /// Documents and tokens by source.
    pub sources: BTreeMap<String, Count>,
    /// Quarantine files.
    pub quarantine: Vec<String>,
}

/// Once every task of `0..tasks` has run: writes `tokenizer.json` and `index.json`
/// from the tasks' outcomes, and removes the work files.
pub fn finish(tokenize: &Tokenize, root: &Path, tasks: usize) -> Result<Index, TokensError> {
    let mut index = Index {
        format: INDEX_FORMAT,
        tokenizer: IndexTokenizer {
            hash: tokenize.tokenizer.hash.hex(),
            vocab_size: tokenize.tokenizer.tokenizer.vocab_size(),
            eos: tokenize.eos,
            bos: tokenize.bos,
        },
        dtype: tokenize.dtype,
        settings: tokenize.describe(),
        shards: Vec::new(),
        splits: BTreeMap::new(),
        stats: StepStats::named(crate::task::STEP),
        histogram: Vec::new(),
        sources: BTreeMap::new(),
        quarantine: Vec::new(),
    };
    for rank in 0..tasks {
        let path = root.join(".tasks").join(format!("{rank:05}.json"));
        let bytes = std::fs::read(&path).map_err(|e| TokensError::Io {
            path: path.clone(),
            error: e,
        })?;
        let outcome: TaskOutcome =
            serde_json::from_slice(&bytes).map_err(|e| TokensError::Index {
                path: path.clone(),
                message: e.to_string(),
            })?;
        index.stats += &outcome.stats;
        if index.histogram.len() < outcome.histogram.len() {
            index.histogram.resize(outcome.histogram.len(), 0);
        }
        for (k, n) in outcome.histogram.iter().enumerate() {
            index.histogram[k] += n;
        }
        for (source, count) in outcome.sources {
            *index.sources.entry(source).or_default() += count;
        }
        let first = outcome.shards.first().map(|s| s.layout);
        for shard in &outcome.shards {
            if Some(shard.layout) == first {
                *index.splits.entry(shard.split.clone()).or_default() += Count {
                    documents: shard.documents,
                    tokens: shard.tokens,
                };
            }
        }
        index.shards.extend(outcome.shards);
        index.quarantine.extend(outcome.quarantine);
    }
    let io = |path: PathBuf| move |e| TokensError::Io { path, error: e };
    let tokenizer = root.join("tokenizer.json");
    write_atomic(&tokenizer, tokenize.tokenizer.json.as_bytes()).map_err(io(tokenizer))?;
    let json = serde_json::to_vec_pretty(&index).expect("the index serializes");
    let path = root.join("index.json");
    write_atomic(&path, &json).map_err(io(path))?;
    let _ = std::fs::remove_dir_all(root.join(".building"));
    Ok(index)
}

/// A token folder opened for reading.
#[derive(Debug, Clone)]
pub struct TokenShards {
    /// The folder.
    pub root: PathBuf,
    /// Its index.
    pub index: Index,
}

impl TokenShards {
    /// Opens a token folder (`<output>/tokens`, or the same inside a version).
    pub fn open(root: &Path) -> Result<TokenShards, TokensError> {
        let path = root.join("index.json");
        let bytes = std::fs::read(&path).map_err(|e| TokensError::Io {
            path: path.clone(),
            error: e,
        })?;
        let index: Index = serde_json::from_slice(&bytes).map_err(|e| TokensError::Index {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if index.format != INDEX_FORMAT {
            return Err(TokensError::Index {
                path,
                message: format!(
                    "format {} (this build reads format {INDEX_FORMAT})",
                    index.format
                ),
            });
        }
        Ok(TokenShards {
            root: root.to_path_buf(),
            index,
        })
    }

    /// Refuses shards made with another tokenizer than the one (by hash) a reader holds.
    pub fn expect_tokenizer(&self, hash: &str) -> Result<(), TokensError> {
        if self.index.tokenizer.hash == hash {
            Ok(())
        } else {
            Err(TokensError::OtherTokenizer {
                path: self.root.join("index.json"),
                made_with: self.index.tokenizer.hash.clone(),
                given: hash.to_owned(),
            })
        }
    }

    /// Every document of a split, shard after shard, read from one layout's files.
    pub fn documents(&self, split: &str, layout: Layout) -> Result<Vec<Vec<u32>>, TokensError> {
        let mut docs = Vec::new();
        for shard in &self.index.shards {
            if shard.split != split || shard.layout != layout {
                continue;
            }
            let file = self.root.join(&shard.files[0]);
            docs.extend(read_documents(
                layout,
                &file,
                self.index.dtype,
                Some(self.index.tokenizer.eos),
            )?);
        }
        Ok(docs)
    }
}
