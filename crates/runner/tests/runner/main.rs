//! atelier-runner's tests: counters conserved, barriers, work reused from the project
//! store, planning, and the pinned formats of task markers and run summaries.

mod barrier;
mod conservation;
mod formats;
mod planning;
mod reuse;
