//! The quarantine: one JSONL file per task holding every record or document that could
//! not be read or processed, with the file, position, step and error.

use atelier_core::Document;
use atelier_io::RecordError;
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

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

/// Where quarantine entries go: a task's file, or a buffer that keeps a unit's entries
/// until they are written in order (and kept in the project store).
pub trait Quarantined {
    /// Quarantines a record a reader could not read.
    fn record(&mut self, error: &RecordError) -> io::Result<()>;
    /// Quarantines a document a step failed on, whole.
    fn document(&mut self, step: &str, error: &str, doc: &Document) -> io::Result<()>;
}

impl Quarantined for Vec<u8> {
    fn record(&mut self, error: &RecordError) -> io::Result<()> {
        self.extend(record_line(error));
        Ok(())
    }
    fn document(&mut self, step: &str, error: &str, doc: &Document) -> io::Result<()> {
        self.extend(document_line(step, error, doc));
        Ok(())
    }
}

impl Quarantined for Quarantine {
    fn record(&mut self, error: &RecordError) -> io::Result<()> {
        self.append(&record_line(error))
    }
    fn document(&mut self, step: &str, error: &str, doc: &Document) -> io::Result<()> {
        self.append(&document_line(step, error, doc))
    }
}

/// Writes a task's quarantine file, created on first use under a temporary name and
/// renamed by [`Quarantine::finish`].
pub struct Quarantine {
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl Quarantine {
    /// A quarantine that will be written at `path`.
    pub fn new(path: PathBuf) -> Self {
        Quarantine { path, out: None }
    }

    fn temp_path(&self) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(".tmp");
        PathBuf::from(name)
    }

    fn writer(&mut self) -> io::Result<&mut BufWriter<File>> {
        if self.out.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            self.out = Some(BufWriter::new(File::create(self.temp_path())?));
        }
        Ok(self.out.as_mut().expect("just created"))
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
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(self.temp_path(), &self.path)?;
        }
        Ok(())
    }
}
