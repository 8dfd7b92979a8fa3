//! atelier-store's tests: what gc keeps and removes, and the pinned formats of manifests
//! and records.

mod formats;
mod gc;
