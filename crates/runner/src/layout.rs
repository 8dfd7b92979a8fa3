//! Where a run's files go in the output folder, and the marker a finished task leaves.

use atelier_bill::EnergyRecord;
use atelier_core::TaskStats;
use atelier_core::atomic::write_atomic;
use atelier_store::Hash;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::run::RunError;

// Pinned format (tests/data/formats/marker.json), with no version field: a change must
// add one and keep reading markers without it.
/// What a finished task leaves behind: its counters, tied to the plan it ran under.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Marker {
    /// The plan's fingerprint.
    pub fingerprint: String,
    /// The stage the task belongs to.
    pub stage: String,
    /// The task's rank within its stage.
    pub rank: usize,
    /// The task's counters.
    pub stats: TaskStats,
    /// The energy it used, measured or estimated.
    #[serde(default)]
    pub energy: EnergyRecord,
    /// The records of the project store the task used or made (first map stage, and the
    /// stage after the dataset).
    #[serde(default)]
    pub keys: Vec<Hash>,
}

/// Where everything goes, relative to the output folder.
pub struct Layout<'a> {
    /// The output folder.
    pub root: &'a Path,
}

impl Layout<'_> {
    /// The dataset shard of a task.
    pub fn shard(&self, rank: usize, suffix: &str) -> PathBuf {
        self.root.join(format!("part-{rank:05}.jsonl{suffix}"))
    }
    /// The quarantine file of a map stage's task; the first map stage's files are plain
    /// `part-NNNNN.jsonl`.
    pub fn quarantine(&self, map_stage: usize, rank: usize) -> PathBuf {
        let name = match map_stage {
            0 => format!("part-{rank:05}.jsonl"),
            n => format!("part-{rank:05}.map{n}.jsonl"),
        };
        self.root.join("quarantine").join(name)
    }
    /// The folder of the run's bookkeeping.
    pub fn state(&self) -> PathBuf {
        self.root.join(".atelier")
    }
    /// The completion marker of a stage's task.
    pub fn marker(&self, stage: &str, rank: usize) -> PathBuf {
        self.state()
            .join("tasks")
            .join(stage)
            .join(format!("{rank:05}.json"))
    }
    /// What the stages pass each other while the run lasts: intermediate shards and
    /// the barriers' files.
    pub fn work(&self) -> PathBuf {
        self.state().join("work")
    }
    /// The work folder of the barrier that is step number `step` (from 0) of the recipe.
    pub fn barrier_work(&self, step: usize, name: &str) -> PathBuf {
        self.work().join(format!("step{step}-{name}"))
    }
    /// The intermediate shard a map task writes for the barrier that follows it.
    pub fn intermediate(&self, map_stage: usize, rank: usize) -> PathBuf {
        self.work()
            .join(format!("map{map_stage}"))
            .join(format!("part-{rank:05}.jsonl.zst"))
    }
    /// Leaves a finished task's marker, atomically.
    pub fn write_marker(&self, marker: &Marker) -> Result<(), RunError> {
        let path = self.marker(&marker.stage, marker.rank);
        let json = serde_json::to_vec_pretty(marker).expect("marker serializes");
        write_atomic(&path, &json).map_err(RunError::io(&path))
    }
}
