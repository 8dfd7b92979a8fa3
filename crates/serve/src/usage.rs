//! What serving each version cost: tokens read and generated, and the energy, euros and
//! CO2 of the process while the version was live, metered as the bill meters a task
//! (RAPL or NVML where readable, else estimated from CPU time), priced with the bill's
//! defaults. `GET /v1/models/{version}/bill` shows it per 1,000 generated tokens.
//!
//! The process is metered as a whole and its energy charged to the version live at the
//! time, idle time and HTTP work included: the cost of serving, not of the matrix
//! products alone. Streams still finishing on the old version after a swap are charged
//! to the new one.

use atelier_bill::{BillSettings, Cost, EnergyRecord, Ledger, TaskMeter};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// One version's serving so far.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VersionUsage {
    /// Generations finished.
    pub generations: u64,
    /// Prompt tokens read.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub generated_tokens: u64,
    /// Energy metered while the version was live.
    pub energy: EnergyRecord,
}

#[derive(Default)]
struct State {
    live: String,
    meter: Option<TaskMeter>,
    versions: HashMap<String, VersionUsage>,
}

/// The usage ledger of a server.
pub struct Usage {
    ledger: Ledger,
    settings: BillSettings,
    state: Mutex<State>,
}

impl std::fmt::Debug for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Usage").finish_non_exhaustive()
    }
}

impl Default for Usage {
    fn default() -> Self {
        Usage::new(false)
    }
}

impl Usage {
    /// A usage ledger; `gpus` when the server's models run on the GPU, whose energy is
    /// then metered too.
    pub fn new(gpus: bool) -> Usage {
        let settings = BillSettings::default();
        Usage {
            ledger: Ledger::on_gpu(&settings, gpus),
            settings,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Charges the energy since the last reading to the live version, and starts
    /// metering again.
    fn settle(&self, state: &mut State) {
        if let Some(meter) = state.meter.take() {
            let record = meter.stop();
            let live = state.live.clone();
            state.versions.entry(live).or_default().energy += &record;
        }
        state.meter = Some(TaskMeter::start_process(&self.ledger));
    }

    /// A version went live.
    pub fn live(&self, version: &str) {
        let mut state = self.lock();
        self.settle(&mut state);
        state.live = version.to_owned();
    }

    /// Counts a finished generation.
    pub fn count(&self, version: &str, prompt_tokens: u64, generated_tokens: u64) {
        let mut state = self.lock();
        let v = state.versions.entry(version.to_owned()).or_default();
        v.generations += 1;
        v.prompt_tokens += prompt_tokens;
        v.generated_tokens += generated_tokens;
    }

    /// A version's serving bill: its usage, what it cost, and the cost per 1,000
    /// generated tokens; `None` if it was never live here.
    pub fn report(&self, version: &str) -> Option<serde_json::Value> {
        let mut state = self.lock();
        self.settle(&mut state);
        let usage = state.versions.get(version)?.clone();
        let cost = Cost::of(&usage.energy, &self.settings).ok()?;
        let per = |x: f64| {
            if usage.generated_tokens == 0 {
                None
            } else {
                Some(x * 1000.0 / usage.generated_tokens as f64)
            }
        };
        Some(serde_json::json!({
            "generations": usage.generations,
            "prompt_tokens": usage.prompt_tokens,
            "generated_tokens": usage.generated_tokens,
            "energy": usage.energy,
            "measured": usage.energy.measured(),
            "cost": cost,
            "per_1000_generated_tokens": {
                "kwh": per(cost.kwh),
                "joules": per(usage.energy.joules()),
                "eur": per(cost.eur),
                "gco2": per(cost.gco2),
            },
            "grid": self.settings.country,
            "basis": self.ledger.describe(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_energy_go_to_the_live_version() {
        let usage = Usage::default();
        usage.live("v1");
        usage.count("v1", 10, 20);
        // Some CPU work while v1 is live.
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        usage.live("v2");
        let v1 = usage.report("v1").unwrap();
        assert_eq!(v1["generated_tokens"], 20);
        assert!(v1["energy"]["cpu_seconds"].as_f64().unwrap() > 0.0, "{v1}");
        assert!(v1["per_1000_generated_tokens"]["eur"].as_f64().unwrap() > 0.0);
        let v2 = usage.report("v2").unwrap();
        assert_eq!(v2["generated_tokens"], 0);
        assert!(v2["per_1000_generated_tokens"]["eur"].is_null());
        assert!(usage.report("v9").is_none());
    }
}
