//! atelier-store's tests: what gc keeps and removes, packs, and the pinned formats of
//! manifests, records and packs.

mod formats;
mod gc;
mod packs;
