//! Deduplicates a JSONL file in this process, without the runner: the input is read
//! twice (observe, then decide), so memory stays bounded. Used by `bench/dedup/`.
//!
//! ```text
//! cargo run --release -p atelier-dedup --example dedup_jsonl -- \
//!     --input IN.jsonl --output OUT.jsonl [--tasks 1] [--work DIR] [--all] \
//!     [--set key=value ...]
//! ```
//!
//! `--all` writes every document with `"verdict"` added to its metadata, not only the
//! kept ones. `--set` overrides a setting of the step as in a recipe (`--set
//! mode=\"exact\"`, `--set against=\"v1\"`). The index goes under the output file's
//! folder, `index/<index_name>/`. Timings go to stderr.

use atelier_core::{BarrierContext, Document, StepConfig, Verdict};
use atelier_dedup::{DedupConfig, run_local};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut input = None;
    let mut output = None;
    let mut work = None;
    let mut tasks = 1usize;
    let mut all = false;
    let mut settings = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--input" => input = Some(PathBuf::from(value()?)),
            "--output" => output = Some(PathBuf::from(value()?)),
            "--work" => work = Some(PathBuf::from(value()?)),
            "--tasks" => tasks = value()?.parse().map_err(|e| format!("--tasks: {e}"))?,
            "--all" => all = true,
            "--set" => {
                settings.push_str(&value()?);
                settings.push('\n');
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let input = input.ok_or("--input is required")?;
    let output = output.ok_or("--output is required")?;
    let mut config: DedupConfig = toml::from_str(&settings).map_err(|e| e.to_string())?;
    config.resolve_paths(&std::env::current_dir().map_err(|e| e.to_string())?);
    let mut problems = Vec::new();
    config.validate(&mut problems);
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let folder = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let work = work.unwrap_or_else(|| folder.join(".dedup-work"));
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(|e| e.to_string())?;
    }

    // Documents are dealt to tasks contiguously, as the runner does.
    let total = count_lines(&input)?;
    let per_task = total.div_ceil(tasks.max(1)).max(1);
    let ctx = BarrierContext {
        work,
        world: tasks,
        output: folder,
    };
    let barrier = config.barrier().expect("dedup is a barrier");
    let mut out = BufWriter::new(std::fs::File::create(&output).map_err(|e| e.to_string())?);
    let mut line = Vec::new();
    let (mut kept, mut dropped) = (0u64, 0u64);
    let start = Instant::now();
    let open = |rank: usize| -> Result<Box<dyn Iterator<Item = Document>>, String> {
        let reader = BufReader::new(std::fs::File::open(&input).map_err(|e| e.to_string())?);
        let skip = rank * per_task;
        Ok(Box::new(
            reader
                .split(b'\n')
                .skip(skip)
                .take(per_task)
                .enumerate()
                .map(move |(i, l)| {
                    let l = l.expect("input reads");
                    Document::from_json_slice(&l, || format!("line-{}", skip + i))
                        .expect("input lines are documents")
                }),
        ))
    };
    run_local(barrier.as_ref(), &ctx, open, |_, mut doc, verdict| {
        match verdict {
            Verdict::Keep => kept += 1,
            Verdict::Drop(_) => dropped += 1,
        }
        if all {
            let v = match verdict {
                Verdict::Keep => "keep",
                Verdict::Drop(reason) => reason,
            };
            doc.metadata.insert("verdict".into(), v.into());
        }
        if all || verdict == Verdict::Keep {
            line.clear();
            doc.write_json_line(&mut line);
            out.write_all(&line).map_err(|e| e.to_string())?;
        }
        Ok(())
    })?;
    out.flush().map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    eprintln!(
        "documents {total}, kept {kept}, dropped {dropped}, {seconds:.3} s, {:.0} documents/s",
        total as f64 / seconds
    );
    Ok(())
}

fn count_lines(path: &PathBuf) -> Result<usize, String> {
    let reader = BufReader::new(std::fs::File::open(path).map_err(|e| e.to_string())?);
    let mut n = 0;
    for line in reader.split(b'\n') {
        line.map_err(|e| e.to_string())?;
        n += 1;
    }
    Ok(n)
}
