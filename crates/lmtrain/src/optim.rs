//! AdamW as PyTorch computes it (decoupled weight decay on matrices only, bias-corrected
//! moments), a linear warm-up then cosine learning rate, and clipping by the global
//! gradient norm.
//!
//! Written here rather than taken from candle-nn, whose `AdamW` keeps its moments
//! private: a checkpoint must hold them for a resumed run to continue the same run.

use candle_core::{Tensor, Var};
use std::collections::BTreeMap;

use crate::LmTrainError;

/// The optimizer's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimSettings {
    /// Peak learning rate.
    pub lr: f64,
    /// The learning rate at the end of the cosine, as a share of the peak.
    pub min_lr_ratio: f64,
    /// Steps of linear warm-up.
    pub warmup_steps: usize,
    /// Decoupled weight decay (matrices only; norms are not decayed).
    pub weight_decay: f64,
    /// First moment decay.
    pub beta1: f64,
    /// Second moment decay.
    pub beta2: f64,
    /// Denominator epsilon.
    pub eps: f64,
    /// Largest global gradient norm; 0 turns clipping off.
    pub clip: f64,
}

impl Default for OptimSettings {
    fn default() -> Self {
        OptimSettings {
            lr: 3e-4,
            min_lr_ratio: 0.1,
            warmup_steps: 20,
            weight_decay: 0.1,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            clip: 1.0,
        }
    }
}

impl OptimSettings {
    /// The learning rate of step `step` (0-based) of `total`.
    pub fn lr_at(&self, step: usize, total: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = total.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        let min = self.lr * self.min_lr_ratio;
        min + 0.5 * (self.lr - min) * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

/// Gradients by variable name, summed over the micro-batches of a step.
pub type Grads = BTreeMap<String, Tensor>;

/// Adds the gradients of one backward pass into `sum`.
pub fn accumulate(
    sum: &mut Grads,
    store: &candle_core::backprop::GradStore,
    vars: &[(String, Var)],
) -> Result<(), LmTrainError> {
    for (name, var) in vars {
        let Some(g) = store.get(var.as_tensor()) else {
            continue;
        };
        let g = match sum.remove(name) {
            Some(prev) => (prev + g)?,
            None => g.clone(),
        };
        sum.insert(name.clone(), g);
    }
    Ok(())
}

/// AdamW over named variables.
pub struct AdamW {
    settings: OptimSettings,
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates applied so far.
    pub steps: usize,
}

impl AdamW {
    /// An optimizer with zero moments.
    pub fn new(vars: Vec<(String, Var)>, settings: OptimSettings) -> Result<AdamW, LmTrainError> {
        let m = vars
            .iter()
            .map(|(_, v)| v.as_tensor().zeros_like())
            .collect::<Result<Vec<_>, _>>()?;
        let v = m.clone();
        Ok(AdamW {
            settings,
            vars,
            m,
            v,
            steps: 0,
        })
    }

    /// The global L2 norm of `grads`.
    pub fn norm(grads: &Grads) -> Result<f64, LmTrainError> {
        let mut sum = 0.0f64;
        for g in grads.values() {
            sum += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
        }
        Ok(sum.sqrt())
    }

    /// One update at learning rate `lr`, given the gradients' global `norm`
    /// ([`AdamW::norm`]).
    pub fn step(&mut self, grads: &Grads, lr: f64, norm: f64) -> Result<(), LmTrainError> {
        let s = &self.settings;
        // PyTorch's clip_grad_norm_: scale by clip / (norm + 1e-6) when that is below 1.
        let coef = if s.clip > 0.0 {
            (s.clip / (norm + 1e-6)).min(1.0)
        } else {
            1.0
        };
        self.steps += 1;
        let t = self.steps as i32;
        let bc1 = 1.0 - s.beta1.powi(t);
        let bc2 = 1.0 - s.beta2.powi(t);
        for (i, (name, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(name) else { continue };
            let g = if coef < 1.0 { (g * coef)? } else { g.clone() };
            let m = ((&self.m[i] * s.beta1)? + (&g * (1.0 - s.beta1))?)?;
            let v = ((&self.v[i] * s.beta2)? + (g.sqr()? * (1.0 - s.beta2))?)?;
            let mut p = var.as_tensor().clone();
            if var.rank() >= 2 && s.weight_decay > 0.0 {
                p = (p * (1.0 - lr * s.weight_decay))?;
            }
            let denom = ((v.sqrt()? / bc2.sqrt())? + s.eps)?;
            let p = (p - (m.div(&denom)? * (lr / bc1))?)?;
            var.set(&p)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// The moments, named `m.<var>` and `v.<var>`, for a checkpoint.
    pub fn state(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.insert(format!("m.{name}"), self.m[i].clone());
            out.insert(format!("v.{name}"), self.v[i].clone());
        }
        out
    }

    /// Restores the moments of a checkpoint taken after `steps` updates.
    pub fn restore(
        &mut self,
        state: &BTreeMap<String, Tensor>,
        steps: usize,
    ) -> Result<(), LmTrainError> {
        for (i, (name, var)) in self.vars.iter().enumerate() {
            for (key, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let t = state.get(&format!("{key}.{name}")).ok_or_else(|| {
                    LmTrainError::Weights(format!("optimizer state `{key}.{name}` is missing"))
                })?;
                *slot = t.to_device(var.device())?;
            }
        }
        self.steps = steps;
        Ok(())
    }
}
