//! LoRA: low-rank adapters `B A` beside frozen projections, `y = x Wᵀ + s (x Aᵀ) Bᵀ` with
//! `s = alpha / rank`, merged into the weights (`W + s B A`) on export.

use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::LmTrainError;
use crate::config::LlamaConfig;
use crate::model::{PROJECTIONS, weight_shapes};
use crate::rng::SplitMix;

/// LoRA settings (`[lm.lora]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoraSettings {
    /// Rank of the adapters.
    pub rank: usize,
    /// Scale numerator: updates are scaled by `alpha / rank`.
    pub alpha: f64,
    /// Dropout on the adapters' input.
    pub dropout: f64,
    /// Projections that get an adapter: `q_proj`, `k_proj`, `v_proj`, `o_proj`,
    /// `gate_proj`, `up_proj`, `down_proj`.
    pub targets: Vec<String>,
}

impl Default for LoraSettings {
    fn default() -> Self {
        LoraSettings {
            rank: 16,
            alpha: 32.0,
            dropout: 0.0,
            targets: PROJECTIONS
                .iter()
                .map(|p| p.rsplit('.').next().unwrap_or(p).to_owned())
                .collect(),
        }
    }
}

impl LoraSettings {
    /// Checks the settings.
    pub fn check(&self) -> Result<(), String> {
        if self.rank == 0 {
            return Err("LoRA rank 0 adapts nothing; give a rank of 1 or more".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("LoRA dropout {} is not in [0, 1)", self.dropout));
        }
        if self.targets.is_empty() {
            return Err("LoRA targets no projection".into());
        }
        for t in &self.targets {
            if !PROJECTIONS.iter().any(|p| p.ends_with(&format!(".{t}"))) {
                return Err(format!(
                    "LoRA target `{t}` is not a projection; choose among q_proj, k_proj, \
                     v_proj, o_proj, gate_proj, up_proj, down_proj"
                ));
            }
        }
        Ok(())
    }
}

/// The adapters of a model.
pub struct Lora {
    scale: f64,
    dropout: f64,
    /// Weight name -> (A `[rank, in]`, B `[out, rank]`).
    adapters: BTreeMap<String, (Var, Var)>,
}

impl Lora {
    /// Fresh adapters: A uniform in ±1/√in (as PEFT's Kaiming init), B zero, so the
    /// model starts as the base.
    pub fn new(
        settings: &LoraSettings,
        config: &LlamaConfig,
        seed: u64,
        device: &Device,
    ) -> Result<Lora, LmTrainError> {
        settings.check().map_err(LmTrainError::Settings)?;
        let mut rng = SplitMix::new(seed ^ 0x4C6F_5241);
        let mut adapters = BTreeMap::new();
        for (name, shape) in weight_shapes(config) {
            let targeted = settings
                .targets
                .iter()
                .any(|t| name.ends_with(&format!(".{t}.weight")));
            if !targeted {
                continue;
            }
            let (out, inp) = (shape[0], shape[1]);
            let bound = 1.0 / (inp as f32).sqrt();
            let a: Vec<f32> = (0..settings.rank * inp)
                .map(|_| (rng.uniform() * 2.0 - 1.0) * bound)
                .collect();
            let a = Var::from_tensor(&Tensor::from_vec(a, (settings.rank, inp), device)?)?;
            let b = Var::zeros((out, settings.rank), DType::F32, device)?;
            adapters.insert(name, (a, b));
        }
        Ok(Lora {
            scale: settings.alpha / settings.rank as f64,
            dropout: settings.dropout,
            adapters,
        })
    }

    /// The adapters' variables, named `<projection>.lora_A.weight` and `.lora_B.weight`
    /// (PEFT's names).
    pub fn vars(&self) -> Vec<(String, Var)> {
        let mut out = Vec::with_capacity(self.adapters.len() * 2);
        for (name, (a, b)) in &self.adapters {
            let stem = name.trim_end_matches(".weight");
            out.push((format!("{stem}.lora_A.weight"), a.clone()));
            out.push((format!("{stem}.lora_B.weight"), b.clone()));
        }
        out
    }

    /// `y` plus the adapter of `name` applied to `x`, if it has one.
    pub fn forward(
        &self,
        name: &str,
        x: &Tensor,
        y: Tensor,
        compute: DType,
        dropout: &mut Option<SplitMix>,
    ) -> Result<Tensor, LmTrainError> {
        let Some((a, b)) = self.adapters.get(name) else {
            return Ok(y);
        };
        let x = match dropout {
            Some(rng) if self.dropout > 0.0 => {
                let keep = 1.0 - self.dropout;
                let mask: Vec<f32> = (0..x.elem_count())
                    .map(|_| {
                        if f64::from(rng.uniform()) < keep {
                            (1.0 / keep) as f32
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let mask = Tensor::from_vec(mask, x.dims(), x.device())?.to_dtype(x.dtype())?;
                (x * mask)?
            }
            _ => x.clone(),
        };
        let low = x.matmul(&a.as_tensor().to_dtype(compute)?.t()?)?;
        let up = low.matmul(&b.as_tensor().to_dtype(compute)?.t()?)?;
        Ok((y + (up * self.scale)?)?)
    }

    /// `s B A` for the weight `name`, if it has an adapter.
    pub fn delta(&self, name: &str) -> Result<Option<Tensor>, LmTrainError> {
        let Some((a, b)) = self.adapters.get(name) else {
            return Ok(None);
        };
        Ok(Some((b.as_tensor().matmul(a.as_tensor())? * self.scale)?))
    }
}
