//! fastText text classifiers: training, model files, quantization and inference,
//! compatible with fastText both ways.
//!
//! fastText (<https://fasttext.cc>) classifies a line of text by averaging the input
//! vectors of its words, of the character n-grams of its words and of its word n-grams,
//! then scoring labels with a softmax, a hierarchical softmax or one sigmoid per label.
//! This crate reads the model files fastText writes (`.bin`, and `.ftz`, whose matrices
//! are product-quantized) and predicts exactly as fastText 0.9.2 does, quirks included:
//!
//! - words are split on ASCII whitespace and NUL, and a line ends with the word `</s>`;
//! - strings hash with FNV-1a over *signed* bytes (a byte above 0x7f is sign-extended
//!   before the xor), so hashes of non-ASCII n-grams match fastText's;
//! - character n-grams of `<word>` are counted in UTF-8 characters and go to
//!   `nwords + hash % bucket`, remapped through the prune index of a quantized model;
//! - word n-gram hashes mix sign-extended 32-bit word hashes in 64 bits;
//! - the hidden vector is the mean of the rows, scaled by `1/n` rounded to `f32`;
//! - reported probabilities are `exp(log(p + 1e-5))` as fastText computes them, and
//!   labels scoring below `threshold` or outside the top `k` are not reported.
//!
//! ```no_run
//! let model = atelier_fasttext::Model::load("models/lid.176.ftz")?;
//! for (label, prob) in model.predict("Le chat dort sur le canapé", 2, 0.0) {
//!     println!("{label} {prob:.4}");
//! }
//! # Ok::<(), atelier_fasttext::Error>(())
//! ```
//!
//! Training ([`train`], with [`TrainArgs`]) is fastText's supervised training: the same
//! model, losses (softmax, negative sampling, hierarchical softmax, one-vs-all), linear
//! learning-rate decay and lock-free multi-threaded SGD, pretrained `.vec` vectors and
//! [`autotune`]. [`Model::save`] writes `.bin` files that fastText loads and predicts
//! from identically, [`Model::save_vectors`] the `.vec` file of word vectors that
//! `fasttext supervised` writes beside them; [`Model::quantize`] makes `.ftz` models (product quantization,
//! norms, cutoff and retraining); [`Model::test`] evaluates as `fasttext test` does.
//!
//! ```
//! use atelier_fasttext::{Model, TrainArgs, train};
//! let data = b"__label__yes good fine\n__label__no bad awful\n".repeat(100);
//! let args = TrainArgs { dim: 8, epoch: 10, lr: 0.5, threads: 1, ..TrainArgs::default() };
//! let model = train(&args, &data)?.model;
//! let bytes = model.to_bytes(); // what model.save("model.bin") writes
//! let back = Model::from_bytes(&bytes)?;
//! assert_eq!(back.predict("fine", 1, 0.0)[0].0, "__label__yes");
//! let meter = back.test(b"__label__no awful\n", 1, 0.0, 1);
//! assert_eq!((meter.examples, meter.precision()), (1, 1.0));
//! # Ok::<(), atelier_fasttext::Error>(())
//! ```
//!
//! The pieces (arguments, dictionary, matrices, output layers) are public.

mod args;
mod autotune;
mod corpus;
mod dictionary;
mod hogwild;
mod matrix;
mod meter;
mod model;
mod number;
mod output;
mod prepare;
mod quantize;
mod read;
mod rng;
mod train;
mod vectors;
mod write;

pub use args::{Args, LossKind, ModelKind};
pub use autotune::{Autotune, Fixed, Tuned, autotune};
pub use corpus::LineCounts;
pub use dictionary::{Dictionary, EOS, Entry, EntryKind, LABEL_PREFIX, hash};
pub use matrix::{DenseMatrix, Matrix, ProductQuantizer, QuantMatrix};
pub use meter::{LabelCounts, Meter};
pub use model::{Model, Prediction, Predictor};
pub use number::format_g;
pub use output::Output;
pub use prepare::Preprocess;
pub use quantize::{QuantizeArgs, QuantizeProgress};
pub use train::{Progress, TrainArgs, TrainStats, Trained, train, train_with_progress};
pub use vectors::Vectors;

use std::path::PathBuf;

/// The magic number that opens every fastText model file.
pub const MAGIC: i32 = 793_712_314;
/// The newest model file version this crate reads (fastText 0.9.x writes 12).
pub const VERSION: i32 = 12;

/// Why a model could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The model file.
        path: PathBuf,
        /// What the system said (in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// The file does not start with fastText's magic number.
    #[error("not a fastText model (magic number {0:#x})")]
    BadMagic(i32),
    /// The file was written by a fastText this reader does not know.
    #[error("unsupported fastText model version {0} (versions 11 and 12 are read)")]
    Version(i32),
    /// The file ended inside the named part.
    #[error("model file ends inside {0}")]
    Truncated(&'static str),
    /// A value in the file is out of range or inconsistent.
    #[error("invalid model file: {0}")]
    Invalid(String),
    /// Training or quantization arguments that cannot work.
    #[error("invalid arguments: {0}")]
    Args(String),
    /// The training data cannot train a model.
    #[error("cannot train: {0}")]
    Train(String),
    /// A pretrained vectors file that cannot be used.
    #[error("pretrained vectors: {0}")]
    Pretrained(String),
    /// The model cannot be quantized as asked.
    #[error("cannot quantize: {0}")]
    Quantize(String),
}
