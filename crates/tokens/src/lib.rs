//! Token shards: the end of the refinery for language models. Documents become token ids
//! in the files the field's trainers memory-map (datatrove and nanotron, llm.c and
//! nanoGPT, Megatron and NeMo), with the tokenizer kept beside them and named by its hash.
//!
//! - [`TokenizerFile`]: a `tokenizer.json`, or a GGUF model's tokenizer; [`train`] makes
//!   a byte-level BPE.
//! - [`Tokenize`]: the `[tokenize]` settings made ready; [`Tokenize::run_task`] turns one
//!   task's JSON-lines files into shard sets, [`finish`] writes the index.
//! - [`layout`]: the file layouts, written and read back; [`TokenShards`] reads a token
//!   folder and refuses one made with another tokenizer.
//!
//! In a recipe, tokenizing is the runner's last stage (one task per dataset shard, with
//! markers and store records like every stage); [`tokenize_files`] runs the same tasks on
//! threads for `atelier tokenize`.

mod encoder;
mod index;
pub mod layout;
mod settings;
mod stage;
mod task;
mod tokenizer;

pub use index::{INDEX_FORMAT, Index, IndexTokenizer, TokenShards, finish};
pub use layout::{Dtype, Layout};
pub use settings::{TokenizeSettings, TooLong};
pub use stage::{FOLDER, TokenizeStage};
pub use task::{Count, STEP, ShardEntry, TaskOutcome, Tokenize};
pub use tokenizer::{TokenizerFile, TrainTokenizer, texts, train};

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Why tokenizing failed.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    /// The settings are wrong.
    #[error("[tokenize]: {}", .0.join("; "))]
    Settings(Vec<String>),
    /// The tokenizer file could not be used.
    #[error("tokenizer {}: {message}", path.display())]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Training a tokenizer failed.
    #[error("training the tokenizer: {0}")]
    Training(String),
    /// A document could not be encoded.
    #[error("{}:{line}: {message}", path.display())]
    Encode {
        /// The input file.
        path: PathBuf,
        /// Its line.
        line: u64,
        /// What failed.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// A token folder's index or a task's outcome does not read.
    #[error("{}: {message}", path.display())]
    Index {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Token files do not read back.
    #[error(transparent)]
    Read(#[from] layout::ReadError),
    /// Shards made with one tokenizer were given to a reader holding another.
    #[error(
        "{}: these shards were made with tokenizer {made_with}, not with the one given \
         ({given}); tokenize again with it, or read them with their own tokenizer.json",
        path.display()
    )]
    OtherTokenizer {
        /// The index.
        path: PathBuf,
        /// The hash in the index.
        made_with: String,
        /// The hash of the tokenizer given.
        given: String,
    },
    /// The project store failed.
    #[error(transparent)]
    Store(#[from] atelier_store::StoreError),
}

/// Tokenizes JSON-lines files into `root` with `tasks` tasks (file `i` goes to task
/// `i % tasks`, as datatrove deals files to ranks) on `workers` threads, then writes the
/// index. Without a store: nothing is cached.
pub fn tokenize_files(
    tokenize: &Tokenize,
    inputs: &[PathBuf],
    root: &Path,
    tasks: usize,
    workers: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Index, TokensError> {
    let tasks = tasks.max(1);
    let next = AtomicUsize::new(0);
    let failure = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, tasks) {
            scope.spawn(|| {
                loop {
                    let rank = next.fetch_add(1, Ordering::SeqCst);
                    if rank >= tasks || failure.lock().expect("no panics").is_some() {
                        break;
                    }
                    let mine: Vec<PathBuf> = inputs
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % tasks == rank)
                        .map(|(_, p)| p.clone())
                        .collect();
                    if let Err(e) = tokenize.run_task(&mine, rank, root, None, progress) {
                        failure.lock().expect("no panics").get_or_insert(e);
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("workers joined") {
        return Err(e);
    }
    finish(tokenize, root, tasks)
}
