//! The quarantine: one JSONL file per task holding every record or document that could
//! not be read or processed, with the file, position, step and error.

use atelier_core::Document;
use atelier_core::atomic::AtomicFile;
use atelier_io::RecordError;
use serde::Serialize;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

// Pinned format (tests/data/formats/quarantine.jsonl), with no version field: a change
// must add one and keep reading entries without it.
/// One quarantined item, as written.
#[derive(Serialize)]
struct Entry<'a> {
    step: &'a str,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    excerpt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<&'a Document>,
}

fn line(entry: &Entry<'_>) -> Vec<u8> {
    let mut out = serde_json::to_vec(entry).expect("quarantine entries serialize");
    out.push(b'\n');
    out
}

/// The quarantine entry of a record a reader could not read, as a JSON line.
pub fn record_line(error: &RecordError) -> Vec<u8> {
    line(&Entry {
        step: "read",
        error: &error.message,
        file: Some(&error.path),
        offset: error.offset,
        record: error.record,
        excerpt: error.excerpt.as_deref(),
        document: None,
    })
}

/// The quarantine entry of a document a step failed on, as a JSON line.
pub fn document_line(step: &str, error: &str, doc: &Document) -> Vec<u8> {
    line(&Entry {
        step,
        error,
        file: doc.meta_str("source").map(Path::new),
        offset: None,
        record: None,
        excerpt: None,
        document: Some(doc),
    })
}

/// Writes a task's quarantine file, created on first use under a temporary name and
/// renamed by [`Quarantine::finish`].
pub struct Quarantine {
    path: PathBuf,
    out: Option<BufWriter<AtomicFile>>,
}

impl Quarantine {
    /// A quarantine that will be written at `path`.
    pub fn new(path: PathBuf) -> Self {
        Quarantine { path, out: None }
    }

    fn writer(&mut self) -> io::Result<&mut BufWriter<AtomicFile>> {
        if self.out.is_none() {
            self.out = Some(BufWriter::new(AtomicFile::create(&self.path)?));
        }
        Ok(self.out.as_mut().expect("just created"))
    }

    /// Where the file goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends entries already written as JSON lines.
    pub fn append(&mut self, lines: &[u8]) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.writer()?.write_all(lines)
    }

    /// Flushes and renames the file into place, if anything was quarantined.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(out) = self.out.take() {
            out.into_inner().map_err(|e| e.into_error())?.commit()?;
        }
        Ok(())
    }
}
