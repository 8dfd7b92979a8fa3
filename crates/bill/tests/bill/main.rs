//! atelier-bill's tests: the HTML report (its funnel also in a real browser), and the
//! pinned format of `bill.json`.

mod browser;
mod formats;
mod report;
