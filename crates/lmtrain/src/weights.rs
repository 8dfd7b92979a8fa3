//! Where a training starts: a base model read from a GGUF file (dequantized to f32) or
//! from a Hugging Face folder (`config.json`, `model.safetensors`, `tokenizer.json`),
//! with its tokenizer; and the mapping between the two naming schemes.
//!
//! llama.cpp stores the Q and K rows of llama models interleaved for its RoPE on
//! adjacent pairs; Hugging Face's layout rotates halves. [`unpermute`] and [`permute`]
//! move between them.

use atelier_lm::GgufFile;
use atelier_tokens::TokenizerFile;
use candle_core::{DType, Device, Tensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::LmTrainError;
use crate::config::LlamaConfig;

/// A base model to fine-tune.
pub struct Base {
    /// Its shape.
    pub config: LlamaConfig,
    /// f32 weights under Hugging Face names, in the CPU's memory.
    pub weights: BTreeMap<String, Tensor>,
    /// Its tokenizer.
    pub tokenizer: TokenizerFile,
    /// The GGUF file it came from (its metadata is kept in GGUF exports).
    pub gguf: Option<GgufFile>,
    /// The file or folder.
    pub path: PathBuf,
    /// How the weights were stored (`Q4_1`, `F32`...): a quantized base has lost
    /// precision that fine-tuning starts from.
    pub stored_as: String,
}

impl Base {
    /// Loads a `.gguf` file or a Hugging Face folder.
    pub fn load(path: &Path) -> Result<Base, LmTrainError> {
        if path.is_dir() {
            Base::load_hf(path)
        } else {
            Base::load_gguf(path)
        }
    }

    fn load_gguf(path: &Path) -> Result<Base, LmTrainError> {
        let gguf = GgufFile::open(path)?;
        let config = LlamaConfig::from_gguf(&gguf)?;
        let tokenizer = TokenizerFile::load(path)?;
        let mut reader = gguf.reader()?;
        let mut weights = BTreeMap::new();
        for (hf, _) in crate::model::weight_shapes(&config) {
            let name = gguf_name(&hf);
            let q = reader.read(&name, None)?;
            let t = q
                .dequantize(&Device::Cpu)
                .and_then(|t| t.to_dtype(DType::F32))
                .map_err(|e| LmTrainError::BadModel {
                    path: path.to_path_buf(),
                    message: format!("tensor `{name}`: {e}"),
                })?;
            let t = match qk_heads(&hf, &config) {
                Some(heads) => unpermute(&t, heads)?,
                None => t,
            };
            weights.insert(hf, t);
        }
        Ok(Base {
            config,
            weights,
            tokenizer,
            stored_as: gguf.quantization(),
            gguf: Some(gguf),
            path: path.to_path_buf(),
        })
    }

    fn load_hf(dir: &Path) -> Result<Base, LmTrainError> {
        let config = LlamaConfig::from_hf(&dir.join("config.json"))?;
        let tokenizer = TokenizerFile::load(&dir.join("tokenizer.json"))?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| LmTrainError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(LmTrainError::BadModel {
                path: dir.to_path_buf(),
                message: "no .safetensors file".into(),
            });
        }
        let mut weights = BTreeMap::new();
        let mut stored_as = String::new();
        for file in &files {
            let tensors = candle_core::safetensors::load(file, &Device::Cpu).map_err(|e| {
                LmTrainError::BadModel {
                    path: file.clone(),
                    message: e.to_string(),
                }
            })?;
            for (name, t) in tensors {
                stored_as = format!("{:?}", t.dtype()).to_uppercase();
                // A tied head saved anyway is the embedding again.
                if name == "lm_head.weight" && config.tie_word_embeddings {
                    continue;
                }
                weights.insert(name, t.to_dtype(DType::F32)?);
            }
        }
        Ok(Base {
            config,
            weights,
            tokenizer,
            gguf: None,
            path: dir.to_path_buf(),
            stored_as,
        })
    }
}

/// The heads a Q or K weight is split into for (un)permuting; `None` for other weights.
pub fn qk_heads(hf: &str, c: &LlamaConfig) -> Option<usize> {
    if hf.ends_with("self_attn.q_proj.weight") {
        Some(c.num_attention_heads)
    } else if hf.ends_with("self_attn.k_proj.weight") {
        Some(c.num_key_value_heads)
    } else {
        None
    }
}

/// llama.cpp's name of a Hugging Face weight.
pub fn gguf_name(hf: &str) -> String {
    match hf {
        "model.embed_tokens.weight" => return "token_embd.weight".into(),
        "model.norm.weight" => return "output_norm.weight".into(),
        "lm_head.weight" => return "output.weight".into(),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.").unwrap_or(hf);
    let (layer, part) = rest.split_once('.').unwrap_or(("", rest));
    let part = match part {
        "input_layernorm.weight" => "attn_norm.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        other => other,
    };
    format!("blk.{layer}.{part}")
}

/// GGUF's interleaved rows back to Hugging Face's halves: `[heads, hd/2, 2, in]` ->
/// `[heads, 2, hd/2, in]`.
pub fn unpermute(w: &Tensor, heads: usize) -> Result<Tensor, LmTrainError> {
    let (out, inp) = w.dims2()?;
    Ok(w.reshape((heads, out / heads / 2, 2, inp))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, inp))?)
}

/// Hugging Face's halves to GGUF's interleaved rows (what llama.cpp's converter does).
pub fn permute(w: &Tensor, heads: usize) -> Result<Tensor, LmTrainError> {
    let (out, inp) = w.dims2()?;
    Ok(w.reshape((heads, 2, out / heads / 2, inp))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, inp))?)
}
