//! Writing documents as JSON lines, plain, gzip or zstd, atomically.
//!
//! A [`ShardWriter`] writes to a hidden temporary file next to its final path
//! (`.{name}.tmp`, which [`crate::list_source`] skips) and only [`ShardWriter::finish`]
//! renames it into place, after flushing and syncing it to disk. A writer dropped before
//! `finish` removes its temporary file, so a final file is always complete. Output is
//! deterministic: gzip at level 6 with modification time 0, zstd at level 3 on one thread.

use atelier_core::Document;
use atelier_core::format::Compression;
use flate2::GzBuilder;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// gzip level of shards.
pub const GZIP_LEVEL: u32 = 6;
/// zstd level of shards.
pub const ZSTD_LEVEL: i32 = 3;

enum Encoder {
    Plain(BufWriter<File>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<File>>),
}

/// A shard [`ShardWriter::finish`] put in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenShard {
    /// Documents written.
    pub documents: u64,
    /// Size of the final file, bytes (compressed where it is).
    pub bytes: u64,
}

/// Writes one output shard of JSON lines.
pub struct ShardWriter {
    path: PathBuf,
    tmp: PathBuf,
    encoder: Option<Encoder>,
    line: Vec<u8>,
    documents: u64,
    uncompressed: u64,
}

impl ShardWriter {
    /// Starts a shard that will be `path` once finished, creating its folder if needed.
    pub fn create(path: impl Into<PathBuf>, compression: Compression) -> io::Result<ShardWriter> {
        let path = path.into();
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::other(format!("{}: not a file path", path.display())))?;
        let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = BufWriter::with_capacity(256 * 1024, File::create(&tmp)?);
        let encoder = match compression {
            Compression::None => Encoder::Plain(file),
            Compression::Gzip => Encoder::Gzip(
                GzBuilder::new()
                    .mtime(0)
                    .write(file, flate2::Compression::new(GZIP_LEVEL)),
            ),
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(file, ZSTD_LEVEL)?;
                encoder.include_checksum(true)?;
                Encoder::Zstd(encoder)
            }
        };
        Ok(ShardWriter {
            path,
            tmp,
            encoder: Some(encoder),
            line: Vec::new(),
            documents: 0,
            uncompressed: 0,
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Documents written so far.
    pub fn documents(&self) -> u64 {
        self.documents
    }

    /// Bytes of JSON lines written so far, before compression.
    pub fn uncompressed_bytes(&self) -> u64 {
        self.uncompressed
    }

    /// Appends one document as a JSON line.
    pub fn write(&mut self, doc: &Document) -> io::Result<()> {
        self.line.clear();
        doc.write_json_line(&mut self.line);
        let out: &mut dyn Write = match self.encoder.as_mut() {
            Some(Encoder::Plain(w)) => w,
            Some(Encoder::Gzip(w)) => w,
            Some(Encoder::Zstd(w)) => w,
            None => return Err(io::Error::other("shard already finished")),
        };
        out.write_all(&self.line)?;
        self.documents += 1;
        self.uncompressed += self.line.len() as u64;
        Ok(())
    }

    /// Completes the shard: flushes, syncs, renames it into place. Returns the number of
    /// documents and the size of the final file in bytes.
    pub fn finish(mut self) -> io::Result<WrittenShard> {
        let result = self.complete();
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        result
    }

    fn complete(&mut self) -> io::Result<WrittenShard> {
        let buffered = match self.encoder.take() {
            Some(Encoder::Plain(w)) => w,
            Some(Encoder::Gzip(w)) => w.finish()?,
            Some(Encoder::Zstd(w)) => w.finish()?,
            None => return Err(io::Error::other("shard already finished")),
        };
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        drop(file);
        std::fs::rename(&self.tmp, &self.path)?;
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Makes the rename itself durable; not every platform can open a folder.
            if let Ok(dir) = File::open(parent) {
                let _ = dir.sync_all();
            }
        }
        Ok(WrittenShard {
            documents: self.documents,
            bytes,
        })
    }
}

impl Drop for ShardWriter {
    fn drop(&mut self) {
        if self.encoder.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
