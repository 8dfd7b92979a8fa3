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

    fn write(&mut self, entry: &Entry<'_>) -> io::Result<()> {
        let out = self.writer()?;
        serde_json::to_writer(&mut *out, entry)?;
        out.write_all(b"\n")
    }

    /// Quarantines a record a reader could not read.
    pub fn record(&mut self, error: &RecordError) -> io::Result<()> {
        self.write(&Entry {
            step: "read",
            error: &error.message,
            file: Some(&error.path),
            offset: error.offset,
            record: error.record,
            excerpt: error.excerpt.as_deref(),
            document: None,
        })
    }

    /// Quarantines a document a step failed on, whole.
    pub fn document(&mut self, step: &str, error: &str, doc: &Document) -> io::Result<()> {
        let file = doc.meta_str("source").map(Path::new);
        self.write(&Entry {
            step,
            error,
            file,
            offset: None,
            record: None,
            excerpt: None,
            document: Some(doc),
        })
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
