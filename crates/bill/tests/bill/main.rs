//! atelier-bill's tests: the HTML report.

mod report;
