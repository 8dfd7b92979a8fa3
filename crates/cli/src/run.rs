//! `atelier run`, `atelier status` and `atelier task`: a recipe's run, on this machine's
//! threads or as Slurm job arrays, on top of `atelier-runner`.

use anyhow::{Context, Result, bail};
use atelier_core::recipe::ExecutorKind;
use atelier_core::stats::human_bytes;
use atelier_runner::{Job, Mode, RunError, RunSummary, SlurmOptions, SlurmOutcome, run_slurm};
use clap::Args;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::project::Project;

/// What `atelier run` was asked.
#[derive(Args)]
pub struct RunArgs {
    /// The recipe file.
    #[arg(default_value = "atelier.toml")]
    recipe: PathBuf,
    /// Worker threads (default: the number of CPUs).
    #[arg(short, long)]
    workers: Option<usize>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Print the run summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Slurm executor: submit the job arrays and return; `atelier status` and a
    /// later `atelier run` follow them.
    #[arg(long)]
    detach: bool,
    /// Slurm executor: print the sbatch scripts instead of submitting them.
    #[arg(long)]
    dry_run: bool,
}

/// `atelier run`: the dataset, then the recipe's model when it has a `[train]` section.
pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let project = Project::load(&args.recipe)?;
    let recipe = &project.recipe;
    let progress = !args.quiet && !args.json && std::io::stderr().is_terminal();
    // Sources with a crawl fetch first (a finished crawl resumes to nothing new); with
    // --json the crawl's account goes to stderr, stdout keeping the run's summary.
    let mut fetched = Vec::new();
    for (folder, config) in &project.crawls {
        let cpu = atelier_bill::energy::process_cpu_seconds();
        let summary = crate::fetch::crawl::crawl_with_progress(config, folder)
            .with_context(|| format!("crawling into {}", folder.display()))?;
        fetched.push(crate::fetch::crawl::step_stats(
            &summary,
            atelier_bill::energy::process_cpu_seconds() - cpu,
        ));
        if !args.quiet {
            if args.json {
                crate::fetch::crawl::print_summary(
                    &mut std::io::stderr().lock(),
                    &summary,
                    folder,
                )?;
            } else {
                crate::fetch::crawl::print_summary(
                    &mut std::io::stdout().lock(),
                    &summary,
                    folder,
                )?;
            }
        }
    }
    let outcome = match recipe.executor.kind {
        ExecutorKind::Local => {
            if args.detach || args.dry_run {
                bail!("--detach and --dry-run need `kind = \"slurm\"` in the recipe's [executor]");
            }
            atelier_runner::run(
                recipe,
                &atelier_runner::RunOptions {
                    workers: crate::workers::count(args.workers),
                    progress,
                    after: project.tokenize_stage()?,
                },
            )
        }
        ExecutorKind::Slurm => {
            let job = Job::new(recipe, Mode::Plan, project.tokenize_stage()?)?;
            let options = SlurmOptions {
                program: std::env::current_exe().context("locating the atelier program")?,
                detach: args.detach,
                dry_run: args.dry_run,
                progress: !args.quiet && !args.json,
            };
            match run_slurm(&job, &options) {
                Ok(SlurmOutcome::Done(summary)) => Ok(summary),
                Ok(SlurmOutcome::Detached { jobs }) => {
                    println!(
                        "submitted job arrays {}; follow with `atelier status {}`",
                        jobs.join(", "),
                        recipe.path.display()
                    );
                    return Ok(ExitCode::SUCCESS);
                }
                Ok(SlurmOutcome::DryRun(scripts)) => {
                    for script in scripts {
                        println!("{script}");
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                Err(e) => Err(e),
            }
        }
    };
    let mut summary = match outcome {
        Ok(summary) => summary,
        Err(e @ RunError::TooMuchQuarantined { .. }) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    if !fetched.is_empty() {
        // The crawls lead the summary the bill reads.
        summary.fetched = fetched;
        let path = summary.output.join("summary.json");
        let json = serde_json::to_vec_pretty(&summary)?;
        atelier_core::atomic::write_atomic(&path, &json)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        print_summary(&mut out, &summary)?;
    }
    // The model is trained on the version the run made; with --json only the run's
    // summary is printed (`atelier versions --json` lists the model).
    if let Some(version) = &summary.version
        && project.train.is_some()
    {
        if args.json {
            crate::train::train(&project, Some(version), &mut std::io::sink())?;
        } else {
            crate::train::train(&project, Some(version), &mut out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `atelier status`: per stage, its tasks done (a marker), running and queued (in
/// Slurm's queue), failed (left the queue without a marker), and not started: without
/// a marker and in no queue, because no run has submitted them yet or the run that would
/// have run them stopped. The five add up to the stage's tasks.
pub fn status(recipe: &Path) -> Result<ExitCode> {
    let project = Project::load(recipe)?;
    let job = Job::new(&project.recipe, Mode::Task, project.tokenize_stage()?)?;
    let stages = atelier_runner::slurm::status(&job)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<28} {:>6} {:>6} {:>8} {:>7} {:>7} {:>12}",
        "stage", "tasks", "done", "running", "queued", "failed", "not started"
    )?;
    let mut not_started = 0;
    for stage in &stages {
        let waiting = stage
            .tasks
            .saturating_sub(stage.done + stage.running + stage.queued + stage.failed.len());
        not_started += waiting;
        writeln!(
            out,
            "{:<28} {:>6} {:>6} {:>8} {:>7} {:>7} {:>12}",
            stage.name,
            stage.tasks,
            stage.done,
            stage.running,
            stage.queued,
            stage.failed.len(),
            waiting
        )?;
        for (rank, log) in &stage.failed {
            writeln!(out, "    task {rank} failed; log: {}", log.display())?;
        }
    }
    let complete = stages.iter().all(|stage| stage.done == stage.tasks);
    writeln!(
        out,
        "{}",
        if complete { "complete" } else { "not complete" }
    )?;
    if not_started > 0 {
        let by = match project.recipe.executor.kind {
            ExecutorKind::Local => {
                "a local `atelier run` in progress runs them on its threads; else the next \
                 `atelier run` does"
            }
            ExecutorKind::Slurm => "the next `atelier run` submits them",
        };
        writeln!(
            out,
            "not started: {not_started} task(s) without a marker and in no queue; {by}"
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `atelier task`.
pub fn task(recipe: &Path, stage: &str, rank: usize) -> Result<ExitCode> {
    let project = Project::load(recipe)?;
    let job = Job::new(&project.recipe, Mode::Task, project.tokenize_stage()?)?;
    let Some(index) = job.stage_named(stage) else {
        let names: Vec<&str> = job.stages().iter().map(|s| s.name.as_str()).collect();
        bail!(
            "no stage `{stage}` in this run; its stages are {}",
            names.join(", ")
        );
    };
    job.run_task(index, rank, &|_| {})?;
    Ok(ExitCode::SUCCESS)
}

/// The run for people: the funnel, what was written, the time it took, the version.
fn print_summary(out: &mut impl Write, summary: &RunSummary) -> std::io::Result<()> {
    let stats = &summary.stats;
    writeln!(
        out,
        "dataset `{}` -> {} ({} tasks, {} resumed from an earlier run)",
        summary.dataset,
        summary.output.display(),
        summary.tasks,
        summary.tasks_resumed
    )?;
    crate::funnel::print(out, stats)?;
    let shard_bytes: u64 = summary
        .shards
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    writeln!(
        out,
        "{} documents in {} shard(s), {}; {} quarantined{}",
        stats.written(),
        summary.shards.len(),
        human_bytes(shard_bytes),
        stats.quarantined(),
        if summary.quarantine.is_empty() {
            String::new()
        } else {
            format!(" (see {})", summary.output.join("quarantine").display())
        }
    )?;
    if !summary.skipped_files.is_empty() {
        writeln!(
            out,
            "{} file(s) skipped for an unknown extension (set `format` on the source to read them)",
            summary.skipped_files.len()
        )?;
    }
    if !summary.unversioned_files.is_empty() {
        writeln!(
            out,
            "warning: {} remote file(s) give neither ETag nor Last-Modified, so their work is \
             never reused: they are read again on every run ({})",
            summary.unversioned_files.len(),
            summary.unversioned_files.join(", ")
        )?;
    }
    writeln!(
        out,
        "{} files read, {:.2} s wall over all tasks, {:.2} s CPU, peak memory {}",
        stats.files,
        stats.wall_seconds,
        stats.cpu_seconds,
        human_bytes(stats.peak_rss_bytes)
    )?;
    let saved = stats.saved_cpu_seconds();
    if saved > 0.0 {
        writeln!(
            out,
            "work reused from the project store saved {saved:.2} s CPU"
        )?;
    }
    if let Some(version) = &summary.version {
        writeln!(out, "version {version} (now `latest`)")?;
    }
    Ok(())
}
