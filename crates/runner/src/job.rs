//! A job: a recipe's plan cut into stages, whatever runs them.
//!
//! The recipe's steps are cut at each barrier step. Stage `map0` reads the sources
//! through the steps before the first barrier; each barrier then adds its middle stages;
//! the next map stage reads what the previous one kept back through the barrier's
//! decider, and so on until the last map stage writes the dataset. When no step comes
//! before the first barrier and the sources are local files, `map0` only shows them to
//! the barrier's observer and `map1` reads them again: no intermediate copy of the
//! input. Every task of every stage runs through [`Job::run_task`], which leaves a
//! marker when it completes: the local executor calls it on threads, the Slurm executor
//! through `atelier task` in job arrays.

use atelier_bill::{BillSettings, EnergyRecord, Ledger, TaskMeter};
use atelier_core::recipe::RecipeStep;
use atelier_core::{Barrier, BarrierContext, BarrierStage, Recipe, ShardStage, TaskStats};
use atelier_io::{Location, ReadOptions, Unit};
use atelier_store::{FileHashes, Hash, ProjectLock, Store};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::chunks::ChunkIndex;
use crate::driver::{Decider, MapInput, MapOutput, MapTask, TaskResult, UnitWork, run_map};
use crate::layout::{Layout, Marker};
use crate::measure::{Elapsed, Stopwatch};
use crate::plan::{Plan, plan, project_relative};
use crate::reuse::{Chain, Reuse};
use crate::run::{RunError, RunSummary};
use crate::share::Board;
use atelier_bill::energy::peak_rss_bytes;
use atelier_core::atomic::write_atomic;

/// How a job treats the output folder when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plan the run: a plan that differs from the last run's starts over, and leftovers
    /// of killed tasks are removed. Only the process that drives a run does this.
    Plan,
    /// Run tasks of a run planned elsewhere: the plan must be the one on disk.
    Task,
}

/// One stage: a name for markers and logs, and how many tasks it has.
pub struct StageInfo {
    /// `map0`, `map1`, ... or `step<N>-<name>.<stage>` for a barrier's middle stage.
    pub name: String,
    /// Its number of tasks.
    pub tasks: usize,
    /// Input bytes, for progress (0 when tasks are counted instead).
    pub bytes: u64,
    kind: StageKind,
}

/// What a stage runs.
enum StageKind {
    /// A map stage, over this segment.
    Map(usize),
    /// A barrier's middle stage.
    Middle { segment: usize, stage: BarrierStage },
    /// The stage after the dataset ([`ShardStage`]).
    After,
}

/// A run of per-document steps, and the barrier step that ends it (if any).
struct Segment<'a> {
    steps: &'a [RecipeStep],
    barrier: Option<BarrierStep>,
}

struct BarrierStep {
    name: &'static str,
    /// Its place in the run's step counters (after `read`).
    position: usize,
    runtime: Box<dyn Barrier>,
    context: BarrierContext,
}

impl BarrierStep {
    fn error(&self, error: impl Into<atelier_core::BoxError>) -> RunError {
        RunError::step(self.name, error)
    }
}

/// A recipe ready to run, stage by stage.
pub struct Job<'a> {
    recipe: &'a Recipe,
    plan: Plan,
    layout: Layout<'a>,
    segments: Vec<Segment<'a>>,
    stages: Vec<StageInfo>,
    ledger: Ledger,
    /// The project folder, when the recipe is a file: paths inside it are recorded
    /// relative to it.
    project: Option<PathBuf>,
    /// The project store, when the recipe keeps versions and reuses work.
    store: Option<Store>,
    /// Content hashes of the input files, by location (with a store); for a remote
    /// file, a hash of its identity.
    hashes: HashMap<Location, Hash>,
    /// For each recipe step, a hash of its own input files' contents.
    step_inputs: Vec<Hash>,
    /// The stage that runs on the written dataset, if any (tokenizing).
    after: Option<Arc<dyn ShardStage>>,
    /// The first map stage only shows the sources to the first barrier's observer, and
    /// the next map stage reads them again instead of an intermediate shard: there is no
    /// step before that barrier and every source is local.
    reread: bool,
    /// The chunks of the `latest` version's shards, read when a task first needs them.
    chunks: OnceLock<Arc<ChunkIndex>>,
    /// The project lock, held by the process that drives a run.
    _lock: Option<ProjectLock>,
}

/// The project of a recipe: its folder, when the recipe is a file (a recipe built in
/// memory, like `atelier extract`'s, has none).
pub fn project_dir(recipe: &Recipe) -> Option<PathBuf> {
    if !recipe.path.is_file() {
        return None;
    }
    let dir = recipe.path.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    Some(atelier_core::recipe::normalize(dir))
}

impl<'a> Job<'a> {
    /// Plans a recipe and prepares its output folder as `mode` says. In `Plan` mode it
    /// first takes the project's lock, so that a second run of the project is refused
    /// instead of mixing with this one. `after` runs on the written dataset (the recipe's
    /// `[tokenize]`, which the runner does not read itself).
    pub fn new(
        recipe: &'a Recipe,
        mode: Mode,
        after: Option<Arc<dyn ShardStage>>,
    ) -> Result<Job<'a>, RunError> {
        let project = project_dir(recipe);
        let lock = match (&project, mode) {
            (Some(dir), Mode::Plan) => Some(ProjectLock::acquire(
                dir,
                &format!("atelier run {}", recipe.path.display()),
            )?),
            _ => None,
        };
        let mut plan = plan(recipe, project.as_deref())?;
        let layout = Layout {
            root: &recipe.output.path,
        };
        let store = match &project {
            Some(dir) if recipe.dataset.store => Some(Store::open(dir)?),
            _ => None,
        };
        let mut remembered = store.as_ref().map(FileHashes::load);
        let step_inputs = step_inputs(recipe, project.as_deref(), remembered.as_mut());
        if recipe.steps.iter().any(|s| !s.config.inputs().is_empty()) {
            // A changed model or word list is another run, not one to resume.
            let mut key = Hash::key("atelier-plan").text(&plan.fingerprint);
            for h in &step_inputs {
                key = key.hash(h);
            }
            plan.fingerprint = key.finish().hex();
        }
        let hashes = match &mut remembered {
            Some(r) => content_hashes(r, &plan, mode == Mode::Plan)?,
            None => HashMap::new(),
        };
        match mode {
            Mode::Plan => prepare_output(&plan, &layout)?,
            Mode::Task => check_plan(&plan, &layout)?,
        }
        let world = plan.tasks.len();
        let segments = segments(recipe, &layout, world)?;
        // Reading a local file again costs what reading an intermediate shard back
        // does, and saves writing one: a copy of the whole input.
        let reread = segments[0].steps.is_empty()
            && segments[0].barrier.is_some()
            && plan
                .tasks
                .iter()
                .flat_map(|t| &t.units)
                .all(|u| u.location.local().is_some());
        let mut stages = Vec::new();
        for (m, segment) in segments.iter().enumerate() {
            let bytes = if m == 0 { plan.bytes() } else { 0 };
            stages.push(StageInfo {
                name: format!("map{m}"),
                tasks: world,
                bytes,
                kind: StageKind::Map(m),
            });
            if let Some(b) = &segment.barrier {
                let work = b
                    .context
                    .work
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                for stage in b.runtime.stages(&b.context) {
                    stages.push(StageInfo {
                        name: format!("{work}.{}", stage.name),
                        tasks: stage.tasks,
                        bytes: 0,
                        kind: StageKind::Middle { segment: m, stage },
                    });
                }
            }
        }
        if let Some(stage) = &after {
            stages.push(StageInfo {
                name: stage.name().to_owned(),
                tasks: world,
                bytes: 0,
                kind: StageKind::After,
            });
            if mode == Mode::Plan {
                prepare_after(
                    &layout,
                    &after_fingerprint(&plan, stage.as_ref()),
                    stage.folder(),
                )?;
            }
        }
        let bill: BillSettings = recipe.section("bill").map_err(RunError::Recipe)?;
        let ledger = Ledger::new(&bill);
        Ok(Job {
            recipe,
            plan,
            layout,
            segments,
            stages,
            ledger,
            project,
            store,
            hashes,
            step_inputs,
            after,
            reread,
            chunks: OnceLock::new(),
            _lock: lock,
        })
    }

    /// The project store, when the recipe keeps versions.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// The stages, in the order they must run.
    pub fn stages(&self) -> &[StageInfo] {
        &self.stages
    }

    /// The stage with this name.
    pub fn stage_named(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }

    /// The output layout.
    pub fn layout(&self) -> &Layout<'a> {
        &self.layout
    }

    /// The recipe.
    pub fn recipe(&self) -> &Recipe {
        self.recipe
    }

    /// The marker of a finished task: its counters and energy.
    pub fn marker(&self, stage: usize, rank: usize) -> Option<Marker> {
        let name = &self.stages[stage].name;
        let bytes = std::fs::read(self.layout.marker(name, rank)).ok()?;
        let marker: Marker = serde_json::from_slice(&bytes).ok()?;
        let ours = marker.fingerprint == self.fingerprint(stage)
            && marker.rank == rank
            && &marker.stage == name;
        ours.then_some(marker)
    }

    /// What a stage's markers must carry: the plan's fingerprint, and for the stage after
    /// the dataset, its own settings too (a new tokenizer redoes only that stage).
    fn fingerprint(&self, stage: usize) -> String {
        match (&self.stages[stage].kind, &self.after) {
            (StageKind::After, Some(after)) => after_fingerprint(&self.plan, after.as_ref()),
            _ => self.plan.fingerprint.clone(),
        }
    }

    /// Runs one task and leaves its marker. `progress` gets input bytes as they are read.
    pub fn run_task(
        &self,
        stage: usize,
        rank: usize,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<TaskStats, RunError> {
        self.run_task_shared(stage, rank, progress, None)
    }

    /// A board on which the tasks of a stage run by this process share their units
    /// with its idle workers ([`Job::run_task_shared`], [`Board::help`]).
    pub(crate) fn board<'b>(
        &'b self,
        progress: &'b (dyn Fn(u64) + Sync),
    ) -> Board<'b, UnitWork<'b>> {
        Board::new(&self.ledger, progress)
    }

    /// [`Job::run_task`], offering the task's units to other workers of this process
    /// through `share`: the same output, sooner when workers would otherwise be idle.
    pub(crate) fn run_task_shared<'b>(
        &'b self,
        stage: usize,
        rank: usize,
        progress: &(dyn Fn(u64) + Sync),
        share: Option<&'b Board<'b, UnitWork<'b>>>,
    ) -> Result<TaskStats, RunError> {
        let info = &self.stages[stage];
        if rank >= info.tasks {
            return Err(RunError::NoSuchTask {
                stage: info.name.clone(),
                tasks: info.tasks,
                rank,
            });
        }
        let meter = TaskMeter::start(&self.ledger);
        let mut keys = Vec::new();
        let mut helped = EnergyRecord::default();
        let stats = match &info.kind {
            StageKind::Map(m) => {
                let done = self.run_map_task(*m, rank, progress, share)?;
                keys = done.keys;
                helped = done.helped;
                done.stats
            }
            StageKind::Middle { segment, stage } => {
                let barrier = self.segments[*segment]
                    .barrier
                    .as_ref()
                    .expect("a middle stage follows a barrier");
                let clock = Stopwatch::start();
                (stage.run)(rank).map_err(|e| {
                    barrier.error(format!("stage `{}` task {rank}: {e}", stage.name))
                })?;
                let Elapsed {
                    wall: wall_seconds,
                    cpu: cpu_seconds,
                } = clock.elapsed();
                TaskStats {
                    wall_seconds,
                    cpu_seconds,
                    peak_rss_bytes: peak_rss_bytes(),
                    ..TaskStats::default()
                }
            }
            StageKind::After => {
                let done = self.run_after_task(rank)?;
                keys = done.keys;
                done.stats
            }
        };
        let marker = Marker {
            fingerprint: self.fingerprint(stage),
            stage: info.name.clone(),
            rank,
            stats,
            energy: {
                let mut energy = meter.stop();
                energy += &helped;
                energy
            },
            keys,
        };
        self.layout.write_marker(&marker)?;
        Ok(marker.stats)
    }

    fn run_map_task<'b>(
        &'b self,
        m: usize,
        rank: usize,
        progress: &(dyn Fn(u64) + Sync),
        share: Option<&'b Board<'b, UnitWork<'b>>>,
    ) -> Result<TaskResult, RunError> {
        let segment = &self.segments[m];
        let previous = m
            .checked_sub(1)
            .and_then(|p| self.segments[p].barrier.as_ref());
        let units = &self.plan.tasks[rank].units;
        let input = match previous {
            None => MapInput::Units(units),
            Some(_) if m == 1 && self.reread => MapInput::Reread {
                units,
                documents: self.documents_read(rank)?,
            },
            Some(_) => MapInput::Intermediate(self.layout.intermediate(m - 1, rank)),
        };
        let decider = match previous {
            Some(b) => Some(Decider {
                step: b.name,
                runtime: b
                    .runtime
                    .decider(&b.context, rank)
                    .map_err(|e| b.error(e))?,
            }),
            None => None,
        };
        let output = match &segment.barrier {
            Some(b) => {
                let observer = b
                    .runtime
                    .observer(&b.context, rank)
                    .map_err(|e| b.error(e))?;
                if m == 0 && self.reread {
                    MapOutput::Observer(observer, b.context.work.clone())
                } else {
                    MapOutput::Barrier(observer, self.layout.intermediate(m, rank))
                }
            }
            None => {
                let compression = self.recipe.output.compression;
                MapOutput::Dataset(self.layout.shard(rank, compression.suffix()), compression)
            }
        };
        let read = ReadOptions {
            max_record_bytes: self.recipe.dataset.max_record_bytes,
        };
        let reuse = match (&self.store, &input) {
            // Without steps there is nothing worth keeping: only the read.
            (Some(_), MapInput::Units(_)) if self.reread => None,
            (Some(store), MapInput::Units(units)) => Some(Reuse {
                store,
                pack: store.pack(),
                chains: units
                    .iter()
                    .map(|u| {
                        let file = self.hashes.get(&u.location)?;
                        // Keyed by the name its documents carry (`metadata.source`).
                        let location = match &u.location {
                            Location::Local(path) => {
                                project_relative(path, self.project.as_deref()).into()
                            }
                            remote => remote.clone(),
                        };
                        let named = Unit {
                            location,
                            ..u.clone()
                        };
                        Some(Chain::new(
                            &named,
                            file,
                            &read,
                            segment.steps,
                            &self.step_inputs,
                        ))
                    })
                    .collect(),
            }),
            _ => None,
        };
        // Behind a barrier, a dataset shard copies the chunks the last version holds.
        let chunks = match (&self.store, &input, &output) {
            (
                Some(store),
                MapInput::Intermediate(_) | MapInput::Reread { .. },
                MapOutput::Dataset(..),
            ) => {
                let index = self
                    .chunks
                    .get_or_init(|| Arc::new(ChunkIndex::load(store)))
                    .clone();
                Some((store, index))
            }
            _ => None,
        };
        let task = MapTask {
            stage: m,
            rank,
            input,
            decider,
            steps: segment.steps,
            output,
            read,
            reuse,
            project: self.project.as_deref(),
            share,
            chunks,
        };
        run_map(task, &self.layout, progress)
    }

    /// The documents the first map stage read for task `rank` (from its marker): the
    /// next stage, reading the sources again, must find as many.
    fn documents_read(&self, rank: usize) -> Result<u64, RunError> {
        let marker = self.marker(0, rank).ok_or_else(|| {
            RunError::Tasks(vec![format!(
                "task {rank} of stage {} has not completed",
                self.stages[0].name
            )])
        })?;
        Ok(marker.stats.steps.first().map_or(0, |read| read.kept))
    }

    fn run_after_task(&self, rank: usize) -> Result<TaskResult, RunError> {
        let after = self.after.as_ref().expect("an After stage has its stage");
        let shard = self
            .layout
            .shard(rank, self.recipe.output.compression.suffix());
        let clock = Stopwatch::start();
        let outcome = after
            .run(
                rank,
                shard.exists().then_some(shard.as_path()),
                &self.layout.root.join(after.folder()),
                self.store.as_ref().map(Store::project),
            )
            .map_err(|e| RunError::step(after.name(), format!("task {rank}: {e}")))?;
        let Elapsed {
            wall: wall_seconds,
            cpu: cpu_seconds,
        } = clock.elapsed();
        let keys = outcome
            .keys
            .iter()
            .map(|k| k.parse::<Hash>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RunError::step(after.name(), format!("a store key {}", e.0)))?;
        let stats = TaskStats {
            tasks: 1,
            steps: vec![outcome.stats],
            wall_seconds,
            cpu_seconds,
            peak_rss_bytes: peak_rss_bytes(),
            ..TaskStats::default()
        };
        Ok(TaskResult {
            stats,
            keys,
            helped: EnergyRecord::default(),
        })
    }

    /// Once every task has its marker: [`Job::summarize`], then, with a project store,
    /// commits the dataset as a new version and moves `latest` to it; last, removes the
    /// intermediate shards and barrier files of `.atelier/work/`.
    pub fn finish(&self, tasks_resumed: usize) -> Result<RunSummary, RunError> {
        let mut summary = self.summarize(tasks_resumed)?;
        let after = match &self.after {
            Some(stage) => {
                let folder = self.layout.root.join(stage.folder());
                let report = stage
                    .finish(&folder, self.plan.tasks.len())
                    .map_err(|e| RunError::step(stage.name(), e))?;
                Some(crate::version::After {
                    name: stage.name().to_owned(),
                    folder: stage.folder().to_owned(),
                    settings: stage.settings(),
                    report,
                })
            }
            None => None,
        };
        if let Some(store) = &self.store {
            let mut keys = BTreeSet::new();
            // The first map stage's records, the dataset stage's chunk lists and the
            // stage after the dataset's.
            for stage in 0..self.stages.len() {
                for rank in 0..self.plan.tasks.len() {
                    if let Some(marker) = self.marker(stage, rank) {
                        keys.extend(marker.keys);
                    }
                }
            }
            let sources = self
                .plan
                .files
                .iter()
                .filter_map(|f| {
                    Some(atelier_store::SourceFile {
                        // Relative to the project where it is inside: a moved project
                        // keeps its versions' sources.
                        path: match &f.location {
                            Location::Local(path) => project_relative(path, Some(store.project())),
                            remote => remote.name(),
                        },
                        size: f.size,
                        hash: *self.hashes.get(&f.location)?,
                    })
                })
                .collect();
            let manifest = crate::version::commit(
                store,
                self.recipe,
                sources,
                keys.into_iter().collect(),
                &summary,
                after.as_ref(),
            )?;
            summary.version = Some(manifest.id);
        }
        // What stages passed each other is spent once every task is done: a run that
        // stops before this point resumes from it, a finished one never reads it again.
        let work = self.layout.work();
        if work.exists() {
            std::fs::remove_dir_all(&work).map_err(RunError::io(&work))?;
        }
        Ok(summary)
    }

    /// Tasks of `stage` without a marker.
    pub fn pending(&self, stage: usize) -> Vec<usize> {
        (0..self.stages[stage].tasks)
            .filter(|&r| self.marker(stage, r).is_none())
            .collect()
    }

    /// Once every task has its marker: merges the counters, checks them, writes
    /// `summary.json`, and fails if more was quarantined than the recipe accepts.
    pub fn summarize(&self, tasks_resumed: usize) -> Result<RunSummary, RunError> {
        let mut stats = TaskStats::default();
        let mut energy = EnergyRecord::default();
        let mut barrier_costs = Vec::new();
        for (stage, info) in self.stages.iter().enumerate() {
            let mut sum = TaskStats::default();
            for rank in 0..info.tasks {
                let task = self.marker(stage, rank).ok_or_else(|| {
                    RunError::Tasks(vec![format!(
                        "task {rank} of stage {} has not completed",
                        info.name
                    )])
                })?;
                sum += &task.stats;
                energy += &task.energy;
            }
            match &info.kind {
                StageKind::Map(_) | StageKind::After => stats = concat(stats, sum),
                StageKind::Middle { segment, .. } => {
                    let position = self.segments[*segment]
                        .barrier
                        .as_ref()
                        .expect("barrier")
                        .position;
                    barrier_costs.push((position, sum));
                }
            }
        }
        // A barrier's middle stages count as time spent in the barrier step.
        for (position, cost) in &barrier_costs {
            let step = &mut stats.steps[*position];
            step.wall_seconds += cost.wall_seconds;
            step.cpu_seconds += cost.cpu_seconds;
            stats.wall_seconds += cost.wall_seconds;
            stats.cpu_seconds += cost.cpu_seconds;
            stats.peak_rss_bytes = stats.peak_rss_bytes.max(cost.peak_rss_bytes);
        }
        stats.check().map_err(RunError::Counts)?;

        let world = self.plan.tasks.len();
        let suffix = self.recipe.output.compression.suffix();
        let summary = RunSummary {
            dataset: self.recipe.name(),
            output: self.recipe.output.path.clone(),
            tasks: world,
            tasks_resumed,
            shards: (0..world)
                .map(|r| self.layout.shard(r, suffix))
                .filter(|p| p.exists())
                .collect(),
            quarantine: files_in(&self.layout.root.join("quarantine")),
            skipped_files: self.plan.skipped.clone(),
            unversioned_files: self.plan.unversioned.clone(),
            stats,
            energy,
            version: None,
            fetched: Vec::new(),
        };
        let json = serde_json::to_vec_pretty(&summary).expect("summary serializes");
        let path = self.layout.root.join("summary.json");
        write_atomic(&path, &json).map_err(RunError::io(&path))?;

        let records = summary.stats.records();
        let quarantined = summary.stats.quarantined();
        let limit = self.recipe.dataset.max_quarantined_fraction;
        if quarantined as f64 > limit * records as f64 {
            return Err(RunError::TooMuchQuarantined {
                quarantined,
                records,
                limit,
                folder: self.layout.root.join("quarantine"),
            });
        }
        Ok(summary)
    }
}

/// The fingerprint of the stage after the dataset: the plan's and the stage's own.
fn after_fingerprint(plan: &Plan, stage: &dyn ShardStage) -> String {
    Hash::key("atelier-after-stage")
        .text(&plan.fingerprint)
        .text(stage.name())
        .text(&stage.fingerprint())
        .finish()
        .hex()
}

/// Starts the stage after the dataset over when its fingerprint changed since the last
/// run (another tokenizer, other layouts): its folder is removed, which also drops the
/// files of ranks a smaller plan no longer has.
fn prepare_after(layout: &Layout<'_>, fingerprint: &str, folder: &str) -> Result<(), RunError> {
    let record = layout.state().join("after.json");
    let same = std::fs::read_to_string(&record).is_ok_and(|f| f.trim() == fingerprint);
    if !same {
        let dir = layout.root.join(folder);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(RunError::io(&dir))?;
        }
        write_atomic(&record, fingerprint.as_bytes()).map_err(RunError::io(&record))?;
    }
    Ok(())
}

/// Content hashes of the input files, by location, remembered in the store so that
/// unchanged files are not read again; the process that plans the run saves what it
/// learnt. A file that cannot be read gets no hash: its unit is read (and its failure
/// quarantined) without the store.
///
/// A remote file cannot be hashed without downloading it: its identity is its URL, size
/// and `ETag` (else `Last-Modified`), hashed together. One whose server gives neither
/// gets no hash, so it is read again on every run.
fn content_hashes(
    remembered: &mut FileHashes,
    plan: &Plan,
    save: bool,
) -> Result<HashMap<Location, Hash>, RunError> {
    let paths: Vec<PathBuf> = plan
        .files
        .iter()
        .filter_map(|f| f.location.local().map(Path::to_path_buf))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut hashes = HashMap::new();
    for (path, hash) in paths.iter().zip(remembered.hash_all(&paths, threads)) {
        if let Ok(hash) = hash {
            hashes.insert(Location::Local(path.clone()), hash);
        }
    }
    for file in &plan.files {
        if let (Location::Remote(url), Some(version)) = (&file.location, &file.version) {
            let identity = Hash::key("atelier-remote-file")
                .text(url)
                .number(file.size)
                .text(version)
                .finish();
            hashes.insert(file.location.clone(), identity);
        }
    }
    if save {
        remembered.save()?;
    }
    Ok(hashes)
}

/// For each step, a hash of the contents of its own input files (a model, a word list),
/// named relative to the project where they are inside it.
fn step_inputs(
    recipe: &Recipe,
    project: Option<&Path>,
    mut remembered: Option<&mut FileHashes>,
) -> Vec<Hash> {
    recipe
        .steps
        .iter()
        .map(|step| {
            let mut key = Hash::key("atelier-step-inputs");
            for path in step.config.inputs() {
                let hash = match remembered.as_deref_mut() {
                    Some(r) => r.hash(&path),
                    None => Hash::of_file(&path),
                };
                let name = project_relative(&path, project);
                key = match hash {
                    Ok(h) => key.text(&name.to_string_lossy()).hash(&h),
                    Err(e) => key.text(&name.to_string_lossy()).text(&e.to_string()),
                };
            }
            key.finish()
        })
        .collect()
}

fn segments<'a>(
    recipe: &'a Recipe,
    layout: &Layout<'_>,
    world: usize,
) -> Result<Vec<Segment<'a>>, RunError> {
    let mut segments = Vec::new();
    let mut start = 0;
    for (i, step) in recipe.steps.iter().enumerate() {
        if let Some(runtime) = step.config.barrier() {
            let work = layout.barrier_work(i, step.config.name());
            std::fs::create_dir_all(&work).map_err(RunError::io(&work))?;
            let context = BarrierContext {
                work,
                world,
                output: layout.root.to_path_buf(),
            };
            let barrier = BarrierStep {
                name: step.config.name(),
                position: i + 1,
                runtime,
                context,
            };
            segments.push(Segment {
                steps: &recipe.steps[start..i],
                barrier: Some(barrier),
            });
            start = i + 1;
        }
    }
    segments.push(Segment {
        steps: &recipe.steps[start..],
        barrier: None,
    });
    Ok(segments)
}

/// Appends one stage's counters (summed over its tasks) to the run's.
fn concat(mut run: TaskStats, stage: TaskStats) -> TaskStats {
    run.tasks += stage.tasks;
    run.files += stage.files;
    run.steps.extend(stage.steps);
    run.wall_seconds += stage.wall_seconds;
    run.cpu_seconds += stage.cpu_seconds;
    run.peak_rss_bytes = run.peak_rss_bytes.max(stage.peak_rss_bytes);
    run
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| !p.to_string_lossy().ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn plan_path(layout: &Layout<'_>) -> PathBuf {
    layout.state().join("plan.json")
}

fn planned_fingerprint(layout: &Layout<'_>) -> Option<String> {
    /// The one field wanted of a plan (of thousands of units for a folder of mail):
    /// the rest is skipped, not built.
    #[derive(serde::Deserialize)]
    struct Planned {
        fingerprint: String,
    }
    let bytes = std::fs::read(plan_path(layout)).ok()?;
    serde_json::from_slice::<Planned>(&bytes)
        .ok()
        .map(|p| p.fingerprint)
}

fn check_plan(plan: &Plan, layout: &Layout<'_>) -> Result<(), RunError> {
    match planned_fingerprint(layout) {
        Some(f) if f == plan.fingerprint => Ok(()),
        Some(_) => Err(RunError::Stale(format!(
            "the recipe or its inputs changed since this run was planned in {}; run `atelier run` again",
            layout.root.display()
        ))),
        None => Err(RunError::Stale(format!(
            "no run is planned in {}; start one with `atelier run`",
            layout.root.display()
        ))),
    }
}

/// Makes the output folder ready: a plan that differs from the last run's starts over
/// (its shards, quarantine, markers, work files and index removed); leftovers of killed
/// tasks (`*.tmp`) go in any case.
fn prepare_output(plan: &Plan, layout: &Layout<'_>) -> Result<(), RunError> {
    let io = |e| RunError::io(layout.root)(e);
    let same_plan = planned_fingerprint(layout).as_deref() == Some(plan.fingerprint.as_str());
    std::fs::create_dir_all(layout.root).map_err(io)?;
    if !same_plan {
        for entry in std::fs::read_dir(layout.root).map_err(io)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("part-") || name == "summary.json" {
                std::fs::remove_file(entry.path()).map_err(io)?;
            }
        }
        for dir in [
            layout.root.join("quarantine"),
            layout.root.join("index"),
            layout.state().join("tasks"),
            layout.work(),
            layout.state().join("logs"),
            layout.state().join("slurm"),
        ] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(io)?;
            }
        }
        let json = serde_json::to_vec(plan).expect("plan serializes");
        write_atomic(&plan_path(layout), &json).map_err(io)?;
    }
    remove_temporaries(layout.root).map_err(io)
}

fn remove_temporaries(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            remove_temporaries(&path)?;
        } else if path.to_string_lossy().ends_with(".tmp") {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}
