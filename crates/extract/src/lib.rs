//! Main-text extraction (work in progress).
