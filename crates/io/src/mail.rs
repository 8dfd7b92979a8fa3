//! Mail: one RFC 822 message per file (`mail`) or many per file (`mbox`).
//!
//! A message becomes one document whose text is its decoded body: the `text/plain` body
//! parts joined by a blank line, or if there are none the `text/html` parts (with
//! `metadata.content_type = "text/html"`, for a later `extract` step). Transfer encodings
//! and charsets are decoded by `mail-parser`. Metadata: `content_type`, `subject`,
//! `from`, `to`, `date` (RFC 3339), `message_id` and `attachments` (how many non-text
//! parts were left out), each only when known. A message without headers or without any
//! body text is a [`RecordError`].
//!
//! mbox files are split on `From ` lines that start the file or follow a blank line;
//! quoted `>From ` lines (any number of `>`) lose one `>`. Messages are numbered from 0 in
//! the file, and a message's id is `{file stem}/{number}`. Content before the first `From `
//! line is reported as an error. A range that starts inside the file first counts the
//! messages before it (one pass over that part of the file) to number its own.

use crate::Location;
use crate::source::{Source, describe_io, file_id, too_large};
use crate::{ReadOptions, RecordError, Unit};
use atelier_core::format::Compression;
use atelier_core::{Document, Metadata};
use mail_parser::{Address, MessageParser, MimeHeaders, PartType};
use serde_json::Value;
use std::io;
use std::path::PathBuf;

/// Turns a raw RFC 822 message into a document with id `id`; the error says why not.
pub fn message_to_document(raw: &[u8], id: String) -> Result<Document, String> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| "not an RFC 822 message: no headers found".to_string())?;
    let texts: Vec<&str> = body_parts(&message, &message.text_body, false);
    let htmls = body_parts(&message, &message.html_body, true);
    let (text, content_type) = if !texts.is_empty() {
        (texts.join("\n\n"), "text/plain")
    } else if !htmls.is_empty() {
        (htmls.join("\n"), "text/html")
    } else {
        unnamed_text_attachment(&message).unwrap_or_default()
    };
    if text.trim().is_empty() {
        return Err("message has no text body".into());
    }
    let attachments = message
        .parts
        .iter()
        .filter(|p| {
            matches!(
                p.body,
                PartType::Binary(_) | PartType::InlineBinary(_) | PartType::Message(_)
            )
        })
        .count();
    let mut metadata = Metadata::new();
    metadata.insert("content_type".into(), content_type.into());
    if let Some(subject) = message.subject() {
        metadata.insert("subject".into(), subject.into());
    }
    if let Some(from) = message.from().map(addresses).filter(|s| !s.is_empty()) {
        metadata.insert("from".into(), from.into());
    }
    if let Some(to) = message.to().map(addresses).filter(|s| !s.is_empty()) {
        metadata.insert("to".into(), to.into());
    }
    if let Some(date) = message.date().filter(|d| d.is_valid()) {
        metadata.insert("date".into(), date.to_rfc3339().into());
    }
    if let Some(id) = message.message_id() {
        metadata.insert("message_id".into(), id.into());
    }
    metadata.insert("attachments".into(), attachments.into());
    Ok(Document { id, text, metadata })
}

/// The bodies of the listed parts that are of the wanted kind (HTML or plain text).
fn body_parts<'a>(message: &'a mail_parser::Message<'a>, ids: &[u32], html: bool) -> Vec<&'a str> {
    ids.iter()
        .filter_map(|&i| match (&message.parts.get(i as usize)?.body, html) {
            (PartType::Text(text), false) | (PartType::Html(text), true) => Some(text.as_ref()),
            _ => None,
        })
        .filter(|text| !text.trim().is_empty())
        .collect()
}

/// A text part that mail-parser filed as an attachment although it has no file name.
/// Spam often sends its only body as one base64 `text/html` part of a `multipart/mixed`,
/// which mail-parser does not count as a body.
fn unnamed_text_attachment(message: &mail_parser::Message<'_>) -> Option<(String, &'static str)> {
    message.attachments.iter().find_map(|&i| {
        let part = message.parts.get(i as usize)?;
        if part.attachment_name().is_some() {
            return None;
        }
        let html = part
            .content_type()
            .and_then(|c| c.subtype())
            .is_some_and(|s| s.eq_ignore_ascii_case("html"));
        match &part.body {
            PartType::Text(text) | PartType::Html(text) if !text.trim().is_empty() => Some((
                text.to_string(),
                if html { "text/html" } else { "text/plain" },
            )),
            _ => None,
        }
    })
}

fn addresses(address: &Address<'_>) -> String {
    address
        .iter()
        .map(|a| match (a.name(), a.address()) {
            (Some(name), Some(addr)) => format!("{name} <{addr}>"),
            (Some(name), None) => name.to_string(),
            (None, Some(addr)) => addr.to_string(),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Adds `metadata.source` to a document unless it has one.
pub(crate) fn add_source(doc: &mut Document, source: &str) {
    doc.metadata
        .entry("source")
        .or_insert_with(|| Value::String(source.to_string()));
}

/// Reads an mbox unit.
pub(crate) fn read_mbox(unit: &Unit, options: &ReadOptions) -> crate::Records {
    Box::new(Mbox::new(unit, options))
}

/// Whether a line (without `\n`) is blank.
fn blank(line: &[u8]) -> bool {
    line.iter().all(|&b| b == b'\r')
}

struct Mbox {
    path: PathBuf,
    location: Location,
    source_name: String,
    stem: String,
    compression: Compression,
    limit: u64,
    start: u64,
    end: Option<u64>,
    /// `None` until opened.
    src: Option<Source>,
    /// Offset of the `From ` line of the next message, already read.
    pending: Option<u64>,
    /// Whether content before the first `From ` line may come next.
    leading: bool,
    /// Whether the last line read was blank (the start of input counts as blank).
    prev_blank: bool,
    /// Number of the next message in the file.
    number: u64,
    /// Number of the next record in the unit.
    record: u64,
    line: Vec<u8>,
    opened: bool,
    finished: bool,
}

impl Mbox {
    fn new(unit: &Unit, options: &ReadOptions) -> Mbox {
        Mbox {
            path: unit.location.name(),
            location: unit.location.clone(),
            source_name: unit.location.to_string(),
            stem: file_id(&unit.location.name()),
            compression: unit.compression,
            limit: options.max_record_bytes,
            start: unit.start,
            end: unit.end,
            src: None,
            pending: None,
            leading: unit.start == 0,
            prev_blank: true,
            number: 0,
            record: 0,
            line: Vec::new(),
            opened: false,
            finished: false,
        }
    }

    fn error(&self, offset: Option<u64>, message: String, raw: &[u8]) -> RecordError {
        RecordError::at(&self.path, offset, self.record, message, raw)
    }

    /// Opens the input and, for a range, moves to its first `From ` line.
    fn open(&mut self) -> Result<(), RecordError> {
        let opened = if self.start == 0 {
            Source::decoded(&self.location, self.compression)
        } else if self.compression == Compression::None {
            Source::plain(&self.location, 0).and_then(|mut s| {
                self.seek_range_start(&mut s)?;
                Ok(s)
            })
        } else {
            // Compressed files are never split: a range past 0 owns nothing.
            self.finished = true;
            return Ok(());
        };
        match opened {
            Ok(src) => {
                self.src = Some(src);
                Ok(())
            }
            Err(e) => {
                self.finished = true;
                Err(self.error(None, format!("cannot open: {e}"), &[]))
            }
        }
    }

    /// Counts the messages before `self.start` and stops after the first `From ` line at
    /// or after it.
    fn seek_range_start(&mut self, src: &mut Source) -> io::Result<()> {
        let mut line = Vec::new();
        while let Some(l) = src.read_line(&mut line, 5)? {
            if self.end.is_some_and(|end| l.start >= end) {
                break;
            }
            let from = self.prev_blank && line.starts_with(b"From ");
            self.prev_blank = !l.overflow && blank(&line);
            if from && l.start >= self.start {
                self.pending = Some(l.start);
                return Ok(());
            }
            self.number += u64::from(from);
        }
        self.finished = true;
        Ok(())
    }

    /// Reads the lines of one message up to the next `From ` line; `None` when there was
    /// nothing to report.
    fn next_message(&mut self) -> Option<Result<Document, RecordError>> {
        let start = self.pending.take();
        match start {
            None if !self.leading => {
                self.finished = true;
                return None;
            }
            None => self.leading = false,
            Some(s) if self.end.is_some_and(|end| s >= end) => {
                self.finished = true;
                return None;
            }
            Some(_) => {}
        }
        let src = self.src.as_mut()?;
        let offset = start.unwrap_or(src.pos());
        let mut body = Vec::new();
        let mut size = 0u64;
        loop {
            let line = match src.read_line(&mut self.line, self.limit) {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(e) => {
                    self.finished = true;
                    let message = describe_io(&e, self.compression, src.pos());
                    return Some(Err(self.error(Some(offset), message, &[])));
                }
            };
            let from = self.prev_blank && self.line.starts_with(b"From ");
            self.prev_blank = !line.overflow && blank(&self.line);
            if from {
                self.pending = Some(line.start);
                break;
            }
            let quoted = self.line.starts_with(b">")
                && self
                    .line
                    .iter()
                    .position(|&b| b != b'>')
                    .is_some_and(|i| self.line[i..].starts_with(b"From "));
            let text = if quoted {
                &self.line[1..]
            } else {
                &self.line[..]
            };
            size += line.len - u64::from(quoted) + 1;
            if size <= self.limit {
                body.extend_from_slice(text);
                body.push(b'\n');
            }
        }
        // The blank line before the next `From ` line belongs to the separator.
        if self.pending.is_some() && size > 0 {
            size -= 1;
            if body.ends_with(b"\n\n") {
                body.pop();
            }
        }
        let Some(_) = start else {
            return (!body.iter().all(u8::is_ascii_whitespace)).then(|| {
                let message = "content before the first `From ` line of the mbox".into();
                Err(self.error(Some(offset), message, &body))
            });
        };
        let number = self.number;
        self.number += 1;
        let result = if size > self.limit {
            Err(too_large(size, self.limit))
        } else {
            message_to_document(&body, format!("{}/{number}", self.stem))
        };
        let item = match result {
            Ok(mut doc) => {
                add_source(&mut doc, &self.source_name);
                Ok(doc)
            }
            Err(message) => Err(self.error(Some(offset), message, &body)),
        };
        self.record += 1;
        Some(item)
    }
}

impl Iterator for Mbox {
    type Item = Result<Document, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.opened {
            self.opened = true;
            if let Err(e) = self.open() {
                return Some(Err(e));
            }
        }
        while !self.finished {
            if let Some(item) = self.next_message() {
                return Some(item);
            }
        }
        None
    }
}
