//! The local executor: every stage's pending tasks on a pool of worker threads of this
//! process. Also the types every executor shares: options, errors, the summary.

use atelier_bill::EnergyRecord;
use atelier_core::{Recipe, ShardStage, TaskStats};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::job::{Job, Mode};

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
    /// Writing output or bookkeeping failed.
    #[error("i/o: {0}")]
    Io(String),
    /// A step could not be built.
    #[error("{0}")]
    Step(String),
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
    /// Counters summed over all tasks.
    pub stats: TaskStats,
    /// Energy summed over all tasks, measured or estimated (each record says which).
    pub energy: EnergyRecord,
    /// The dataset version the run was committed as, when the project keeps versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Runs a recipe to completion with worker threads, resuming an interrupted run of the
/// same plan.
pub fn run(recipe: &Recipe, options: &RunOptions) -> Result<RunSummary, RunError> {
    let job = Job::new(recipe, Mode::Plan, options.after.clone())?;
    let mut tasks_resumed = 0;
    for stage in 0..job.stages().len() {
        let resumed = run_stage(&job, stage, options)?;
        if stage == 0 {
            tasks_resumed = resumed;
        }
    }
    job.finish(tasks_resumed)
}

/// Runs one stage's pending tasks; returns how many a previous run had finished.
fn run_stage(job: &Job<'_>, stage: usize, options: &RunOptions) -> Result<usize, RunError> {
    let info = &job.stages()[stage];
    let pending: Vec<usize> = (0..info.tasks)
        .filter(|&r| job.marker(stage, r).is_none())
        .collect();
    let by_bytes = info.bytes > 0;
    let total = if by_bytes {
        info.bytes
    } else {
        pending.len() as u64
    };
    let bar = progress_bar(options.progress, &info.name, total, by_bytes);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failures = Mutex::new(Vec::new());
    let workers = options.workers.clamp(1, pending.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    let Some(&rank) = pending.get(next.fetch_add(1, Ordering::SeqCst)) else {
                        break;
                    };
                    let result = job.run_task(stage, rank, &|n| {
                        if by_bytes {
                            bar.inc(n)
                        }
                    });
                    if !by_bytes {
                        bar.inc(1);
                    }
                    if let Err(e) = result {
                        stop.store(true, Ordering::SeqCst);
                        failures
                            .lock()
                            .expect("no panics holding the lock")
                            .push(e.to_string());
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    let failures = failures.into_inner().expect("workers joined");
    if failures.is_empty() {
        Ok(info.tasks - pending.len())
    } else {
        Err(RunError::Tasks(failures))
    }
}

fn progress_bar(enabled: bool, stage: &str, total: u64, bytes: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let counter = if bytes {
        "{binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, eta {eta})"
    } else {
        "{pos}/{len} tasks (eta {eta})"
    };
    let template = format!("{{spinner}} {stage:<6} [{{elapsed_precise}}] {{wide_bar}} {counter}");
    bar.set_style(ProgressStyle::with_template(&template).expect("valid template"));
    bar
}
