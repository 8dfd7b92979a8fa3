//! The bill of a run: per step the documents, time, energy, euros and CO2, the part of
//! that work reused from earlier runs or versions (and so saved), the storage of the
//! dataset, and the totals; optionally the same work under another country's grid.
//!
//! # Where each figure comes from
//!
//! - **Energy** is the run's [`EnergyRecord`] (summed over tasks by the runner) when the
//!   summary has one, split among steps by their share of CPU time. Summaries without
//!   one are estimated here from each step's CPU seconds times the power per core, plus
//!   memory at the peak resident set for each step's wall time divided by the CPUs of
//!   this machine (the runner's default number of workers).
//! - **kWh** = joules × PUE / 3.6 MJ; **gCO2e** = kWh × the grid's intensity.
//! - **EUR** = CPU hours × `eur_per_cpu_core_hour` + GPU hours × `eur_per_gpu_hour` +
//!   kWh × `eur_per_kwh`; storage adds GiB × months × `eur_per_gb_month`.
//! - **Reused** work: the summary's `reused` part when a versions store provides it
//!   (counters and energy of the work taken from an earlier version, step by step);
//!   otherwise, for a run that resumed `tasks_resumed` of its `tasks` from an earlier,
//!   interrupted run, that fraction of every step. Its cost is what reuse saved.

use atelier_core::stats::human_bytes;
use atelier_core::{StepStats, TaskStats};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::ops::{Add, AddAssign, Sub};
use std::path::{Path, PathBuf};

use crate::carbon;
use crate::energy::EnergyRecord;
use crate::hardware;
use crate::settings::BillSettings;

/// Why a bill could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BillError {
    /// The summary could not be read.
    #[error("{path}: {message}")]
    Summary {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The settings are not valid.
    #[error("bill settings: {}", .0.join("; "))]
    Settings(Vec<String>),
    /// A country not in the carbon table.
    #[error("country `{0}` is not in the carbon table; known: {known}", known = carbon::countries().join(", "))]
    Country(String),
}

/// Work taken from an earlier version instead of being redone: filled by the versions
/// store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reused {
    /// The version the work came from.
    #[serde(default)]
    pub from: String,
    /// Its counters, step by step in the same order as the run's.
    pub stats: TaskStats,
    /// Its energy, if it was metered.
    #[serde(default)]
    pub energy: Option<EnergyRecord>,
}

// Reads the runner's `summary.json`, pinned in crates/runner/tests/data/formats/: a
// change must keep reading the summaries versions already keep.
/// What the bill reads from a run's `summary.json`. Other fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The dataset's name.
    #[serde(default)]
    pub dataset: String,
    /// Tasks in the plan.
    #[serde(default)]
    pub tasks: u64,
    /// Tasks resumed from an earlier, interrupted run.
    #[serde(default)]
    pub tasks_resumed: u64,
    /// The shards written (their sizes price the storage).
    #[serde(default)]
    pub shards: Vec<PathBuf>,
    /// Counters summed over all tasks.
    pub stats: TaskStats,
    /// Energy summed over all tasks, when the runner metered them.
    #[serde(default)]
    pub energy: Option<EnergyRecord>,
    /// Work reused from an earlier version, when the versions store says so.
    #[serde(default)]
    pub reused: Option<Reused>,
    /// Work done before the run read anything (a source's crawl), one step each: not
    /// metered with the run's tasks, so its energy is estimated from its CPU time.
    #[serde(default)]
    pub fetched: Vec<StepStats>,
}

impl Summary {
    /// Reads a `summary.json`.
    pub fn load(path: &Path) -> Result<Summary, BillError> {
        let err = |message: String| BillError::Summary {
            path: path.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))
    }

    /// Bytes of the shards that exist on disk.
    pub fn stored_bytes(&self) -> u64 {
        self.shards
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }
}

/// Time, energy, money and carbon of some work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// Wall-clock seconds (summed over tasks).
    pub wall_seconds: f64,
    /// CPU seconds.
    pub cpu_seconds: f64,
    /// GPU hours.
    pub gpu_hours: f64,
    /// Energy from the grid, kWh (PUE included).
    pub kwh: f64,
    /// Euros.
    pub eur: f64,
    /// Grams of CO2-equivalent.
    pub gco2: f64,
}

impl AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        self.wall_seconds += o.wall_seconds;
        self.cpu_seconds += o.cpu_seconds;
        self.gpu_hours += o.gpu_hours;
        self.kwh += o.kwh;
        self.eur += o.eur;
        self.gco2 += o.gco2;
    }
}

impl Add for Cost {
    type Output = Cost;
    fn add(mut self, o: Cost) -> Cost {
        self += o;
        self
    }
}

impl Sub for Cost {
    type Output = Cost;
    fn sub(self, o: Cost) -> Cost {
        Cost {
            wall_seconds: self.wall_seconds - o.wall_seconds,
            cpu_seconds: self.cpu_seconds - o.cpu_seconds,
            gpu_hours: self.gpu_hours - o.gpu_hours,
            kwh: self.kwh - o.kwh,
            eur: self.eur - o.eur,
            gco2: self.gco2 - o.gco2,
        }
    }
}

/// One step's line of the bill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepBill {
    /// The step's name.
    pub name: String,
    /// Documents in.
    pub documents_in: u64,
    /// Documents kept.
    pub kept: u64,
    /// Documents dropped, all reasons.
    pub dropped: u64,
    /// Documents quarantined.
    pub quarantined: u64,
    /// All the work behind this step's output, reused part included.
    pub total: Cost,
    /// The part done by earlier runs or versions and not redone: what reuse saved.
    pub reused: Cost,
}

impl StepBill {
    /// The line of a step's counters, at `total`, of which `reused` was reused.
    fn of(step: &StepStats, total: Cost, reused: Cost) -> StepBill {
        StepBill {
            name: step.name.clone(),
            documents_in: step.documents_in,
            kept: step.kept,
            dropped: step.dropped_total(),
            quarantined: step.quarantined,
            total,
            reused,
        }
    }

    /// This line with all its work reused: a step found done rather than done again.
    pub fn all_reused(mut self) -> StepBill {
        self.reused = self.total;
        self
    }

    /// The work done by this run: total less reused.
    pub fn spent(&self) -> Cost {
        self.total - self.reused
    }
}

/// Keeping the dataset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Storage {
    /// Bytes of the shards.
    pub bytes: u64,
    /// Months priced.
    pub months: f64,
    /// Euros.
    pub eur: f64,
}

/// The same work under another grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The other country's code.
    pub country: String,
    /// Its grid's intensity, gCO2e/kWh.
    pub gco2_per_kwh: f64,
    /// Each step's total gCO2e there, in step order.
    pub steps_gco2: Vec<f64>,
    /// The total gCO2e there.
    pub gco2: f64,
}

// `bill.json` in a model version. Pinned format (tests/data/formats/bill.json), with no
// version field: a change must keep reading the bills already written (or add a version
// and keep reading these).
/// A run's bill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bill {
    /// The dataset's name.
    pub dataset: String,
    /// The model trained on it, when the bill covers a training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The country whose grid the bill uses.
    pub country: String,
    /// That grid's intensity, gCO2e/kWh.
    pub gco2_per_kwh: f64,
    /// The PUE applied.
    pub pue: f64,
    /// Whether the energy was measured (in part at least) rather than estimated.
    pub measured: bool,
    /// How the energy was obtained, in words.
    pub energy_basis: String,
    /// Tasks in the plan.
    pub tasks: u64,
    /// Tasks resumed from an earlier run.
    pub tasks_resumed: u64,
    /// One line per step, reader first, writer last.
    pub steps: Vec<StepBill>,
    /// The dataset's storage.
    pub storage: Storage,
    /// Steps and storage together.
    pub total: Cost,
    /// The reused part of the total.
    pub reused: Cost,
    /// The same work in another country, when asked.
    pub comparison: Option<Comparison>,
}

/// Makes the bill of a run from its summary, with the recipe's settings.
pub fn render_bill(summary: &Summary, settings: &BillSettings) -> Result<Bill, BillError> {
    settings.validate().map_err(BillError::Settings)?;
    let prices = Prices::new(settings)?;

    let stats = &summary.stats;
    let (joules, energy_basis, measured) = match &summary.energy {
        Some(e) => (split(&stats.steps, e), e.describe(), e.measured()),
        None => {
            let (w, basis) = watts_per_core(settings);
            (
                estimate(stats, w, settings.memory_watts_per_gb),
                format!("estimated from CPU time at {w:.2} W per core ({basis})"),
                false,
            )
        }
    };
    let gpu_hours: Vec<f64> = match &summary.energy {
        Some(e) => shares(&stats.steps)
            .iter()
            .map(|s| e.gpu_seconds * s / 3600.0)
            .collect(),
        None => vec![0.0; stats.steps.len()],
    };

    // The reused part, step by step.
    let reused: Vec<Cost> = match &summary.reused {
        Some(r) => {
            let j = match &r.energy {
                Some(e) => split(&r.stats.steps, e),
                None => {
                    let (w, _) = watts_per_core(settings);
                    estimate(&r.stats, w, settings.memory_watts_per_gb)
                }
            };
            let gh: Vec<f64> = match &r.energy {
                Some(e) => shares(&r.stats.steps)
                    .iter()
                    .map(|s| e.gpu_seconds * s / 3600.0)
                    .collect(),
                None => vec![0.0; r.stats.steps.len()],
            };
            (0..stats.steps.len())
                .map(|i| match r.stats.steps.get(i) {
                    Some(s) => prices.cost(s.wall_seconds, s.cpu_seconds, gh[i], j[i]),
                    None => Cost::default(),
                })
                .collect()
        }
        None => {
            let f = if summary.tasks > 0 {
                summary.tasks_resumed.min(summary.tasks) as f64 / summary.tasks as f64
            } else {
                0.0
            };
            stats
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    prices.cost(
                        s.wall_seconds * f,
                        s.cpu_seconds * f,
                        gpu_hours[i] * f,
                        joules[i] * f,
                    )
                })
                .collect()
        }
    };

    let energy_basis = if summary.fetched.is_empty() || summary.energy.is_none() {
        energy_basis
    } else {
        let names: Vec<&str> = summary.fetched.iter().map(|s| s.name.as_str()).collect();
        format!(
            "{energy_basis}; {}: estimated from CPU time",
            names.join(", ")
        )
    };
    let mut steps = Vec::with_capacity(summary.fetched.len() + stats.steps.len());
    let mut total = Cost::default();
    let mut reused_total = Cost::default();
    if !summary.fetched.is_empty() {
        let (w, _) = watts_per_core(settings);
        let fetched = TaskStats {
            steps: summary.fetched.clone(),
            peak_rss_bytes: stats.peak_rss_bytes,
            ..TaskStats::default()
        };
        let joules = estimate(&fetched, w, settings.memory_watts_per_gb);
        for (s, joules) in summary.fetched.iter().zip(joules) {
            let cost = prices.cost(s.wall_seconds, s.cpu_seconds, 0.0, joules);
            total += cost;
            steps.push(StepBill::of(s, cost, Cost::default()));
        }
    }
    for (i, s) in stats.steps.iter().enumerate() {
        let cost = prices.cost(s.wall_seconds, s.cpu_seconds, gpu_hours[i], joules[i]);
        total += cost;
        reused_total += reused[i];
        steps.push(StepBill::of(s, cost, reused[i]));
    }
    let bytes = summary.stored_bytes();
    let storage = Storage {
        bytes,
        months: settings.storage_months,
        eur: bytes as f64 / GIB * settings.storage_months * settings.eur_per_gb_month,
    };
    total.eur += storage.eur;

    Ok(Bill {
        dataset: summary.dataset.clone(),
        model: None,
        country: settings.country.to_ascii_uppercase(),
        gco2_per_kwh: prices.gco2_per_kwh,
        pue: settings.pue,
        measured,
        energy_basis,
        tasks: summary.tasks,
        tasks_resumed: summary.tasks_resumed,
        steps,
        storage,
        total,
        reused: reused_total,
        comparison: None,
    })
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

impl Cost {
    /// The cost of metered work under the bill's prices, PUE and grid (work metered
    /// outside a run, such as a server's generations).
    pub fn of(record: &EnergyRecord, settings: &BillSettings) -> Result<Cost, BillError> {
        Ok(Prices::new(settings)?.cost(
            record.wall_seconds,
            record.cpu_seconds,
            record.gpu_seconds / 3600.0,
            record.joules(),
        ))
    }
}

struct Prices<'a> {
    settings: &'a BillSettings,
    gco2_per_kwh: f64,
}

impl Prices<'_> {
    fn new(settings: &BillSettings) -> Result<Prices<'_>, BillError> {
        let gco2_per_kwh = settings
            .gco2_per_kwh()
            .ok_or_else(|| BillError::Country(settings.country.clone()))?;
        Ok(Prices {
            settings,
            gco2_per_kwh,
        })
    }

    fn cost(&self, wall: f64, cpu: f64, gpu_hours: f64, joules: f64) -> Cost {
        let s = self.settings;
        let kwh = joules * s.pue / 3.6e6;
        Cost {
            wall_seconds: wall,
            cpu_seconds: cpu,
            gpu_hours,
            kwh,
            eur: cpu / 3600.0 * s.eur_per_cpu_core_hour
                + gpu_hours * s.eur_per_gpu_hour
                + kwh * s.eur_per_kwh,
            gco2: carbon::grams(kwh, self.gco2_per_kwh),
        }
    }
}

fn watts_per_core(settings: &BillSettings) -> (f64, String) {
    match settings.cpu_watts_per_core {
        Some(w) => (w, "the recipe's cpu_watts_per_core".to_owned()),
        None => {
            let p = hardware::local_cpu_power();
            (p.watts_per_core, p.basis.clone())
        }
    }
}

/// Each step's share of the work: by CPU time, else by wall time, else equal.
fn shares(steps: &[StepStats]) -> Vec<f64> {
    let cpu: f64 = steps.iter().map(|s| s.cpu_seconds).sum();
    let wall: f64 = steps.iter().map(|s| s.wall_seconds).sum();
    steps
        .iter()
        .map(|s| {
            if cpu > 0.0 {
                s.cpu_seconds / cpu
            } else if wall > 0.0 {
                s.wall_seconds / wall
            } else {
                1.0 / steps.len() as f64
            }
        })
        .collect()
}

/// A metered record's joules split among steps.
fn split(steps: &[StepStats], energy: &EnergyRecord) -> Vec<f64> {
    let total = energy.joules();
    shares(steps).iter().map(|s| total * s).collect()
}

/// Joules per step from counters alone (no record).
fn estimate(stats: &TaskStats, watts_per_core: f64, memory_watts_per_gb: f64) -> Vec<f64> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let memory_watts = memory_watts_per_gb * stats.peak_rss_bytes as f64 / GIB;
    stats
        .steps
        .iter()
        .map(|s| s.cpu_seconds * watts_per_core + memory_watts * s.wall_seconds / workers)
        .collect()
}

impl Bill {
    /// Adds the same work's carbon under another country's grid.
    pub fn compare(mut self, country: &str) -> Result<Bill, BillError> {
        let grid =
            carbon::intensity(country).ok_or_else(|| BillError::Country(country.to_owned()))?;
        let steps_gco2: Vec<f64> = self
            .steps
            .iter()
            .map(|s| carbon::grams(s.total.kwh, grid.grams_per_kwh))
            .collect();
        self.comparison = Some(Comparison {
            country: grid.code.to_owned(),
            gco2_per_kwh: grid.grams_per_kwh,
            gco2: steps_gco2.iter().sum(),
            steps_gco2,
        });
        Ok(self)
    }

    /// The work this run did itself: total less reused.
    pub fn spent(&self) -> Cost {
        self.total - self.reused
    }

    /// The bill as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a bill serializes")
    }

    /// This bill followed by the steps of another (a training after the run that made
    /// its dataset). Each part keeps the energy split of its own run, so a step costs the
    /// same in every bill that shows it; totals, reuse and storage add.
    pub fn then(mut self, other: Bill) -> Bill {
        if other.energy_basis != self.energy_basis {
            let names: Vec<&str> = other.steps.iter().map(|s| s.name.as_str()).collect();
            self.energy_basis = format!(
                "{}; {}: {}",
                self.energy_basis,
                names.join(", "),
                other.energy_basis
            );
        }
        self.measured |= other.measured;
        self.steps.extend(other.steps);
        self.storage.bytes += other.storage.bytes;
        self.storage.eur += other.storage.eur;
        self.total += other.total;
        self.reused += other.reused;
        self.model = other.model.or(self.model);
        self.comparison = None;
        self
    }

    /// The bill as a table for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "bill of `{}`{}: {} task(s), {} resumed; {} grid at {:.1} gCO2e/kWh, PUE {:.2}",
            self.dataset,
            self.model
                .as_ref()
                .map(|m| format!(" and model `{m}`"))
                .unwrap_or_default(),
            self.tasks,
            self.tasks_resumed,
            self.country,
            self.gco2_per_kwh,
            self.pue
        );
        let _ = writeln!(out, "energy: {}", self.energy_basis);
        // The step column is as wide as the longest step name (`gopher_repetition`...),
        // and 12 characters at least.
        let width = self
            .steps
            .iter()
            .map(|s| s.name.chars().count())
            .fold(12, usize::max);
        let _ = writeln!(
            out,
            "{:<width$} {:>9} {:>9} {:>8} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10}",
            "step", "in", "kept", "dropped", "wall s", "cpu s", "kWh", "EUR", "gCO2e", "reused EUR"
        );
        for s in &self.steps {
            let _ = writeln!(
                out,
                "{:<width$} {:>9} {:>9} {:>8} {:>9.3} {:>9.3} {:>10} {:>10} {:>10} {:>10}",
                s.name,
                s.documents_in,
                s.kept,
                s.dropped,
                s.total.wall_seconds,
                s.total.cpu_seconds,
                sig(s.total.kwh),
                sig(s.total.eur),
                sig(s.total.gco2),
                sig(s.reused.eur),
            );
        }
        let _ = writeln!(
            out,
            "{:<width$} {:>59} {:>10}",
            "storage",
            format!(
                "{} for {} month(s)",
                human_bytes(self.storage.bytes),
                self.storage.months
            ),
            sig(self.storage.eur),
        );
        let t = &self.total;
        let _ = writeln!(
            out,
            "{:<width$} {:>28} {:>9.3} {:>9.3} {:>10} {:>10} {:>10} {:>10}",
            "total",
            "",
            t.wall_seconds,
            t.cpu_seconds,
            sig(t.kwh),
            sig(t.eur),
            sig(t.gco2),
            sig(self.reused.eur),
        );
        if self.reused.cpu_seconds > 0.0 || self.reused.eur > 0.0 {
            let r = &self.reused;
            let _ = writeln!(
                out,
                "reused from earlier runs: {:.3} CPU s, {} kWh, {} EUR, {} gCO2e saved; this run spent {} EUR",
                r.cpu_seconds,
                sig(r.kwh),
                sig(r.eur),
                sig(r.gco2),
                sig(self.spent().eur)
            );
        }
        if let Some(c) = &self.comparison {
            let ratio = if self.total.gco2 > 0.0 {
                format!(" ({:.2}x)", c.gco2 / self.total.gco2)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "in {} ({:.1} gCO2e/kWh) the same work emits {} gCO2e{}, against {} gCO2e in {}",
                c.country,
                c.gco2_per_kwh,
                sig(c.gco2),
                ratio,
                sig(self.total.gco2),
                self.country
            );
        }
        out
    }
}

/// Three significant digits, in plain notation from 0.001 up and scientific below.
pub fn sig(x: f64) -> String {
    if x == 0.0 {
        "0".to_owned()
    } else if x.abs() >= 1000.0 {
        format!("{x:.0}")
    } else if x.abs() >= 0.001 {
        let digits = (2 - x.abs().log10().floor() as i32).max(0) as usize;
        format!("{x:.digits$}")
    } else {
        format!("{x:.2e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::energy::Method;

    fn step(name: &str, kept: u64, dropped: u64, wall: f64, cpu: f64) -> StepStats {
        let mut s = StepStats::named(name);
        s.documents_in = kept + dropped;
        s.kept = kept;
        if dropped > 0 {
            s.dropped.insert("too_short".into(), dropped);
        }
        s.wall_seconds = wall;
        s.cpu_seconds = cpu;
        s
    }

    fn summary() -> Summary {
        Summary {
            dataset: "demo".into(),
            tasks: 4,
            tasks_resumed: 0,
            shards: vec![],
            stats: TaskStats {
                tasks: 4,
                steps: vec![
                    step("read", 100, 0, 1000.0, 1200.0),
                    step("length", 80, 20, 2000.0, 2400.0),
                ],
                ..TaskStats::default()
            },
            energy: None,
            reused: None,
            fetched: Vec::new(),
        }
    }

    fn settings() -> BillSettings {
        BillSettings {
            country: "FR".into(),
            pue: 1.5,
            cpu_watts_per_core: Some(10.0),
            memory_watts_per_gb: 0.0,
            eur_per_cpu_core_hour: 0.05,
            eur_per_gpu_hour: 2.0,
            eur_per_kwh: 0.2,
            ..BillSettings::default()
        }
    }

    #[test]
    fn work_before_the_run_leads_the_bill_and_adds_to_its_total() {
        let plain = render_bill(&summary(), &settings()).unwrap();
        let mut crawl = StepStats::named("crawl");
        crawl.documents_in = 120;
        crawl.kept = 100;
        crawl.wall_seconds = 60.0;
        crawl.cpu_seconds = 360.0;
        let fetched = Summary {
            fetched: vec![crawl],
            ..summary()
        };
        let bill = render_bill(&fetched, &settings()).unwrap();
        assert_eq!(bill.steps.len(), plain.steps.len() + 1);
        assert_eq!(bill.steps[0].name, "crawl");
        assert_eq!(bill.steps[1..], plain.steps[..]);
        // 360 CPU s at 10 W = 3.6 kJ, * 1.5 PUE = 5.4 kJ = 0.0015 kWh.
        assert!((bill.steps[0].total.kwh - 0.0015).abs() < 1e-12);
        assert!((bill.total.eur - plain.total.eur - bill.steps[0].total.eur).abs() < 1e-12);
        assert_eq!(bill.reused, plain.reused);
    }

    #[test]
    fn estimated_bill_by_hand() {
        let bill = render_bill(&summary(), &settings()).unwrap();
        // read: 1200 CPU s * 10 W = 12 kJ; * 1.5 PUE = 18 kJ = 0.005 kWh.
        // EUR = 1200/3600 h * 0.05 + 0.005 kWh * 0.2 = 0.0166667 + 0.001 = 0.0176667.
        // gCO2e = 0.005 * 56.0 = 0.28.
        let read = &bill.steps[0];
        assert!((read.total.kwh - 0.005).abs() < 1e-12);
        assert!((read.total.eur - (1200.0 / 3600.0 * 0.05 + 0.001)).abs() < 1e-12);
        assert!((read.total.gco2 - 0.28).abs() < 1e-12);
        // length: twice read.
        let length = &bill.steps[1];
        assert!((length.total.kwh - 0.010).abs() < 1e-12);
        assert_eq!(length.dropped, 20);
        // Totals: 0.015 kWh, 0.84 g, 3600 CPU s.
        assert!((bill.total.kwh - 0.015).abs() < 1e-12);
        assert!((bill.total.gco2 - 0.84).abs() < 1e-12);
        assert!((bill.total.cpu_seconds - 3600.0).abs() < 1e-9);
        assert!((bill.total.eur - (0.05 + 0.003)).abs() < 1e-12);
        assert!(!bill.measured);
        assert_eq!(bill.reused, Cost::default());
    }

    #[test]
    fn metered_energy_is_split_by_cpu_share() {
        let mut s = summary();
        s.energy = Some(EnergyRecord {
            tasks: 4,
            cpu_joules: 30_000.0,
            cpu_method: Method::Rapl,
            memory_joules: 6_000.0,
            gpu_joules: 0.0,
            gpu_seconds: 7200.0,
            gpu_method: Some(Method::Nvml),
            ..EnergyRecord::default()
        });
        let bill = render_bill(&s, &settings()).unwrap();
        assert!(bill.measured);
        // 36 kJ * 1.5 = 54 kJ = 0.015 kWh; read has 1/3 of CPU time: 0.005 kWh.
        assert!((bill.steps[0].total.kwh - 0.005).abs() < 1e-12);
        assert!((bill.steps[1].total.kwh - 0.010).abs() < 1e-12);
        // GPU: 2 h, 1/3 and 2/3; at 2 EUR/h.
        assert!((bill.steps[0].total.gpu_hours - 2.0 / 3.0).abs() < 1e-12);
        let eur = 2400.0 / 3600.0 * 0.05 + 4.0 / 3.0 * 2.0 + 0.010 * 0.2;
        assert!((bill.steps[1].total.eur - eur).abs() < 1e-12);
        assert!(bill.energy_basis.contains("RAPL"));
    }

    #[test]
    fn resumed_tasks_count_as_reused() {
        let mut s = summary();
        s.tasks_resumed = 1;
        let bill = render_bill(&s, &settings()).unwrap();
        // A quarter of every step was done by the earlier run.
        assert!((bill.reused.kwh - 0.015 / 4.0).abs() < 1e-12);
        assert!((bill.spent().cpu_seconds - 2700.0).abs() < 1e-9);
        assert!((bill.steps[1].reused.gco2 - 0.56 / 4.0).abs() < 1e-12);
        assert!(bill.to_text().contains("reused from earlier runs"));
    }

    #[test]
    fn reused_part_from_a_versions_store() {
        let mut s = summary();
        s.reused = Some(Reused {
            from: "v1".into(),
            stats: TaskStats {
                steps: vec![step("read", 100, 0, 1000.0, 1200.0)],
                ..TaskStats::default()
            },
            energy: None,
        });
        let bill = render_bill(&s, &settings()).unwrap();
        assert_eq!(bill.steps[0].reused, bill.steps[0].total);
        assert_eq!(bill.steps[1].reused, Cost::default());
        assert!((bill.spent().kwh - 0.010).abs() < 1e-12);
    }

    #[test]
    fn storage_is_priced_by_the_gib_month() {
        let dir = tempfile::tempdir().unwrap();
        let shard = dir.path().join("part-00000.jsonl");
        std::fs::write(&shard, vec![b'x'; 1 << 20]).unwrap();
        let mut s = summary();
        s.shards = vec![shard, dir.path().join("absent")];
        let settings = BillSettings {
            eur_per_gb_month: 0.1,
            storage_months: 12.0,
            ..settings()
        };
        let bill = render_bill(&s, &settings).unwrap();
        assert_eq!(bill.storage.bytes, 1 << 20);
        // 1 MiB = 1/1024 GiB, 12 months at 0.1: 0.001171875 EUR.
        assert!((bill.storage.eur - 1.2 / 1024.0).abs() < 1e-15);
        let steps_eur: f64 = bill.steps.iter().map(|s| s.total.eur).sum();
        assert!((bill.total.eur - steps_eur - bill.storage.eur).abs() < 1e-12);
    }

    #[test]
    fn another_country_changes_only_the_carbon() {
        let bill = render_bill(&summary(), &settings())
            .unwrap()
            .compare("de")
            .unwrap();
        let c = bill.comparison.as_ref().unwrap();
        assert_eq!(c.country, "DE");
        // 0.015 kWh * 380.9 g = 5.7135 g.
        assert!((c.gco2 - 5.7135).abs() < 1e-9);
        assert!((c.steps_gco2[0] - 0.005 * 380.9).abs() < 1e-9);
        assert!(bill.to_text().contains("in DE (380.9 gCO2e/kWh)"));
        assert!(
            render_bill(&summary(), &settings())
                .unwrap()
                .compare("ZZ")
                .is_err()
        );
    }

    #[test]
    fn json_round_trips_and_text_lists_every_step() {
        let bill = render_bill(&summary(), &settings()).unwrap();
        let back: Bill = serde_json::from_str(&bill.to_json()).unwrap();
        assert_eq!(back, bill);
        let text = bill.to_text();
        for line in ["read", "length", "storage", "total"] {
            assert!(text.lines().any(|l| l.starts_with(line)), "{line}\n{text}");
        }
    }

    #[test]
    fn reads_a_runner_summary() {
        let json = r#"{"dataset":"spam","output":"out","tasks":4,"tasks_resumed":0,
            "shards":[],"quarantine":[],"skipped_files":[],
            "stats":{"tasks":4,"files":5,"steps":[{"name":"read","documents_in":3,"kept":3,
            "dropped":{},"quarantined":0,"bytes_in":1,"bytes_out":1,"wall_seconds":0.5,
            "cpu_seconds":0.5}],"wall_seconds":0.5,"cpu_seconds":0.5,"peak_rss_bytes":1024}}"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        std::fs::write(&path, json).unwrap();
        let s = Summary::load(&path).unwrap();
        assert_eq!(s.stats.steps[0].name, "read");
        assert!(s.energy.is_none());
        assert!(Summary::load(&dir.path().join("none.json")).is_err());
    }

    #[test]
    fn bad_settings_are_reported() {
        let s = BillSettings {
            pue: 0.5,
            ..settings()
        };
        assert!(matches!(
            render_bill(&summary(), &s),
            Err(BillError::Settings(_))
        ));
    }

    #[test]
    fn significant_digits() {
        assert_eq!(sig(0.0), "0");
        assert_eq!(sig(1.23456), "1.23");
        assert_eq!(sig(12.3456), "12.3");
        assert_eq!(sig(0.0123456), "0.0123");
        assert_eq!(sig(0.000123456), "1.23e-4");
        assert_eq!(sig(12345.6), "12346");
    }
}
