//! One-shot commands (`atelier extract`, `atelier dedup`): one step over some inputs
//! into one JSONL file, run by the same runner as recipes.

use anyhow::{Context, Result, bail};
use atelier_core::atomic::AtomicFile;
use atelier_core::format::Compression;
use atelier_core::recipe::{
    DatasetSettings, ExecutorSettings, OutputSettings, RecipeStep, SourceSettings,
};
use atelier_core::{ConfiguredStep, Recipe};
use atelier_runner::RunOptions;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What `atelier extract` was asked.
#[derive(Args)]
pub struct ExtractArgs {
    /// Files or folders to read.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The JSONL file to write.
    #[arg(short, long)]
    output: PathBuf,
    /// Worker threads (default: the number of CPUs).
    #[arg(short, long)]
    workers: Option<usize>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

/// What `atelier dedup` was asked.
#[derive(Args)]
pub struct DedupArgs {
    /// JSONL files or folders to read.
    #[arg(short, long, required = true)]
    input: Vec<PathBuf>,
    /// The JSONL file to write (.gz or .zst to compress).
    #[arg(short, long)]
    output: PathBuf,
    /// `minhash` (near duplicates) or `exact`.
    #[arg(long, default_value = "minhash")]
    mode: String,
    /// Drop every copy of a duplicated document instead of keeping the first.
    #[arg(long)]
    drop_all: bool,
    /// A dataset folder (or its index folder) whose documents win over these.
    #[arg(long)]
    against: Option<PathBuf>,
    /// Worker threads (default: the number of CPUs).
    #[arg(short, long)]
    workers: Option<usize>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

/// `atelier extract`: the main text of every input.
pub fn extract(args: &ExtractArgs) -> Result<ExitCode> {
    let step = Box::new(atelier_extract::ExtractConfig::default());
    run(
        &args.inputs,
        vec![step],
        &args.output,
        crate::workers::count(args.workers),
        args.quiet,
    )
}

/// `atelier dedup`: the inputs without their duplicates.
pub fn dedup(args: &DedupArgs) -> Result<ExitCode> {
    let mode = match args.mode.as_str() {
        "minhash" => atelier_dedup::Mode::Minhash,
        "exact" => atelier_dedup::Mode::Exact,
        other => bail!("--mode is `minhash` or `exact`, not `{other}`"),
    };
    let keep = if args.drop_all {
        atelier_dedup::Keep::None
    } else {
        atelier_dedup::Keep::One
    };
    // The one-shot command keeps no index: its work folder is removed afterwards.
    let step = Box::new(atelier_dedup::DedupConfig {
        mode,
        keep,
        against: args.against.clone(),
        write_index: false,
        ..atelier_dedup::DedupConfig::default()
    });
    run(
        &args.input,
        vec![step],
        &args.output,
        crate::workers::count(args.workers),
        args.quiet,
    )
}

/// Runs `steps` over `inputs` (files or folders, formats from their extensions) and
/// writes every kept document to `output`, compressed as its extension says. Bad records
/// are reported and kept in a quarantine folder beside the output.
fn run(
    inputs: &[PathBuf],
    steps: Vec<Box<dyn ConfiguredStep>>,
    output: &Path,
    workers: usize,
    quiet: bool,
) -> Result<ExitCode> {
    let work = sibling(output, ".atelier-work");
    let recipe = Recipe {
        path: PathBuf::from("(command line)"),
        dataset: DatasetSettings {
            max_quarantined_fraction: 1.0,
            ..DatasetSettings::default()
        },
        sources: inputs
            .iter()
            .map(|path| SourceSettings::path(path.clone()))
            .collect(),
        steps: steps
            .into_iter()
            .map(|config| RecipeStep { config, line: 0 })
            .collect(),
        output: OutputSettings {
            path: work.clone(),
            compression: Compression::detect(output),
        },
        executor: ExecutorSettings::default(),
        text: String::new(),
    };
    let options = RunOptions {
        after: None,
        workers,
        progress: !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let summary = atelier_runner::run(&recipe, &options)?;

    // Shards are whole JSONL files, gzip members or zstd frames: concatenated, they are
    // one valid file of the same kind.
    let writing = || format!("writing {}", output.display());
    let mut out = std::io::BufWriter::new(AtomicFile::create(output).with_context(writing)?);
    for shard in &summary.shards {
        let mut file =
            std::fs::File::open(shard).with_context(|| format!("reading {}", shard.display()))?;
        std::io::copy(&mut file, &mut out).with_context(writing)?;
    }
    let out = out.into_inner().map_err(|e| e.into_error());
    out.with_context(writing)?.commit().with_context(writing)?;

    let s = &summary.stats;
    let quarantine = work.join("quarantine");
    if summary.quarantine.is_empty() {
        std::fs::remove_dir_all(&work).ok();
    }
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "{} records read, {} documents written to {}",
        s.records(),
        s.written(),
        output.display()
    )?;
    for step in &s.steps[1..s.steps.len() - 1] {
        let reasons: Vec<String> = step
            .dropped
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        if !reasons.is_empty() {
            writeln!(err, "{}: dropped {}", step.name, reasons.join(", "))?;
        }
    }
    if s.quarantined() > 0 {
        writeln!(
            err,
            "{} quarantined, with the reasons, in {}",
            s.quarantined(),
            quarantine.display()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `path` with `suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
