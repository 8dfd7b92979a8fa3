//! The shopping list before spending: what training a model of `N` parameters on `D`
//! tokens costs, and the reverse, the largest compute-optimal model a budget buys.
//!
//! - FLOPs = 6 · N · D (forward and backward pass of a dense transformer; Kaplan et al.
//!   2020, "Scaling Laws for Neural Language Models", arXiv:2001.08361).
//! - GPU-hours = FLOPs / (peak dense bf16 FLOP/s × MFU) / 3600, with MFU the model FLOPs
//!   utilisation (0.4 by default; Llama 3 reports 38–43% on H100s, Dubey et al. 2024,
//!   arXiv:2407.21783).
//! - Wall time = GPU-hours / GPUs.
//! - kWh = GPU-hours × board power × PUE (the method of the Llama 2 paper and of
//!   Luccioni et al. for BLOOM; host CPUs, network and idle time are left out).
//! - EUR = GPU-hours × price per GPU-hour + kWh × price per kWh.
//! - gCO2e = kWh × the grid's intensity.
//! - Compute-optimal: about 20 tokens per parameter (Hoffmann et al. 2022, "Training
//!   Compute-Optimal Large Language Models", arXiv:2203.15556), so a budget of `C` FLOPs
//!   buys `N = sqrt(C / 120)` parameters trained on `20 N` tokens.

use serde::{Deserialize, Serialize};

use crate::carbon;
use crate::hardware::{self, Gpu};
use crate::settings::BillSettings;

/// Tokens per parameter of a compute-optimal model (Chinchilla).
pub const TOKENS_PER_PARAMETER: f64 = 20.0;

/// Default model FLOPs utilisation.
pub const DEFAULT_MFU: f64 = 0.4;

/// Why an estimate could not be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EstimateError {
    /// A GPU not in the table.
    #[error("GPU `{0}` is not in the table; known: {known}", known = hardware::GPUS.iter().map(|g| g.id).collect::<Vec<_>>().join(", "))]
    Gpu(String),
    /// A country not in the carbon table.
    #[error("country `{0}` is not in the carbon table")]
    Country(String),
    /// A number out of range.
    #[error("{0}")]
    Range(String),
}

/// The machines a plan runs on and their prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hardware {
    /// GPU identifier from the table (`h100-sxm`, `a100-80gb`, ...).
    pub gpu: String,
    /// Model FLOPs utilisation, between 0 and 1.
    pub mfu: f64,
    /// GPUs used at once.
    pub gpus: u32,
    /// Euros per GPU-hour.
    pub eur_per_gpu_hour: f64,
    /// Euros per kWh (0 when the GPU-hour price includes power).
    pub eur_per_kwh: f64,
    /// Power usage effectiveness of the data centre.
    pub pue: f64,
    /// Country of the grid (ISO 3166-1 alpha-2, or `EU`).
    pub country: String,
}

impl Hardware {
    /// A GPU at the recipe's prices, PUE and country, with the default MFU and one GPU.
    pub fn from_settings(gpu: &str, settings: &BillSettings) -> Hardware {
        Hardware {
            gpu: gpu.to_owned(),
            mfu: DEFAULT_MFU,
            gpus: 1,
            eur_per_gpu_hour: settings.eur_per_gpu_hour,
            eur_per_kwh: settings.eur_per_kwh,
            pue: settings.pue,
            country: settings.country.clone(),
        }
    }

    fn resolve(&self) -> Result<(&'static Gpu, f64), EstimateError> {
        let gpu = hardware::gpu(&self.gpu).ok_or_else(|| EstimateError::Gpu(self.gpu.clone()))?;
        let grid = carbon::intensity(&self.country)
            .ok_or_else(|| EstimateError::Country(self.country.clone()))?;
        if !(self.mfu > 0.0 && self.mfu <= 1.0) {
            return Err(EstimateError::Range(format!(
                "mfu {} must lie in (0, 1]",
                self.mfu
            )));
        }
        if self.gpus == 0 {
            return Err(EstimateError::Range("gpus must be at least 1".into()));
        }
        let at_least = |x: f64, min: f64| x.is_finite() && x >= min;
        if !at_least(self.pue, 1.0)
            || !at_least(self.eur_per_gpu_hour, 0.0)
            || !at_least(self.eur_per_kwh, 0.0)
        {
            return Err(EstimateError::Range(
                "pue must be at least 1 and prices at least 0".into(),
            ));
        }
        Ok((gpu, grid.grams_per_kwh))
    }

    /// Euros for one GPU-hour, power included.
    fn eur_per_gpu_hour_all_in(&self, gpu: &Gpu) -> f64 {
        self.eur_per_gpu_hour + gpu.watts / 1000.0 * self.pue * self.eur_per_kwh
    }
}

/// What a training run costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Parameters.
    pub parameters: f64,
    /// Training tokens.
    pub tokens: f64,
    /// Tokens per parameter.
    pub tokens_per_parameter: f64,
    /// Training FLOPs (6ND).
    pub flops: f64,
    /// The GPU's full name.
    pub gpu: String,
    /// GPUs used at once.
    pub gpus: u32,
    /// The utilisation assumed.
    pub mfu: f64,
    /// GPU-hours.
    pub gpu_hours: f64,
    /// Wall-clock hours on `gpus` GPUs.
    pub wall_hours: f64,
    /// Energy from the grid, kWh (PUE included).
    pub kwh: f64,
    /// Euros.
    pub eur: f64,
    /// Grams of CO2-equivalent.
    pub gco2: f64,
    /// The grid's country.
    pub country: String,
}

/// The cost of training `parameters` on `tokens` with this hardware.
pub fn plan(parameters: f64, tokens: f64, hw: &Hardware) -> Result<Estimate, EstimateError> {
    if !(parameters > 0.0 && tokens > 0.0 && parameters.is_finite() && tokens.is_finite()) {
        return Err(EstimateError::Range(
            "parameters and tokens must be positive".into(),
        ));
    }
    let (gpu, grams_per_kwh) = hw.resolve()?;
    let flops = 6.0 * parameters * tokens;
    let gpu_hours = flops / (gpu.bf16_flops * hw.mfu) / 3600.0;
    let kwh = gpu_hours * gpu.watts / 1000.0 * hw.pue;
    Ok(Estimate {
        parameters,
        tokens,
        tokens_per_parameter: tokens / parameters,
        flops,
        gpu: gpu.name.to_owned(),
        gpus: hw.gpus,
        mfu: hw.mfu,
        gpu_hours,
        wall_hours: gpu_hours / f64::from(hw.gpus),
        kwh,
        eur: gpu_hours * hw.eur_per_gpu_hour + kwh * hw.eur_per_kwh,
        gco2: carbon::grams(kwh, grams_per_kwh),
        country: hw.country.to_ascii_uppercase(),
    })
}

/// The largest compute-optimal model (20 tokens per parameter) that `budget_eur` buys.
pub fn for_budget(budget_eur: f64, hw: &Hardware) -> Result<Estimate, EstimateError> {
    if !(budget_eur > 0.0 && budget_eur.is_finite()) {
        return Err(EstimateError::Range("the budget must be positive".into()));
    }
    let (gpu, _) = hw.resolve()?;
    let per_hour = hw.eur_per_gpu_hour_all_in(gpu);
    if per_hour <= 0.0 {
        return Err(EstimateError::Range(
            "with free GPU-hours any budget buys any model".into(),
        ));
    }
    let gpu_hours = budget_eur / per_hour;
    let flops = gpu_hours * 3600.0 * gpu.bf16_flops * hw.mfu;
    let parameters = (flops / (6.0 * TOKENS_PER_PARAMETER)).sqrt();
    plan(parameters, TOKENS_PER_PARAMETER * parameters, hw)
}

impl Estimate {
    /// The estimate as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("an estimate serializes")
    }

    /// The estimate for a terminal.
    pub fn to_text(&self) -> String {
        format!(
            "model: {:.3e} parameters, {:.3e} tokens ({:.1} per parameter)\n\
             compute: {:.3e} FLOPs on {} x {} at {:.0}% MFU\n\
             time: {:.0} GPU-hours, {:.1} hours wall ({:.1} days)\n\
             energy: {:.0} kWh\n\
             cost: {:.0} EUR\n\
             carbon: {:.1} kg CO2e ({} grid)\n",
            self.parameters,
            self.tokens,
            self.tokens_per_parameter,
            self.flops,
            self.gpus,
            self.gpu,
            self.mfu * 100.0,
            self.gpu_hours,
            self.wall_hours,
            self.wall_hours / 24.0,
            self.kwh,
            self.eur,
            self.gco2 / 1000.0,
            self.country
        )
    }
}

/// A published training run to check the estimate against.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedRun {
    /// The model.
    pub model: &'static str,
    /// Parameters.
    pub parameters: f64,
    /// Training tokens.
    pub tokens: f64,
    /// The GPU identifier in the table.
    pub gpu: &'static str,
    /// GPU-hours reported, if any.
    pub gpu_hours: Option<f64>,
    /// Energy reported, kWh, if any.
    pub kwh: Option<f64>,
    /// Where the figures come from.
    pub source: &'static str,
}

/// Published runs the estimate is checked against (within 2x, at the default MFU and
/// PUE 1).
pub const PUBLISHED_RUNS: &[PublishedRun] = &[
    PublishedRun {
        model: "Llama 2 7B",
        parameters: 7e9,
        tokens: 2e12,
        gpu: "a100-80gb",
        gpu_hours: Some(184_320.0),
        kwh: None,
        source: "Touvron et al. 2023, Llama 2: Open Foundation and Fine-Tuned Chat Models, Table 2; arXiv:2307.09288",
    },
    PublishedRun {
        model: "Llama 2 70B",
        parameters: 70e9,
        tokens: 2e12,
        gpu: "a100-80gb",
        gpu_hours: Some(1_720_320.0),
        kwh: None,
        source: "Touvron et al. 2023, Llama 2: Open Foundation and Fine-Tuned Chat Models, Table 2; arXiv:2307.09288",
    },
    PublishedRun {
        model: "BLOOM 176B",
        parameters: 176e9,
        tokens: 366e9,
        gpu: "a100-80gb",
        gpu_hours: Some(1_082_990.0),
        kwh: Some(433_196.0),
        source: "Luccioni, Viguier, Ligozat 2023, Estimating the Carbon Footprint of BLOOM, JMLR 24(253), Table 1 (1,082,990 GPU-hours x 400 W = 433,196 kWh); tokens from Scao et al. 2022, arXiv:2211.05100",
    },
    PublishedRun {
        model: "Llama 3 70B",
        parameters: 70e9,
        tokens: 15e12,
        gpu: "h100-sxm",
        gpu_hours: Some(6_400_000.0),
        kwh: None,
        source: "Meta 2024, Llama 3 model card (6.4M H100-80GB GPU-hours, 15T tokens); github.com/meta-llama/llama3/blob/main/MODEL_CARD.md",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn hw(gpu: &str) -> Hardware {
        Hardware {
            gpu: gpu.into(),
            mfu: 0.4,
            gpus: 8,
            eur_per_gpu_hour: 2.0,
            eur_per_kwh: 0.25,
            pue: 1.2,
            country: "FR".into(),
        }
    }

    #[test]
    fn plan_by_hand() {
        // 1e9 parameters, 20e9 tokens: 6 * 1e9 * 20e9 = 1.2e20 FLOPs. A100 at 40%:
        // 124.8e12 FLOP/s, so 1.2e20 / 124.8e12 = 961,538.46 s = 267.094 GPU-hours.
        let e = plan(1e9, 20e9, &hw("a100-80gb")).unwrap();
        assert_eq!(e.flops, 1.2e20);
        let gh = 1.2e20 / 124.8e12 / 3600.0;
        assert!((e.gpu_hours - gh).abs() < 1e-9);
        assert!((e.wall_hours - gh / 8.0).abs() < 1e-9);
        // 400 W, PUE 1.2: 0.48 kW per GPU-hour.
        assert!((e.kwh - gh * 0.48).abs() < 1e-9);
        assert!((e.eur - (gh * 2.0 + gh * 0.48 * 0.25)).abs() < 1e-9);
        assert!((e.gco2 - gh * 0.48 * 56.0).abs() < 1e-6);
        assert_eq!(e.tokens_per_parameter, 20.0);
    }

    #[test]
    fn budget_buys_a_compute_optimal_model_that_costs_the_budget() {
        for gpu in ["h100-sxm", "l4", "mi300x"] {
            let e = for_budget(10_000.0, &hw(gpu)).unwrap();
            assert!((e.eur - 10_000.0).abs() < 1e-6, "{gpu}: {}", e.eur);
            assert!((e.tokens_per_parameter - 20.0).abs() < 1e-9);
        }
        // By hand on an H100 SXM with power free: 10,000 EUR / 2 EUR = 5,000 GPU-hours
        // = 5000 * 3600 * 989.5e12 * 0.4 = 7.1244e21 FLOPs; N = sqrt(C / 120).
        let free_power = Hardware {
            eur_per_kwh: 0.0,
            ..hw("h100-sxm")
        };
        let e = for_budget(10_000.0, &free_power).unwrap();
        let c: f64 = 5000.0 * 3600.0 * 989.5e12 * 0.4;
        assert!((e.parameters - (c / 120.0).sqrt()).abs() / e.parameters < 1e-12);
        assert!((e.gpu_hours - 5000.0).abs() < 1e-6);
    }

    #[test]
    fn chinchilla_budget_gives_chinchilla() {
        // Chinchilla: 70B parameters on 1.4T tokens, 5.88e23 FLOPs. Buying exactly that
        // compute must give back 70B parameters.
        let free_power = Hardware {
            eur_per_gpu_hour: 1.0,
            eur_per_kwh: 0.0,
            ..hw("a100-80gb")
        };
        let gpu_hours = 5.88e23 / (312e12 * 0.4) / 3600.0;
        let e = for_budget(gpu_hours, &free_power).unwrap();
        assert!((e.parameters - 70e9).abs() / 70e9 < 1e-9);
        assert!((e.tokens - 1.4e12).abs() / 1.4e12 < 1e-9);
    }

    #[test]
    fn published_runs_within_2x() {
        let default = Hardware {
            gpus: 1,
            pue: 1.0,
            ..hw("a100-80gb")
        };
        for run in PUBLISHED_RUNS {
            let hw = Hardware {
                gpu: run.gpu.into(),
                ..default.clone()
            };
            let e = plan(run.parameters, run.tokens, &hw).unwrap();
            if let Some(reported) = run.gpu_hours {
                let ratio = e.gpu_hours / reported;
                assert!(
                    (0.5..=2.0).contains(&ratio),
                    "{}: {} GPU-hours estimated against {reported} reported",
                    run.model,
                    e.gpu_hours
                );
            }
            if let Some(reported) = run.kwh {
                let ratio = e.kwh / reported;
                assert!(
                    (0.5..=2.0).contains(&ratio),
                    "{}: {} kWh estimated against {reported} reported",
                    run.model,
                    e.kwh
                );
            }
        }
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            plan(1e9, 1e10, &hw("tpu")).unwrap_err(),
            EstimateError::Gpu("tpu".into())
        );
        let bad = Hardware {
            mfu: 1.5,
            ..hw("l4")
        };
        assert!(matches!(
            plan(1e9, 1e10, &bad),
            Err(EstimateError::Range(_))
        ));
        assert!(matches!(
            for_budget(-1.0, &hw("l4")),
            Err(EstimateError::Range(_))
        ));
        let nowhere = Hardware {
            country: "ZZ".into(),
            ..hw("l4")
        };
        assert!(matches!(
            plan(1e9, 1e10, &nowhere),
            Err(EstimateError::Country(_))
        ));
    }
}
