//! The document: `{id, text, metadata}`, one JSON object per line.
//!
//! This is the shape datatrove and dolma use, so their files and ours read each other.
//! Reading follows datatrove's adapter: top-level keys other than `id`, `text` and
//! `metadata` (dolma's `source`, `added`, `created`, datatrove's `media`, ...) are kept
//! by merging them into `metadata`, where an existing metadata key wins.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Free-form metadata; keys serialize in sorted order, so output is deterministic.
pub type Metadata = serde_json::Map<String, Value>;

// Pinned format (tests/data/formats/documents.jsonl), with no version field: the same
// documents must keep their bytes (shards are compared and stored by hash) and old lines
// must keep reading.
/// One unit of text flowing through the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Stable identifier; unique within a dataset.
    pub id: String,
    /// The text itself, UTF-8.
    pub text: String,
    /// Everything else known about the document.
    #[serde(default)]
    pub metadata: Metadata,
}

/// Why a JSON object could not become a document.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DocumentError {
    /// The line is not valid JSON (or not UTF-8).
    #[error("invalid JSON: {0}")]
    Json(String),
    /// The JSON value is not an object.
    #[error("expected a JSON object, found {0}")]
    NotAnObject(&'static str),
    /// The object has no string `text` field.
    #[error("missing or non-string field `text`")]
    MissingText,
    /// `metadata` is present but is not an object.
    #[error("field `metadata` must be an object")]
    BadMetadata,
}

impl Document {
    /// A document with empty metadata.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Document {
            id: id.into(),
            text: text.into(),
            metadata: Metadata::new(),
        }
    }

    /// Parses one JSONL line in datatrove or dolma form. A missing `id` is replaced by
    /// `fallback_id`; a numeric id is turned into its decimal string.
    pub fn from_json_slice(
        line: &[u8],
        fallback_id: impl FnOnce() -> String,
    ) -> Result<Self, DocumentError> {
        let value: Value =
            serde_json::from_slice(line).map_err(|e| DocumentError::Json(e.to_string()))?;
        Self::from_json_value(value, fallback_id)
    }

    /// The same from a line already known to be UTF-8.
    pub fn from_json_str(
        line: &str,
        fallback_id: impl FnOnce() -> String,
    ) -> Result<Self, DocumentError> {
        let value: Value =
            serde_json::from_str(line).map_err(|e| DocumentError::Json(e.to_string()))?;
        Self::from_json_value(value, fallback_id)
    }

    /// Builds a document from a parsed JSON value; see [`Document::from_json_slice`].
    pub fn from_json_value(
        value: Value,
        fallback_id: impl FnOnce() -> String,
    ) -> Result<Self, DocumentError> {
        let mut object = match value {
            Value::Object(object) => object,
            other => return Err(DocumentError::NotAnObject(json_kind(&other))),
        };
        let text = match object.remove("text") {
            Some(Value::String(text)) => text,
            _ => return Err(DocumentError::MissingText),
        };
        let id = match object.remove("id") {
            Some(Value::String(id)) => id,
            Some(Value::Number(n)) => n.to_string(),
            _ => fallback_id(),
        };
        let mut metadata = match object.remove("metadata") {
            Some(Value::Object(m)) => m,
            None | Some(Value::Null) => Metadata::new(),
            Some(_) => return Err(DocumentError::BadMetadata),
        };
        for (key, value) in object {
            metadata.entry(key).or_insert(value);
        }
        Ok(Document { id, text, metadata })
    }

    /// Appends this document as one JSON line (with its trailing newline) to `out`.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(&mut *out, self).expect("a document always serializes");
        out.push(b'\n');
    }

    /// A metadata value as a string, if present and a string.
    pub fn meta_str(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Value::as_str)
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dolma_fields_move_into_metadata() {
        let line = br#"{"id":"d1","text":"hello","source":"web","added":"2024-01-01","metadata":{"source":"kept"}}"#;
        let doc = Document::from_json_slice(line, || unreachable!()).unwrap();
        assert_eq!(doc.id, "d1");
        assert_eq!(doc.text, "hello");
        assert_eq!(doc.metadata["source"], json!("kept"));
        assert_eq!(doc.metadata["added"], json!("2024-01-01"));
    }

    #[test]
    fn missing_id_uses_fallback_and_numbers_become_strings() {
        let doc = Document::from_json_slice(br#"{"text":"x"}"#, || "f/0".into()).unwrap();
        assert_eq!(doc.id, "f/0");
        let doc = Document::from_json_slice(br#"{"id":42,"text":"x"}"#, || "f/0".into()).unwrap();
        assert_eq!(doc.id, "42");
    }

    #[test]
    fn bad_objects_are_named() {
        assert_eq!(
            Document::from_json_slice(b"[1]", String::new),
            Err(DocumentError::NotAnObject("an array"))
        );
        assert_eq!(
            Document::from_json_slice(br#"{"id":"a"}"#, String::new),
            Err(DocumentError::MissingText)
        );
        assert!(matches!(
            Document::from_json_slice(b"{\"text\":\"\xff\"}", String::new),
            Err(DocumentError::Json(_))
        ));
    }

    #[test]
    fn json_line_round_trips() {
        let mut doc = Document::new("a\"b", "line one\nline two é");
        doc.metadata
            .insert("url".into(), json!("https://example.org/"));
        let mut buf = Vec::new();
        doc.write_json_line(&mut buf);
        assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), 1);
        let back = Document::from_json_slice(&buf[..buf.len() - 1], String::new).unwrap();
        assert_eq!(back, doc);
    }
}
