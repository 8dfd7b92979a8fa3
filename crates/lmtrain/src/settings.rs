//! What a training run is asked to do: the `[lm]` section of a recipe, also filled by
//! `atelier lm train`'s flags.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::config::LlamaConfig;
use crate::export::GgufType;
use crate::lora::LoraSettings;
use crate::optim::OptimSettings;

/// The shape of a model trained from scratch (the vocabulary comes from the tokenizer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Shape {
    /// Transformer blocks.
    pub layers: usize,
    /// Width of the residual stream.
    pub width: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Feed-forward width.
    pub ffn: usize,
    /// Context.
    pub context: usize,
}

impl Default for Shape {
    fn default() -> Self {
        // About 10M parameters besides the embedding.
        Shape {
            layers: 6,
            width: 384,
            heads: 6,
            kv_heads: 2,
            ffn: 1024,
            context: 512,
        }
    }
}

impl Shape {
    /// The config of this shape for a vocabulary.
    pub fn config(&self, vocab_size: usize) -> LlamaConfig {
        LlamaConfig {
            vocab_size,
            hidden_size: self.width,
            intermediate_size: self.ffn,
            num_hidden_layers: self.layers,
            num_attention_heads: self.heads,
            num_key_value_heads: self.kv_heads,
            max_position_embeddings: self.context,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            tie_word_embeddings: true,
        }
    }
}

/// A training run's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LmSettings {
    /// The base model: a `.gguf` file or a Hugging Face folder; none trains from
    /// scratch with `shape`.
    pub base: Option<PathBuf>,
    /// Start from the newest version of the model being trained (the command line's
    /// `--name`) in the project's store, when there is one, instead of `base`: a new
    /// version goes on from the last one rather than from zero.
    pub warm_start: bool,
    /// The shape of a model trained from scratch.
    pub shape: Shape,
    /// Tokens per training window (default: the model's context, at most 512).
    pub context: Option<usize>,
    /// Windows per micro-batch.
    pub batch: usize,
    /// Micro-batches per optimizer step.
    pub accumulate: usize,
    /// Optimizer steps (default: `epochs` over the training windows).
    pub steps: Option<usize>,
    /// Passes over the training windows when `steps` is not given.
    pub epochs: f64,
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate as a share of the peak (cosine decay).
    pub min_lr_ratio: f64,
    /// Steps of linear warm-up.
    pub warmup_steps: usize,
    /// Decoupled weight decay of the matrices.
    pub weight_decay: f64,
    /// Adam's betas.
    pub betas: [f64; 2],
    /// Adam's epsilon.
    pub eps: f64,
    /// Largest global gradient norm (0: no clipping).
    pub clip: f64,
    /// Evaluate the validation split every this many steps (and at the end).
    pub eval_every: usize,
    /// Validation windows per evaluation.
    pub eval_windows: usize,
    /// Checkpoint every this many steps (and at the end).
    pub checkpoint_every: usize,
    /// Checkpoints kept.
    pub keep_checkpoints: usize,
    /// Seed of the data order, fresh weights, adapters and dropout.
    pub seed: u64,
    /// Share of the conversations held out (instruction tuning; token shards carry
    /// their own validation split).
    pub validation: f64,
    /// LoRA adapters instead of full fine-tuning.
    pub lora: Option<LoraSettings>,
    /// Stop (keeping a checkpoint) after this many hours.
    pub max_hours: Option<f64>,
    /// Stop after this much energy.
    pub max_kwh: Option<f64>,
    /// Stop after this much money.
    pub max_eur: Option<f64>,
    /// A loss above this many times the lowest recent loss is a divergence.
    pub explode: f64,
    /// On a GPU, compute in bf16 (weights and optimizer stay f32).
    pub bf16: bool,
    /// GGUF exports, beside the Hugging Face folder.
    pub gguf: Vec<GgufType>,
}

impl Default for LmSettings {
    fn default() -> Self {
        let o = OptimSettings::default();
        LmSettings {
            base: None,
            warm_start: false,
            shape: Shape::default(),
            context: None,
            batch: 8,
            accumulate: 1,
            steps: None,
            epochs: 1.0,
            lr: o.lr,
            min_lr_ratio: o.min_lr_ratio,
            warmup_steps: o.warmup_steps,
            weight_decay: o.weight_decay,
            betas: [o.beta1, o.beta2],
            eps: o.eps,
            clip: o.clip,
            eval_every: 50,
            eval_windows: 32,
            checkpoint_every: 50,
            keep_checkpoints: 2,
            seed: 0,
            validation: 0.1,
            lora: None,
            max_hours: None,
            max_kwh: None,
            max_eur: None,
            explode: 4.0,
            bf16: true,
            gguf: vec![GgufType::F16, GgufType::Q8_0],
        }
    }
}

impl LmSettings {
    /// The optimizer's part.
    pub fn optim(&self) -> OptimSettings {
        OptimSettings {
            lr: self.lr,
            min_lr_ratio: self.min_lr_ratio,
            warmup_steps: self.warmup_steps,
            weight_decay: self.weight_decay,
            beta1: self.betas[0],
            beta2: self.betas[1],
            eps: self.eps,
            clip: self.clip,
        }
    }

    /// Checks the numbers.
    pub fn check(&self) -> Result<(), String> {
        if self.batch == 0 || self.accumulate == 0 {
            return Err("batch and accumulate must be at least 1".into());
        }
        if self.steps == Some(0) || self.epochs <= 0.0 {
            return Err("nothing to train: steps or epochs is 0".into());
        }
        if self.lr.is_nan() || self.lr <= 0.0 {
            return Err(format!("learning rate {} is not positive", self.lr));
        }
        if self.eval_every == 0 || self.checkpoint_every == 0 {
            return Err("eval_every and checkpoint_every must be at least 1".into());
        }
        if let Some(lora) = &self.lora {
            lora.check()?;
        }
        Ok(())
    }
}
