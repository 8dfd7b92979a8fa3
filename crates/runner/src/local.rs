//! The local executor: every stage's pending tasks on a pool of worker threads of this
//! process. A worker with no task left to start helps the running ones with their units
//! (the `share` module).

use atelier_core::Recipe;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::job::{Job, Mode};
use crate::run::{RunError, RunOptions, RunSummary};

/// Runs a recipe to completion with worker threads, resuming an interrupted run of the
/// same plan.
pub fn run(recipe: &Recipe, options: &RunOptions) -> Result<RunSummary, RunError> {
    let job = Job::new(recipe, Mode::Plan, options.after.clone())?;
    let mut tasks_resumed = 0;
    for stage in 0..job.stages().len() {
        let resumed = run_stage(&job, stage, options)?;
        atelier_core::fault::crash_at(&job.stages()[stage].name);
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
    let progress = |n| {
        if by_bytes {
            bar.inc(n)
        }
    };
    let board = job.board(&progress);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failures = Mutex::new(Vec::new());
    let workers = options.workers.max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    let task = || pending.get(next.fetch_add(1, Ordering::SeqCst)).copied();
                    let Some(taken) = board.take_task(task) else {
                        // No task left to start: help those still running, unit by unit.
                        while !stop.load(Ordering::SeqCst) {
                            if !board.help() {
                                break;
                            }
                        }
                        break;
                    };
                    let rank = taken.rank;
                    let result = job.run_task_shared(stage, rank, &progress, Some(&board));
                    drop(taken);
                    if !by_bytes {
                        bar.inc(1);
                    }
                    if let Err(e) = result {
                        stop.store(true, Ordering::SeqCst);
                        failures
                            .lock()
                            .expect("no panics holding the lock")
                            .push(format!("{} task {rank}: {e}", info.name));
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
