//! Energy per task: measured where the machine lets us read its counters, estimated
//! elsewhere, and always labelled with how it was obtained.
//!
//! # Sources
//!
//! - **Processor**: Linux RAPL through powercap (`/sys/class/powercap/intel-rapl:N`,
//!   the `package-N` zones, and their `dram` subzones for memory). The counters are
//!   cumulative microjoules that wrap at `max_energy_range_uj`; the [`Ledger`] reads them
//!   at every task start and stop and from a background thread once a minute, so no wrap
//!   is missed (at 500 W a 262 kJ range wraps in about nine minutes). They are usually
//!   readable by root only; unreadable counters fall back to the estimate.
//! - **GPUs**: NVML, loaded at run time from `libnvidia-ml.so.1` with `libloading`
//!   (`nvmlDeviceGetTotalEnergyConsumption`, Volta and later), for work that runs on
//!   a GPU ([`Ledger::on_gpu`]), and only the GPU it runs on ([`Nvml::open`]): work
//!   on the processor alone is not billed an idle GPU's power, nor a job another
//!   job's GPUs. Machines without the library need nothing.
//! - **Estimate**: CPU seconds of the task's thread times the power per core of the
//!   processor ([`crate::hardware`], or the recipe's `cpu_watts_per_core`), plus memory
//!   at `memory_watts_per_gb` of the process's resident memory.
//!
//! # Sharing the machine among tasks
//!
//! RAPL measures a whole package, NVML a whole board, and memory belongs to the process,
//! while several tasks run at once on worker threads. A task's share is decided over its
//! own interval, from its start to its stop:
//!
//! - package and DRAM energy `ΔE` go to the task in proportion to its CPU time `c` over
//!   the CPU time of the whole machine `ΔB` (busy time of every CPU, from `/proc/stat`)
//!   in that interval: `ΔE · c / ΔB`. Two tasks that overlap exactly and burn 3 s and
//!   1 s of CPU get 3/4 and 1/4 of the package energy; other processes' share stays
//!   with them. When `ΔB` is zero (an interval shorter than the kernel's tick) the task
//!   gets `ΔE / n`, with `n` the mean number of tasks running (see below);
//! - estimated memory power `P` (watts per GB times the resident set) and GPU energy go
//!   to the tasks running at the same time in equal parts: `P · Δt / n` and `ΔE_gpu / n`,
//!   where `n` is the mean of the number of running tasks seen at start and at stop;
//! - the estimated processor energy is the task's own `c` times the power per core.
//!
//! The rule conserves energy when tasks overlap exactly, and only approximately when
//! they overlap in part (each task uses the average rate over its own interval). The
//! residue (the main thread, other processes) is not charged to any task.

//!
//! # Rooms
//!
//! - [`EnergyRecord`] and [`Method`] (`record`): what a task cost and how it was known.
//! - [`attribute`], [`Sample`] and [`PowerModel`] (`share`): the rule above, a task's
//!   share from the counters at its start and stop.
//! - [`Ledger`] and [`TaskMeter`] (`meter`): the sources of a run and the meter of a task.
//! - [`thread_cpu_seconds`], [`process_cpu_seconds`] and [`machine_busy_seconds`]
//!   (`clocks`): CPU time of the thread, the process and the machine.
//! - [`rss_bytes`] and [`peak_rss_bytes`] (`memory`): resident memory of the process,
//!   now and at its peak; every crate reads it here.
//! - [`Rapl`] and [`RaplReading`] (`rapl`) and [`Nvml`] (`nvml`): the processor's and the GPUs' counters.

mod clocks;
mod memory;
mod meter;
mod nvml;
mod rapl;
mod record;
mod share;

pub use clocks::{machine_busy_seconds, process_cpu_seconds, thread_cpu_seconds};
pub use memory::{peak_rss_bytes, rss_bytes};
pub use meter::{Ledger, TaskMeter};
pub use nvml::Nvml;
pub use rapl::{Rapl, RaplReading};
pub use record::{EnergyRecord, Method};
pub use share::{PowerModel, Sample, attribute};
