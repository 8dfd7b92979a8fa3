//! Small language models: llama-family GGUF files (Llama, SmolLM, Qwen2) run on candle,
//! with their own tokenizer and chat template, sampling, and a generation loop that
//! streams.
//!
//! - [`gguf`]: the file's metadata and tensors (re-quantized at load if asked).
//! - [`model`]: the transformer; weights shared, one [`Session`] (KV cache) per sequence.
//! - [`tokenizer`]: llama.cpp's pre-tokenizers on Hugging Face's `tokenizers`.
//! - [`template`]: the model's Jinja chat template; message contents never become
//!   control tokens.
//! - [`sample`] and [`generate`]: choosing tokens, stop sequences, limits, log-probs.
//!
//! [`Lm`] ties them together:
//!
//! ```no_run
//! # fn main() -> Result<(), atelier_lm::LmError> {
//! use atelier_lm::{Lm, LoadOptions, Message, Request};
//! let lm = Lm::load("SmolLM2-135M-Instruct.Q4_1.gguf".as_ref(), &LoadOptions::default())?;
//! let prompt = lm.chat_prompt(&[Message::new("user", "Hello!")])?;
//! let out = lm.generate(&Request { prompt, max_tokens: Some(32), ..Request::default() }, |d| {
//!     print!("{}", d.text);
//!     true
//! })?;
//! println!("\n{} tokens", out.tokens.len());
//! # Ok(()) }
//! ```

pub mod gemv;
pub mod generate;
pub mod gguf;
pub mod model;
pub mod sample;
pub mod template;
pub mod tiny;
pub mod tokenizer;

pub use generate::{Choice, Delta, Finish, Generated, MAX_STOPS, Request, Timing};
pub use gguf::{GgufFile, Requantize};
pub use model::{Config, Session, Weights};
pub use sample::{Sampling, TokenLogprob};
pub use template::{ChatTemplate, GgufTemplate, Message, Rendered};
pub use tokenizer::Tokenizer;

use candle_core::Device;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    /// A file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// The file is not a GGUF model this engine can read (truncated, corrupt).
    #[error("{}: not a readable GGUF model: {message}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A metadata key is missing or of the wrong type.
    #[error("{}: metadata `{key}` {message}", path.display())]
    Metadata {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A tensor the architecture needs is missing.
    #[error("{}: tensor `{name}` is missing", path.display())]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
    },
    /// Something this engine does not run.
    #[error("{}: unsupported {what}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What.
        what: String,
    },
    /// The tokenizer could not be built or loaded.
    #[error("{}: tokenizer: {message}", path.display())]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The chat template failed.
    #[error("chat template: {0}")]
    Template(String),
    /// The prompt and the tokens asked for do not fit the context.
    #[error("{}", context_message(*prompt, *max_tokens, *context))]
    Context {
        /// Tokens in the prompt.
        prompt: usize,
        /// Tokens asked for, if a number was given.
        max_tokens: Option<usize>,
        /// The model's context.
        context: usize,
    },
    /// A request's values are out of range.
    #[error("{0}")]
    Input(String),
    /// The compute device failed.
    #[error("device: {0}")]
    Device(String),
}

fn context_message(prompt: usize, max_tokens: Option<usize>, context: usize) -> String {
    match max_tokens {
        Some(m) => format!(
            "the prompt is {prompt} tokens and {m} more were asked for: {} in all, over \
             the model's context of {context} tokens",
            prompt + m
        ),
        None => format!(
            "the prompt is {prompt} tokens, which leaves no room in the model's context of \
             {context} tokens"
        ),
    }
}

/// What a caught panic said: the libraries read here (tokenizers, candle) panic on some
/// malformed files, which is then that file's error.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic".to_owned())
}

impl LmError {
    pub(crate) fn bad_file(path: &Path, message: impl std::fmt::Display) -> LmError {
        LmError::BadFile {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }

    pub(crate) fn device(e: candle_core::Error) -> LmError {
        LmError::Device(e.to_string())
    }
}

/// How to load a model.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Re-quantize weight matrices as they load.
    pub requantize: Option<Requantize>,
    /// Run on the first CUDA GPU (needs the `cuda` feature).
    pub gpu: bool,
    /// A `tokenizer.json` to use instead of the file's own tokenizer metadata. Without
    /// it, the GGUF's metadata is used, or a `tokenizer.json` beside the file when the
    /// metadata has none.
    pub tokenizer: Option<PathBuf>,
}

/// What a model is, as its file says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    /// `general.name`, if any.
    pub name: Option<String>,
    /// `llama` or `qwen2`.
    pub architecture: String,
    /// Weights in all tensors.
    pub parameters: u64,
    /// The main tensor type as loaded (`q4_1`, `q8_0`, ...).
    pub quantization: String,
    /// The context limit in tokens.
    pub context: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Width.
    pub width: usize,
    /// The chat template source (the model's, or ChatML when it has none).
    pub chat_template: String,
    /// Whether the template is the model's own.
    pub own_template: bool,
}

/// A loaded model: weights, tokenizer and chat template.
#[derive(Debug)]
pub struct Lm {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// What it is.
    pub info: ModelInfo,
    /// The weights, shared by every session.
    pub weights: Arc<Weights>,
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// The chat template.
    pub template: ChatTemplate,
}

/// Sets the CPU threads candle computes with: `threads`, or every CPU the process may
/// use. Call it at the start of the program, before any other thread exists and
/// before the first model loads: candle reads the setting once, and without it asks
/// `/proc/cpuinfo` at every matrix product.
pub fn set_threads(threads: Option<usize>) -> usize {
    let n = threads
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // SAFETY: documented above: called before other threads exist.
    unsafe {
        std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    n
}

/// The device for `gpu`: the first CUDA GPU, or the CPU.
pub fn device(gpu: bool) -> Result<Device, LmError> {
    if gpu {
        Device::new_cuda(0).map_err(|e| {
            LmError::Device(format!(
                "no CUDA GPU ({e}); this build {} the `cuda` feature",
                if cfg!(feature = "cuda") {
                    "has"
                } else {
                    "lacks"
                }
            ))
        })
    } else {
        Ok(Device::Cpu)
    }
}

impl Lm {
    /// Loads a GGUF model.
    pub fn load(path: &Path, options: &LoadOptions) -> Result<Lm, LmError> {
        let gguf = GgufFile::open(path)?;
        let config = Config::from_gguf(&gguf)?;
        let beside = path.with_file_name("tokenizer.json");
        let tokenizer = match &options.tokenizer {
            Some(json) => Tokenizer::from_json(json, Some(&gguf))?,
            None if gguf.get("tokenizer.ggml.model").is_none() && beside.is_file() => {
                Tokenizer::from_json(&beside, Some(&gguf))?
            }
            None => Tokenizer::from_gguf(&gguf)?,
        };
        if tokenizer.vocab_size() > config.vocab {
            return Err(LmError::bad_file(
                path,
                format!(
                    "the tokenizer has {} tokens but the model only {} embeddings",
                    tokenizer.vocab_size(),
                    config.vocab
                ),
            ));
        }
        let GgufTemplate {
            template,
            source,
            own,
        } = ChatTemplate::from_gguf(&gguf, &tokenizer)?;
        let device = device(options.gpu)?;
        let weights = Weights::load(&gguf, &device, options.requantize)?;
        let quantization = match options.requantize {
            Some(r) => format!("{r:?}").to_ascii_lowercase(),
            None => gguf.quantization(),
        };
        let info = ModelInfo {
            name: gguf.string("general.name")?.map(str::to_owned),
            architecture: config.architecture.clone(),
            parameters: gguf.parameters(),
            quantization,
            context: config.context,
            vocab: config.vocab,
            layers: config.layers,
            width: config.width,
            chat_template: source,
            own_template: own,
        };
        Ok(Lm {
            path: path.to_path_buf(),
            info,
            weights: Arc::new(weights),
            tokenizer,
            template,
        })
    }

    /// A new, empty sequence on this model's weights.
    pub fn session(&self) -> Session {
        Session::new(Arc::clone(&self.weights))
    }

    /// The tokens of a chat, rendered with the model's template and ending where the
    /// assistant's answer begins (BOS first when the model wants it and the template did
    /// not write it).
    pub fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<u32>, LmError> {
        let rendered = self.template.render(messages, true)?;
        let ids = rendered.tokens(&self.tokenizer)?;
        Ok(self.tokenizer.with_bos(ids))
    }

    /// The tokens of a raw prompt, in which control tokens stand for themselves.
    pub fn raw_prompt(&self, text: &str) -> Result<Vec<u32>, LmError> {
        let ids = self.tokenizer.encode_special(text)?;
        Ok(self.tokenizer.with_bos(ids))
    }

    /// Generates on a new session.
    pub fn generate(
        &self,
        request: &Request,
        on_token: impl FnMut(Delta<'_>) -> bool,
    ) -> Result<Generated, LmError> {
        let mut session = self.session();
        generate::generate(
            &mut session,
            &self.tokenizer,
            self.info.context,
            request,
            on_token,
        )
    }
}
