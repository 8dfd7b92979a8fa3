//! A whole run: plan, skip the tasks a previous run finished, run the rest on a pool of
//! worker threads, merge the counters and check them.

use atelier_core::{Recipe, TaskStats};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::plan::{Plan, plan};
use crate::task::{Layout, Marker, run_task, write_atomic};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Worker threads; each runs one task at a time.
    pub workers: usize,
    /// Draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
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
}

/// Runs a recipe to completion, resuming an interrupted run of the same plan.
pub fn run(recipe: &Recipe, options: &RunOptions) -> Result<RunSummary, RunError> {
    let plan = plan(recipe)?;
    let layout = Layout {
        root: &recipe.output.path,
    };
    prepare_output(&plan, &layout)?;

    let mut done: Vec<Option<TaskStats>> = plan
        .tasks
        .iter()
        .map(|t| read_marker(&layout, t.rank, &plan.fingerprint))
        .collect();
    let pending: Vec<usize> = done
        .iter()
        .enumerate()
        .filter(|(_, d)| d.is_none())
        .map(|(r, _)| r)
        .collect();
    let tasks_resumed = plan.tasks.len() - pending.len();

    let bar = progress_bar(
        options.progress,
        pending.iter().map(|&r| plan.tasks[r].bytes).sum(),
    );
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results = Mutex::new(Vec::new());
    let workers = options.workers.clamp(1, pending.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    let Some(&rank) = pending.get(next.fetch_add(1, Ordering::SeqCst)) else {
                        break;
                    };
                    let result = run_task(
                        recipe,
                        &plan.tasks[rank],
                        &plan.fingerprint,
                        &layout,
                        &|n| bar.inc(n),
                    );
                    if result.is_err() {
                        stop.store(true, Ordering::SeqCst);
                    }
                    results
                        .lock()
                        .expect("no worker panics holding the lock")
                        .push((rank, result));
                }
            });
        }
    });
    bar.finish_and_clear();

    let mut failures = Vec::new();
    for (rank, result) in results.into_inner().expect("workers joined") {
        match result {
            Ok(stats) => done[rank] = Some(stats),
            Err(e) => failures.push(e.to_string()),
        }
    }
    if !failures.is_empty() {
        return Err(RunError::Tasks(failures));
    }

    let mut stats = TaskStats::default();
    for task_stats in done.iter().flatten() {
        stats += task_stats;
    }
    stats.check().map_err(RunError::Counts)?;
    let existing =
        |paths: Vec<PathBuf>| paths.into_iter().filter(|p| p.exists()).collect::<Vec<_>>();
    let suffix = recipe.output.compression.suffix();
    let summary = RunSummary {
        dataset: recipe.name(),
        output: recipe.output.path.clone(),
        tasks: plan.tasks.len(),
        tasks_resumed,
        shards: existing(
            plan.tasks
                .iter()
                .map(|t| layout.shard(t.rank, suffix))
                .collect(),
        ),
        quarantine: existing(
            plan.tasks
                .iter()
                .map(|t| layout.quarantine(t.rank))
                .collect(),
        ),
        skipped_files: plan.skipped.clone(),
        stats,
    };
    let json = serde_json::to_vec_pretty(&summary).expect("summary serializes");
    write_atomic(&layout.root.join("summary.json"), &json)
        .map_err(|e| RunError::Io(e.to_string()))?;

    let records = summary.stats.records();
    let quarantined = summary.stats.quarantined();
    let limit = recipe.dataset.max_quarantined_fraction;
    if quarantined as f64 > limit * records as f64 {
        return Err(RunError::TooMuchQuarantined {
            quarantined,
            records,
            limit,
            folder: layout.root.join("quarantine"),
        });
    }
    Ok(summary)
}

/// Makes the output folder ready: a plan that differs from the last run's starts over
/// (its shards, quarantine and markers removed); leftovers of killed tasks go.
fn prepare_output(plan: &Plan, layout: &Layout<'_>) -> Result<(), RunError> {
    let io = |e: std::io::Error| RunError::Io(format!("{}: {e}", layout.root.display()));
    let plan_path = layout.state().join("plan.json");
    let previous = std::fs::read(&plan_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| {
            v.get("fingerprint")
                .and_then(|f| f.as_str())
                .map(str::to_owned)
        });
    let same_plan = previous.as_deref() == Some(plan.fingerprint.as_str());
    std::fs::create_dir_all(layout.root).map_err(io)?;
    for dir in [
        layout.root.to_path_buf(),
        layout.root.join("quarantine"),
        layout.state().join("tasks"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours =
                name.starts_with("part-") || dir.ends_with("tasks") || name == "summary.json";
            if name.ends_with(".tmp") || (!same_plan && ours) {
                std::fs::remove_file(entry.path()).map_err(io)?;
            }
        }
    }
    if !same_plan {
        let json = serde_json::to_vec_pretty(plan).expect("plan serializes");
        write_atomic(&plan_path, &json).map_err(io)?;
    }
    Ok(())
}

fn read_marker(layout: &Layout<'_>, rank: usize, fingerprint: &str) -> Option<TaskStats> {
    let bytes = std::fs::read(layout.marker(rank)).ok()?;
    let marker: Marker = serde_json::from_slice(&bytes).ok()?;
    (marker.fingerprint == fingerprint && marker.rank == rank).then_some(marker.stats)
}

fn progress_bar(enabled: bool, total: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, eta {eta})")
            .expect("valid template"),
    );
    bar
}
