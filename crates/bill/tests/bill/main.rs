//! atelier-bill's tests: the HTML report, and the pinned format of `bill.json`.

mod formats;
mod report;
