//! The hyperparameters stored at the head of a model file.

use crate::Error;
use crate::read::Cursor;

/// The largest vector size read or trained (fastText's models use 10 to 300).
pub(crate) const MAX_DIM: i32 = 1 << 16;

/// What the output layer computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossKind {
    /// Hierarchical softmax over a Huffman tree of the labels (`-loss hs`).
    HierarchicalSoftmax,
    /// Negative sampling (`-loss ns`): one sigmoid per label at prediction.
    NegativeSampling,
    /// Softmax over all labels (`-loss softmax`).
    Softmax,
    /// One-vs-all (`-loss ova`): one independent sigmoid per label.
    OneVsAll,
}

impl LossKind {
    /// The loss named as fastText's `-loss` option names it: `softmax`, `ns`, `hs`,
    /// `ova` or `one-vs-all`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "softmax" => LossKind::Softmax,
            "ns" => LossKind::NegativeSampling,
            "hs" => LossKind::HierarchicalSoftmax,
            "ova" | "one-vs-all" => LossKind::OneVsAll,
            _ => return None,
        })
    }

    /// The name fastText prints for this loss.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Softmax => "softmax",
            LossKind::NegativeSampling => "ns",
            LossKind::HierarchicalSoftmax => "hs",
            LossKind::OneVsAll => "one-vs-all",
        }
    }

    fn from_code(code: i32) -> Result<Self, Error> {
        Ok(match code {
            1 => LossKind::HierarchicalSoftmax,
            2 => LossKind::NegativeSampling,
            3 => LossKind::Softmax,
            4 => LossKind::OneVsAll,
            other => return Err(Error::Invalid(format!("unknown loss code {other}"))),
        })
    }

    /// The code fastText writes for this loss.
    pub fn code(self) -> i32 {
        match self {
            LossKind::HierarchicalSoftmax => 1,
            LossKind::NegativeSampling => 2,
            LossKind::Softmax => 3,
            LossKind::OneVsAll => 4,
        }
    }
}

/// Which kind of model was trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Continuous bag of words (word vectors).
    Cbow,
    /// Skip-gram (word vectors).
    SkipGram,
    /// A supervised classifier: the kind that predicts labels.
    Supervised,
}

impl ModelKind {
    fn from_code(code: i32) -> Result<Self, Error> {
        Ok(match code {
            1 => ModelKind::Cbow,
            2 => ModelKind::SkipGram,
            3 => ModelKind::Supervised,
            other => return Err(Error::Invalid(format!("unknown model code {other}"))),
        })
    }

    /// The code fastText writes for this model kind.
    pub fn code(self) -> i32 {
        match self {
            ModelKind::Cbow => 1,
            ModelKind::SkipGram => 2,
            ModelKind::Supervised => 3,
        }
    }
}

/// The training arguments a model file keeps, in the order fastText writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// Size of the word vectors.
    pub dim: i32,
    /// Context window size (word-vector models).
    pub ws: i32,
    /// Training epochs.
    pub epoch: i32,
    /// Minimal word count kept in the dictionary.
    pub min_count: i32,
    /// Negatives sampled (negative-sampling loss).
    pub neg: i32,
    /// Longest word n-gram (1: words only).
    pub word_ngrams: i32,
    /// The output layer.
    pub loss: LossKind,
    /// The model kind.
    pub model: ModelKind,
    /// Number of hash buckets for character and word n-grams.
    pub bucket: i32,
    /// Shortest character n-gram.
    pub minn: i32,
    /// Longest character n-gram (0: none).
    pub maxn: i32,
    /// Learning-rate update rate.
    pub lr_update_rate: i32,
    /// Sampling threshold.
    pub t: f64,
}

impl Args {
    /// Appends the arguments as fastText's `Args::save` writes them.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        for v in [
            self.dim,
            self.ws,
            self.epoch,
            self.min_count,
            self.neg,
            self.word_ngrams,
            self.loss.code(),
            self.model.code(),
            self.bucket,
            self.minn,
            self.maxn,
            self.lr_update_rate,
        ] {
            out.extend(v.to_le_bytes());
        }
        out.extend(self.t.to_le_bytes());
    }

    pub(crate) fn read(cur: &mut Cursor<'_>) -> Result<Self, Error> {
        const PART: &str = "the arguments";
        let args = Args {
            dim: cur.i32(PART)?,
            ws: cur.i32(PART)?,
            epoch: cur.i32(PART)?,
            min_count: cur.i32(PART)?,
            neg: cur.i32(PART)?,
            word_ngrams: cur.i32(PART)?,
            loss: LossKind::from_code(cur.i32(PART)?)?,
            model: ModelKind::from_code(cur.i32(PART)?)?,
            bucket: cur.i32(PART)?,
            minn: cur.i32(PART)?,
            maxn: cur.i32(PART)?,
            lr_update_rate: cur.i32(PART)?,
            t: cur.f64(PART)?,
        };
        if args.dim <= 0 || args.bucket < 0 {
            return Err(Error::Invalid(format!(
                "dim {} and bucket {} must be positive",
                args.dim, args.bucket
            )));
        }
        if args.dim > MAX_DIM {
            return Err(Error::Invalid(format!(
                "dim {} is above {MAX_DIM}",
                args.dim
            )));
        }
        Ok(args)
    }
}
