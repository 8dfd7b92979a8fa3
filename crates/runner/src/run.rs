//! A whole run: plan, skip the tasks a previous run finished, run the rest on a pool of
//! worker threads, merge the counters and check them.

use atelier_core::recipe::RecipeStep;
use atelier_core::{Barrier, BarrierContext, Recipe, TaskStats};
use atelier_io::ReadOptions;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::measure::{Stopwatch, peak_rss_bytes};
use crate::plan::{Plan, plan};
use crate::task::{Layout, MapInput, MapOutput, MapTask, Marker, run_map, write_atomic};

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
///
/// The recipe's steps are cut at each barrier step. The first map stage reads the sources;
/// each barrier then runs its middle stages; the next map stage reads what the previous
/// one kept back through the barrier's decider, and so on until the last map stage writes
/// the dataset.
pub fn run(recipe: &Recipe, options: &RunOptions) -> Result<RunSummary, RunError> {
    let plan = plan(recipe)?;
    let layout = Layout {
        root: &recipe.output.path,
    };
    prepare_output(&plan, &layout)?;
    let world = plan.tasks.len();
    let segments = segments(recipe, &layout, world)?;
    let read = ReadOptions {
        max_record_bytes: recipe.dataset.max_record_bytes,
    };
    let suffix = recipe.output.compression.suffix();
    let pool = Pool {
        layout: &layout,
        fingerprint: &plan.fingerprint,
        options,
    };

    let mut stats = TaskStats::default();
    let mut tasks_resumed = 0;
    let mut barrier_costs: Vec<(usize, TaskStats)> = Vec::new();
    for (m, segment) in segments.iter().enumerate() {
        let previous = m.checked_sub(1).map(|p| &segments[p]);
        let bytes = if m == 0 { plan.bytes() } else { 0 };
        let (results, resumed) =
            pool.stage(&format!("map{m}"), world, bytes, &|rank, progress| {
                let input = match previous {
                    None => MapInput::Units(&plan.tasks[rank].units),
                    Some(_) => MapInput::Intermediate(layout.intermediate(m - 1, rank)),
                };
                let decider = match previous.and_then(|p| p.barrier.as_ref()) {
                    Some(b) => Some((
                        b.name,
                        b.runtime
                            .decider(&b.context, rank)
                            .map_err(|e| b.error(&e))?,
                    )),
                    None => None,
                };
                let output = match &segment.barrier {
                    Some(b) => MapOutput::Barrier(
                        b.runtime
                            .observer(&b.context, rank)
                            .map_err(|e| b.error(&e))?,
                        layout.intermediate(m, rank),
                    ),
                    None => {
                        MapOutput::Dataset(layout.shard(rank, suffix), recipe.output.compression)
                    }
                };
                let task = MapTask {
                    stage: m,
                    rank,
                    input,
                    decider,
                    steps: segment.steps,
                    output,
                    read,
                };
                run_map(task, &layout, progress)
            })?;
        if m == 0 {
            tasks_resumed = resumed;
        }
        stats = concat(stats, &results);
        if let Some(b) = &segment.barrier {
            let mut cost = TaskStats::default();
            for stage in b.runtime.stages(&b.context) {
                let name = format!(
                    "{}.{}",
                    b.context
                        .work
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy(),
                    stage.name
                );
                let (results, _) = pool.stage(&name, stage.tasks, 0, &|rank, _| {
                    let clock = Stopwatch::start();
                    (stage.run)(rank).map_err(|e| {
                        b.error(&format!("stage `{}` task {rank}: {e}", stage.name))
                    })?;
                    let (wall_seconds, cpu_seconds) = clock.elapsed();
                    Ok(TaskStats {
                        wall_seconds,
                        cpu_seconds,
                        peak_rss_bytes: peak_rss_bytes(),
                        ..TaskStats::default()
                    })
                })?;
                for r in &results {
                    cost += r;
                }
            }
            barrier_costs.push((b.position, cost));
        }
    }
    // Barrier stages count as time spent in the barrier step.
    for (position, cost) in &barrier_costs {
        let step = &mut stats.steps[*position];
        step.wall_seconds += cost.wall_seconds;
        step.cpu_seconds += cost.cpu_seconds;
        stats.wall_seconds += cost.wall_seconds;
        stats.cpu_seconds += cost.cpu_seconds;
        stats.peak_rss_bytes = stats.peak_rss_bytes.max(cost.peak_rss_bytes);
    }
    stats.check().map_err(RunError::Counts)?;

    let summary = RunSummary {
        dataset: recipe.name(),
        output: recipe.output.path.clone(),
        tasks: world,
        tasks_resumed,
        shards: (0..world)
            .map(|r| layout.shard(r, suffix))
            .filter(|p| p.exists())
            .collect(),
        quarantine: files_in(&layout.root.join("quarantine")),
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

/// A run of per-document steps, and the barrier step that ends it (if any).
struct Segment<'a> {
    steps: &'a [RecipeStep],
    barrier: Option<BarrierStep>,
}

struct BarrierStep {
    name: &'static str,
    /// Its place in the run's step counters (after `read`).
    position: usize,
    runtime: Box<dyn Barrier>,
    context: BarrierContext,
}

impl BarrierStep {
    fn error(&self, message: &str) -> RunError {
        RunError::Step(format!("step `{}`: {message}", self.name))
    }
}

fn segments<'a>(
    recipe: &'a Recipe,
    layout: &Layout<'_>,
    world: usize,
) -> Result<Vec<Segment<'a>>, RunError> {
    let mut segments = Vec::new();
    let mut start = 0;
    for (i, step) in recipe.steps.iter().enumerate() {
        if let Some(runtime) = step.config.barrier() {
            let work = layout.barrier_work(i, step.config.name());
            std::fs::create_dir_all(&work)
                .map_err(|e| RunError::Io(format!("{}: {e}", work.display())))?;
            let context = BarrierContext {
                work,
                world,
                output: layout.root.to_path_buf(),
            };
            let barrier = BarrierStep {
                name: step.config.name(),
                position: i + 1,
                runtime,
                context,
            };
            segments.push(Segment {
                steps: &recipe.steps[start..i],
                barrier: Some(barrier),
            });
            start = i + 1;
        }
    }
    segments.push(Segment {
        steps: &recipe.steps[start..],
        barrier: None,
    });
    Ok(segments)
}

/// Appends one stage's counters (summed over its tasks) to the run's.
fn concat(mut run: TaskStats, stage: &[TaskStats]) -> TaskStats {
    let mut sum = TaskStats::default();
    for task in stage {
        sum += task;
    }
    run.tasks += sum.tasks;
    run.files += sum.files;
    run.steps.extend(sum.steps);
    run.wall_seconds += sum.wall_seconds;
    run.cpu_seconds += sum.cpu_seconds;
    run.peak_rss_bytes = run.peak_rss_bytes.max(sum.peak_rss_bytes);
    run
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| !p.to_string_lossy().ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Runs the tasks of one stage on the worker threads, skipping those a previous run
/// finished, and leaves a marker for each task that completes.
struct Pool<'a> {
    layout: &'a Layout<'a>,
    fingerprint: &'a str,
    options: &'a RunOptions,
}

type StageFn<'f> = dyn Fn(usize, &(dyn Fn(u64) + Sync)) -> Result<TaskStats, RunError> + Sync + 'f;

impl Pool<'_> {
    /// Returns every task's counters, by rank, and how many were resumed from markers.
    fn stage(
        &self,
        stage: &str,
        count: usize,
        bytes: u64,
        task: &StageFn<'_>,
    ) -> Result<(Vec<TaskStats>, usize), RunError> {
        let mut done: Vec<Option<TaskStats>> =
            (0..count).map(|rank| self.marker(stage, rank)).collect();
        let pending: Vec<usize> = (0..count).filter(|&r| done[r].is_none()).collect();
        let resumed = count - pending.len();
        let bar = progress_bar(
            self.options.progress,
            stage,
            if bytes > 0 {
                bytes
            } else {
                pending.len() as u64
            },
            bytes > 0,
        );
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let results = Mutex::new(Vec::new());
        let workers = self.options.workers.clamp(1, pending.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    while !stop.load(Ordering::SeqCst) {
                        let Some(&rank) = pending.get(next.fetch_add(1, Ordering::SeqCst)) else {
                            break;
                        };
                        let result = task(rank, &|n| {
                            if bytes > 0 {
                                bar.inc(n)
                            }
                        })
                        .and_then(|stats| {
                            let marker = Marker {
                                fingerprint: self.fingerprint.to_owned(),
                                stage: stage.to_owned(),
                                rank,
                                stats,
                            };
                            let json =
                                serde_json::to_vec_pretty(&marker).expect("marker serializes");
                            write_atomic(&self.layout.marker(stage, rank), &json)
                                .map_err(|e| RunError::Io(e.to_string()))?;
                            Ok(marker.stats)
                        });
                        if bytes == 0 {
                            bar.inc(1);
                        }
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
        Ok((
            done.into_iter()
                .map(|d| d.expect("every task ran or was resumed"))
                .collect(),
            resumed,
        ))
    }

    fn marker(&self, stage: &str, rank: usize) -> Option<TaskStats> {
        let bytes = std::fs::read(self.layout.marker(stage, rank)).ok()?;
        let marker: Marker = serde_json::from_slice(&bytes).ok()?;
        (marker.fingerprint == self.fingerprint && marker.rank == rank && marker.stage == stage)
            .then_some(marker.stats)
    }
}

/// Makes the output folder ready: a plan that differs from the last run's starts over
/// (its shards, quarantine, markers, work files and index removed); leftovers of killed
/// tasks (`*.tmp`) go in any case.
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
    if !same_plan {
        for entry in std::fs::read_dir(layout.root).map_err(io)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("part-") || name == "summary.json" {
                std::fs::remove_file(entry.path()).map_err(io)?;
            }
        }
        for dir in [
            layout.root.join("quarantine"),
            layout.root.join("index"),
            layout.state().join("tasks"),
            layout.state().join("work"),
        ] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(io)?;
            }
        }
        let json = serde_json::to_vec_pretty(plan).expect("plan serializes");
        write_atomic(&plan_path, &json).map_err(io)?;
    }
    remove_temporaries(layout.root).map_err(io)
}

fn remove_temporaries(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            remove_temporaries(&path)?;
        } else if path.to_string_lossy().ends_with(".tmp") {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
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
