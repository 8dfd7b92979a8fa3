//! The map-task driver: a map task from its input to the counters its marker keeps.
//!
//! A task reads documents in batches, from its units of the recipe's sources or from
//! the intermediate shard the previous map stage wrote for a barrier (or, when no step
//! comes before the first barrier, from the local sources again), sends each batch
//! through its per-document steps (after the previous barrier's decider), and hands
//! what survives on: to the dataset's shard, or to a barrier's observer and an
//! intermediate shard. The driver does all the counting, so a step cannot forget it, and
//! checks `in = kept + dropped + quarantined` before the task may finish; the job then
//! leaves the task's marker ([`crate::layout::Marker`]).
//!
//! In the first map stage each input unit goes on its own. It takes the longest prefix
//! of the stage's steps that the project store holds for it, and only the steps after
//! that prefix run; a unit whose every step is stored is appended to its shard as
//! stored. What comes from the store is counted as if it had run (so the funnel covers
//! the whole dataset), with `reused_documents` and `saved_cpu_seconds` saying what was
//! not redone, and its quarantine entries are replayed. The work done now is kept for
//! next time. The `reuse` module says what the store holds.
//!
//! A unit's quarantine entries are written together, step by step (read first), so that
//! a quarantine file reads the same whether its entries were computed or replayed.
//! Every unit that runs steps gets fresh runtime objects of them: a step may carry
//! something from one document to the next (the `pii` step rotates its replacements),
//! and a unit's output must depend on nothing but its own bytes and the settings, or
//! work taken from the store would differ from work done now. It also makes a unit's
//! output independent of the task it was dealt to.

use atelier_bill::EnergyRecord;
use atelier_core::format::Compression;
use atelier_core::recipe::RecipeStep;
use atelier_core::{Document, Format, Observer, Step, StepStats, TaskStats, Verdict};
use atelier_io::{
    FAST_ZSTD_LEVEL, Location, ReadOptions, Records, ShardWriter, Unit, ZSTD_LEVEL, read_unit,
};
use atelier_store::{Hash, Pack, Store};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::chunks::{ChunkIndex, ShardChunks, Tally};
use crate::layout::Layout;
use crate::measure::{Elapsed, Stopwatch};
use crate::quarantine::{Quarantine, document_line, record_line};
use crate::reuse::{
    Docs, Lines, MemberWriter, NewPrefix, PrefixWriter, Reuse, StoredPrefix, StoredUnit, reused,
};
use crate::run::RunError;
use crate::share::{Board, Shared, Work};
use atelier_bill::energy::peak_rss_bytes;

/// Documents or text bytes gathered before a batch goes through the steps.
const BATCH_DOCUMENTS: usize = 256;
const BATCH_BYTES: usize = 8 << 20;

/// Where a map task's documents come from.
pub enum MapInput<'a> {
    /// The recipe's sources: the `read` step is counted.
    Units(&'a [Unit]),
    /// The intermediate shard the previous map stage wrote for a barrier.
    Intermediate(PathBuf),
    /// The recipe's sources again, after a map stage that only showed them to a
    /// barrier's observer: neither the read nor its failures are counted again, and
    /// the task must find the `documents` that stage read.
    Reread {
        /// The task's units.
        units: &'a [Unit],
        /// The documents the first read gave.
        documents: u64,
    },
}

/// Where a map task's documents end.
pub enum MapOutput {
    /// The dataset's shard: the `write` step is counted.
    Dataset(PathBuf, Compression),
    /// A barrier: its observer sees each document, kept in an intermediate shard.
    Barrier(Box<dyn Observer>, PathBuf),
    /// A barrier whose next stage reads the sources again ([`MapInput::Reread`]): its
    /// observer sees each document, nothing is written (the path is the barrier's work
    /// folder, for errors).
    Observer(Box<dyn Observer>, PathBuf),
}

/// The previous barrier's decider: the first step of a later map stage.
pub struct Decider {
    /// The barrier step's name.
    pub step: &'static str,
    /// Its runtime object for this task.
    pub runtime: Box<dyn Step>,
}

/// One map task.
pub struct MapTask<'a> {
    /// Which map stage (0 for the first).
    pub stage: usize,
    /// The task's rank.
    pub rank: usize,
    /// Its input.
    pub input: MapInput<'a>,
    /// The previous barrier's decider, run before `steps`.
    pub decider: Option<Decider>,
    /// Per-document steps, in order.
    pub steps: &'a [RecipeStep],
    /// Its output.
    pub output: MapOutput,
    /// Reader limits.
    pub read: ReadOptions,
    /// The project store and the keys of the units, to reuse and keep work (first map
    /// stage only).
    pub(crate) reuse: Option<Reuse<'a>>,
    /// The project folder: documents read from a file inside it name the file relative
    /// to it (`metadata.source`, and `file` in quarantine entries), so that a project
    /// moved elsewhere makes the same documents.
    pub project: Option<&'a Path>,
    /// Where idle workers of this process may take the task's units (first map stage);
    /// none for a task run alone.
    pub(crate) share: Option<&'a Board<'a, UnitWork<'a>>>,
    /// The project store and the chunks its `latest` version's shards hold, for a
    /// dataset shard written behind a barrier ([`crate::chunks`]).
    pub(crate) chunks: Option<(&'a Store, Arc<ChunkIndex>)>,
}

/// What a finished map task did.
#[derive(Debug, Clone)]
pub struct TaskResult {
    /// Its counters.
    pub stats: TaskStats,
    /// The records of the project store it used or made.
    pub keys: Vec<Hash>,
    /// The energy of the units that other workers ran for it.
    pub helped: EnergyRecord,
}

/// Runtime objects of steps, with their names.
type BuiltSteps = Vec<(&'static str, Box<dyn Step>)>;

/// Runs a map task to completion and returns its counters. `on_progress` gets input
/// bytes as they are read.
pub fn run_map(
    task: MapTask<'_>,
    layout: &Layout<'_>,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<TaskResult, RunError> {
    let clock = Stopwatch::start();
    let MapTask {
        stage,
        rank,
        input,
        decider,
        steps,
        output,
        read,
        reuse,
        project,
        share,
        chunks,
    } = task;
    let mut out = Output::new(output, layout.quarantine(stage, rank), chunks)?;
    let mut stats = TaskStats::default();
    let mut keys = Vec::new();
    let mut helped = Helping::default();
    let mut units_run = None;
    match input {
        MapInput::Units(units) => {
            stats.tasks = 1;
            let mut names = vec!["read"];
            names.extend(steps.iter().map(|s| s.config.name()));
            stats.steps = names.iter().map(|n| StepStats::named(*n)).collect();
            if out.dataset {
                stats.steps.push(StepStats::named("write"));
            }
            let sink = out.sink();
            let shared = Arc::new(Shared::new(UnitWork {
                units,
                steps,
                names,
                read,
                project,
                reuse,
                sink,
            }));
            let offered = share.map(|board| board.open(rank, shared.clone()));
            while let Some(i) = shared.take_head() {
                let done = shared.work.run(i, &mut out)?;
                add_unit(&mut stats, &mut keys, &units[i], done, &mut out)?;
                on_progress(unit_size(&units[i]));
            }
            drop(offered);
            for i in shared.helped_units() {
                let unit = shared.wait(i)?;
                helped.take(unit.cpu_seconds, &unit.energy);
                let (done, member, observed) = unit.output;
                out.take_helped(&observed, &member)?;
                add_unit(&mut stats, &mut keys, &units[i], done, &mut out)?;
            }
            units_run = Some(shared);
        }
        MapInput::Intermediate(_) | MapInput::Reread { .. } => {
            let mut built: BuiltSteps = decider.map(|d| (d.step, d.runtime)).into_iter().collect();
            built.extend(build_steps(steps)?);
            let mut names = vec!["read"];
            names.extend(built.iter().map(|(name, _)| *name));
            let mut counts = UnitCounts::new(&names);
            let mut work = StepRunner::built(built);
            match input {
                MapInput::Intermediate(path) if path.exists() => {
                    let unit = Unit {
                        location: path.clone().into(),
                        format: Format::Jsonl,
                        compression: Compression::Zstd,
                        start: 0,
                        end: None,
                    };
                    let records = read_unit(
                        &unit,
                        &ReadOptions {
                            max_record_bytes: u64::MAX,
                        },
                    );
                    let source = Source::Intermediate(records);
                    work.run(source, 1, None, &mut out, &mut counts)
                        .map_err(|e| e.about(&path))?;
                }
                MapInput::Reread { units, documents } => {
                    let name = units.first().map(|u| u.location.name()).unwrap_or_default();
                    // Owned: the records outlive this borrow of the plan.
                    let (units, project) = (units.to_vec(), project.map(Path::to_path_buf));
                    // The failures were quarantined by the first read.
                    let records = units.into_iter().flat_map(move |unit| {
                        project_named(read_unit(&unit, &read), &unit, project.as_deref())
                            .filter(Result::is_ok)
                    });
                    let source = Source::Intermediate(Box::new(records));
                    work.run(source, 1, None, &mut out, &mut counts)
                        .map_err(|e| e.about(&name))?;
                    let read = counts.steps[1].documents_in;
                    if read != documents {
                        return Err(RunError::Input(format!(
                            "task {rank} read {read} documents from its sources where the \
                             first stage of the run read {documents}: an input file changed \
                             during the run; run it again"
                        )));
                    }
                }
                _ => {}
            }
            // This stage reads the run's own files: its `read` is not a step of the run.
            stats.steps = counts.steps.split_off(1);
            if out.dataset {
                out.count_copied(&mut counts.write);
                stats.steps.push(counts.write);
            }
            on_progress(0);
        }
    }
    keys.extend(out.finish()?);
    if let Some(reuse) = units_run.as_ref().and_then(|s| s.work.reuse.as_ref()) {
        // Before the task's marker: a task that completed has its work kept.
        reuse.commit()?;
    }
    close_stats(&mut stats, rank, &clock)?;
    stats.cpu_seconds += helped.cpu_seconds;
    Ok(TaskResult {
        stats,
        keys,
        helped: helped.energy,
    })
}

/// What helpers spent on a task's units.
#[derive(Default)]
struct Helping {
    cpu_seconds: f64,
    energy: EnergyRecord,
}

impl Helping {
    fn take(&mut self, cpu_seconds: f64, energy: &EnergyRecord) {
        self.cpu_seconds += cpu_seconds;
        self.energy += energy;
    }
}

/// Adds a unit's counters, quarantine entries and store keys to its task's.
fn add_unit(
    stats: &mut TaskStats,
    keys: &mut Vec<Hash>,
    unit: &Unit,
    done: UnitDone,
    out: &mut Output,
) -> Result<(), RunError> {
    for q in &done.counts.quarantine {
        out.quarantine
            .append(q)
            .map_err(RunError::io(out.quarantine.path()))?;
    }
    let unit_steps = done.counts.steps.iter();
    for (mine, theirs) in stats
        .steps
        .iter_mut()
        .zip(unit_steps.chain(out.dataset.then_some(&done.counts.write)))
    {
        *mine += theirs;
    }
    stats.files += u64::from(done.opened && unit.start == 0);
    keys.extend(done.keys);
    Ok(())
}

/// Everything a unit of a first-stage map task needs, shared with the workers that
/// help the task.
pub(crate) struct UnitWork<'a> {
    units: &'a [Unit],
    steps: &'a [RecipeStep],
    names: Vec<&'static str>,
    read: ReadOptions,
    project: Option<&'a Path>,
    pub(crate) reuse: Option<Reuse<'a>>,
    /// What the task's output is, for a helper's to be the same.
    sink: Sink,
}

/// The kind of a map task's output.
#[derive(Clone, Copy)]
enum Sink {
    Dataset(Compression),
    Barrier,
    Observer,
}

impl UnitWork<'_> {
    /// Runs unit `i` into `out`.
    fn run(&self, i: usize, out: &mut Output) -> Result<UnitDone, RunError> {
        let unit = &self.units[i];
        let stored = self.reuse.as_ref().and_then(|r| r.unit(i));
        StepRunner::new(self.steps)
            .unit(unit, stored, &self.names, self.read, self.project, out)
            .map_err(|e| e.about(&unit.location.name()))
    }
}

impl Work for UnitWork<'_> {
    /// A unit run apart: its counters, its member (empty for a stage without a shard)
    /// and the documents the task's barrier must observe.
    type Output = (UnitDone, Vec<u8>, Vec<Document>);

    fn units(&self) -> usize {
        self.units.len()
    }

    fn unit_bytes(&self, i: usize) -> u64 {
        unit_size(&self.units[i])
    }

    fn unit_name(&self, i: usize) -> PathBuf {
        self.units[i].location.name()
    }

    /// Runs unit `i` for a helper, into an output of its own.
    fn run_apart(&self, i: usize) -> Result<Self::Output, RunError> {
        let observed = Arc::new(Mutex::new(Vec::new()));
        let keep = Box::new(Keep(observed.clone())) as Box<dyn Observer>;
        let (shard, observer) = match self.sink {
            Sink::Dataset(compression) => (Some(shard_writer(compression, true)), None),
            Sink::Barrier => (Some(shard_writer(Compression::Zstd, false)), Some(keep)),
            Sink::Observer => (None, Some(keep)),
        };
        let mut out = Output {
            dataset: observer.is_none(),
            shard,
            path: self.units[i].location.name(),
            observer,
            // Its entries go back with its counters: this file is never made.
            quarantine: Quarantine::new(PathBuf::new()),
            chunks: None,
        };
        let done = self.run(i, &mut out)?;
        let member = match out.shard.take() {
            Some(shard) => shard.into_bytes().map_err(RunError::io(&out.path))?,
            None => Vec::new(),
        };
        out.finish()?;
        let observed = std::mem::take(&mut *observed.lock().expect("no panics observing"));
        Ok((done, member, observed))
    }
}

/// A helper's shard, in memory, at the level the task's output has.
fn shard_writer(compression: Compression, dataset: bool) -> ShardWriter {
    let level = if dataset { ZSTD_LEVEL } else { FAST_ZSTD_LEVEL };
    ShardWriter::in_memory(compression).with_zstd_level(level)
}

/// A helper's observer: keeps the documents for the task's own.
struct Keep(Arc<Mutex<Vec<Document>>>);

impl Observer for Keep {
    fn observe(&mut self, doc: &Document) -> io::Result<()> {
        self.0
            .lock()
            .expect("no panics observing")
            .push(doc.clone());
        Ok(())
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

/// Builds the runtime objects of some per-document steps.
fn build_steps(steps: &[RecipeStep]) -> Result<BuiltSteps, RunError> {
    steps
        .iter()
        .map(|s| {
            let name = s.config.name();
            let built = s.config.build().map_err(|e| RunError::step(name, e))?;
            Ok((name, built))
        })
        .collect()
}

/// Ends a task's counters: checks that every document is accounted for, and records
/// the task's time and the process's peak memory.
fn close_stats(stats: &mut TaskStats, rank: usize, clock: &Stopwatch) -> Result<(), RunError> {
    stats
        .check()
        .map_err(|e| RunError::Counts(format!("task {rank}: {e}")))?;
    let Elapsed { wall, cpu } = clock.elapsed();
    stats.wall_seconds = wall;
    stats.cpu_seconds = cpu;
    stats.peak_rss_bytes = peak_rss_bytes();
    Ok(())
}

/// Where a map task's surviving documents go, and its quarantine.
struct Output {
    /// The sink is the dataset: the `write` step is counted.
    dataset: bool,
    observer: Option<Box<dyn Observer>>,
    /// The shard, or for [`MapOutput::Observer`], none.
    shard: Option<ShardWriter>,
    /// The shard's path, or the barrier's folder: what errors name.
    path: PathBuf,
    quarantine: Quarantine,
    /// The store and the tally of the shard's chunks, whose list it keeps.
    chunks: Option<(Store, Arc<Mutex<Tally>>)>,
}

impl Output {
    fn new(
        output: MapOutput,
        quarantine: PathBuf,
        chunks: Option<(&Store, Arc<ChunkIndex>)>,
    ) -> Result<Output, RunError> {
        let (path, shard, observer) = match output {
            MapOutput::Dataset(path, compression) => (path, Some((compression, ZSTD_LEVEL)), None),
            MapOutput::Barrier(observer, path) => (
                path,
                Some((Compression::Zstd, FAST_ZSTD_LEVEL)),
                Some(observer),
            ),
            MapOutput::Observer(observer, folder) => (folder, None, Some(observer)),
        };
        let mut kept = None;
        let shard = match shard {
            Some((compression, level)) => {
                let mut shard = ShardWriter::create(&path, compression)
                    .map_err(RunError::io(&path))?
                    .with_zstd_level(level);
                // The job gives chunks to dataset shards only; plain ones have none.
                if let Some((store, index)) = chunks
                    && compression != Compression::None
                {
                    let tally = Arc::new(Mutex::new(Tally::default()));
                    shard = shard.with_chunk_cache(Box::new(ShardChunks::new(
                        store,
                        index,
                        tally.clone(),
                        (compression, level),
                    )));
                    kept = Some((store.clone(), tally));
                }
                Some(shard)
            }
            None => None,
        };
        Ok(Output {
            dataset: observer.is_none(),
            shard,
            path,
            observer,
            quarantine: Quarantine::new(quarantine),
            chunks: kept,
        })
    }

    /// Hands one document on: to the barrier's observer, then into the unit's member.
    fn hand_on(
        &mut self,
        doc: &Document,
        member: &mut MemberWriter,
        pack: Option<&Pack>,
    ) -> io::Result<()> {
        if let Some(observer) = &mut self.observer {
            observer.observe(doc)?;
        }
        match &mut self.shard {
            Some(shard) => member.push(doc, pack, shard),
            None => Ok(()),
        }
    }

    /// What kind of output it is.
    fn sink(&self) -> Sink {
        match (&self.shard, &self.observer) {
            (Some(shard), None) => Sink::Dataset(shard.compression()),
            (Some(_), Some(_)) => Sink::Barrier,
            (None, _) => Sink::Observer,
        }
    }

    /// Takes a unit a helper ran: its documents to the barrier's observer, its member
    /// into the shard.
    fn take_helped(&mut self, observed: &[Document], member: &[u8]) -> Result<(), RunError> {
        if let Some(observer) = &mut self.observer {
            for doc in observed {
                observer.observe(doc).map_err(RunError::io(&self.path))?;
            }
        }
        if let Some(shard) = &mut self.shard
            && !member.is_empty()
        {
            shard
                .append_reader(member)
                .map_err(RunError::io(&self.path))?;
        }
        Ok(())
    }

    /// Counts the documents of the chunks copied from the last version as reused by
    /// `write`, and what compressing them cost as saved (compressing is all CPU: the
    /// same on the wall clock).
    fn count_copied(&self, write: &mut StepStats) {
        if let Some((_, tally)) = &self.chunks {
            let tally = tally.lock().expect("no panics holding a tally");
            write.reused_documents += tally.copied_documents;
            write.saved_cpu_seconds += tally.saved_cpu_seconds;
            write.saved_wall_seconds += tally.saved_cpu_seconds;
        }
    }

    /// Finishes the shard and the quarantine; gives the key of the shard's chunk list
    /// when it keeps one.
    fn finish(mut self) -> Result<Option<Hash>, RunError> {
        let path = self.path;
        if let Some(observer) = self.observer.take() {
            observer.finish().map_err(RunError::io(&path))?;
        }
        let mut key = None;
        if let Some(shard) = self.shard {
            let written = shard.finish().map_err(RunError::io(&path))?;
            if let Some((store, tally)) = self.chunks
                && written.bytes > 0
            {
                let list =
                    std::mem::take(&mut tally.lock().expect("no panics holding a tally").list);
                key = Some(crate::chunks::keep(&store, &path, list)?);
            }
        }
        let quarantine = self.quarantine.path().to_owned();
        self.quarantine
            .finish()
            .map_err(RunError::io(&quarantine))?;
        Ok(key)
    }
}

/// Counts documents handed to the dataset as the `write` step: the one place a written
/// document is counted, one by one or, for a unit appended as stored, all at once.
fn count_written(write: &mut StepStats, documents: u64, text_bytes: u64) {
    write.documents_in += documents;
    write.kept += documents;
    write.bytes_in += text_bytes;
    write.bytes_out += text_bytes;
}

/// The map stages' crash point (`ATELIER_CRASH_AFTER_DOCUMENTS=N`: killed after handing
/// on N documents).
fn crash_point() {
    atelier_core::fault::crash_point("ATELIER_CRASH_AFTER_DOCUMENTS");
}

/// What one unit counted: `read` and each step, `write`, and the quarantine entries of
/// each (read first), kept apart until the unit ends.
pub(crate) struct UnitCounts {
    steps: Vec<StepStats>,
    write: StepStats,
    quarantine: Vec<Vec<u8>>,
}

impl UnitCounts {
    fn new(names: &[&str]) -> UnitCounts {
        UnitCounts {
            steps: names.iter().map(|s| StepStats::named(*s)).collect(),
            write: StepStats::named("write"),
            quarantine: vec![Vec::new(); names.len()],
        }
    }
}

/// What a unit did: its counters, whether its file was read, the store records it used
/// or made.
pub(crate) struct UnitDone {
    counts: UnitCounts,
    opened: bool,
    keys: Vec<Hash>,
}

/// Why a unit failed.
enum Failure {
    /// A step could not be built.
    Step(RunError),
    /// Reading or writing failed.
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Io(e)
    }
}

impl Failure {
    /// The run's error, for a failure while reading `path`.
    fn about(self, path: &std::path::Path) -> RunError {
        match self {
            Failure::Step(e) => e,
            Failure::Io(e) => RunError::io(path)(e),
        }
    }
}

/// Where a unit's documents come from.
enum Source {
    /// Its file: records that fail are quarantined and counted under `read`.
    Read(Records),
    /// The store, after a stored prefix.
    Stored(Lines),
    /// The run's own intermediate shard (or the sources read again, their failures
    /// left out), which does not fail: if it does, the task stops loudly. Quarantine
    /// entries are written after each batch.
    Intermediate(Records),
}

/// The steps of a task, their runtime objects built when a unit first needs them.
struct StepRunner<'a> {
    configs: &'a [RecipeStep],
    steps: Option<BuiltSteps>,
}

impl<'a> StepRunner<'a> {
    fn new(configs: &'a [RecipeStep]) -> StepRunner<'a> {
        StepRunner {
            configs,
            steps: None,
        }
    }

    fn built(steps: BuiltSteps) -> StepRunner<'a> {
        StepRunner {
            configs: &[],
            steps: Some(steps),
        }
    }

    /// The runtime objects of the steps, built on first use.
    fn steps(&mut self) -> Result<&mut BuiltSteps, Failure> {
        if self.steps.is_none() {
            self.steps = Some(build_steps(self.configs).map_err(Failure::Step)?);
        }
        Ok(self.steps.as_mut().expect("just built"))
    }

    /// One unit of the first map stage, from the deepest prefix the store holds.
    fn unit(
        &mut self,
        unit: &Unit,
        stored: Option<StoredUnit<'_, '_>>,
        names: &[&str],
        read: ReadOptions,
        project: Option<&Path>,
        out: &mut Output,
    ) -> Result<UnitDone, Failure> {
        let n = self.configs.len();
        let mut counts = UnitCounts::new(names);
        let prefix = stored.and_then(|s| s.deepest(names));
        let start = prefix.as_ref().map_or(0, |p| p.at + 1);
        let mut original = Vec::new();
        let mut opened = false;
        let prefixes = match prefix {
            Some(mut prefix) => {
                for (k, (mine, first)) in counts
                    .steps
                    .iter_mut()
                    .zip(&prefix.record.stats)
                    .enumerate()
                {
                    *mine = reused(first);
                    counts.quarantine[k] = std::mem::take(&mut prefix.quarantine[k]);
                }
                original.clone_from(&prefix.record.stats);
                if prefix.at == n {
                    let stored = stored.expect("a stored prefix comes from a store");
                    replay(prefix, stored, out, &mut counts)?
                } else {
                    let source = Source::Stored(prefix.lines);
                    self.run(source, start, stored, out, &mut counts)?
                }
            }
            None => {
                opened = true;
                let records = project_named(read_unit(unit, &read), unit, project);
                let done = self.run(Source::Read(records), 0, stored, out, &mut counts)?;
                counts.steps[0].bytes_in += unit_size(unit);
                done
            }
        };

        let mut keys = Vec::new();
        if let Some(stored) = stored {
            // Counters as first computed: the reused prefix's come from its record.
            original.extend(counts.steps[start.min(n + 1)..].iter().cloned());
            let write = out.dataset.then_some(&counts.write);
            stored.keep(prefixes, start, &original, &counts.quarantine, write)?;
            keys.extend(stored.kept_keys());
        }
        Ok(UnitDone {
            counts,
            opened,
            keys,
        })
    }

    /// Runs the steps from position `start` (1 for all of them; 0 also counts the
    /// read) over a source's documents, batch by batch, and hands the survivors on as
    /// one member; with a store, returns the prefixes computed, to keep.
    fn run(
        &mut self,
        mut source: Source,
        start: usize,
        stored: Option<StoredUnit<'_, '_>>,
        out: &mut Output,
        counts: &mut UnitCounts,
    ) -> Result<Vec<NewPrefix>, Failure> {
        let kept = kept_prefixes(self.configs, start);
        let steps = self.steps()?;
        let n = steps.len();
        let pack = stored.map(|s| s.pack);
        // A prefix picks its documents from the one before when that one is kept (or
        // is where the unit starts from); else it holds them whole.
        let mut prefixes: Vec<Option<PrefixWriter>> = (0..n)
            .map(|k| match stored {
                Some(s) if k >= start && kept[k] => Some(PrefixWriter::new(
                    s.pack,
                    k.checked_sub(1)
                        .filter(|&b| b + 1 == start || kept[b])
                        .map(|b| s.chain.keys[b]),
                )),
                _ => None,
            })
            .collect();
        let mut member = MemberWriter::new();
        // Documents past each position so far: a batch entering step `k` is the last
        // `batch.len()` documents past position `k - 1`.
        let mut passed = vec![0u64; n + 1];
        let mut batch: Vec<Document> = Vec::with_capacity(BATCH_DOCUMENTS);
        let mut picked: Vec<(u32, bool)> = Vec::new();
        let first = start.max(1);
        loop {
            let watch = Stopwatch::start();
            let exhausted = match &mut source {
                Source::Read(records) => fill_batch(
                    &mut batch,
                    records,
                    &mut counts.steps[0],
                    &mut counts.quarantine[0],
                )?,
                Source::Stored(lines) => fill_stored(&mut batch, lines)?,
                Source::Intermediate(records) => fill_intermediate(&mut batch, records)?,
            };
            add_time(&mut counts.steps[0], &watch);
            passed[first - 1] += batch.len() as u64;
            if let Some(Some(prefix)) = prefixes.get_mut(0) {
                for doc in &batch {
                    prefix.new_document(doc)?;
                }
            }
            for k in first..=n {
                let base = passed[k - 1] - batch.len() as u64;
                let (name, step) = &mut steps[k - 1];
                let prefix = prefixes.get_mut(k).and_then(Option::as_mut);
                apply_step(
                    &mut batch,
                    name,
                    step.as_mut(),
                    &mut counts.steps[k],
                    &mut counts.quarantine[k],
                    prefix.is_some().then_some(&mut picked),
                );
                passed[k] += batch.len() as u64;
                if let Some(prefix) = prefix {
                    for (doc, (at, changed)) in batch.iter().zip(&picked) {
                        if *changed || !prefix.has_base() {
                            prefix.new_document(doc)?;
                        } else {
                            prefix.same(base + u64::from(*at), doc.text.len());
                        }
                    }
                }
            }
            let watch = Stopwatch::start();
            for doc in batch.drain(..) {
                out.hand_on(&doc, &mut member, pack)?;
                if out.dataset {
                    count_written(&mut counts.write, 1, doc.text.len() as u64);
                }
                crash_point();
            }
            if out.dataset {
                add_time(&mut counts.write, &watch);
            }
            if let Source::Intermediate(_) = source {
                for q in &mut counts.quarantine {
                    out.quarantine.append(q)?;
                    q.clear();
                }
            }
            if exhausted {
                break;
            }
        }
        let mut done = Vec::new();
        for (at, prefix) in prefixes.into_iter().enumerate() {
            if let Some(prefix) = prefix {
                let (documents, text_bytes) = (prefix.documents, prefix.text_bytes);
                done.push(NewPrefix {
                    at,
                    docs: prefix.finish()?,
                    documents,
                    text_bytes,
                });
            }
        }
        let (documents, text_bytes) = (member.documents(), member.text_bytes());
        if let Some(shard) = &mut out.shard {
            let docs = member.finish(shard)?;
            if pack.is_some() {
                done.push(NewPrefix {
                    at: n,
                    docs,
                    documents,
                    text_bytes,
                });
            }
        }
        Ok(done)
    }
}

/// A unit whose every step is stored: its member is appended as stored when it has the
/// output's compression, compressed again when it is kept plain (to the bytes it had),
/// else decoded and encoded again (the record then keeps the new member).
fn replay(
    mut prefix: StoredPrefix,
    stored: StoredUnit<'_, '_>,
    out: &mut Output,
    counts: &mut UnitCounts,
) -> io::Result<Vec<NewPrefix>> {
    let Some(shard) = &mut out.shard else {
        return Err(io::Error::other(
            "a stage that writes no shard replayed stored work",
        ));
    };
    let record = &prefix.record;
    let (as_stored, plain) = match &record.docs {
        Docs::Whole {
            compression,
            zstd_level,
            member_form,
            ..
        } => (
            *compression == shard.compression()
                && (*compression != Compression::Zstd || *zstd_level == shard.member_zstd_level())
                && (*compression == Compression::None || *member_form == shard.member_form()),
            *compression == Compression::None,
        ),
        Docs::Picks { .. } => (false, false),
    };
    // A plain member that the shard does not take as it is: compressed again, line by line.
    let recompress = plain && !as_stored;
    let watch = Stopwatch::start();
    let mut compress = None;
    let mut member = (!as_stored && !plain).then(MemberWriter::new);
    if out.observer.is_some() || member.is_some() || recompress {
        let mut line = Vec::new();
        while prefix.lines.next_line(&mut line)? {
            if out.observer.is_some() || member.is_some() {
                let doc = parse(&line)?;
                if let Some(observer) = &mut out.observer {
                    observer.observe(&doc)?;
                }
                if let Some(member) = &mut member {
                    member.push(&doc, Some(stored.pack), shard)?;
                }
            }
            if recompress {
                let encoder = match &mut compress {
                    Some(encoder) => encoder,
                    None => compress.insert(shard.start(io::sink())?),
                };
                encoder.write_line(&line)?;
            }
            crash_point();
        }
    } else {
        for _ in 0..record.documents {
            crash_point();
        }
    }
    if let Some(encoder) = compress {
        shard.end(encoder)?;
    }
    if as_stored
        && let Docs::Whole {
            object: Some(object),
            ..
        } = &record.docs
    {
        shard.append_reader(stored.store.open_object(object)?)?;
    }
    let Elapsed { wall, cpu } = watch.elapsed();
    let spent = if out.dataset {
        counts.write = match (&record.write, as_stored || plain) {
            (Some(first), true) => reused(first),
            _ => {
                let mut write = StepStats::named("write");
                count_written(&mut write, record.documents, record.text_bytes);
                write
            }
        };
        &mut counts.write
    } else {
        &mut counts.steps[0]
    };
    spent.wall_seconds += wall;
    spent.cpu_seconds += cpu;
    Ok(match member {
        None => Vec::new(),
        Some(member) => vec![NewPrefix {
            at: counts.steps.len() - 1,
            docs: member.finish(shard)?,
            documents: record.documents,
            text_bytes: record.text_bytes,
        }],
    })
}

/// Which positions of the first map stage (0: the read, `k`: after step `k`, before the
/// last) keep a record for each unit, from `start` on: those after a step that says it
/// is expensive. The last position (the unit's output member) is always kept.
fn kept_prefixes(steps: &[RecipeStep], start: usize) -> Vec<bool> {
    (0..=steps.len())
        .map(|k| k >= start && (k == steps.len() || k > 0 && steps[k - 1].config.expensive()))
        .collect()
}

/// Reads documents into the batch until it is full; true when the input is exhausted.
/// Records that fail are quarantined and counted under `read`.
fn fill_batch(
    batch: &mut Vec<Document>,
    records: &mut Records,
    read: &mut StepStats,
    quarantine: &mut Vec<u8>,
) -> io::Result<bool> {
    let mut bytes = 0;
    while batch.len() < BATCH_DOCUMENTS && bytes < BATCH_BYTES {
        match records.next() {
            None => return Ok(true),
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
                quarantine.extend(record_line(&error));
            }
        }
    }
    Ok(false)
}

/// A unit's records with its file named relative to the project when it is inside it:
/// in `metadata.source` where the reader put the path there, and in read errors.
fn project_named(records: Records, unit: &Unit, project: Option<&Path>) -> Records {
    let Some(path) = unit.location.local() else {
        return records;
    };
    let Some(name) = project.and_then(|p| path.strip_prefix(p).ok()) else {
        return records;
    };
    let name = name.to_path_buf();
    let text = serde_json::Value::String(name.to_string_lossy().into_owned());
    let path = path.to_path_buf();
    let full = path.to_string_lossy().into_owned();
    Box::new(records.map(move |record| match record {
        Ok(mut doc) => {
            if doc.meta_str("source") == Some(full.as_str()) {
                doc.metadata.insert("source".to_owned(), text.clone());
            }
            Ok(doc)
        }
        Err(mut error) => {
            if error.path == path {
                error.path.clone_from(&name);
            }
            Err(error)
        }
    }))
}

/// Fills a batch from the run's intermediate shard; true when it is exhausted.
fn fill_intermediate(batch: &mut Vec<Document>, records: &mut Records) -> io::Result<bool> {
    let mut bytes = 0;
    while batch.len() < BATCH_DOCUMENTS && bytes < BATCH_BYTES {
        match records.next() {
            None => return Ok(true),
            Some(Ok(doc)) => {
                bytes += doc.text.len();
                batch.push(doc);
            }
            Some(Err(error)) => {
                return Err(io::Error::other(format!("intermediate shard: {error}")));
            }
        }
    }
    Ok(false)
}

/// Fills a batch from stored documents; true when they are exhausted.
fn fill_stored(batch: &mut Vec<Document>, lines: &mut Lines) -> io::Result<bool> {
    let mut bytes = 0;
    let mut line = Vec::new();
    while batch.len() < BATCH_DOCUMENTS && bytes < BATCH_BYTES {
        if !lines.next_line(&mut line)? {
            return Ok(true);
        }
        let doc = parse(&line)?;
        bytes += doc.text.len();
        batch.push(doc);
    }
    Ok(false)
}

fn parse(line: &[u8]) -> io::Result<Document> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    Document::from_json_slice(body, String::new)
        .map_err(|e| io::Error::other(format!("a cached document does not read: {e}")))
}

/// Runs a batch through one step, counting what it keeps, drops and fails on. With
/// `track`, it also lists each kept document as (its index in the batch before the step,
/// whether the step changed it), for the project store.
fn apply_step(
    batch: &mut Vec<Document>,
    name: &str,
    step: &mut dyn Step,
    stats: &mut StepStats,
    quarantine: &mut Vec<u8>,
    mut track: Option<&mut Vec<(u32, bool)>>,
) {
    let watch = Stopwatch::start();
    if let Some(kept) = track.as_deref_mut() {
        kept.clear();
    }
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
                quarantine.extend(document_line(name, &error.0, doc));
                false
            }
        }
    });
    step.take_counts(&mut stats.counts);
    add_time(stats, &watch);
}

fn add_time(stats: &mut StepStats, watch: &Stopwatch) {
    let Elapsed { wall, cpu } = watch.elapsed();
    stats.wall_seconds += wall;
    stats.cpu_seconds += cpu;
}

/// The bytes of a unit, for progress: its file's size asked again (a `HEAD` for a
/// remote file), 0 when that fails.
pub(crate) fn unit_size(unit: &Unit) -> u64 {
    let file_size = match &unit.location {
        Location::Local(path) => std::fs::metadata(path).map_or(0, |m| m.len()),
        Location::Remote(url) => atelier_io::client()
            .probe(url)
            .ok()
            .and_then(|p| p.length)
            .unwrap_or(0),
    };
    unit.end
        .unwrap_or(file_size)
        .min(file_size)
        .saturating_sub(unit.start)
}
