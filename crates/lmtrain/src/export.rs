//! Exports of a trained model that other tools load: a Hugging Face folder for
//! `transformers` (f32 safetensors, `config.json`, `tokenizer.json`) and GGUF (F16 or
//! Q8_0) for llama.cpp and Ollama, keeping the base model's GGUF metadata (tokenizer,
//! chat template).

use atelier_lm::GgufFile;
use candle_core::Tensor;
use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::LmTrainError;
use crate::config::LlamaConfig;
use crate::weights::{gguf_name, permute, qk_heads};

/// The types of a GGUF export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GgufType {
    /// Half precision.
    F16,
    /// 8-bit blocks (llama.cpp's Q8_0).
    Q8_0,
}

impl GgufType {
    /// The file-name suffix and llama.cpp's `general.file_type`.
    pub fn name(self) -> &'static str {
        match self {
            GgufType::F16 => "f16",
            GgufType::Q8_0 => "q8_0",
        }
    }

    fn file_type(self) -> u32 {
        match self {
            GgufType::F16 => 1,
            GgufType::Q8_0 => 7,
        }
    }
}

/// Writes a Hugging Face folder: `model.safetensors` (f32), `config.json`,
/// `tokenizer.json` and `generation_config.json`.
pub fn write_hf(
    dir: &Path,
    config: &LlamaConfig,
    weights: &BTreeMap<String, Tensor>,
    tokenizer_json: &str,
    (bos, eos): (Option<u32>, Option<u32>),
) -> Result<(), LmTrainError> {
    std::fs::create_dir_all(dir).map_err(|e| LmTrainError::io(dir, e))?;
    let map: HashMap<String, Tensor> = weights
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let model = dir.join("model.safetensors");
    candle_core::safetensors::save(&map, &model).map_err(|e| LmTrainError::Write {
        path: model.clone(),
        message: e.to_string(),
    })?;
    let json = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let files = [
        ("config.json", json(&config.to_hf(bos, eos))),
        ("tokenizer.json", tokenizer_json.to_owned()),
        (
            "generation_config.json",
            json(&serde_json::json!({"bos_token_id": bos, "eos_token_id": eos})),
        ),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| LmTrainError::io(&path, e))?;
    }
    Ok(())
}

/// Writes a GGUF model with the metadata of `base` (its tokenizer and template) and
/// the given weights in `ty` (norms stay f32; rows that do not fit Q8_0's blocks of 32
/// are written f16).
pub fn write_gguf(
    path: &Path,
    config: &LlamaConfig,
    weights: &BTreeMap<String, Tensor>,
    base: &GgufFile,
    ty: GgufType,
) -> Result<(), LmTrainError> {
    let mut tensors = Vec::with_capacity(weights.len());
    for (hf, _) in crate::model::weight_shapes(config) {
        let t = weights
            .get(&hf)
            .ok_or_else(|| LmTrainError::Weights(format!("weight `{hf}` is missing")))?;
        let t = match qk_heads(&hf, config) {
            Some(heads) => permute(t, heads)?,
            None => t.clone(),
        };
        let dtype = match (t.rank(), ty) {
            (1, _) => GgmlDType::F32,
            (_, GgufType::Q8_0) if t.dim(1)? % 32 == 0 => GgmlDType::Q8_0,
            _ => GgmlDType::F16,
        };
        tensors.push((gguf_name(&hf), QTensor::quantize(&t, dtype)?));
    }
    let extra = [("general.file_type", Value::U32(ty.file_type()))];
    atelier_lm::gguf::write(path, base, &extra, &tensors)?;
    Ok(())
}
