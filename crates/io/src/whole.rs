//! Formats where a whole file is one document: `text`, `html` and `mail`.
//!
//! The id is the file name without all its extensions and `metadata.source` the path.
//! - `text`: UTF-8; a file that is not valid UTF-8 is decoded lossily (bad bytes become
//!   U+FFFD) and gets `metadata.invalid_utf8 = true`. A UTF-8 byte-order mark is dropped.
//!   `metadata.content_type = "text/plain"`.
//! - `html`: decoded with [`crate::charset::decode_html`]; `metadata.content_type =
//!   "text/html"` and `metadata.charset` names the encoding used.
//! - `mail`: see [`crate::mail`].
//!
//! An empty file gives no document. A file above `max_record_bytes` is not loaded (a
//! compressed one is decompressed to count its size) and gives a [`RecordError`].

use crate::charset::decode_html;
use crate::mail::{add_source, message_to_document};
use crate::source::{Source, describe_io, excerpt, file_id, open_file, too_large};
use crate::{ReadOptions, RecordError, Unit};
use atelier_core::format::Compression;
use atelier_core::{Document, Format, Metadata};
use serde_json::Value;

/// Reads a whole-file unit.
pub(crate) fn read(unit: &Unit, options: &ReadOptions) -> crate::Records {
    if unit.start > 0 {
        // The only record starts at 0.
        return Box::new(std::iter::empty());
    }
    Box::new(read_one(unit, options).into_iter())
}

fn read_one(unit: &Unit, options: &ReadOptions) -> Option<Result<Document, RecordError>> {
    let error = |offset: Option<u64>, message: String, raw: &[u8]| RecordError {
        path: unit.location.name(),
        offset,
        record: offset.map(|_| 0),
        message,
        excerpt: (!raw.is_empty()).then(|| excerpt(raw)),
    };
    let limit = options.max_record_bytes;
    if unit.compression == Compression::None
        && let Some(path) = unit.location.local()
    {
        let size = match open_file(path).and_then(|f| f.metadata()) {
            Ok(meta) => meta.len(),
            Err(e) => return Some(Err(error(None, format!("cannot open: {e}"), &[]))),
        };
        if size > limit {
            return Some(Err(error(Some(0), too_large(size, limit), &[])));
        }
    }
    let mut src = match Source::decoded(&unit.location, unit.compression) {
        Ok(src) => src,
        Err(e) => return Some(Err(error(None, format!("cannot open: {e}"), &[]))),
    };
    let mut bytes = Vec::new();
    let size = match src.read_to_end_limited(limit, &mut bytes) {
        Ok(size) => size,
        Err(e) => {
            let message = describe_io(&e, unit.compression, src.pos());
            return Some(Err(error(Some(0), message, &[])));
        }
    };
    if size == 0 {
        return None;
    }
    if size > limit {
        return Some(Err(error(Some(0), too_large(size, limit), &bytes)));
    }
    let id = file_id(&unit.location.name());
    let mut doc = match unit.format {
        Format::Mail => match message_to_document(&bytes, id) {
            Ok(doc) => doc,
            Err(message) => return Some(Err(error(Some(0), message, &bytes))),
        },
        Format::Html => {
            let (text, encoding) = decode_html(&bytes, None);
            let mut metadata = Metadata::new();
            metadata.insert("content_type".into(), "text/html".into());
            metadata.insert("charset".into(), encoding.name().into());
            Document { id, text, metadata }
        }
        _ => {
            let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
            let mut metadata = Metadata::new();
            metadata.insert("content_type".into(), "text/plain".into());
            let text = match String::from_utf8(body.to_vec()) {
                Ok(text) => text,
                Err(e) => {
                    metadata.insert("invalid_utf8".into(), Value::Bool(true));
                    String::from_utf8_lossy(e.as_bytes()).into_owned()
                }
            };
            Document { id, text, metadata }
        }
    };
    add_source(&mut doc, &unit.location.to_string());
    Some(Ok(doc))
}
