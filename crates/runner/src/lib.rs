//! The runner: it cuts a recipe's inputs into tasks, runs each task through the steps,
//! counts everything, quarantines what fails, and resumes where a killed run stopped.
//!
//! A task shares nothing in memory with the others: it reads its units, writes its own
//! shard, quarantine file and completion marker, and the run's summary is the sum of the
//! markers. So a task can run on a thread here or as a separate process elsewhere.
//!
//! Output folder layout:
//!
//! ```text
//! part-00000.jsonl.gz          one shard per task that kept documents: one gzip member
//!                              (or zstd frame) per input unit
//! quarantine/part-00000.jsonl  records and documents that failed, with the reason
//! summary.json                 the run's merged counters
//! .atelier/plan.json           the plan and its fingerprint
//! .atelier/tasks/00000.json    one marker per finished task, holding its counters
//! .atelier/work/               what stages pass each other (intermediate shards, a
//!                              barrier's files), removed once the run has finished
//! ```
//!
//! With a project store (`[dataset] store = true`, the default, for a recipe read from a
//! file), the first map stage takes from `<recipe folder>/.atelier/` whatever work an
//! earlier run already did on the same input bytes with the same steps, and keeps what it
//! computes for the next run (the `driver` and `reuse` modules say how); every successful
//! run then becomes a dataset version ([`atelier_store::Manifest`]) and moves the `latest`
//! alias. The process that drives a run holds the project's lock meanwhile.

//!
//! Modules, from the bottom up: [`mod@run`] (options, errors, summary), [`plan`] (inputs cut
//! into tasks), [`layout`] (files and markers), `quarantine`, `reuse` (what the store
//! keeps), [`driver`] (one map task, batch by batch), [`job`] (stages of a run and their
//! tasks), and the executors: [`local`] on threads, [`slurm`] as job arrays.

mod chunks;
pub mod driver;
pub mod job;
pub mod layout;
pub mod local;
mod measure;
pub mod plan;
mod quarantine;
mod reuse;
pub mod run;
mod share;
pub mod slurm;
mod version;

#[cfg(test)]
mod pinned_formats;

pub use job::{Job, Mode, StageInfo, project_dir};
pub use local::run;
pub use plan::{Plan, TaskPlan};
pub use reuse::Reuse;
#[cfg(feature = "fuzzing")]
pub use reuse::replay_record;
pub use run::{RunError, RunOptions, RunSummary};
pub use slurm::{SlurmOptions, SlurmOutcome, run_slurm};
