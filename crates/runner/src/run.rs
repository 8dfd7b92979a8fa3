//! What every executor shares: how to run, why a run failed, what it did.
//!
//! Errors print their causes in their own message and do not also return them from
//! `source()`, so that a chain printed with `{:#}` names each cause once.

use atelier_bill::EnergyRecord;
use atelier_core::recipe::RecipeErrors;
use atelier_core::{BoxError, ShardStage, StepStats, TaskStats};
use serde::Serialize;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Worker threads; each runs one task at a time.
    pub workers: usize,
    /// Draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
    /// The stage run on the written dataset (the recipe's `[tokenize]`), if any.
    pub after: Option<Arc<dyn ShardStage>>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An input could not be listed.
    #[error("input: {0}")]
    Input(String),
    /// Reading or writing a file failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        error: io::Error,
    },
    /// An input file this user may not read: the run stops, rather than count a whole
    /// file as one quarantined record.
    #[error("cannot read input file {}: {error}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: io::Error,
    },
    /// A step, a part of a barrier step or the stage after the dataset failed.
    #[error("step `{step}`: {error}")]
    Step {
        /// The step's name.
        step: String,
        /// What went wrong.
        error: BoxError,
    },
    /// A task that the stage does not have was asked for.
    #[error("stage {stage} has {tasks} tasks; there is no task {rank}")]
    NoSuchTask {
        /// The stage's name.
        stage: String,
        /// Its number of tasks.
        tasks: usize,
        /// The rank asked for.
        rank: usize,
    },
    /// A section of the recipe that the runner reads is invalid.
    #[error("{0}")]
    Recipe(RecipeErrors),
    /// Counters did not add up: a bug, reported loudly.
    #[error("counters do not add up: {0}")]
    Counts(String),
    /// Some tasks failed.
    #[error("{} task(s) failed:\n  {}", .0.len(), .0.join("\n  "))]
    Tasks(Vec<String>),
    /// The scheduler could not be used.
    #[error("{0}")]
    Scheduler(String),
    /// The recipe or inputs changed since the run was planned.
    #[error("{0}")]
    Stale(String),
    /// The project store refused (another run holds the project, say) or failed.
    #[error(transparent)]
    Store(#[from] atelier_store::StoreError),
    /// The run completed but quarantined more than the recipe accepts.
    #[error(
        "{quarantined} of {records} records ({:.2}%) were quarantined, above the recipe's \
         max_quarantined_fraction of {:.2}%; see {}",
        100.0 * *quarantined as f64 / (*records).max(1) as f64, 100.0 * limit, folder.display()
    )]
    TooMuchQuarantined {
        /// Records quarantined.
        quarantined: u64,
        /// Records read.
        records: u64,
        /// The recipe's limit.
        limit: f64,
        /// Where the quarantine files are.
        folder: PathBuf,
    },
}

// Pinned format as `summary.json` (tests/data/formats/summary.json), with no version
// field: a change must add one and keep reading summaries without it.
/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The dataset's name.
    pub dataset: String,
    /// The output folder.
    pub output: PathBuf,
    /// Tasks in the plan.
    pub tasks: usize,
    /// Tasks a previous, interrupted run had already finished.
    pub tasks_resumed: usize,
    /// The shards written, in rank order.
    pub shards: Vec<PathBuf>,
    /// Quarantine files, in rank order.
    pub quarantine: Vec<PathBuf>,
    /// Files skipped for an unknown extension.
    pub skipped_files: Vec<PathBuf>,
    /// Remote files read again on every run: their server gives neither `ETag` nor
    /// `Last-Modified`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unversioned_files: Vec<String>,
    /// Counters summed over all tasks.
    pub stats: TaskStats,
    /// Energy summed over all tasks, measured or estimated (each record says which).
    pub energy: EnergyRecord,
    /// The dataset version the run was committed as, when the project keeps versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Work done before the run read anything, one entry each (a source's crawl: URLs
    /// settled in, pages kept, bytes fetched, its times); the command that did it adds
    /// them, so that the bill counts them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fetched: Vec<StepStats>,
}

impl RunError {
    /// A function making an [`RunError::Io`] about `path`, for `map_err`.
    pub fn io(path: &Path) -> impl FnOnce(io::Error) -> RunError + '_ {
        move |error| RunError::Io {
            path: path.to_owned(),
            error,
        }
    }

    /// A [`RunError::Step`].
    pub fn step(step: &str, error: impl Into<BoxError>) -> RunError {
        RunError::Step {
            step: step.to_owned(),
            error: error.into(),
        }
    }
}
