//! Counters: what every step did to the documents it saw, and what a task cost.
//!
//! Counters are values that add: the stats of a run are the sum of its tasks' stats.
//! The balance `in = kept + dropped + quarantined` holds for every step, and the runner
//! checks it rather than trusting steps to keep it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::{Add, AddAssign};

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    /// The step's name (`read` for the readers, `write` for the writer).
    pub name: String,
    /// Documents (or records, for `read`) that entered.
    pub documents_in: u64,
    /// Documents passed on.
    pub kept: u64,
    /// Documents removed, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Documents or records that failed and went to quarantine.
    pub quarantined: u64,
    /// What the step counted besides documents (for `pii`: replacements by kind).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
    /// Bytes that entered: input bytes for `read`, text bytes for steps.
    pub bytes_in: u64,
    /// Text bytes of the documents kept.
    pub bytes_out: u64,
    /// Wall-clock seconds spent in the step.
    pub wall_seconds: f64,
    /// CPU seconds spent in the step, on the task's thread.
    pub cpu_seconds: f64,
    /// Documents (or records, for `read`) whose passage through this step was taken from
    /// the project store instead of being redone: they count in `documents_in`, `kept`,
    /// `dropped` and `quarantined` like the others, but not in the time.
    #[serde(default)]
    pub reused_documents: u64,
    /// CPU seconds that the reused work cost when it was done (not part of
    /// `cpu_seconds`, which is what this run spent).
    #[serde(default)]
    pub saved_cpu_seconds: f64,
    /// Wall-clock seconds that the reused work took when it was done.
    #[serde(default)]
    pub saved_wall_seconds: f64,
}

impl StepStats {
    /// Empty counters for a named step.
    pub fn named(name: impl Into<String>) -> Self {
        StepStats {
            name: name.into(),
            ..Self::default()
        }
    }

    /// All drops, whatever the reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Checks `in = kept + dropped + quarantined`.
    pub fn check_balance(&self) -> Result<(), String> {
        let out = self.kept + self.dropped_total() + self.quarantined;
        if out == self.documents_in {
            Ok(())
        } else {
            Err(format!(
                "step `{}` lost count: {} in but {} kept + {} dropped + {} quarantined = {}",
                self.name,
                self.documents_in,
                self.kept,
                self.dropped_total(),
                self.quarantined,
                out
            ))
        }
    }
}

impl AddAssign<&StepStats> for StepStats {
    fn add_assign(&mut self, other: &StepStats) {
        if self.name.is_empty() {
            self.name.clone_from(&other.name);
        }
        self.documents_in += other.documents_in;
        self.kept += other.kept;
        for (reason, n) in &other.dropped {
            *self.dropped.entry(reason.clone()).or_default() += n;
        }
        self.quarantined += other.quarantined;
        for (kind, n) in &other.counts {
            *self.counts.entry(kind.clone()).or_default() += n;
        }
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.wall_seconds += other.wall_seconds;
        self.cpu_seconds += other.cpu_seconds;
        self.reused_documents += other.reused_documents;
        self.saved_cpu_seconds += other.saved_cpu_seconds;
        self.saved_wall_seconds += other.saved_wall_seconds;
    }
}

/// What one task (or, summed, one run) did and cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskStats {
    /// Number of tasks summed here.
    pub tasks: u64,
    /// Input files opened.
    pub files: u64,
    /// The reader first, then each step in recipe order, then the writer.
    pub steps: Vec<StepStats>,
    /// Wall-clock seconds of the task (summed over tasks).
    pub wall_seconds: f64,
    /// CPU seconds of the task's thread (summed over tasks).
    pub cpu_seconds: f64,
    /// Peak resident memory of the process while the task ran (the maximum over tasks).
    pub peak_rss_bytes: u64,
}

impl TaskStats {
    /// Records the readers met (read + quarantined).
    pub fn records(&self) -> u64 {
        self.steps.first().map_or(0, |s| s.documents_in)
    }

    /// Records and documents that went to quarantine, at any step.
    pub fn quarantined(&self) -> u64 {
        self.steps.iter().map(|s| s.quarantined).sum()
    }

    /// Documents written to the dataset: what `write` kept (the stages after the dataset,
    /// such as `tokenize`, come after it).
    pub fn written(&self) -> u64 {
        self.steps
            .iter()
            .rev()
            .find(|s| s.name == "write")
            .or(self.steps.last())
            .map_or(0, |s| s.kept)
    }

    /// CPU seconds that work reused from the project store saved, over all steps.
    pub fn saved_cpu_seconds(&self) -> f64 {
        self.steps.iter().map(|s| s.saved_cpu_seconds).sum()
    }

    /// Checks every step's balance and that each step receives what the one before kept.
    pub fn check(&self) -> Result<(), String> {
        for s in &self.steps {
            s.check_balance()?;
        }
        for pair in self.steps.windows(2) {
            if pair[0].kept != pair[1].documents_in {
                return Err(format!(
                    "`{}` kept {} documents but `{}` received {}",
                    pair[0].name, pair[0].kept, pair[1].name, pair[1].documents_in
                ));
            }
        }
        Ok(())
    }
}

impl AddAssign<&TaskStats> for TaskStats {
    fn add_assign(&mut self, other: &TaskStats) {
        self.tasks += other.tasks;
        self.files += other.files;
        if self.steps.len() < other.steps.len() {
            self.steps
                .resize_with(other.steps.len(), StepStats::default);
        }
        for (mine, theirs) in self.steps.iter_mut().zip(&other.steps) {
            *mine += theirs;
        }
        self.wall_seconds += other.wall_seconds;
        self.cpu_seconds += other.cpu_seconds;
        self.peak_rss_bytes = self.peak_rss_bytes.max(other.peak_rss_bytes);
    }
}

impl Add<&TaskStats> for TaskStats {
    type Output = TaskStats;
    fn add(mut self, other: &TaskStats) -> TaskStats {
        self += other;
        self
    }
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn step(name: &str, kept: u64, dropped: u64, quarantined: u64) -> StepStats {
        let mut s = StepStats::named(name);
        s.documents_in = kept + dropped + quarantined;
        s.kept = kept;
        if dropped > 0 {
            s.dropped.insert("too_short".into(), dropped);
        }
        s.quarantined = quarantined;
        s
    }

    #[test]
    fn unbalanced_step_is_named() {
        let mut s = step("length", 3, 1, 0);
        s.kept = 2;
        let err = s.check_balance().unwrap_err();
        assert!(err.contains("length") && err.contains("4 in"), "{err}");
    }

    #[test]
    fn chain_must_connect() {
        let t = TaskStats {
            steps: vec![step("read", 5, 0, 1), step("length", 3, 1, 0)],
            ..Default::default()
        };
        assert!(t.check().unwrap_err().contains("received 4"));
    }

    #[test]
    fn counters_written_before_reuse_existed_still_read() {
        let old = r#"{"name":"length","documents_in":3,"kept":2,"dropped":{"too_short":1},
            "quarantined":0,"bytes_in":30,"bytes_out":20,"wall_seconds":0.5,"cpu_seconds":0.25}"#;
        let s: StepStats = serde_json::from_str(old).unwrap();
        assert_eq!(
            (s.kept, s.reused_documents, s.saved_cpu_seconds),
            (2, 0, 0.0)
        );
        let mut sum = s.clone();
        let mut reused = s;
        reused.reused_documents = 3;
        reused.saved_cpu_seconds = 0.25;
        sum += &reused;
        assert_eq!((sum.reused_documents, sum.saved_cpu_seconds), (3, 0.25));
    }

    proptest! {
        #[test]
        fn sums_keep_balance(parts in proptest::collection::vec((0u64..50, 0u64..50, 0u64..5), 1..8)) {
            let mut total = TaskStats::default();
            for (k, d, q) in &parts {
                let t = TaskStats { tasks: 1, steps: vec![step("read", k + d, 0, *q), step("length", *k, *d, 0)], ..Default::default() };
                t.check().unwrap();
                total += &t;
            }
            total.check().unwrap();
            prop_assert_eq!(total.tasks, parts.len() as u64);
            prop_assert_eq!(total.written(), parts.iter().map(|p| p.0).sum::<u64>());
        }
    }
}
