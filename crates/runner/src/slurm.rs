//! The Slurm executor: each stage becomes one job array of its pending tasks, chained to
//! the previous stage's arrays with `afterok`; every array element runs
//! `atelier task RECIPE --stage S --rank $SLURM_ARRAY_TASK_ID`, the same code the local
//! executor runs on threads.
//!
//! The run's state lives in files: task markers say what is done, and
//! `.atelier/slurm/jobs.json` remembers the arrays submitted, so running again after a
//! failure resubmits only tasks that have neither a marker nor a live array element.
//! Logs go to `.atelier/logs/<stage>/<rank>.log`, one per task, named in every failure.

use atelier_core::recipe::ExecutorSettings;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::job::Job;
use crate::run::{RunError, RunSummary};
use atelier_core::atomic::write_atomic;

/// How to drive a Slurm run.
#[derive(Debug, Clone)]
pub struct SlurmOptions {
    /// The `atelier` program the array elements run.
    pub program: PathBuf,
    /// Submit and return without following the run.
    pub detach: bool,
    /// Print the sbatch scripts instead of submitting them.
    pub dry_run: bool,
    /// Print progress lines on stderr while following.
    pub progress: bool,
}

/// How a Slurm run ended.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // returned once per run
pub enum SlurmOutcome {
    /// Every task completed; the summary is written.
    Done(RunSummary),
    /// Submitted; `atelier status` and `atelier run` follow it later.
    Detached {
        /// Job ids of the arrays submitted now.
        jobs: Vec<String>,
    },
    /// The scripts that would have been submitted.
    DryRun(Vec<String>),
}

/// The arrays submitted for a run, by stage.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Submitted {
    stages: BTreeMap<String, Vec<Array>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Array {
    job: String,
    ranks: Vec<usize>,
}

/// What the queue says of one array element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// Waiting to start.
    Pending,
    /// Running.
    Running,
}

/// Where one stage stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageStatus {
    /// The stage.
    pub name: String,
    /// Its number of tasks.
    pub tasks: usize,
    /// Tasks with a marker.
    pub done: usize,
    /// Tasks waiting in Slurm's queue.
    pub queued: usize,
    /// Tasks running.
    pub running: usize,
    /// Tasks submitted that left the queue without completing, with their logs.
    pub failed: Vec<(usize, PathBuf)>,
}

/// Plans, submits and (unless detached) follows a run on Slurm.
pub fn run_slurm(job: &Job<'_>, options: &SlurmOptions) -> Result<SlurmOutcome, RunError> {
    let settings = &job.recipe().executor;
    let state = job.layout().state().join("slurm");
    let mut submitted = load(&state);
    let queue = if options.dry_run {
        BTreeMap::new()
    } else {
        queue(&submitted)?
    };
    let mut scripts = Vec::new();
    let mut new_jobs = Vec::new();
    let mut dependency: Vec<String> = Vec::new();
    // Whether an earlier stage got new work: the queued arrays of this one then wait for
    // the earlier arrays only, and could start too soon (or never, behind a cancelled
    // element), so they are cancelled and submitted again.
    let mut upstream_resubmitted = false;
    for (stage, info) in job.stages().iter().enumerate() {
        let is_live = |a: &Array, r: usize| queue.contains_key(&(a.job.clone(), r));
        let mut live: BTreeSet<(String, usize)> = arrays(&submitted, &info.name)
            .flat_map(|a| {
                a.ranks
                    .iter()
                    .copied()
                    .filter(|&r| is_live(a, r))
                    .map(|r| (a.job.clone(), r))
            })
            .collect();
        if upstream_resubmitted && !live.is_empty() {
            let jobs: BTreeSet<&String> = live.iter().map(|(job, _)| job).collect();
            if !options.dry_run {
                let _ = Command::new("scancel").args(jobs).status();
            }
            live.clear();
        }
        let to_submit: Vec<usize> = job
            .pending(stage)
            .into_iter()
            .filter(|r| !live.iter().any(|(_, live)| live == r))
            .collect();
        // Live elements one by one: an array with a cancelled element never satisfies
        // `afterok` as a whole.
        let mut stage_jobs: Vec<String> =
            live.iter().map(|(job, r)| format!("{job}_{r}")).collect();
        upstream_resubmitted |= !to_submit.is_empty();
        if !to_submit.is_empty() {
            let logs = job.layout().state().join("logs").join(&info.name);
            std::fs::create_dir_all(&logs).map_err(RunError::io(&logs))?;
            let script = script(job, &info.name, &to_submit, settings, options, &logs);
            if options.dry_run {
                let after = if dependency.is_empty() {
                    String::new()
                } else {
                    format!(
                        "# submitted with --dependency=afterok:{}\n",
                        dependency.join(":")
                    )
                };
                scripts.push(format!("{after}{script}"));
                stage_jobs.push(format!("<{}>", info.name));
            } else {
                let id = sbatch(&state, &info.name, &script, &dependency)?;
                submitted
                    .stages
                    .entry(info.name.clone())
                    .or_default()
                    .push(Array {
                        job: id.clone(),
                        ranks: to_submit,
                    });
                save(&state, &submitted)?;
                new_jobs.push(id.clone());
                stage_jobs.push(id);
            }
        }
        dependency = stage_jobs;
    }
    if options.dry_run {
        return Ok(SlurmOutcome::DryRun(scripts));
    }
    if options.detach {
        return Ok(SlurmOutcome::Detached { jobs: new_jobs });
    }
    follow(job, &submitted, settings, options.progress)?;
    job.finish(0).map(SlurmOutcome::Done)
}

/// Where every stage stands, from the markers and the queue.
pub fn status(job: &Job<'_>) -> Result<Vec<StageStatus>, RunError> {
    let submitted = load(&job.layout().state().join("slurm"));
    // The queue first, then the markers: a task that left the queue wrote its marker
    // before it exited, so it cannot be missed between the two looks.
    let queue = if submitted.stages.is_empty() {
        BTreeMap::new()
    } else {
        queue(&submitted)?
    };
    let mut out = Vec::new();
    for (stage, info) in job.stages().iter().enumerate() {
        let pending_ranks = job.pending(stage);
        let mut s = StageStatus {
            name: info.name.clone(),
            tasks: info.tasks,
            done: info.tasks - pending_ranks.len(),
            queued: 0,
            running: 0,
            failed: Vec::new(),
        };
        let mut seen = BTreeSet::new();
        // Newest arrays first: a rank resubmitted later supersedes an older failure.
        for array in arrays(&submitted, &info.name)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            for &rank in &array.ranks {
                if !pending_ranks.contains(&rank) || !seen.insert(rank) {
                    continue;
                }
                match queue.get(&(array.job.clone(), rank)) {
                    Some(Live::Pending) => s.queued += 1,
                    Some(Live::Running) => s.running += 1,
                    None => s.failed.push((rank, log_path(job, &info.name, rank))),
                }
            }
        }
        s.failed.sort();
        out.push(s);
    }
    Ok(out)
}

fn follow(
    job: &Job<'_>,
    submitted: &Submitted,
    settings: &ExecutorSettings,
    progress: bool,
) -> Result<(), RunError> {
    let mut last = String::new();
    loop {
        let stages = status(job)?;
        let failed: Vec<String> = stages
            .iter()
            .flat_map(|s| {
                s.failed.iter().map(move |(rank, log)| {
                    format!(
                        "stage {} task {rank} failed after {} attempt(s); log: {}",
                        s.name,
                        settings.attempts,
                        log.display()
                    )
                })
            })
            .collect();
        if let Some(first) = stages.iter().position(|s| !s.failed.is_empty()) {
            // Arrays of later stages wait for the failed one with `afterok`: they would
            // wait forever. Tasks of the failed stage that still run are left to finish,
            // so that running again resubmits only what is missing.
            let later: Vec<String> = stages[first + 1..]
                .iter()
                .flat_map(|s| arrays(submitted, &s.name).map(|a| a.job.clone()))
                .collect();
            if !later.is_empty() {
                let _ = Command::new("scancel").args(&later).status();
            }
            return Err(RunError::Tasks(failed));
        }
        if stages.iter().all(|s| s.done == s.tasks) {
            return Ok(());
        }
        let line = stages
            .iter()
            .map(|s| {
                format!(
                    "{} {}/{} done, {} running, {} queued",
                    s.name, s.done, s.tasks, s.running, s.queued
                )
            })
            .collect::<Vec<_>>()
            .join(" | ");
        if progress && line != last {
            let _ = writeln!(std::io::stderr(), "{line}");
            last = line;
        }
        std::thread::sleep(Duration::from_secs_f64(settings.poll_seconds));
    }
}

fn arrays<'s>(submitted: &'s Submitted, stage: &str) -> impl Iterator<Item = &'s Array> {
    submitted.stages.get(stage).into_iter().flatten()
}

/// The log of one task.
pub fn log_path(job: &Job<'_>, stage: &str, rank: usize) -> PathBuf {
    job.layout()
        .state()
        .join("logs")
        .join(stage)
        .join(format!("{rank}.log"))
}

fn script(
    job: &Job<'_>,
    stage: &str,
    ranks: &[usize],
    s: &ExecutorSettings,
    options: &SlurmOptions,
    logs: &Path,
) -> String {
    let recipe = absolute(&job.recipe().path);
    let mut lines = vec![
        "#!/bin/bash".to_owned(),
        format!("#SBATCH --job-name=atelier-{}-{stage}", job.recipe().name()),
        format!("#SBATCH --array={}", ranges(ranks)),
        format!("#SBATCH --output={}/%a.log", absolute(logs).display()),
        format!("#SBATCH --cpus-per-task={}", s.cpus_per_task),
    ];
    let optional = [
        ("partition", &s.partition),
        ("time", &s.time),
        ("mem", &s.mem),
        ("account", &s.account),
        ("qos", &s.qos),
    ];
    for (flag, value) in optional {
        if let Some(value) = value {
            lines.push(format!("#SBATCH --{flag}={value}"));
        }
    }
    lines.extend(s.sbatch_options.iter().map(|o| format!("#SBATCH {o}")));
    if let Ok(dir) = std::env::current_dir() {
        lines.push(format!("#SBATCH --chdir={}", dir.display()));
    }
    lines.push(format!(
        "for attempt in $(seq 1 {attempts}); do\n  \
         echo \"atelier: stage {stage} task $SLURM_ARRAY_TASK_ID, attempt $attempt of {attempts}\"\n  \
         {program} task {recipe} --stage {stage} --rank \"$SLURM_ARRAY_TASK_ID\" && exit 0\n\
         done\n\
         echo \"atelier: stage {stage} task $SLURM_ARRAY_TASK_ID failed {attempts} time(s)\" >&2\n\
         exit 1",
        attempts = s.attempts,
        program = quote(&absolute(&options.program)),
        recipe = quote(&recipe),
    ));
    lines.join("\n") + "\n"
}

/// `0-3,7,9-10` for Slurm's `--array`.
fn ranges(ranks: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ranks.len() {
        let mut j = i;
        while j + 1 < ranks.len() && ranks[j + 1] == ranks[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            ranks[i].to_string()
        } else {
            format!("{}-{}", ranks[i], ranks[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn sbatch(
    state: &Path,
    stage: &str,
    script: &str,
    dependency: &[String],
) -> Result<String, RunError> {
    let path = state.join(format!("{stage}.sbatch"));
    write_atomic(&path, script.as_bytes()).map_err(RunError::io(&path))?;
    let mut command = Command::new("sbatch");
    command.arg("--parsable");
    if !dependency.is_empty() {
        command.arg(format!("--dependency=afterok:{}", dependency.join(":")));
    }
    let output = command.arg(&path).output().map_err(|e| {
        RunError::Scheduler(format!("cannot run sbatch ({e}): is Slurm installed and on PATH? The recipe's executor is `slurm`"))
    })?;
    if !output.status.success() {
        return Err(RunError::Scheduler(format!(
            "sbatch refused stage {stage} ({}): {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let id = String::from_utf8_lossy(&output.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .to_owned();
    if id.is_empty() {
        return Err(RunError::Scheduler(format!(
            "sbatch gave no job id for stage {stage}"
        )));
    }
    Ok(id)
}

/// The live elements of our arrays: (job id, array index) → state.
fn queue(submitted: &Submitted) -> Result<BTreeMap<(String, usize), Live>, RunError> {
    let ids: BTreeSet<&str> = submitted
        .stages
        .values()
        .flatten()
        .map(|a| a.job.as_str())
        .collect();
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let output = Command::new("squeue")
        .args(["--noheader", "--array", "--format=%i %T", "--jobs"])
        .arg(ids.iter().copied().collect::<Vec<_>>().join(","))
        .output()
        .map_err(|e| {
            RunError::Scheduler(format!(
                "cannot run squeue ({e}): is Slurm installed and on PATH?"
            ))
        })?;
    // squeue fails when none of the jobs is known any more: nothing is live then.
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(parse_queue(&text))
}

fn parse_queue(text: &str) -> BTreeMap<(String, usize), Live> {
    let mut live = BTreeMap::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(id), Some(state)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some((job, index)) = id.split_once('_') else {
            continue;
        };
        let state = match state {
            "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "SUSPENDED" | "CONFIGURING" => Live::Pending,
            "RUNNING" | "COMPLETING" => Live::Running,
            _ => continue,
        };
        // A pending array not yet split shows as `123_[2-5%4]`.
        let index = index
            .trim_start_matches('[')
            .split(['%', ']'])
            .next()
            .unwrap_or("");
        for part in index.split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                for i in a..=b {
                    live.insert((job.to_owned(), i), state);
                }
            }
        }
    }
    live
}

fn load(state: &Path) -> Submitted {
    std::fs::read(state.join("jobs.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save(state: &Path, submitted: &Submitted) -> Result<(), RunError> {
    let json = serde_json::to_vec_pretty(submitted).expect("jobs serialize");
    let path = state.join("jobs.json");
    write_atomic(&path, &json).map_err(RunError::io(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_compress_to_slurm_ranges() {
        assert_eq!(ranges(&[0, 1, 2, 3, 7, 9, 10]), "0-3,7,9-10");
        assert_eq!(ranges(&[5]), "5");
    }

    #[test]
    fn queue_lines_expand_to_elements() {
        let q = parse_queue("12_3 RUNNING\n12_[4-6%2] PENDING\n13_0 COMPLETED\n14_[1,3] PENDING\n");
        assert_eq!(q.get(&("12".into(), 3)), Some(&Live::Running));
        assert_eq!(q.get(&("12".into(), 5)), Some(&Live::Pending));
        assert_eq!(q.get(&("13".into(), 0)), None);
        assert_eq!(q.get(&("14".into(), 3)), Some(&Live::Pending));
        assert_eq!(q.len(), 6);
    }
}
