//! The `[bill]` section of a recipe: where the machine runs, what its power and time cost.
//!
//! Every field has a default, so an absent section prices a run on cloud-like terms in the
//! EU. The defaults and where they come from:
//!
//! | setting | default | from |
//! | --- | --- | --- |
//! | `country` | `EU` | the EU-27 average of the grid table (see [`crate::carbon`]) |
//! | `pue` | 1.0 | energy at the machine's plug; CodeCarbon's default too |
//! | `memory_watts_per_gb` | 0.375 | CodeCarbon's 3 W per 8 GB (Crucial, see below) |
//! | `eur_per_cpu_core_hour` | 0.04 | AWS c7i.large on demand, us-east-1: $0.08925/h for 2 vCPU (2024) |
//! | `eur_per_gpu_hour` | 2.30 | Lambda on demand: $2.49/h for one H100 PCIe (2024) |
//! | `eur_per_kwh` | 0.0 | rented machines include their power in the hourly price |
//! | `eur_per_gb_month` | 0.021 | AWS S3 Standard, us-east-1: $0.023 per GB-month (2024) |
//! | `storage_months` | 1.0 | one month of keeping the dataset |
//!
//! Dollar prices are converted at 0.924 EUR per USD, the ECB reference rate averaged over
//! 2024 (1.0824 USD per EUR). Sources: <https://aws.amazon.com/ec2/pricing/on-demand/>,
//! <https://lambda.ai/pricing>,
//! <https://aws.amazon.com/s3/pricing/>,
//! <https://www.ecb.europa.eu/stats/policy_and_exchange_rates/euro_reference_exchange_rates/html/eurofxref-graph-usd.en.html>,
//! <https://www.crucial.com/support/articles-faq-memory/how-much-power-does-memory-use>.
//!
//! On a machine you own, set `eur_per_kwh` to your tariff (Eurostat's EU average for
//! non-household consumers was about 0.19 EUR/kWh in 2024) and lower
//! `eur_per_cpu_core_hour` to the hardware's depreciation.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::carbon;

/// How the bill prices a run: place, power model and prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BillSettings {
    /// Country of the grid that powers the machine, as an ISO 3166-1 alpha-2 code (`FR`,
    /// `DE`, `US`, ...) or `EU` for the EU-27 average; picks the carbon intensity.
    pub country: String,
    /// Carbon intensity of the electricity in gCO2e/kWh, in place of the country's
    /// (for instance your supplier's figure).
    pub grid_gco2_per_kwh: Option<f64>,
    /// Power usage effectiveness of the building: its total energy over the IT energy
    /// (1.0 at home or in an office; 1.1 to 1.6 in data centres).
    pub pue: f64,
    /// Watts drawn by one busy CPU core; by default taken from the detected processor.
    pub cpu_watts_per_core: Option<f64>,
    /// Watts drawn per GB of resident memory.
    pub memory_watts_per_gb: f64,
    /// Read the processor's and GPUs' energy counters (RAPL, NVML) where they can be
    /// read; `false` estimates from CPU time everywhere.
    pub measure: bool,
    /// Euros per CPU-core-hour of computing.
    pub eur_per_cpu_core_hour: f64,
    /// Euros per GPU-hour.
    pub eur_per_gpu_hour: f64,
    /// Euros per kWh of electricity (0 when the hourly prices include power).
    pub eur_per_kwh: f64,
    /// Euros per GB-month of storage for the dataset.
    pub eur_per_gb_month: f64,
    /// Months the dataset is kept, for its storage line.
    pub storage_months: f64,
}

impl Default for BillSettings {
    fn default() -> Self {
        BillSettings {
            country: "EU".to_owned(),
            grid_gco2_per_kwh: None,
            pue: 1.0,
            cpu_watts_per_core: None,
            memory_watts_per_gb: 0.375,
            measure: true,
            eur_per_cpu_core_hour: 0.04,
            eur_per_gpu_hour: 2.3,
            eur_per_kwh: 0.0,
            eur_per_gb_month: 0.021,
            storage_months: 1.0,
        }
    }
}

impl BillSettings {
    /// Checks every setting and returns all problems at once, each naming its key.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if carbon::intensity(&self.country).is_none() {
            problems.push(format!(
                "country: `{}` is not in the carbon table; known: {}",
                self.country,
                carbon::countries().join(", ")
            ));
        }
        if !(self.pue.is_finite() && self.pue >= 1.0) {
            problems.push(format!("pue: {} must be at least 1.0", self.pue));
        }
        let non_negative = [
            ("grid_gco2_per_kwh", self.grid_gco2_per_kwh),
            ("cpu_watts_per_core", self.cpu_watts_per_core),
            ("memory_watts_per_gb", Some(self.memory_watts_per_gb)),
            ("eur_per_cpu_core_hour", Some(self.eur_per_cpu_core_hour)),
            ("eur_per_gpu_hour", Some(self.eur_per_gpu_hour)),
            ("eur_per_kwh", Some(self.eur_per_kwh)),
            ("eur_per_gb_month", Some(self.eur_per_gb_month)),
            ("storage_months", Some(self.storage_months)),
        ];
        for (key, value) in non_negative {
            if let Some(v) = value
                && !(v.is_finite() && v >= 0.0)
            {
                problems.push(format!("{key}: {v} must be a number of at least 0"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The carbon intensity that applies, in gCO2e/kWh: the override, else the country's.
    pub fn gco2_per_kwh(&self) -> Option<f64> {
        self.grid_gco2_per_kwh
            .or_else(|| carbon::intensity(&self.country).map(|g| g.grams_per_kwh))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_round_trip() {
        let s = BillSettings::default();
        s.validate().unwrap();
        let json = serde_json::to_string(&s).unwrap();
        let back: BillSettings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        // An empty section is all defaults.
        let empty: BillSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, s);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = serde_json::from_str::<BillSettings>(r#"{"contry": "FR"}"#).unwrap_err();
        assert!(err.to_string().contains("contry"), "{err}");
    }

    #[test]
    fn every_problem_is_reported() {
        let s = BillSettings {
            country: "XX".into(),
            pue: 0.9,
            eur_per_kwh: -1.0,
            ..BillSettings::default()
        };
        let problems = s.validate().unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("country"));
        assert!(problems[1].starts_with("pue"));
        assert!(problems[2].starts_with("eur_per_kwh"));
    }

    #[test]
    fn override_beats_country() {
        let mut s = BillSettings {
            country: "FR".into(),
            ..BillSettings::default()
        };
        assert_eq!(s.gco2_per_kwh(), Some(56.0));
        s.grid_gco2_per_kwh = Some(12.0);
        assert_eq!(s.gco2_per_kwh(), Some(12.0));
    }
}
