//! JSON lines: `jsonl` documents (datatrove or dolma shape) and the one-object-per-line
//! form of `spamassassin`.
//!
//! Blank lines are skipped. A line that is not valid UTF-8 or not a valid document is a
//! [`RecordError`]; the other lines are kept. A document without an `id` gets
//! `{file stem}/{line}`, the line counted from 0 in the whole file (blank lines
//! included); a range that starts inside the file counts the lines before it the first
//! time it needs such an id. `metadata.source` is set to the path unless present.

use crate::Location;
use crate::mail::add_source;
use crate::source::{Source, describe_io, file_id, too_large};
use crate::spamassassin;
use crate::{ReadOptions, RecordError, Unit};
use atelier_core::Document;
use atelier_core::format::Compression;
use std::io;
use std::path::PathBuf;

/// What each line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKind {
    /// A document.
    Jsonl,
    /// A SpamAssassin object.
    Spamassassin,
}

/// Reads a unit of JSON lines.
pub(crate) fn read(unit: &Unit, options: &ReadOptions, kind: LineKind) -> crate::Records {
    Box::new(Lines {
        kind,
        path: unit.location.name(),
        location: unit.location.clone(),
        source_name: unit.location.to_string(),
        stem: file_id(&unit.location.name()),
        compression: unit.compression,
        limit: options.max_record_bytes,
        start: unit.start,
        end: unit.end,
        src: None,
        first_line: Some(0),
        lines: 0,
        record: 0,
        buf: Vec::new(),
        opened: false,
        finished: false,
    })
}

struct Lines {
    kind: LineKind,
    path: PathBuf,
    location: Location,
    source_name: String,
    stem: String,
    compression: Compression,
    limit: u64,
    start: u64,
    end: Option<u64>,
    src: Option<Source>,
    /// Number in the file of the first line of the range; `None` until counted.
    first_line: Option<u64>,
    /// Lines read in this range.
    lines: u64,
    record: u64,
    buf: Vec<u8>,
    opened: bool,
    finished: bool,
}

impl Lines {
    fn error(&self, offset: Option<u64>, message: String, raw: &[u8]) -> RecordError {
        RecordError::at(&self.path, offset, self.record, message, raw)
    }

    fn open(&mut self) -> io::Result<()> {
        if self.start == 0 {
            self.src = Some(Source::decoded(&self.location, self.compression)?);
        } else if self.compression == Compression::None {
            // The range owns the lines that start at or after `start`: skip the line
            // that holds byte `start - 1` unless it ends there.
            let mut src = Source::plain(&self.location, self.start - 1)?;
            self.finished = !src.skip_line()?;
            self.first_line = None;
            self.src = Some(src);
        } else {
            // Compressed files are never split: a range past 0 owns nothing.
            self.finished = true;
        }
        Ok(())
    }

    /// The number in the file of the line at `line_start`, the `index`th of the range,
    /// counting the lines before the range if not done yet.
    fn line_number(&mut self, line_start: u64, index: u64) -> Option<u64> {
        if self.first_line.is_none() {
            let boundary = line_start;
            let count = || -> io::Result<u64> {
                let mut src = Source::plain(&self.location, 0)?;
                let mut count = 0;
                while src.pos() < boundary && src.skip_line()? {
                    count += 1;
                }
                Ok(count)
            };
            self.first_line = Some(count().ok()?.saturating_sub(index));
        }
        Some(self.first_line? + index)
    }

    fn parse(&mut self, line_start: u64) -> Result<Document, String> {
        // Checked with SIMD: std's check ran at about 1.3 GB/s on multilingual text, a
        // tenth of a dedup run's time.
        let line = simdutf8::compat::from_utf8(&self.buf)
            .map_err(|e| format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()))?;
        // Parsed from the checked `str`, so that serde_json does not check each string's
        // UTF-8 a second time.
        let mut wants_id = false;
        let mut doc = match self.kind {
            LineKind::Jsonl => Document::from_json_str(line, || {
                wants_id = true;
                String::new()
            })
            .map_err(|e| e.to_string())?,
            LineKind::Spamassassin => {
                let value = serde_json::from_str(line).map_err(|e| e.to_string())?;
                spamassassin::object_to_document(value, || {
                    wants_id = true;
                    String::new()
                })?
            }
        };
        if wants_id {
            doc.id = match self.line_number(line_start, self.lines - 1) {
                Some(n) => format!("{}/{n}", self.stem),
                None => format!("{}/@{line_start}", self.stem),
            };
        }
        add_source(&mut doc, &self.source_name);
        Ok(doc)
    }
}

impl Iterator for Lines {
    type Item = Result<Document, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.opened {
            self.opened = true;
            if let Err(e) = self.open() {
                self.finished = true;
                return Some(Err(self.error(None, format!("cannot open: {e}"), &[])));
            }
        }
        while !self.finished {
            let src = self.src.as_mut()?;
            let at = src.pos();
            if self.end.is_some_and(|end| at >= end) {
                self.finished = true;
                break;
            }
            let line = match src.read_line(&mut self.buf, self.limit) {
                Ok(Some(line)) => line,
                Ok(None) => {
                    self.finished = true;
                    break;
                }
                Err(e) => {
                    self.finished = true;
                    let message = describe_io(&e, self.compression, src.pos());
                    return Some(Err(self.error(Some(at), message, &[])));
                }
            };
            self.lines += 1;
            if !line.overflow && self.buf.trim_ascii().is_empty() {
                continue;
            }
            let result = if line.overflow {
                Err(too_large(line.len, self.limit))
            } else {
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
                self.parse(line.start)
            };
            let item = result.map_err(|m| self.error(Some(line.start), m, &self.buf));
            self.record += 1;
            return Some(item);
        }
        None
    }
}
