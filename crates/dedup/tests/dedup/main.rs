//! atelier-dedup's tests: the step driven in this process over documents in memory, and
//! by the real runner over files.

mod in_memory;
mod runner;
