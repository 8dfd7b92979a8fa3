//! Training of small llama-architecture language models on candle: from scratch, or
//! fine-tuning a base model (GGUF or Hugging Face) fully or with LoRA, from atelier's
//! token shards, on the CPU or a CUDA GPU.
//!
//! - [`config`]: the model's shape, as Hugging Face's `config.json` says it.
//! - [`model`]: the differentiable transformer; [`lora`]: its adapters.
//! - [`weights`]: base models and the GGUF/Hugging Face naming; [`export`]: what other
//!   tools load (safetensors folder, GGUF F16/Q8_0).
//! - [`data`]: packed windows from token shards; [`chat`]: conversations with the loss
//!   on the assistant's turns; [`optim`]: AdamW, schedule, clipping.
//! - [`checkpoint`]: atomic, verified checkpoints; [`run`]: the loop that ties them,
//!   resumes, evaluates, keeps to budgets and stops on divergence.

pub mod chat;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod export;
pub mod fused;
pub mod lora;
pub mod model;
pub mod optim;
pub mod rng;
pub mod run;
pub mod settings;
pub mod weights;

pub use config::LlamaConfig;
pub use export::GgufType;
pub use lora::LoraSettings;
pub use model::{Batch, Llama};
pub use run::{Eval, Event, Job, Meter, NoMeter, Outcome, Source, Spent, StepReport, Stop};
pub use settings::{LmSettings, Shape};

use std::path::{Path, PathBuf};

/// Why training could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum LmTrainError {
    /// A file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// A file could not be written (a format error).
    #[error("{}: cannot write: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A base model that cannot be trained here.
    #[error("{}: {message}", path.display())]
    BadModel {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Weights that do not fit the model.
    #[error("{0}")]
    Weights(String),
    /// Settings that cannot be trained.
    #[error("{0}")]
    Settings(String),
    /// Data that cannot be trained on.
    #[error("{0}")]
    Data(String),
    /// A tensor operation failed. Its message holds candle's, so it is not also the
    /// source (a chain prints each cause once).
    #[error("tensor operation: {0}")]
    Tensor(candle_core::Error),
    /// The language-model engine failed (reading a GGUF file).
    #[error(transparent)]
    Lm(#[from] atelier_lm::LmError),
    /// The token shards or the tokenizer failed.
    #[error(transparent)]
    Tokens(#[from] atelier_tokens::TokensError),
}

impl From<candle_core::Error> for LmTrainError {
    fn from(e: candle_core::Error) -> Self {
        LmTrainError::Tensor(e)
    }
}

impl LmTrainError {
    pub(crate) fn io(path: &Path, error: std::io::Error) -> LmTrainError {
        LmTrainError::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}
