//! The bill of atelier: what every step cost in time, energy, euros and CO2, what a plan
//! will cost before anyone spends, and a self-contained HTML report of a dataset.
//!
//! - [`energy`]: per-task energy, measured by RAPL or NVML where readable, estimated
//!   from CPU time elsewhere ([`energy::Ledger`], [`energy::TaskMeter`]).
//! - [`bill`]: a run's bill from its `summary.json` ([`render_bill`]).
//! - [`estimate`]: a training plan's FLOPs, GPU-hours, energy, euros and carbon, and
//!   the largest compute-optimal model a budget buys.
//! - [`report`]: one HTML file with inline SVG plots.
//! - [`settings`]: the recipe's `[bill]` section ([`BillSettings`]).
//! - [`carbon`] and [`hardware`]: the tables, each row with its source.
//!
//! ```
//! use atelier_bill::{BillSettings, Ledger, TaskMeter, estimate};
//!
//! // Meter a task (on the thread that runs it).
//! let settings = BillSettings { cpu_watts_per_core: Some(5.0), ..BillSettings::default() };
//! let ledger = Ledger::new(&settings);
//! let meter = TaskMeter::start(&ledger);
//! let record = meter.stop();
//! assert_eq!(record.tasks, 1);
//!
//! // Price a plan: 1B parameters on 20B tokens on 8 H100s.
//! let hw = estimate::Hardware { gpus: 8, ..estimate::Hardware::from_settings("h100-sxm", &settings) };
//! let e = estimate::plan(1e9, 20e9, &hw).unwrap();
//! assert_eq!(e.flops, 1.2e20);
//! ```

pub mod bill;
pub mod carbon;
pub mod energy;
pub mod estimate;
pub mod hardware;
pub mod report;
pub mod settings;

pub use bill::{Bill, BillError, Cost, StepBill, Summary, render_bill};
pub use energy::{EnergyRecord, Ledger, Method, TaskMeter};
pub use estimate::{Estimate, Hardware, for_budget, plan};
pub use report::{Evaluation, LengthHistogram, ReportInput, html};
pub use settings::BillSettings;
