//! atelier-runner's tests: counters conserved, barriers, and work reused from the project
//! store.

mod barrier;
mod conservation;
mod reuse;
