//! The shared vocabulary of atelier: documents, steps, the step registry, recipes and
//! the counters every task reports.
//!
//! Nothing here reads files or runs tasks; `atelier-io` reads and writes documents and
//! `atelier-runner` drives steps over them.

pub mod atomic;
pub mod document;
pub mod fault;
pub mod format;
pub mod recipe;
pub mod registry;
pub mod split;
pub mod stats;
pub mod step;
pub mod time;

pub use document::{Document, Metadata};
pub use format::Format;
pub use recipe::{Recipe, RecipeError, RecipeErrors};
pub use registry::{Registry, StepKind};
pub use split::{Split, split_of};
pub use stats::{StepStats, TaskStats};
pub use step::{
    Barrier, BarrierContext, BarrierStage, BoxError, ConfiguredStep, Observer, ShardStage,
    StageOutcome, StageTask, Step, StepConfig, StepError, Verdict,
};
pub use time::{utc, utc_now, utc_of};
