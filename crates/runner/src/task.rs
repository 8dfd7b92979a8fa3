//! Map tasks: read documents, push them through a run of per-document steps in batches,
//! and hand them on: to the dataset's shard, or to a barrier (its observer and an
//! intermediate shard that the barrier's decider reads back later).
//!
//! This driver does all the counting for every step, so a step cannot forget it, and it
//! checks `in = kept + dropped + quarantined` before the task may finish.

use atelier_bill::EnergyRecord;
use atelier_core::format::Compression;
use atelier_core::recipe::RecipeStep;
use atelier_core::{Document, Format, Observer, Step, StepStats, TaskStats, Verdict};
use atelier_io::{ReadOptions, Records, ShardWriter, Unit, read_unit};
use atelier_store::Hash;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

use crate::measure::{Stopwatch, peak_rss_bytes};
use crate::quarantine::{Quarantine, Quarantined};
use crate::run::RunError;
use crate::unit::Reuse;

/// Documents or text bytes gathered before a batch goes through the steps.
pub(crate) const BATCH_DOCUMENTS: usize = 256;
pub(crate) const BATCH_BYTES: usize = 8 << 20;

/// What a finished task leaves behind: its counters, tied to the plan it ran under.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Marker {
    /// The plan's fingerprint.
    pub fingerprint: String,
    /// The stage the task belongs to.
    pub stage: String,
    /// The task's rank within its stage.
    pub rank: usize,
    /// The task's counters.
    pub stats: TaskStats,
    /// The energy it used, measured or estimated.
    #[serde(default)]
    pub energy: EnergyRecord,
    /// The records of the project store the task used or made (first map stage, and the
    /// stage after the dataset).
    #[serde(default)]
    pub keys: Vec<Hash>,
}

/// Where everything goes, relative to the output folder.
pub struct Layout<'a> {
    /// The output folder.
    pub root: &'a Path,
}

impl Layout<'_> {
    /// The dataset shard of a task.
    pub fn shard(&self, rank: usize, suffix: &str) -> PathBuf {
        self.root.join(format!("part-{rank:05}.jsonl{suffix}"))
    }
    /// The quarantine file of a map stage's task; the first map stage's files are plain
    /// `part-NNNNN.jsonl`.
    pub fn quarantine(&self, map_stage: usize, rank: usize) -> PathBuf {
        let name = match map_stage {
            0 => format!("part-{rank:05}.jsonl"),
            n => format!("part-{rank:05}.map{n}.jsonl"),
        };
        self.root.join("quarantine").join(name)
    }
    /// The folder of the run's bookkeeping.
    pub fn state(&self) -> PathBuf {
        self.root.join(".atelier")
    }
    /// The completion marker of a stage's task.
    pub fn marker(&self, stage: &str, rank: usize) -> PathBuf {
        self.state()
            .join("tasks")
            .join(stage)
            .join(format!("{rank:05}.json"))
    }
    /// The work folder of the barrier that is step number `step` (from 0) of the recipe.
    pub fn barrier_work(&self, step: usize, name: &str) -> PathBuf {
        self.state().join("work").join(format!("step{step}-{name}"))
    }
    /// The intermediate shard a map task writes for the barrier that follows it.
    pub fn intermediate(&self, map_stage: usize, rank: usize) -> PathBuf {
        self.state()
            .join("work")
            .join(format!("map{map_stage}"))
            .join(format!("part-{rank:05}.jsonl.zst"))
    }
}

/// Where a map task's documents come from.
pub enum MapInput<'a> {
    /// The recipe's sources: the `read` step is counted.
    Units(&'a [Unit]),
    /// The intermediate shard the previous map stage wrote for a barrier.
    Intermediate(PathBuf),
}

/// Where a map task's documents end.
pub enum MapOutput {
    /// The dataset's shard: the `write` step is counted.
    Dataset(PathBuf, Compression),
    /// A barrier: its observer sees each document, kept in an intermediate shard.
    Barrier(Box<dyn Observer>, PathBuf),
}

/// One map task.
pub struct MapTask<'a> {
    /// Which map stage (0 for the first).
    pub stage: usize,
    /// The task's rank.
    pub rank: usize,
    /// Its input.
    pub input: MapInput<'a>,
    /// The previous barrier's decider and that step's name, run before `steps`.
    pub decider: Option<(&'static str, Box<dyn Step>)>,
    /// Per-document steps, in order.
    pub steps: &'a [RecipeStep],
    /// Its output.
    pub output: MapOutput,
    /// Reader limits.
    pub read: ReadOptions,
    /// The project store and the keys of the units, to reuse and keep work (first map
    /// stage only).
    pub reuse: Option<Reuse<'a>>,
}

/// What a finished map task did.
#[derive(Debug, Clone)]
pub struct MapResult {
    /// Its counters.
    pub stats: TaskStats,
    /// The records of the project store it used or made.
    pub keys: Vec<Hash>,
}

/// Runs a map task to completion and returns its counters.
pub fn run_map(
    task: MapTask<'_>,
    layout: &Layout<'_>,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<MapResult, RunError> {
    let path = match task.input {
        MapInput::Units(units) => {
            let first = crate::unit::FirstStage {
                rank: task.rank,
                units,
                steps: task.steps,
                output: task.output,
                read: task.read,
                reuse: task.reuse,
            };
            return first.run(layout, on_progress);
        }
        MapInput::Intermediate(path) => path,
    };
    let mut steps: Built = task.decider.into_iter().collect();
    steps.extend(build_steps(task.steps)?);
    let clock = Stopwatch::start();
    let rank = task.rank;
    let fail = |e: io::Error| RunError::Io(format!("task {rank}: {e}"));
    let mut stats = TaskStats::default();
    stats
        .steps
        .extend(steps.iter().map(|(name, _)| StepStats::named(*name)));
    let mut sink = match task.output {
        MapOutput::Dataset(path, compression) => {
            stats.steps.push(StepStats::named("write"));
            Sink {
                path,
                compression,
                writer: None,
                observer: None,
            }
        }
        MapOutput::Barrier(observer, path) => Sink {
            path,
            compression: Compression::Zstd,
            writer: None,
            observer: Some(observer),
        },
    };
    let mut quarantine = Quarantine::new(layout.quarantine(task.stage, rank));
    let mut batch: Vec<Document> = Vec::with_capacity(BATCH_DOCUMENTS);
    if path.exists() {
        let unit = Unit {
            path,
            format: Format::Jsonl,
            compression: Compression::Zstd,
            start: 0,
            end: None,
        };
        let options = ReadOptions {
            max_record_bytes: u64::MAX,
        };
        let mut records = read_unit(&unit, &options);
        loop {
            let exhausted = fill_batch(&mut batch, &mut records, None, &mut quarantine)?;
            let (step_stats, sink_stats) = stats.steps.split_at_mut(steps.len());
            process_batch(&mut batch, &mut steps, step_stats, &mut quarantine).map_err(fail)?;
            sink.take(&mut batch, sink_stats.first_mut())
                .map_err(fail)?;
            if exhausted {
                break;
            }
        }
    }
    on_progress(0);

    sink.finish().map_err(fail)?;
    quarantine.finish().map_err(fail)?;
    close_stats(&mut stats, rank, &clock)?;
    Ok(MapResult {
        stats,
        keys: Vec::new(),
    })
}

/// Ends a task's counters: checks that every document is accounted for, and records
/// the task's time and the process's peak memory.
pub(crate) fn close_stats(
    stats: &mut TaskStats,
    rank: usize,
    clock: &Stopwatch,
) -> Result<(), RunError> {
    stats
        .check()
        .map_err(|e| RunError::Counts(format!("task {rank}: {e}")))?;
    let (wall, cpu) = clock.elapsed();
    stats.wall_seconds = wall;
    stats.cpu_seconds = cpu;
    stats.peak_rss_bytes = peak_rss_bytes();
    Ok(())
}

/// Runtime objects of steps, with their names.
pub(crate) type Built = Vec<(&'static str, Box<dyn Step>)>;

/// Builds the runtime objects of some per-document steps.
pub(crate) fn build_steps(steps: &[RecipeStep]) -> Result<Built, RunError> {
    steps
        .iter()
        .map(|s| {
            let built = s
                .config
                .build()
                .map_err(|e| RunError::Step(format!("step `{}`: {e}", s.config.name())))?;
            Ok((s.config.name(), built))
        })
        .collect()
}

/// Reads documents into the batch until it is full; true when the input is exhausted.
/// Records that fail are quarantined and, when `read` is given, counted there.
pub(crate) fn fill_batch(
    batch: &mut Vec<Document>,
    records: &mut Records,
    mut read: Option<&mut StepStats>,
    quarantine: &mut dyn Quarantined,
) -> Result<bool, RunError> {
    let mut bytes = 0;
    while batch.len() < BATCH_DOCUMENTS && bytes < BATCH_BYTES {
        match records.next() {
            None => return Ok(true),
            Some(Ok(doc)) => {
                if let Some(read) = read.as_deref_mut() {
                    read.documents_in += 1;
                    read.kept += 1;
                    read.bytes_out += doc.text.len() as u64;
                }
                bytes += doc.text.len();
                batch.push(doc);
            }
            Some(Err(error)) => match read.as_deref_mut() {
                Some(read) => {
                    read.documents_in += 1;
                    read.quarantined += 1;
                    quarantine
                        .record(&error)
                        .map_err(|e| RunError::Io(e.to_string()))?;
                }
                // Our own intermediate files do not fail; if one does, stop loudly.
                None => return Err(RunError::Io(format!("intermediate shard: {error}"))),
            },
        }
    }
    Ok(false)
}

/// Runs a batch through every step, counting each one.
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
        apply_step(batch, name, step.as_mut(), stats, quarantine, None)?;
    }
    Ok(())
}

/// Runs a batch through one step, counting what it keeps, drops and fails on. With
/// `track`, it also lists each kept document as (its index in the batch before the step,
/// whether the step changed it), for the project store.
pub(crate) fn apply_step(
    batch: &mut Vec<Document>,
    name: &str,
    step: &mut dyn Step,
    stats: &mut StepStats,
    quarantine: &mut dyn Quarantined,
    mut track: Option<&mut Vec<(u32, bool)>>,
) -> io::Result<()> {
    let watch = Stopwatch::start();
    if let Some(kept) = track.as_deref_mut() {
        kept.clear();
    }
    let mut failure = None;
    let mut index = 0u32;
    batch.retain_mut(|doc| {
        let at = index;
        index += 1;
        stats.documents_in += 1;
        stats.bytes_in += doc.text.len() as u64;
        let before = track.is_some().then(|| doc.clone());
        match step.process(doc) {
            Ok(Verdict::Keep) => {
                stats.kept += 1;
                stats.bytes_out += doc.text.len() as u64;
                if let Some(kept) = track.as_deref_mut() {
                    kept.push((at, before.as_ref() != Some(&*doc)));
                }
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
    step.take_counts(&mut stats.counts);
    add_time(stats, &watch);
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

pub(crate) fn add_time(stats: &mut StepStats, watch: &Stopwatch) {
    let (wall, cpu) = watch.elapsed();
    stats.wall_seconds += wall;
    stats.cpu_seconds += cpu;
}

pub(crate) fn unit_size(unit: &Unit) -> u64 {
    let file_size = std::fs::metadata(&unit.path).map_or(0, |m| m.len());
    unit.end
        .unwrap_or(file_size)
        .min(file_size)
        .saturating_sub(unit.start)
}

/// Where a map task's surviving documents go: a shard opened on the first document (so
/// a task that keeps nothing leaves no file) and, before a barrier, its observer.
struct Sink {
    path: PathBuf,
    compression: Compression,
    writer: Option<ShardWriter>,
    observer: Option<Box<dyn Observer>>,
}

impl Sink {
    /// Takes the batch's documents; `stats` counts them as the `write` step when given.
    fn take(
        &mut self,
        batch: &mut Vec<Document>,
        mut stats: Option<&mut StepStats>,
    ) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let watch = Stopwatch::start();
        if self.writer.is_none() {
            self.writer = Some(ShardWriter::create(&self.path, self.compression)?);
        }
        let writer = self.writer.as_mut().expect("just opened");
        for doc in batch.drain(..) {
            if let Some(observer) = &mut self.observer {
                observer.observe(&doc)?;
            }
            writer.write(&doc)?;
            if let Some(stats) = stats.as_deref_mut() {
                stats.documents_in += 1;
                stats.kept += 1;
                stats.bytes_in += doc.text.len() as u64;
                stats.bytes_out += doc.text.len() as u64;
            }
            crash_point();
        }
        if let Some(stats) = stats {
            add_time(stats, &watch);
        }
        Ok(())
    }

    fn finish(self) -> io::Result<()> {
        if let Some(observer) = self.observer {
            observer.finish()?;
        }
        match self.writer {
            Some(writer) => writer.finish().map(|_| ()),
            None => Ok(()),
        }
    }
}

/// The map stages' crash point (`ATELIER_CRASH_AFTER_DOCUMENTS=N`: killed after handing
/// on N documents).
pub(crate) fn crash_point() {
    atelier_core::fault::crash_point("ATELIER_CRASH_AFTER_DOCUMENTS");
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
