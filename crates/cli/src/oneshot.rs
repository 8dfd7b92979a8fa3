//! One-shot commands (`atelier extract`, later `atelier dedup`): one step over some
//! inputs into one JSONL file, run by the same runner as recipes.

use anyhow::{Context, Result};
use atelier_core::format::Compression;
use atelier_core::recipe::{
    DatasetSettings, ExecutorSettings, OutputSettings, RecipeStep, SourceSettings,
};
use atelier_core::{ConfiguredStep, Recipe};
use atelier_runner::RunOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs `steps` over `inputs` (files or folders, formats from their extensions) and
/// writes every kept document to `output`, compressed as its extension says. Bad records
/// are reported and kept in a quarantine folder beside the output.
pub fn run(
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
            .map(|path| SourceSettings {
                path: path.clone(),
                format: None,
            })
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
    let temp = sibling(output, ".tmp");
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&temp).with_context(|| format!("creating {}", temp.display()))?,
    );
    for shard in &summary.shards {
        let mut file =
            std::fs::File::open(shard).with_context(|| format!("reading {}", shard.display()))?;
        std::io::copy(&mut file, &mut out)?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&temp, output).with_context(|| format!("writing {}", output.display()))?;

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
