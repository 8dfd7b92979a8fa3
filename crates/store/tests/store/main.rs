//! atelier-store's tests: what gc keeps and removes.

mod gc;
