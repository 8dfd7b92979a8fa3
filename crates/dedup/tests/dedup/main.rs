//! atelier-dedup's tests: the step driven in this process over documents in memory, and
//! by the real runner over files; the pinned format of the index.

mod formats;
mod in_memory;
mod runner;
