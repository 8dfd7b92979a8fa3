//! A llama model's shape, in the words of Hugging Face's `config.json` (the file every
//! trainer and `transformers` read), read from that file, from a GGUF model or from a
//! recipe.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::Path;

use crate::LmTrainError;

/// The shape of a llama-architecture model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlamaConfig {
    /// Rows of the embedding: the tokenizer's vocabulary.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Transformer blocks.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (fewer than the query heads for grouped-query attention).
    pub num_key_value_heads: usize,
    /// The context the model is made for.
    pub max_position_embeddings: usize,
    /// RMS norm epsilon.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// RoPE base frequency.
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    /// The output head is the embedding matrix.
    #[serde(default = "default_tied")]
    pub tie_word_embeddings: bool,
}

fn default_eps() -> f64 {
    1e-5
}
fn default_theta() -> f64 {
    10_000.0
}
fn default_tied() -> bool {
    true
}

impl LlamaConfig {
    /// Width of one head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Parameters of the model (the tied head counted once).
    pub fn parameters(&self) -> usize {
        let d = self.hidden_size;
        let kv = self.num_key_value_heads * self.head_dim();
        let block = 2 * d * d + 2 * d * kv + 3 * d * self.intermediate_size + 2 * d;
        let head = if self.tie_word_embeddings {
            0
        } else {
            self.vocab_size * d
        };
        self.vocab_size * d + self.num_hidden_layers * block + d + head
    }

    /// Checks that the numbers fit together.
    pub fn check(&self) -> Result<(), String> {
        let (h, kv, d) = (
            self.num_attention_heads,
            self.num_key_value_heads,
            self.hidden_size,
        );
        if h == 0 || kv == 0 || d % h != 0 || h % kv != 0 {
            return Err(format!(
                "{h} heads, {kv} key/value heads and width {d} do not fit together (the \
                 width must divide by the heads, the heads by the key/value heads)"
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(format!("head width {} is odd", self.head_dim()));
        }
        for (name, n) in [
            ("vocab_size", self.vocab_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if n == 0 {
                return Err(format!("{name} is 0"));
            }
        }
        Ok(())
    }

    /// Reads a Hugging Face `config.json` of a `LlamaForCausalLM`.
    pub fn from_hf(path: &Path) -> Result<LlamaConfig, LmTrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| LmTrainError::io(path, e))?;
        let bad = |message: String| LmTrainError::BadModel {
            path: path.to_path_buf(),
            message,
        };
        let v: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let model_type = v.get("model_type").and_then(Value::as_str).unwrap_or("");
        if model_type != "llama" {
            return Err(bad(format!(
                "model_type `{model_type}`: only llama models are trained here"
            )));
        }
        let uint = |key: &str| -> Result<usize, LmTrainError> {
            v.get(key)
                .and_then(Value::as_u64)
                .map(|n| n as usize)
                .ok_or_else(|| bad(format!("`{key}` is missing or not a number")))
        };
        let heads = uint("num_attention_heads")?;
        // Transformers 5 keeps the RoPE base under `rope_parameters`, 4 at the top.
        let theta = v
            .get("rope_parameters")
            .and_then(|r| r.get("rope_theta"))
            .or_else(|| v.get("rope_theta"))
            .and_then(Value::as_f64)
            .unwrap_or_else(default_theta);
        let scaling = v
            .get("rope_parameters")
            .and_then(|r| r.get("rope_type"))
            .or_else(|| v.get("rope_scaling").and_then(|r| r.get("rope_type")))
            .and_then(Value::as_str)
            .unwrap_or("default");
        if scaling != "default" {
            return Err(bad(format!("RoPE scaling `{scaling}` is not supported")));
        }
        let config = LlamaConfig {
            vocab_size: uint("vocab_size")?,
            hidden_size: uint("hidden_size")?,
            intermediate_size: uint("intermediate_size")?,
            num_hidden_layers: uint("num_hidden_layers")?,
            num_attention_heads: heads,
            num_key_value_heads: v
                .get("num_key_value_heads")
                .and_then(Value::as_u64)
                .map_or(heads, |n| n as usize),
            max_position_embeddings: uint("max_position_embeddings")?,
            rms_norm_eps: v
                .get("rms_norm_eps")
                .and_then(Value::as_f64)
                .unwrap_or_else(default_eps),
            rope_theta: theta,
            tie_word_embeddings: v
                .get("tie_word_embeddings")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        };
        config.check().map_err(bad)?;
        Ok(config)
    }

    /// The shape of a llama GGUF model.
    pub fn from_gguf(gguf: &atelier_lm::GgufFile) -> Result<LlamaConfig, LmTrainError> {
        let c = atelier_lm::Config::from_gguf(gguf)?;
        if c.architecture != "llama" {
            return Err(LmTrainError::BadModel {
                path: gguf.path.clone(),
                message: format!(
                    "architecture `{}`: only llama models are trained here",
                    c.architecture
                ),
            });
        }
        Ok(LlamaConfig {
            vocab_size: c.vocab,
            hidden_size: c.width,
            intermediate_size: c.ffn_width,
            num_hidden_layers: c.layers,
            num_attention_heads: c.heads,
            num_key_value_heads: c.kv_heads,
            max_position_embeddings: c.context,
            rms_norm_eps: c.rms_eps,
            rope_theta: c.rope_base,
            tie_word_embeddings: !gguf.has_tensor("output.weight"),
        })
    }

    /// The `config.json` of this model for `transformers` (`LlamaForCausalLM`).
    pub fn to_hf(&self, bos: Option<u32>, eos: Option<u32>) -> Value {
        json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_act": "silu",
            "attention_bias": false,
            "attention_dropout": 0.0,
            "mlp_bias": false,
            "initializer_range": 0.02,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim(),
            "max_position_embeddings": self.max_position_embeddings,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_parameters": {"rope_type": "default", "rope_theta": self.rope_theta},
            "tie_word_embeddings": self.tie_word_embeddings,
            "bos_token_id": bos,
            "eos_token_id": eos,
            "torch_dtype": "float32",
            "use_cache": true,
        })
    }
}
