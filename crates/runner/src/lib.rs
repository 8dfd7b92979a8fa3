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
//! part-00000.jsonl.gz          one shard per task that kept documents
//! quarantine/part-00000.jsonl  records and documents that failed, with the reason
//! summary.json                 the run's merged counters
//! .atelier/plan.json           the plan and its fingerprint
//! .atelier/tasks/00000.json    one marker per finished task, holding its counters
//! ```

pub mod job;
mod measure;
pub mod plan;
mod quarantine;
pub mod run;
pub mod slurm;
pub mod task;

pub use job::{Job, Mode, StageInfo};
pub use plan::{Plan, TaskPlan};
pub use run::{RunError, RunOptions, RunSummary, run};
pub use slurm::{SlurmOptions, SlurmOutcome, run_slurm};
