//! Steps: a typed, validated configuration that builds a runtime object.
//!
//! Most steps are per-document: they may rewrite the document and then keep it or drop
//! it with a named reason. The runner, not the step, counts what goes in and out, so a
//! step only says what happened to one document.
//!
//! A few steps are *barriers* (deduplication, later splitting and training): they must see
//! every document before deciding on any. See [`Barrier`].

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Document;

/// What a step decided for one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Pass the (possibly rewritten) document on.
    Keep,
    /// Remove it; the reason names the rule, for example `too_short`.
    Drop(&'static str),
}

/// A step could not process one document. The runner quarantines that document with
/// this message and goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StepError(pub String);

/// The runtime side of a per-document step. One instance serves one thread: one input
/// unit (a file or a byte range) in the first map stage, whose output must depend only
/// on that unit and the settings so that the project store can reuse it; one task after
/// a barrier. Build it cheaply ([`StepConfig::build`] runs once per unit): share costly
/// resources, such as a model, between instances.
pub trait Step: Send {
    /// Looks at (and may rewrite) one document.
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError>;

    /// Moves what the step counted since the last call (replacements by kind, say) into
    /// `into`. The runner calls it after each batch and adds the counts to the step's
    /// counters. Counts nothing by default.
    fn take_counts(&mut self, _into: &mut BTreeMap<String, u64>) {}
}

/// The configuration side of a step: what a recipe's `[[step]]` table deserializes to.
///
/// Every field has a default (`#[serde(default)]` on the struct) and unknown keys are
/// errors (`#[serde(deny_unknown_fields)]`). Doc comments on the fields become the text of
/// `atelier steps`.
pub trait StepConfig:
    Serialize + DeserializeOwned + Default + JsonSchema + Debug + Send + Sync + 'static
{
    /// The `type` that names this step in a recipe.
    const NAME: &'static str;
    /// One line saying what the step does.
    const SUMMARY: &'static str;
    /// The behaviour version: bumped whenever the same settings would give other output.
    const VERSION: u32;
    /// Whether the step costs much more than reading its output back and is worth a
    /// copy of every document it passes on (extraction): the project store then keeps
    /// each input unit's documents after it, so that a change to a later step starts
    /// from there. A cheaper step (a filter, a rewrite, a label from a small model such
    /// as `language`) is run again instead. False by default.
    const EXPENSIVE: bool = false;

    /// Makes relative paths in the settings relative to the recipe's folder; called once,
    /// right after parsing, before [`StepConfig::validate`].
    fn resolve_paths(&mut self, _recipe_dir: &Path) {}

    /// Checks settings that types alone cannot; pushes every problem found.
    fn validate(&self, _problems: &mut Vec<String>) {}

    /// Files whose content the step's output depends on besides its settings (a model, a
    /// word list): their content hashes join the step's key in the project store, so
    /// that a changed file is not mistaken for cached work. None by default.
    fn inputs(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Builds the runtime object of a per-document step for one task. Settings are
    /// already validated. Barrier steps keep the default and implement
    /// [`StepConfig::barrier`] instead.
    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        Err(format!("`{}` is a barrier step, not a per-document one", Self::NAME).into())
    }

    /// For a barrier step, its runtime object; `None` (the default) for per-document steps.
    fn barrier(&self) -> Option<Box<dyn Barrier>> {
        None
    }
}

/// A step configuration with its type erased, as a parsed recipe holds it.
pub trait ConfiguredStep: Debug + Send + Sync {
    /// The step's recipe name.
    fn name(&self) -> &'static str;
    /// The step's behaviour version.
    fn version(&self) -> u32;
    /// The full settings, defaults included, as JSON.
    fn settings(&self) -> serde_json::Value;
    /// Files the step's output depends on besides its settings; see [`StepConfig::inputs`].
    fn inputs(&self) -> Vec<PathBuf>;
    /// Whether the project store keeps documents after this step; see
    /// [`StepConfig::EXPENSIVE`].
    fn expensive(&self) -> bool;
    /// Builds a per-document runtime object for one task.
    fn build(&self) -> Result<Box<dyn Step>, BoxError>;
    /// The barrier runtime, for barrier steps.
    fn barrier(&self) -> Option<Box<dyn Barrier>>;
}

impl<C: StepConfig> ConfiguredStep for C {
    fn name(&self) -> &'static str {
        C::NAME
    }
    fn version(&self) -> u32 {
        C::VERSION
    }
    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("step settings serialize")
    }
    fn inputs(&self) -> Vec<PathBuf> {
        StepConfig::inputs(self)
    }
    fn expensive(&self) -> bool {
        C::EXPENSIVE
    }
    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        StepConfig::build(self)
    }
    fn barrier(&self) -> Option<Box<dyn Barrier>> {
        StepConfig::barrier(self)
    }
}

/// Where a barrier keeps its files during a run, and what it may know of the run.
#[derive(Debug, Clone)]
pub struct BarrierContext {
    /// A folder private to this step in this run; it exists before any part runs.
    pub work: PathBuf,
    /// The number of data tasks (ranks `0..world` observe and decide).
    pub world: usize,
    /// The dataset's output folder, where a barrier may keep what outlives the run (a
    /// deduplication index, for example).
    pub output: PathBuf,
}

/// A step that must see every document before it can decide on any.
///
/// It runs in three parts that exchange only files, so each part can run as a separate
/// process:
///
/// 1. per data task, an [`Observer`] sees every document that the steps before it kept,
///    in order, and writes side files (named after its rank) into the work folder;
/// 2. the [`BarrierStage`]s run one after another, each as independent tasks, turning all
///    side files into decisions (for deduplication: one task per bucket, then one that
///    joins the clusters);
/// 3. per data task, a decider (an ordinary [`Step`]) sees the same documents in the same
///    order and keeps, drops or rewrites each one.
///
/// Every part must write its files under temporary names and rename them when complete,
/// so that a part killed midway can simply run again.
pub trait Barrier: Send + Sync {
    /// The first part, for data task `rank`.
    fn observer(&self, ctx: &BarrierContext, rank: usize) -> Result<Box<dyn Observer>, BoxError>;
    /// The middle stages, in order.
    fn stages(&self, ctx: &BarrierContext) -> Vec<BarrierStage>;
    /// The last part, for data task `rank`.
    fn decider(&self, ctx: &BarrierContext, rank: usize) -> Result<Box<dyn Step>, BoxError>;
}

/// Sees documents on their way to a barrier.
pub trait Observer: Send {
    /// One document, in the task's order.
    fn observe(&mut self, doc: &Document) -> io::Result<()>;
    /// Completes the task's side files.
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// A failure of a step's or a stage's code, with its causes: building a step, a
/// barrier's parts, a stage's tasks.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs one task of a barrier's middle stage.
pub type StageTask = Arc<dyn Fn(usize) -> Result<(), BoxError> + Send + Sync>;

/// One middle stage of a barrier: `tasks` independent tasks.
#[derive(Clone)]
pub struct BarrierStage {
    /// A short name for markers and messages (`buckets`, `clusters`, ...).
    pub name: String,
    /// How many tasks this stage has.
    pub tasks: usize,
    /// Runs task `rank` of this stage.
    pub run: StageTask,
}

/// What one task of a [`ShardStage`] did.
#[derive(Debug, Clone, Default)]
pub struct StageOutcome {
    /// The step's counters (documents in are the shard's).
    pub stats: crate::StepStats,
    /// The project store's records it used or made (hex hashes), which the version keeps
    /// alive.
    pub keys: Vec<String>,
}

/// A stage that runs on the dataset once it is written, one task per dataset shard,
/// and writes files of its own in a folder of the output (token shards, for example).
/// Like the map stages, its tasks leave markers, so it resumes and runs as job arrays;
/// its files become part of the dataset version, and its settings with them.
pub trait ShardStage: Debug + Send + Sync {
    /// The stage's name, also its step's name in counters and bills (`tokenize`).
    fn name(&self) -> &str;
    /// Its folder in the output (`tokens`).
    fn folder(&self) -> &str;
    /// Changes whenever its files would: the stage starts over when it does.
    fn fingerprint(&self) -> String;
    /// Its settings, as a version records them.
    fn settings(&self) -> serde_json::Value;
    /// Task `rank`: reads the dataset shard (none when the task kept no document) and
    /// writes its files under `folder`; `project` is the project folder when the recipe
    /// keeps a store.
    fn run(
        &self,
        rank: usize,
        shard: Option<&Path>,
        folder: &Path,
        project: Option<&Path>,
    ) -> Result<StageOutcome, BoxError>;
    /// Once every task has run: completes the folder (an index), and returns a summary
    /// for the version's manifest.
    fn finish(&self, folder: &Path, tasks: usize) -> Result<serde_json::Value, BoxError>;
}
