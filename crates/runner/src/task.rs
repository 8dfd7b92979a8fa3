//! One task: read its units, push documents through the steps in batches, write the
//! shard, the quarantine and the completion marker.
//!
//! This driver does all the counting for every step, so a step cannot forget it, and it
//! checks `in = kept + dropped + quarantined` before the task may finish.

use atelier_core::{Document, Recipe, Step, StepStats, TaskStats, Verdict};
use atelier_io::{ReadOptions, ShardWriter, read_unit};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::measure::{Stopwatch, peak_rss_bytes};
use crate::plan::TaskPlan;
use crate::quarantine::Quarantine;
use crate::run::RunError;

/// Documents or text bytes gathered before a batch goes through the steps.
const BATCH_DOCUMENTS: usize = 256;
const BATCH_BYTES: usize = 8 << 20;

/// What a finished task leaves behind: its counters, tied to the plan it ran under.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Marker {
    /// The plan's fingerprint.
    pub fingerprint: String,
    /// The task's rank.
    pub rank: usize,
    /// The task's counters.
    pub stats: TaskStats,
}

/// Where a task writes, relative to the output folder.
pub struct Layout<'a> {
    /// The output folder.
    pub root: &'a Path,
}

impl Layout<'_> {
    /// The shard of a task.
    pub fn shard(&self, rank: usize, suffix: &str) -> PathBuf {
        self.root.join(format!("part-{rank:05}.jsonl{suffix}"))
    }
    /// The quarantine file of a task.
    pub fn quarantine(&self, rank: usize) -> PathBuf {
        self.root
            .join("quarantine")
            .join(format!("part-{rank:05}.jsonl"))
    }
    /// The folder of the run's bookkeeping.
    pub fn state(&self) -> PathBuf {
        self.root.join(".atelier")
    }
    /// The completion marker of a task.
    pub fn marker(&self, rank: usize) -> PathBuf {
        self.state().join("tasks").join(format!("{rank:05}.json"))
    }
}

/// Runs one task to completion and leaves its marker. `on_progress` gets input bytes as
/// units finish.
pub fn run_task(
    recipe: &Recipe,
    task: &TaskPlan,
    fingerprint: &str,
    layout: &Layout<'_>,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<TaskStats, RunError> {
    let clock = Stopwatch::start();
    let fail = |e: io::Error| RunError::Io(format!("task {}: {e}", task.rank));
    let mut steps: Vec<(&'static str, Box<dyn Step>)> = Vec::new();
    for s in &recipe.steps {
        let built = s
            .config
            .build()
            .map_err(|e| RunError::Step(format!("step `{}`: {e}", s.config.name())))?;
        steps.push((s.config.name(), built));
    }
    let mut stats = TaskStats {
        tasks: 1,
        ..TaskStats::default()
    };
    stats.steps.push(StepStats::named("read"));
    stats
        .steps
        .extend(steps.iter().map(|(name, _)| StepStats::named(*name)));
    stats.steps.push(StepStats::named("write"));

    let shard = layout.shard(task.rank, recipe.output.compression.suffix());
    let mut sink = Sink {
        path: shard,
        compression: recipe.output.compression,
        writer: None,
    };
    let mut quarantine = Quarantine::new(layout.quarantine(task.rank));
    let options = ReadOptions {
        max_record_bytes: recipe.dataset.max_record_bytes,
    };
    let mut batch: Vec<Document> = Vec::with_capacity(BATCH_DOCUMENTS);

    for unit in &task.units {
        if unit.start == 0 {
            stats.files += 1;
        }
        let mut records = read_unit(unit, &options);
        loop {
            let read = &mut stats.steps[0];
            let watch = Stopwatch::start();
            let mut bytes = 0;
            let mut exhausted = false;
            while batch.len() < BATCH_DOCUMENTS && bytes < BATCH_BYTES {
                match records.next() {
                    None => {
                        exhausted = true;
                        break;
                    }
                    Some(Ok(doc)) => {
                        read.documents_in += 1;
                        read.kept += 1;
                        read.bytes_out += doc.text.len() as u64;
                        bytes += doc.text.len();
                        batch.push(doc);
                    }
                    Some(Err(error)) => {
                        read.documents_in += 1;
                        read.quarantined += 1;
                        quarantine.record(&error).map_err(fail)?;
                    }
                }
            }
            add_time(read, &watch);
            process_batch(
                &mut batch,
                &mut steps,
                &mut stats.steps[1..],
                &mut quarantine,
            )
            .map_err(fail)?;
            sink.write_all(&mut batch, stats.steps.last_mut().expect("write stats"))
                .map_err(fail)?;
            if exhausted {
                break;
            }
        }
        let size = unit_size(unit);
        stats.steps[0].bytes_in += size;
        on_progress(size);
    }

    sink.finish().map_err(fail)?;
    quarantine.finish().map_err(fail)?;
    stats
        .check()
        .map_err(|e| RunError::Counts(format!("task {}: {e}", task.rank)))?;
    let (wall, cpu) = clock.elapsed();
    stats.wall_seconds = wall;
    stats.cpu_seconds = cpu;
    stats.peak_rss_bytes = peak_rss_bytes();
    let marker = Marker {
        fingerprint: fingerprint.to_owned(),
        rank: task.rank,
        stats,
    };
    write_atomic(
        &layout.marker(task.rank),
        &serde_json::to_vec_pretty(&marker).expect("marker serializes"),
    )
    .map_err(fail)?;
    Ok(marker.stats)
}

/// Runs a batch through every step; the last stats entry (the writer's) is not touched.
fn process_batch(
    batch: &mut Vec<Document>,
    steps: &mut [(&'static str, Box<dyn Step>)],
    stats: &mut [StepStats],
    quarantine: &mut Quarantine,
) -> io::Result<()> {
    for ((name, step), stats) in steps.iter_mut().zip(stats.iter_mut()) {
        if batch.is_empty() {
            break;
        }
        let watch = Stopwatch::start();
        let mut failure = None;
        batch.retain_mut(|doc| {
            stats.documents_in += 1;
            stats.bytes_in += doc.text.len() as u64;
            match step.process(doc) {
                Ok(Verdict::Keep) => {
                    stats.kept += 1;
                    stats.bytes_out += doc.text.len() as u64;
                    true
                }
                Ok(Verdict::Drop(reason)) => {
                    *stats.dropped.entry(reason.to_owned()).or_default() += 1;
                    false
                }
                Err(error) => {
                    stats.quarantined += 1;
                    if let Err(e) = quarantine.document(name, &error.0, doc) {
                        failure.get_or_insert(e);
                    }
                    false
                }
            }
        });
        add_time(stats, &watch);
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(())
}

fn add_time(stats: &mut StepStats, watch: &Stopwatch) {
    let (wall, cpu) = watch.elapsed();
    stats.wall_seconds += wall;
    stats.cpu_seconds += cpu;
}

fn unit_size(unit: &atelier_io::Unit) -> u64 {
    let file_size = std::fs::metadata(&unit.path).map_or(0, |m| m.len());
    unit.end
        .unwrap_or(file_size)
        .min(file_size)
        .saturating_sub(unit.start)
}

/// The task's shard, opened on the first document so that a task that keeps nothing
/// leaves no file.
struct Sink {
    path: PathBuf,
    compression: atelier_core::format::Compression,
    writer: Option<ShardWriter>,
}

impl Sink {
    fn write_all(&mut self, batch: &mut Vec<Document>, stats: &mut StepStats) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let watch = Stopwatch::start();
        if self.writer.is_none() {
            self.writer = Some(ShardWriter::create(&self.path, self.compression)?);
        }
        let writer = self.writer.as_mut().expect("just opened");
        for doc in batch.drain(..) {
            stats.documents_in += 1;
            stats.bytes_in += doc.text.len() as u64;
            writer.write(&doc)?;
            stats.kept += 1;
            stats.bytes_out += doc.text.len() as u64;
            crash_point();
        }
        add_time(stats, &watch);
        Ok(())
    }

    fn finish(self) -> io::Result<()> {
        match self.writer {
            Some(writer) => writer.finish().map(|_| ()),
            None => Ok(()),
        }
    }
}

/// Failure injection for the resume tests: with `ATELIER_CRASH_AFTER_DOCUMENTS=N` in the
/// environment, the process kills itself with SIGKILL after writing N documents.
fn crash_point() {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    static WRITTEN: AtomicU64 = AtomicU64::new(0);
    let limit = LIMIT.get_or_init(|| {
        std::env::var("ATELIER_CRASH_AFTER_DOCUMENTS")
            .ok()?
            .parse()
            .ok()
    });
    if let Some(limit) = *limit
        && WRITTEN.fetch_add(1, Ordering::SeqCst) + 1 >= limit
    {
        // SAFETY: sending a signal to our own pid has no memory-safety preconditions.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

/// Writes a file under a temporary name, syncs it, and renames it into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temp, path)
}
