//! Tiny llama-family GGUF files with random weights: what the tests of this crate and
//! of the crates built on it (serving, training) load instead of a real model, which no
//! test may download. Small enough to write in milliseconds and run in microseconds.

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use std::path::Path;

/// What to write.
#[derive(Debug, Clone)]
pub struct Spec {
    /// `general.architecture`.
    pub architecture: &'static str,
    /// The type of the weight matrices.
    pub dtype: GgmlDType,
    /// Width of the residual stream.
    pub width: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Feed-forward width.
    pub ffn: usize,
    /// Context length.
    pub context: usize,
    /// Write the tokenizer metadata.
    pub tokenizer: bool,
    /// The chat template, if any.
    pub template: Option<&'static str>,
    /// The control tokens (after the 256 bytes and the merges).
    pub controls: [&'static str; 3],
    /// Name the last control token as EOS; without it (and with controls that are not
    /// llama.cpp's end-of-generation names) generation ends only at a limit.
    pub eos: bool,
    /// Seed of the weights.
    pub seed: u64,
}

/// A ChatML-like template on the controls of [`Spec::endless`].
pub const ENDLESS_TEMPLATE: &str = "{% for m in messages %}<|start|>{{ m['role'] }}\n{{ m['content'] }}<|stop|>\n{% endfor %}{% if add_generation_prompt %}<|start|>assistant\n{% endif %}";

impl Spec {
    /// A model that never ends its answers by itself.
    pub fn endless() -> Spec {
        Spec {
            controls: ["<|pad|>", "<|start|>", "<|stop|>"],
            template: Some(ENDLESS_TEMPLATE),
            eos: false,
            ..Spec::default()
        }
    }
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            architecture: "llama",
            dtype: GgmlDType::F32,
            width: 64,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            ffn: 128,
            context: 64,
            tokenizer: true,
            template: Some(crate::template::CHATML),
            controls: CONTROLS,
            eos: true,
            seed: 1,
        }
    }
}

/// The default control tokens, after the 256 bytes and the merges.
pub const CONTROLS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
/// Merges of the tiny vocabulary.
pub const MERGES: [(&str, &str); 4] = [("h", "e"), ("l", "l"), ("he", "ll"), ("Ġ", "w")];

/// GPT-2's printable character for each byte.
pub fn byte_char(b: u8) -> char {
    let printable = |b: u32| {
        (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
    };
    if printable(u32::from(b)) {
        return char::from(b);
    }
    let n = (0..u32::from(b)).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + n).unwrap()
}

/// The tiny vocabulary and token types: bytes, merged tokens, control tokens.
pub fn vocabulary(controls: &[&str]) -> (Vec<String>, Vec<i32>) {
    let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
    let mut types = vec![1; 256];
    for (a, b) in MERGES {
        tokens.push(format!("{a}{b}"));
        types.push(1);
    }
    for c in controls {
        tokens.push((*c).to_owned());
        types.push(3);
    }
    (tokens, types)
}

/// Deterministic values in [-scale, scale).
fn random(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Writes a tiny model; returns its vocabulary size. Panics on failure (it is for
/// tests).
pub fn write(path: &Path, spec: &Spec) -> usize {
    let (tokens, types) = vocabulary(&spec.controls);
    let vocab = tokens.len();
    let a = spec.architecture;
    let head_dim = spec.width / spec.heads;
    let kv = spec.kv_heads * head_dim;
    let mut meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(a.into())),
        ("general.name".into(), Value::String("tiny".into())),
        (
            format!("{a}.context_length"),
            Value::U32(spec.context as u32),
        ),
        (
            format!("{a}.embedding_length"),
            Value::U32(spec.width as u32),
        ),
        (format!("{a}.block_count"), Value::U32(spec.layers as u32)),
        (
            format!("{a}.feed_forward_length"),
            Value::U32(spec.ffn as u32),
        ),
        (
            format!("{a}.attention.head_count"),
            Value::U32(spec.heads as u32),
        ),
        (
            format!("{a}.attention.head_count_kv"),
            Value::U32(spec.kv_heads as u32),
        ),
        (
            format!("{a}.attention.layer_norm_rms_epsilon"),
            Value::F32(1e-5),
        ),
        (format!("{a}.rope.freq_base"), Value::F32(10_000.0)),
    ];
    if spec.tokenizer {
        meta.extend([
            ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
            ("tokenizer.ggml.pre".into(), Value::String("smollm".into())),
            (
                "tokenizer.ggml.tokens".into(),
                Value::Array(tokens.iter().map(|t| Value::String(t.clone())).collect()),
            ),
            (
                "tokenizer.ggml.token_type".into(),
                Value::Array(types.iter().map(|&t| Value::I32(t)).collect()),
            ),
            (
                "tokenizer.ggml.merges".into(),
                Value::Array(
                    MERGES
                        .iter()
                        .map(|(a, b)| Value::String(format!("{a} {b}")))
                        .collect(),
                ),
            ),
            (
                "tokenizer.ggml.bos_token_id".into(),
                Value::U32(vocab as u32 - 2),
            ),
            ("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)),
        ]);
        if spec.eos {
            meta.push((
                "tokenizer.ggml.eos_token_id".into(),
                Value::U32(vocab as u32 - 1),
            ));
        }
    }
    if let Some(t) = spec.template {
        meta.push(("tokenizer.chat_template".into(), Value::String(t.into())));
    }
    let mut seed = spec.seed;
    let mut tensor = |rows: usize, cols: usize, scale: f32, dtype: GgmlDType| {
        seed += 1;
        let t =
            Tensor::from_vec(random(rows * cols, seed, scale), (rows, cols), &Device::Cpu).unwrap();
        QTensor::quantize(&t, dtype).unwrap()
    };
    let ones = |n: usize| {
        QTensor::quantize(
            &Tensor::ones(n, candle_core::DType::F32, &Device::Cpu).unwrap(),
            GgmlDType::F32,
        )
        .unwrap()
    };
    let d = spec.dtype;
    let mut tensors: Vec<(String, QTensor)> = vec![
        (
            "token_embd.weight".into(),
            tensor(vocab, spec.width, 1.0, d),
        ),
        ("output_norm.weight".into(), ones(spec.width)),
    ];
    for i in 0..spec.layers {
        let p = format!("blk.{i}");
        tensors.extend([
            (format!("{p}.attn_norm.weight"), ones(spec.width)),
            (
                format!("{p}.attn_q.weight"),
                tensor(spec.width, spec.width, 0.3, d),
            ),
            (format!("{p}.attn_k.weight"), tensor(kv, spec.width, 0.3, d)),
            (format!("{p}.attn_v.weight"), tensor(kv, spec.width, 0.3, d)),
            (
                format!("{p}.attn_output.weight"),
                tensor(spec.width, spec.width, 0.3, d),
            ),
            (format!("{p}.ffn_norm.weight"), ones(spec.width)),
            (
                format!("{p}.ffn_gate.weight"),
                tensor(spec.ffn, spec.width, 0.3, d),
            ),
            (
                format!("{p}.ffn_up.weight"),
                tensor(spec.ffn, spec.width, 0.3, d),
            ),
            (
                format!("{p}.ffn_down.weight"),
                tensor(spec.width, spec.ffn, 0.3, d),
            ),
        ]);
        if a == "qwen2" {
            for (j, (name, n)) in [("attn_q", spec.width), ("attn_k", kv), ("attn_v", kv)]
                .into_iter()
                .enumerate()
            {
                let bias_seed = spec.seed * 1000 + (i * 3 + j) as u64;
                let b = Tensor::from_vec(random(n, bias_seed, 0.5), n, &Device::Cpu).unwrap();
                tensors.push((
                    format!("{p}.{name}.bias"),
                    QTensor::quantize(&b, GgmlDType::F32).unwrap(),
                ));
            }
        }
    }
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    candle_core::quantized::gguf_file::write(&mut file, &meta_refs, &tensor_refs).unwrap();
    vocab
}
