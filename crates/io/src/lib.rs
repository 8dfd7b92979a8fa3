//! Reading and writing documents.
//!
//! Readers stream records from one *unit* (a whole file, or a byte range of a large
//! splittable file) and turn each into a [`Document`]; a record that cannot be read
//! becomes a [`RecordError`] naming the file and position, and reading goes on with the
//! next record. Memory stays bounded: no reader holds more than one record, and records
//! above `max_record_bytes` are skipped and reported instead of loaded.
//!
//! A byte range `[start, end)` owns the records that *start* inside it: a reader with
//! `start > 0` first skips to the next record boundary, and reads the last record past
//! `end` to its finish. So the ranges of a file, read one by one, give every record once.
//!
//! Entry points: [`list`] finds the files of a recipe's source (a folder, a file, a
//! URL, a list of paths; see [`Location`] for remote files), [`split`] cuts them
//! into [`Unit`]s, [`read_unit`] streams a unit's documents, and [`ShardWriter`] writes
//! documents out; [`WarcWriter`] writes WARC files and [`http`] reads over HTTP. Each format's module documents its ids and metadata; [`charset`] and
//! [`mail::message_to_document`] are public so that other crates can decode the same way.
//!
//! Offsets in [`RecordError`] and in `metadata.offset` are file offsets for plain files
//! and `.warc.gz` members, and positions in the decompressed stream otherwise. A unit of
//! a format or compression that is not splittable is always read whole: if it starts
//! past 0 it owns no record.

pub mod charset;
pub mod chunked;
pub mod http;
mod jsonl;
mod list;
mod location;
pub mod mail;
mod source;
pub mod spamassassin;
mod warc;
mod warc_writer;
mod whole;
mod write;

pub use list::{InputFile, ListError, Listing, list, list_source, split};
pub use location::{Location, client};
pub use source::file_id;
pub use warc_writer::{
    WarcRecord, WarcWriter, Written, encode_record, gzip_records, new_record_id, warc_digest,
};
pub use write::{
    Encoder, FAST_ZSTD_LEVEL, GZIP_LEVEL, MEMBER_FORM, Member, ShardWriter, Tee, WrittenShard,
    ZSTD_LEVEL,
};

use atelier_core::{Document, Format, format::Compression};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// `max_record_bytes` of [`ReadOptions::default`]: 64 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 64 * 1024 * 1024;

/// Streams the documents of one unit.
///
/// Never panics on bad input: a file that cannot be opened gives one [`RecordError`]
/// (with no offset) and nothing else; a bad record gives a [`RecordError`] and reading
/// goes on; a truncated or corrupt compressed stream ends the unit after one
/// [`RecordError`] (except `.warc.gz`, which resumes at the next good member). An empty
/// file gives nothing.
pub fn read_unit(unit: &Unit, options: &ReadOptions) -> Records {
    match unit.format {
        Format::Jsonl => jsonl::read(unit, options, jsonl::LineKind::Jsonl),
        Format::Spamassassin => spamassassin::read(unit, options),
        Format::Text | Format::Html | Format::Mail => whole::read(unit, options),
        Format::Mbox => mail::read_mbox(unit, options),
        Format::Warc => warc::read(unit, options),
    }
}

impl Unit {
    /// A unit for a whole local file, its compression told by its name.
    pub fn whole(path: impl Into<PathBuf>, format: Format) -> Unit {
        let path = path.into();
        let compression = Compression::detect(&path);
        Unit {
            location: Location::Local(path),
            format,
            compression,
            start: 0,
            end: None,
        }
    }
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// A piece of input that one task reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unit {
    /// The file.
    #[serde(rename = "path")]
    pub location: Location,
    /// How its records are laid out.
    pub format: Format,
    /// How it is compressed.
    pub compression: Compression,
    /// First byte of the range (0 for a whole file).
    pub start: u64,
    /// End of the range, exclusive; `None` for the whole file.
    pub end: Option<u64>,
}

/// Limits that keep memory bounded.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Records larger than this are reported, not loaded.
    pub max_record_bytes: u64,
}

/// One record that could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[error("{}{}: {message}", path.display(), location(*offset, *record))]
pub struct RecordError {
    /// The file.
    pub path: PathBuf,
    /// Byte offset of the record: in the file for plain files and `.warc.gz` members, in
    /// the decompressed stream for other compressed files. `None` when unknown.
    pub offset: Option<u64>,
    /// Index of the record within its unit, counting from 0, when known.
    pub record: Option<u64>,
    /// What went wrong.
    pub message: String,
    /// The start of the raw record, lossily decoded and cut to a few KiB, for the
    /// quarantine file.
    pub excerpt: Option<String>,
}

impl RecordError {
    /// An error about the record numbered `record` that starts at `offset` (both unknown
    /// when `offset` is `None`), keeping an excerpt of its raw bytes.
    pub(crate) fn at(
        path: &Path,
        offset: Option<u64>,
        record: u64,
        message: String,
        raw: &[u8],
    ) -> Self {
        RecordError {
            path: path.to_path_buf(),
            offset,
            record: offset.map(|_| record),
            message,
            excerpt: (!raw.is_empty()).then(|| source::excerpt(raw)),
        }
    }
}

fn location(offset: Option<u64>, record: Option<u64>) -> String {
    match (offset, record) {
        (Some(o), Some(r)) => format!(" (record {r} at byte {o})"),
        (Some(o), None) => format!(" (byte {o})"),
        (None, Some(r)) => format!(" (record {r})"),
        (None, None) => String::new(),
    }
}

/// The stream of records of one unit.
pub type Records = Box<dyn Iterator<Item = Result<Document, RecordError>> + Send>;
