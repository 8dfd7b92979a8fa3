//! Sealed files: every binary file of this crate ends with a footer that says what it
//! holds, so a truncated, overwritten or corrupted file is detected and named.
//!
//! ```text
//! payload                     records, little-endian
//! footer (32 bytes):
//!   magic    8 bytes          b"ATLDEDUP"
//!   kind     4 bytes          b"RUN1", b"IDX1", b"PAR1", b"OFF1", b"IDS1", b"DEC1"
//!   record   u32              bytes per record, 0 when records vary in length
//!   count    u64              records in the payload
//!   checksum u64              xxh3_64 of the payload
//! ```
//!
//! Opening checks the footer and, for fixed-size records, that the payload length is
//! `count × record`; reading to the end checks the checksum. Files are written under a
//! temporary name ([`atelier_core::atomic`]), synced, and renamed when complete.

use atelier_core::atomic::AtomicFile;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::Xxh3;

use crate::DedupError;

const MAGIC: &[u8; 8] = b"ATLDEDUP";
/// Bytes of the footer.
pub const FOOTER_LEN: u64 = 32;
const CHUNK: usize = 64 << 10;

/// What a sealed file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    tag: [u8; 4],
    /// Bytes per record; 0 when records vary in length.
    pub record: u32,
}

/// Observer runs: `(key u64, position u32)`, sorted.
pub const RUN: Kind = Kind {
    tag: *b"RUN1",
    record: 12,
};
// Pinned format (tests/data/formats/dedup-index/): a change to the footer or to a kept
// kind (index bands) must get a new tag (`IDX2`) and keep reading the old one.
/// Index bands: `(key u64, document u32)`, sorted.
pub const INDEX: Kind = Kind {
    tag: *b"IDX1",
    record: 12,
};
/// Duplicate pairs: `(first u64, other u64)` document keys.
pub const PAIRS: Kind = Kind {
    tag: *b"PAR1",
    record: 16,
};
/// Offsets of the records of an ids file, one `u64` per document.
pub const OFFSETS: Kind = Kind {
    tag: *b"OFF1",
    record: 8,
};
/// Document ids: `len u32, UTF-8 bytes` per document.
pub const IDS: Kind = Kind {
    tag: *b"IDS1",
    record: 0,
};
/// Decisions: `position u32, verdict u8, size u32, len u32, representative id`.
pub const DECISIONS: Kind = Kind {
    tag: *b"DEC1",
    record: 0,
};

impl Kind {
    fn name(&self) -> &str {
        std::str::from_utf8(&self.tag).unwrap_or("?")
    }
}

/// Writes a sealed file under a temporary name; [`SealedWriter::finish`] seals and
/// renames it.
pub struct SealedWriter {
    file: AtomicFile,
    path: PathBuf,
    kind: Kind,
    buf: Vec<u8>,
    hasher: Xxh3,
    count: u64,
    bytes: u64,
}

impl SealedWriter {
    /// Starts `path` (written under a temporary name until finished).
    pub fn create(path: &Path, kind: Kind) -> Result<Self, DedupError> {
        let file = AtomicFile::create(path).map_err(|e| DedupError::io(path, e))?;
        Ok(SealedWriter {
            file,
            path: path.to_owned(),
            kind,
            buf: Vec::with_capacity(CHUNK),
            hasher: Xxh3::new(),
            count: 0,
            bytes: 0,
        })
    }

    /// Appends one record, given in parts.
    pub fn record(&mut self, parts: &[&[u8]]) -> Result<(), DedupError> {
        let mut len = 0;
        for part in parts {
            self.buf.extend_from_slice(part);
            len += part.len();
        }
        debug_assert!(self.kind.record == 0 || len == self.kind.record as usize);
        self.count += 1;
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Records written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Payload bytes written so far.
    pub fn payload_bytes(&self) -> u64 {
        self.bytes + self.buf.len() as u64
    }

    fn flush(&mut self) -> Result<(), DedupError> {
        self.hasher.update(&self.buf);
        self.file
            .write_all(&self.buf)
            .map_err(|e| DedupError::io(&self.path, e))?;
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Writes the footer, syncs, renames into place; returns the file's size.
    pub fn finish(mut self) -> Result<u64, DedupError> {
        self.flush()?;
        let mut footer = Vec::with_capacity(FOOTER_LEN as usize);
        footer.extend_from_slice(MAGIC);
        footer.extend_from_slice(&self.kind.tag);
        footer.extend_from_slice(&self.kind.record.to_le_bytes());
        footer.extend_from_slice(&self.count.to_le_bytes());
        footer.extend_from_slice(&self.hasher.digest().to_le_bytes());
        let io = |e| DedupError::io(&self.path, e);
        self.file.write_all(&footer).map_err(io)?;
        self.file.commit().map_err(io)?;
        Ok(self.bytes + FOOTER_LEN)
    }
}

/// Reads a sealed file from start to end, checking its footer on open and its checksum
/// when the last bytes are read.
pub struct SealedReader {
    file: File,
    path: PathBuf,
    count: u64,
    checksum: u64,
    remaining: u64,
    buf: Vec<u8>,
    pos: usize,
    hasher: Xxh3,
}

impl SealedReader {
    /// Opens a sealed file of the given kind.
    pub fn open(path: &Path, kind: Kind) -> Result<Self, DedupError> {
        let file = File::open(path).map_err(|e| DedupError::io(path, e))?;
        let footer = read_footer(&file, path, kind)?;
        Ok(SealedReader {
            file,
            path: path.to_owned(),
            count: footer.count,
            checksum: footer.checksum,
            remaining: footer.payload,
            buf: Vec::with_capacity(CHUNK.min(footer.payload as usize)),
            pos: 0,
            hasher: Xxh3::new(),
        })
    }

    /// Records in the file, from its footer.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next `n` bytes, or `None` at the end of the payload.
    pub fn take(&mut self, n: usize) -> Result<Option<&[u8]>, DedupError> {
        if self.buf.len() - self.pos < n {
            self.fill(n)?;
            if self.buf.len() - self.pos < n {
                if self.buf.len() == self.pos {
                    return Ok(None);
                }
                return Err(self.corrupt("ends inside a record".into()));
            }
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(Some(out))
    }

    /// The next `n` bytes, which must be there.
    pub fn need(&mut self, n: usize) -> Result<&[u8], DedupError> {
        let path = self.path.clone();
        self.take(n)?.ok_or_else(|| DedupError::Corrupt {
            path,
            what: "ends inside a record".into(),
        })
    }

    /// Reads a `u32`.
    pub fn u32(&mut self) -> Result<u32, DedupError> {
        Ok(u32::from_le_bytes(
            self.need(4)?.try_into().expect("4 bytes"),
        ))
    }

    /// A corruption error naming this file.
    pub fn corrupt(&self, what: String) -> DedupError {
        DedupError::Corrupt {
            path: self.path.clone(),
            what,
        }
    }

    fn fill(&mut self, n: usize) -> Result<(), DedupError> {
        self.buf.drain(..self.pos);
        self.pos = 0;
        let want = n.max(CHUNK) - self.buf.len();
        let add = (want as u64).min(self.remaining) as usize;
        if add == 0 {
            return Ok(());
        }
        let start = self.buf.len();
        self.buf.resize(start + add, 0);
        self.file
            .read_exact(&mut self.buf[start..])
            .map_err(|e| DedupError::io(&self.path, e))?;
        self.hasher.update(&self.buf[start..]);
        self.remaining -= add as u64;
        if self.remaining == 0 && self.hasher.digest() != self.checksum {
            return Err(
                self.corrupt("checksum mismatch: the file was damaged after it was written".into())
            );
        }
        Ok(())
    }
}

/// Reads fixed-size records of a sealed file at random positions. Only the footer and
/// the length are checked (the checksum needs a full read).
pub struct SealedTable {
    file: File,
    path: PathBuf,
    record: u64,
    count: u64,
}

impl SealedTable {
    /// Opens a sealed file of a fixed-size kind.
    pub fn open(path: &Path, kind: Kind) -> Result<Self, DedupError> {
        assert!(kind.record > 0, "random access needs fixed-size records");
        let file = File::open(path).map_err(|e| DedupError::io(path, e))?;
        let footer = read_footer(&file, path, kind)?;
        Ok(SealedTable {
            file,
            path: path.to_owned(),
            record: u64::from(kind.record),
            count: footer.count,
        })
    }

    /// Reads record `i` into `out`.
    pub fn get(&self, i: u64, out: &mut [u8]) -> Result<(), DedupError> {
        if i >= self.count {
            return Err(DedupError::Corrupt {
                path: self.path.clone(),
                what: format!("has {} records, record {i} was asked for", self.count),
            });
        }
        self.file
            .read_exact_at(out, i * self.record)
            .map_err(|e| DedupError::io(&self.path, e))
    }
}

/// Reads bytes of a sealed file of variable-size records at given offsets (another
/// table holds the offsets). Only the footer is checked.
pub struct SealedBlob {
    file: File,
    path: PathBuf,
    payload: u64,
}

impl SealedBlob {
    /// Opens a sealed file.
    pub fn open(path: &Path, kind: Kind) -> Result<Self, DedupError> {
        let file = File::open(path).map_err(|e| DedupError::io(path, e))?;
        let footer = read_footer(&file, path, kind)?;
        Ok(SealedBlob {
            file,
            path: path.to_owned(),
            payload: footer.payload,
        })
    }

    /// Reads `out.len()` payload bytes at `offset`.
    pub fn read_at(&self, offset: u64, out: &mut [u8]) -> Result<(), DedupError> {
        if offset.saturating_add(out.len() as u64) > self.payload {
            return Err(DedupError::Corrupt {
                path: self.path.clone(),
                what: format!(
                    "has {} bytes of records, bytes {offset}..+{} were asked for",
                    self.payload,
                    out.len()
                ),
            });
        }
        self.file
            .read_exact_at(out, offset)
            .map_err(|e| DedupError::io(&self.path, e))
    }
}

struct Footer {
    count: u64,
    checksum: u64,
    payload: u64,
}

fn read_footer(file: &File, path: &Path, kind: Kind) -> Result<Footer, DedupError> {
    let corrupt = |what: String| DedupError::Corrupt {
        path: path.to_owned(),
        what,
    };
    let len = file.metadata().map_err(|e| DedupError::io(path, e))?.len();
    if len < FOOTER_LEN {
        return Err(corrupt(format!(
            "is {len} bytes, too short for its footer: truncated"
        )));
    }
    let mut footer = [0u8; FOOTER_LEN as usize];
    file.read_exact_at(&mut footer, len - FOOTER_LEN)
        .map_err(|e| DedupError::io(path, e))?;
    if &footer[..8] != MAGIC {
        return Err(corrupt(
            "has no footer: truncated, or not a file of this step".into(),
        ));
    }
    if footer[8..12] != kind.tag {
        return Err(corrupt(format!(
            "is a {} file, expected {}",
            String::from_utf8_lossy(&footer[8..12]),
            kind.name()
        )));
    }
    let word = |at: usize| u64::from_le_bytes(footer[at..at + 8].try_into().expect("8 bytes"));
    let record = u64::from(u32::from_le_bytes(footer[12..16].try_into().expect("4")));
    let count = word(16);
    let checksum = word(24);
    let payload = len - FOOTER_LEN;
    if record != u64::from(kind.record)
        || (record > 0 && count.checked_mul(record) != Some(payload))
    {
        return Err(corrupt(format!(
            "holds {payload} bytes of records but its footer counts {count} records of \
             {record} bytes: truncated or overwritten"
        )));
    }
    Ok(Footer {
        count,
        checksum,
        payload,
    })
}

/// Writes a small file (a manifest) under a temporary name, syncs it and renames it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DedupError> {
    atelier_core::atomic::write_atomic(path, bytes).map_err(|e| DedupError::io(path, e))
}

/// Reads and parses a JSON manifest.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, DedupError> {
    let bytes = std::fs::read(path).map_err(|e| DedupError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| DedupError::Corrupt {
        path: path.to_owned(),
        what: format!("is not a valid manifest: {e}"),
    })
}

/// Creates a folder and its parents.
pub fn create_dir(path: &Path) -> Result<(), DedupError> {
    std::fs::create_dir_all(path).map_err(|e| DedupError::io(path, e))
}

/// Reads a little-endian `u64` at `at`.
pub fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Reads a little-endian `u32` at `at`.
pub fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Removes a file if it exists.
pub fn remove_if_exists(path: &Path) -> Result<(), DedupError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(DedupError::io(path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, records: &[[u8; 12]]) {
        let mut w = SealedWriter::create(path, RUN).unwrap();
        for r in records {
            w.record(&[r]).unwrap();
        }
        w.finish().unwrap();
    }

    fn read_all(path: &Path) -> Result<Vec<Vec<u8>>, DedupError> {
        let mut r = SealedReader::open(path, RUN)?;
        let mut out = Vec::new();
        while let Some(rec) = r.take(12)? {
            out.push(rec.to_vec());
        }
        Ok(out)
    }

    #[test]
    fn round_trip_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.run");
        let records: Vec<[u8; 12]> = (0..20_000u32)
            .map(|i| {
                let mut r = [0u8; 12];
                r[8..].copy_from_slice(&i.to_le_bytes());
                r
            })
            .collect();
        write(&path, &records);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        let back = read_all(&path).unwrap();
        assert_eq!(back.len(), records.len());
        assert_eq!(back[12_345], records[12_345].to_vec());
        let table = SealedTable::open(&path, RUN).unwrap();
        let mut one = [0u8; 12];
        table.get(19_999, &mut one).unwrap();
        assert_eq!(one, records[19_999]);
        assert!(table.get(20_000, &mut one).is_err());
    }

    #[test]
    fn damage_is_detected_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b00.run");
        write(&path, &[[1u8; 12], [2u8; 12], [3u8; 12]]);
        let bytes = std::fs::read(&path).unwrap();

        std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        let err = read_all(&path).unwrap_err().to_string();
        assert!(
            err.contains("b00.run") && err.contains("truncated"),
            "{err}"
        );

        let mut cut = bytes[..12].to_vec();
        cut.extend_from_slice(&bytes[bytes.len() - 32..]);
        std::fs::write(&path, &cut).unwrap();
        let err = read_all(&path).unwrap_err().to_string();
        assert!(err.contains("counts 3 records"), "{err}");

        let mut flipped = bytes.clone();
        flipped[14] ^= 0x40;
        std::fs::write(&path, &flipped).unwrap();
        let err = read_all(&path).unwrap_err().to_string();
        assert!(err.contains("b00.run") && err.contains("checksum"), "{err}");

        std::fs::write(&path, b"").unwrap();
        assert!(
            read_all(&path)
                .unwrap_err()
                .to_string()
                .contains("too short")
        );

        std::fs::write(&path, &bytes).unwrap();
        let err = SealedReader::open(&path, PAIRS).err().unwrap().to_string();
        assert!(err.contains("is a RUN1 file, expected PAR1"), "{err}");
    }
}
