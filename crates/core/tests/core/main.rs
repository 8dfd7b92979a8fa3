//! atelier-core's tests: the pinned format of documents.

mod formats;
