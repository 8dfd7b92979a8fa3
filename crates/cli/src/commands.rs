//! What each subcommand does, on top of the library crates.

use anyhow::{Context, Result, bail};
use atelier_core::recipe::ExecutorKind;
use atelier_core::stats::human_bytes;
use atelier_core::{Recipe, TaskStats};
use atelier_runner::{
    Job, Mode, RunError, RunOptions, RunSummary, SlurmOptions, SlurmOutcome, run_slurm,
};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use crate::registry::registry;

/// The starter recipe `atelier init` writes.
const STARTER_RECIPE: &str = include_str!("templates/atelier.toml");

/// Loads and validates a recipe, every problem in one error.
pub fn load(recipe: &Path) -> Result<Recipe> {
    let recipe = Recipe::load(recipe, &registry()).map_err(|errors| {
        let n = errors.0.len();
        anyhow::anyhow!("{errors}\n{n} problem(s) in the recipe")
    })?;
    let problems = section_problems(&recipe);
    if !problems.is_empty() {
        bail!(
            "{}\n{} problem(s) in the recipe",
            problems.join("\n"),
            problems.len()
        );
    }
    Ok(recipe)
}

/// What is wrong with the sections other crates read (`[bill]`, `[train]`).
fn section_problems(recipe: &Recipe) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = crate::bill::settings(recipe) {
        problems.push(format!("{e:#}"));
    }
    if let Err(e) = crate::train::settings(recipe) {
        problems.push(format!("{e:#}"));
    }
    problems
}

/// What a run would meet before reading anything: sources that are missing or cannot
/// be read, an output folder that cannot be made, a `[tokenize]` tokenizer that does
/// not load.
fn run_problems(recipe: &Recipe) -> Vec<String> {
    let mut problems = Vec::new();
    let file = recipe.path.display();
    for source in &recipe.sources {
        let path = &source.path;
        let readable = if path.is_dir() {
            std::fs::read_dir(path).map(|_| ())
        } else {
            std::fs::File::open(path).map(|_| ())
        };
        if let Err(e) = readable {
            problems.push(format!("{file}: source {}: {e}", path.display()));
        }
    }
    let mut dir = recipe.output.path.as_path();
    while !dir.exists() {
        match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => dir = parent,
            _ => break,
        }
    }
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => problems.push(format!(
            "{file}: output {}: {} is a file, not a folder",
            recipe.output.path.display(),
            dir.display()
        )),
        Ok(m) if m.permissions().readonly() => problems.push(format!(
            "{file}: output {}: {} is read-only",
            recipe.output.path.display(),
            dir.display()
        )),
        _ => {}
    }
    if let Err(e) = crate::tokens::stage(recipe) {
        problems.push(format!("{e:#}"));
    }
    problems
}

/// How `atelier run` was asked to run.
pub struct RunHow {
    /// Worker threads (local executor).
    pub workers: Option<usize>,
    /// No progress output.
    pub quiet: bool,
    /// The summary as JSON.
    pub json: bool,
    /// Slurm: submit and return.
    pub detach: bool,
    /// Slurm: print the scripts only.
    pub dry_run: bool,
}

/// `atelier run`.
pub fn run(recipe: &Path, how: &RunHow) -> Result<ExitCode> {
    let recipe = load(recipe)?;
    let progress = !how.quiet && !how.json && std::io::stderr().is_terminal();
    let outcome = match recipe.executor.kind {
        ExecutorKind::Local => {
            if how.detach || how.dry_run {
                bail!("--detach and --dry-run need `kind = \"slurm\"` in the recipe's [executor]");
            }
            atelier_runner::run(
                &recipe,
                &RunOptions {
                    workers: workers(how.workers),
                    progress,
                    after: crate::tokens::stage(&recipe)?,
                },
            )
        }
        ExecutorKind::Slurm => {
            let job = Job::new(&recipe, Mode::Plan, crate::tokens::stage(&recipe)?)?;
            let options = SlurmOptions {
                program: std::env::current_exe().context("locating the atelier program")?,
                detach: how.detach,
                dry_run: how.dry_run,
                progress: !how.quiet && !how.json,
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
    let summary = match outcome {
        Ok(summary) => summary,
        Err(e @ RunError::TooMuchQuarantined { .. }) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = std::io::stdout().lock();
    if how.json {
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        print_summary(&mut out, &summary)?;
    }
    // The model is trained on the version the run made; with --json only the run's
    // summary is printed (`atelier versions --json` lists the model).
    if let Some(version) = &summary.version
        && crate::train::settings(&recipe)?.is_some()
    {
        if how.json {
            crate::train::train(&recipe, Some(version), &mut std::io::sink())?;
        } else {
            crate::train::train(&recipe, Some(version), &mut out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `atelier status`.
pub fn status(recipe: &Path) -> Result<ExitCode> {
    let recipe = load(recipe)?;
    let job = Job::new(&recipe, Mode::Task, crate::tokens::stage(&recipe)?)?;
    let stages = atelier_runner::slurm::status(&job)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<28} {:>6} {:>6} {:>8} {:>8} {:>7}",
        "stage", "tasks", "done", "running", "pending", "failed"
    )?;
    for s in &stages {
        writeln!(
            out,
            "{:<28} {:>6} {:>6} {:>8} {:>8} {:>7}",
            s.name,
            s.tasks,
            s.done,
            s.running,
            s.pending,
            s.failed.len()
        )?;
        for (rank, log) in &s.failed {
            writeln!(out, "    task {rank} failed; log: {}", log.display())?;
        }
    }
    let complete = stages.iter().all(|s| s.done == s.tasks);
    writeln!(
        out,
        "{}",
        if complete { "complete" } else { "not complete" }
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `atelier task`.
pub fn task(recipe: &Path, stage: &str, rank: usize) -> Result<ExitCode> {
    let recipe = load(recipe)?;
    let job = Job::new(&recipe, Mode::Task, crate::tokens::stage(&recipe)?)?;
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

fn print_summary(out: &mut impl Write, summary: &RunSummary) -> std::io::Result<()> {
    let s = &summary.stats;
    writeln!(
        out,
        "dataset `{}` -> {} ({} tasks, {} resumed from an earlier run)",
        summary.dataset,
        summary.output.display(),
        summary.tasks,
        summary.tasks_resumed
    )?;
    print_funnel(out, s)?;
    let shard_bytes: u64 = summary
        .shards
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    writeln!(
        out,
        "{} documents in {} shard(s), {}; {} quarantined{}",
        s.written(),
        summary.shards.len(),
        human_bytes(shard_bytes),
        s.quarantined(),
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
    writeln!(
        out,
        "{} files read, {:.2} s wall over all tasks, {:.2} s CPU, peak memory {}",
        s.files,
        s.wall_seconds,
        s.cpu_seconds,
        human_bytes(s.peak_rss_bytes)
    )?;
    let saved = s.saved_cpu_seconds();
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

/// The funnel of a run: per step, documents in, kept, dropped, quarantined and CPU time;
/// with the documents and CPU time reused from the project store when there are any.
pub fn print_funnel(out: &mut impl Write, s: &TaskStats) -> std::io::Result<()> {
    let reuse = s.steps.iter().any(|st| st.reused_documents > 0);
    let extra = |a: &str, b: &str| {
        if reuse {
            format!(" {a:>10} {b:>9}")
        } else {
            String::new()
        }
    };
    writeln!(
        out,
        "{:<12} {:>10} {:>10} {:>10} {:>11} {:>9}{}  dropped by reason",
        "step",
        "in",
        "kept",
        "dropped",
        "quarantined",
        "cpu s",
        extra("reused", "saved s")
    )?;
    for step in &s.steps {
        let reasons: Vec<String> = step
            .dropped
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        writeln!(
            out,
            "{:<12} {:>10} {:>10} {:>10} {:>11} {:>9.3}{}  {}",
            step.name,
            step.documents_in,
            step.kept,
            step.dropped_total(),
            step.quarantined,
            step.cpu_seconds,
            extra(
                &step.reused_documents.to_string(),
                &format!("{:.3}", step.saved_cpu_seconds)
            ),
            reasons.join(", ")
        )?;
    }
    for step in s.steps.iter().filter(|st| !st.counts.is_empty()) {
        let counts: Vec<String> = step
            .counts
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        writeln!(out, "{} counted: {}", step.name, counts.join(", "))?;
    }
    Ok(())
}

/// The worker count: as asked, else one per CPU.
pub fn workers(asked: Option<usize>) -> usize {
    asked.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `atelier check`: every problem of the recipe, then every problem a run would meet
/// before reading anything, all at once.
pub fn check(recipe_path: &Path) -> Result<ExitCode> {
    let recipe = Recipe::load(recipe_path, &registry()).map_err(|errors| {
        let n = errors.0.len();
        anyhow::anyhow!("{errors}\n{n} problem(s) in the recipe")
    })?;
    let mut problems = section_problems(&recipe);
    problems.extend(run_problems(&recipe));
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("error: {p}");
        }
        eprintln!("{} problem(s) in the recipe", problems.len());
        return Ok(ExitCode::FAILURE);
    }
    let mut steps: Vec<&str> = recipe.steps.iter().map(|s| s.config.name()).collect();
    if crate::tokens::stage(&recipe)?.is_some() {
        steps.push(atelier_tokens::STEP);
    }
    println!(
        "{}: ok ({} source(s), steps: {})",
        recipe_path.display(),
        recipe.sources.len(),
        if steps.is_empty() {
            "none".to_owned()
        } else {
            steps.join(" -> ")
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// `atelier steps`.
pub fn steps(example: bool) -> Result<ExitCode> {
    let registry = registry();
    let mut out = std::io::stdout().lock();
    if example {
        write!(out, "{}", registry.example_steps())?;
        return Ok(ExitCode::SUCCESS);
    }
    for kind in registry.kinds() {
        writeln!(out, "{} (v{})\n  {}", kind.name, kind.version, kind.summary)?;
        for s in kind.settings() {
            writeln!(
                out,
                "    {} = {}  ({})\n        {}",
                s.key, s.default, s.kind, s.doc
            )?;
        }
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `atelier init`.
pub fn init(dir: &Path) -> Result<ExitCode> {
    let recipe = dir.join("atelier.toml");
    if recipe.exists() {
        bail!("{} already exists; not overwriting it", recipe.display());
    }
    for sub in ["data", "out"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    std::fs::write(&recipe, STARTER_RECIPE)
        .with_context(|| format!("writing {}", recipe.display()))?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        // The project store keeps every version's data: large, and local.
        std::fs::write(&ignore, "out/\n.atelier/\n")?;
    }
    println!(
        "wrote {}\nput your files in {}/, then: atelier check {} && atelier run {}",
        recipe.display(),
        dir.join("data").display(),
        recipe.display(),
        recipe.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Whether an error is a closed stdout (`atelier steps | head`), which is not a failure.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
