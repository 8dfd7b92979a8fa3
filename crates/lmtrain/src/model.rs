//! The trainable llama: Hugging Face's `LlamaForCausalLM` written on candle's tensors
//! and automatic differentiation, with optional LoRA adapters.
//!
//! The engine of `atelier-lm` runs quantized GGUF weights without gradients; training
//! needs f32 master weights as candle `Var`s and only operations whose backward candle
//! knows. So softmax, RMS norm and RoPE are written from elementary operations here
//! (candle-nn's fused kernels for them have no backward pass). Weights are kept under
//! their Hugging Face names and in Hugging Face's layout (RoPE on halves), the layout
//! the safetensors export and the PyTorch check use; GGUF's interleaved Q and K rows
//! are permuted at load and export ([`crate::weights`]).
//!
//! Grouped-query attention needs no copy of the keys and values: the query heads that
//! share a key/value head are stacked along the sequence axis (in `Llama::attention`).

use candle_core::{D, DType, Device, Tensor, Var};
use std::collections::BTreeMap;

use crate::LmTrainError;
use crate::config::LlamaConfig;
use crate::lora::{Lora, LoraSettings};
use crate::rng::SplitMix;

/// One batch of training windows.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Token ids, `[batch, length]`, u32.
    pub inputs: Tensor,
    /// The next token of each position, `[batch, length]`, u32.
    pub targets: Tensor,
    /// 1 where the position counts in the loss, 0 elsewhere, `[batch, length]`, f32.
    pub mask: Tensor,
    /// Positions that count (the sum of `mask`).
    pub counted: usize,
}

impl Batch {
    /// A batch from rows of equal length; `mask` rows of 0/1 (all 1 when `None`).
    pub fn new(
        inputs: &[Vec<u32>],
        targets: &[Vec<u32>],
        mask: Option<&[Vec<u8>]>,
        device: &Device,
    ) -> Result<Batch, LmTrainError> {
        let rows = inputs.len();
        let len = inputs.first().map_or(0, Vec::len);
        let flat = |v: &[Vec<u32>]| v.iter().flatten().copied().collect::<Vec<u32>>();
        let mask: Vec<f32> = match mask {
            Some(m) => m.iter().flatten().map(|&b| f32::from(b)).collect(),
            None => vec![1.0; rows * len],
        };
        let counted = mask.iter().filter(|&&m| m > 0.0).count();
        Ok(Batch {
            inputs: Tensor::from_vec(flat(inputs), (rows, len), device)?,
            targets: Tensor::from_vec(flat(targets), (rows, len), device)?,
            mask: Tensor::from_vec(mask, (rows, len), device)?,
            counted,
        })
    }
}

/// The projections of a block, by their Hugging Face names.
pub const PROJECTIONS: [&str; 7] = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
];

/// Every weight of a model: Hugging Face name and shape, in a fixed order.
pub fn weight_shapes(c: &LlamaConfig) -> Vec<(String, Vec<usize>)> {
    let d = c.hidden_size;
    let kv = c.num_key_value_heads * c.head_dim();
    let f = c.intermediate_size;
    let mut out = vec![(
        "model.embed_tokens.weight".to_owned(),
        vec![c.vocab_size, d],
    )];
    for i in 0..c.num_hidden_layers {
        let p = format!("model.layers.{i}");
        out.extend([
            (format!("{p}.input_layernorm.weight"), vec![d]),
            (format!("{p}.self_attn.q_proj.weight"), vec![d, d]),
            (format!("{p}.self_attn.k_proj.weight"), vec![kv, d]),
            (format!("{p}.self_attn.v_proj.weight"), vec![kv, d]),
            (format!("{p}.self_attn.o_proj.weight"), vec![d, d]),
            (format!("{p}.post_attention_layernorm.weight"), vec![d]),
            (format!("{p}.mlp.gate_proj.weight"), vec![f, d]),
            (format!("{p}.mlp.up_proj.weight"), vec![f, d]),
            (format!("{p}.mlp.down_proj.weight"), vec![d, f]),
        ]);
    }
    out.push(("model.norm.weight".to_owned(), vec![d]));
    if !c.tie_word_embeddings {
        out.push(("lm_head.weight".to_owned(), vec![c.vocab_size, d]));
    }
    out
}

/// A llama model being trained.
pub struct Llama {
    /// Its shape.
    pub config: LlamaConfig,
    weights: BTreeMap<String, Var>,
    lora: Option<Lora>,
    cos: Tensor,
    sin: Tensor,
    device: Device,
    compute: DType,
}

impl Llama {
    /// A model from f32 weights under their Hugging Face names, checked against the
    /// config; matrix products run in `compute` (f32, or bf16 on a GPU).
    pub fn new(
        config: LlamaConfig,
        mut weights: BTreeMap<String, Tensor>,
        device: &Device,
        compute: DType,
    ) -> Result<Llama, LmTrainError> {
        let mut vars = BTreeMap::new();
        for (name, shape) in weight_shapes(&config) {
            let t = weights
                .remove(&name)
                .ok_or_else(|| LmTrainError::Weights(format!("weight `{name}` is missing")))?;
            if t.dims() != shape.as_slice() {
                return Err(LmTrainError::Weights(format!(
                    "weight `{name}` has shape {:?}, the config says {shape:?}",
                    t.dims()
                )));
            }
            let t = t.to_dtype(DType::F32)?.to_device(device)?;
            vars.insert(name, Var::from_tensor(&t)?);
        }
        if let Some(extra) = weights.keys().next() {
            return Err(LmTrainError::Weights(format!(
                "weight `{extra}` is not part of a llama model of this config"
            )));
        }
        let (cos, sin) = rope_tables(&config, device)?;
        Ok(Llama {
            config,
            weights: vars,
            lora: None,
            cos,
            sin,
            device: device.clone(),
            compute,
        })
    }

    /// A model with fresh weights: normal with deviation 0.02 (as `transformers`
    /// initializes llama), norms at 1; the same seed gives the same weights.
    pub fn init(
        config: LlamaConfig,
        seed: u64,
        device: &Device,
        compute: DType,
    ) -> Result<Llama, LmTrainError> {
        let mut rng = SplitMix::new(seed);
        let mut weights = BTreeMap::new();
        for (name, shape) in weight_shapes(&config) {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = if shape.len() == 1 {
                vec![1.0; n]
            } else {
                (0..n).map(|_| rng.normal() * 0.02).collect()
            };
            weights.insert(name, Tensor::from_vec(values, shape, &Device::Cpu)?);
        }
        Llama::new(config, weights, device, compute)
    }

    /// Adds LoRA adapters (the base weights are then frozen).
    pub fn add_lora(&mut self, settings: &LoraSettings, seed: u64) -> Result<(), LmTrainError> {
        self.lora = Some(Lora::new(settings, &self.config, seed, &self.device)?);
        Ok(())
    }

    /// The LoRA adapters, if any.
    pub fn lora(&self) -> Option<&Lora> {
        self.lora.as_ref()
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The variables the optimizer updates, by name: the adapters with LoRA, else every
    /// weight.
    pub fn trainable(&self) -> Vec<(String, Var)> {
        match &self.lora {
            Some(lora) => lora.vars(),
            None => self
                .weights
                .iter()
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect(),
        }
    }

    /// Parameters the optimizer updates.
    pub fn trainable_parameters(&self) -> usize {
        self.trainable().iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// The weights as they are now, with LoRA merged in, f32 on the CPU.
    pub fn merged(&self) -> Result<BTreeMap<String, Tensor>, LmTrainError> {
        let mut out = BTreeMap::new();
        for (name, var) in &self.weights {
            let mut t = var.as_tensor().clone();
            if let Some(lora) = &self.lora
                && let Some(delta) = lora.delta(name)?
            {
                t = (t + delta)?;
            }
            out.insert(name.clone(), t.to_device(&Device::Cpu)?);
        }
        Ok(out)
    }

    /// Replaces the base weights' values (a checkpoint of a full fine-tune).
    pub fn set_weights(&self, values: &BTreeMap<String, Tensor>) -> Result<(), LmTrainError> {
        for (name, var) in &self.weights {
            let t = values
                .get(name)
                .ok_or_else(|| LmTrainError::Weights(format!("weight `{name}` is missing")))?;
            var.set(&t.to_device(&self.device)?)?;
        }
        Ok(())
    }

    fn weight(&self, name: &str) -> Result<Tensor, LmTrainError> {
        let var = self
            .weights
            .get(name)
            .ok_or_else(|| LmTrainError::Weights(format!("weight `{name}` is missing")))?;
        Ok(var.as_tensor().to_dtype(self.compute)?)
    }

    /// `x [n, in]` through the projection `name` (`[out, in]`), with its adapter.
    fn linear(
        &self,
        x: &Tensor,
        name: &str,
        dropout: &mut Option<SplitMix>,
    ) -> Result<Tensor, LmTrainError> {
        let y = x.matmul(&self.weight(name)?.t()?)?;
        match &self.lora {
            Some(lora) => lora.forward(name, x, y, self.compute, dropout),
            None => Ok(y),
        }
    }

    /// The summed loss of `batch`: cross entropy of each counted position's next token.
    /// Divide by the counted positions of the whole step for the mean. `dropout_seed`
    /// seeds LoRA's dropout (none without it).
    pub fn loss(&self, batch: &Batch, dropout_seed: Option<u64>) -> Result<Tensor, LmTrainError> {
        let (b, t) = batch.inputs.dims2()?;
        if t > self.config.max_position_embeddings {
            return Err(LmTrainError::Settings(format!(
                "windows of {t} tokens are longer than the model's context of {}",
                self.config.max_position_embeddings
            )));
        }
        let logits = self.logits(&batch.inputs, dropout_seed)?;
        let logits = logits.to_dtype(DType::F32)?.reshape((b * t, ()))?;
        let nll = if self.device.is_cpu() {
            crate::fused::cross_entropy(&logits, &batch.targets.flatten_all()?)?
        } else {
            let logp = log_softmax(&logits)?;
            logp.gather(&batch.targets.reshape((b * t, 1))?, 1)?.neg()?
        };
        Ok((nll.reshape((b, t))? * &batch.mask)?.sum_all()?)
    }

    /// Logits `[batch, length, vocab]` of `ids [batch, length]`.
    pub fn logits(&self, ids: &Tensor, dropout_seed: Option<u64>) -> Result<Tensor, LmTrainError> {
        let c = &self.config;
        let (b, t) = ids.dims2()?;
        let mut dropout = dropout_seed.map(SplitMix::new);
        // The CPU's fused softmax masks by itself.
        let rep = c.num_attention_heads / c.num_key_value_heads;
        let mask = match self.device.is_cpu() {
            true => None,
            false => Some(causal_mask(t, rep, &self.device)?),
        };
        let cos = self.cos.narrow(0, 0, t)?.to_dtype(self.compute)?;
        let sin = self.sin.narrow(0, 0, t)?.to_dtype(self.compute)?;
        let embed = self.weight("model.embed_tokens.weight")?;
        let mut x = embed.index_select(&ids.flatten_all()?, 0)?;
        for i in 0..c.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let h = self.rms_norm(&x, &format!("{p}.input_layernorm.weight"))?;
            let a = self.attention(&h, &p, (b, t), (&cos, &sin, mask.as_ref()), &mut dropout)?;
            x = (x + a)?;
            let h = self.rms_norm(&x, &format!("{p}.post_attention_layernorm.weight"))?;
            let gate = self.linear(&h, &format!("{p}.mlp.gate_proj.weight"), &mut dropout)?;
            let up = self.linear(&h, &format!("{p}.mlp.up_proj.weight"), &mut dropout)?;
            let m = (gate.silu()? * up)?;
            x = (x + self.linear(&m, &format!("{p}.mlp.down_proj.weight"), &mut dropout)?)?;
        }
        let x = self.rms_norm(&x, "model.norm.weight")?;
        let head = if c.tie_word_embeddings {
            embed
        } else {
            self.weight("lm_head.weight")?
        };
        Ok(x.matmul(&head.t()?)?.reshape((b, t, c.vocab_size))?)
    }

    /// Self-attention of `h [b*t, width]`. The `rep` query heads sharing a key/value head
    /// are laid along the sequence axis, `[b, kv, rep*t, hd]`, so that one batched
    /// product serves them all; the causal mask is tiled `rep` times to match (on the
    /// CPU, `mask` is `None`: the fused softmax applies it).
    fn attention(
        &self,
        h: &Tensor,
        p: &str,
        (b, t): (usize, usize),
        (cos, sin, mask): (&Tensor, &Tensor, Option<&Tensor>),
        dropout: &mut Option<SplitMix>,
    ) -> Result<Tensor, LmTrainError> {
        let c = &self.config;
        let (nh, nkv, hd) = (c.num_attention_heads, c.num_key_value_heads, c.head_dim());
        let rep = nh / nkv;
        let heads = |x: Tensor, n: usize| -> Result<Tensor, LmTrainError> {
            Ok(x.reshape((b, t, n, hd))?.transpose(1, 2)?.contiguous()?)
        };
        let q = heads(
            self.linear(h, &format!("{p}.self_attn.q_proj.weight"), dropout)?,
            nh,
        )?;
        let k = heads(
            self.linear(h, &format!("{p}.self_attn.k_proj.weight"), dropout)?,
            nkv,
        )?;
        let v = heads(
            self.linear(h, &format!("{p}.self_attn.v_proj.weight"), dropout)?,
            nkv,
        )?;
        let q = rope(&q, cos, sin)?.reshape((b, nkv, rep * t, hd))?;
        let k = rope(&k, cos, sin)?;
        let scores = q.matmul(&k.t()?)?.to_dtype(DType::F32)?;
        let scale = 1.0 / (hd as f64).sqrt();
        let probs = match mask {
            Some(mask) => softmax(&(scores * scale)?.broadcast_add(mask)?)?,
            None => crate::fused::causal_softmax(&scores, scale)?,
        };
        let probs = probs.to_dtype(self.compute)?;
        let out = probs
            .matmul(&v)?
            .reshape((b, nh, t, hd))?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b * t, nh * hd))?;
        self.linear(&out, &format!("{p}.self_attn.o_proj.weight"), dropout)
    }

    /// RMS norm in f32, as `transformers` computes it, scaled by the weight `name`.
    fn rms_norm(&self, x: &Tensor, name: &str) -> Result<Tensor, LmTrainError> {
        let w = self.weights[name].as_tensor();
        if self.device.is_cpu() && self.compute == DType::F32 {
            return Ok(crate::fused::rms_norm(x, w, self.config.rms_norm_eps)?);
        }
        let x32 = x.to_dtype(DType::F32)?;
        let ms = x32.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = x32.broadcast_div(&(ms + self.config.rms_norm_eps)?.sqrt()?)?;
        Ok(normed
            .to_dtype(self.compute)?
            .broadcast_mul(&w.to_dtype(self.compute)?)?)
    }
}

/// RoPE tables `[context, head_dim]`: each frequency twice (Hugging Face's halves).
fn rope_tables(c: &LlamaConfig, device: &Device) -> Result<(Tensor, Tensor), LmTrainError> {
    let hd = c.head_dim();
    let inv: Vec<f32> = (0..hd / 2)
        .map(|i| (1.0 / c.rope_theta.powf(2.0 * i as f64 / hd as f64)) as f32)
        .collect();
    let mut angles = Vec::with_capacity(c.max_position_embeddings * hd);
    for pos in 0..c.max_position_embeddings {
        for _ in 0..2 {
            angles.extend(inv.iter().map(|f| pos as f32 * f));
        }
    }
    let angles = Tensor::from_vec(angles, (c.max_position_embeddings, hd), device)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// `x [b, h, t, hd]` rotated: `x cos + rotate_half(x) sin`.
fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor, LmTrainError> {
    let hd = x.dim(D::Minus1)?;
    let first = x.narrow(D::Minus1, 0, hd / 2)?;
    let second = x.narrow(D::Minus1, hd / 2, hd / 2)?;
    let rotated = Tensor::cat(&[&second.neg()?, &first], D::Minus1)?;
    Ok((x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?)?)
}

/// The causal mask `[rep*t, t]` (0 where a position may look, -inf after it), tiled
/// for the `rep` query heads stacked on one key/value head.
fn causal_mask(t: usize, rep: usize, device: &Device) -> Result<Tensor, LmTrainError> {
    let mut m = Vec::with_capacity(rep * t * t);
    for _ in 0..rep {
        for i in 0..t {
            m.extend((0..t).map(|j| if j <= i { 0.0 } else { f32::NEG_INFINITY }));
        }
    }
    Ok(Tensor::from_vec(m, (rep * t, t), device)?)
}

/// Softmax over the last axis; the maximum taken out for stability carries no gradient
/// (the result does not depend on it).
pub fn softmax(x: &Tensor) -> Result<Tensor, LmTrainError> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?)
}

/// Log-softmax over the last axis, with the same detached maximum.
pub fn log_softmax(x: &Tensor) -> Result<Tensor, LmTrainError> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(shifted.broadcast_sub(&lse)?)
}
