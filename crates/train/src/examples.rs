//! Documents of a dataset version to fastText lines: the class from metadata, the text
//! prepared as the model will see it at serving, and a split by a stable hash of the id.

use atelier_core::{Document, Format, Split, split_of};
use atelier_fasttext::{LABEL_PREFIX, Preprocess};
use atelier_io::{ReadOptions, Unit, read_unit};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::{TrainError, TrainSettings};

/// The three splits as fastText lines, and what went where.
#[derive(Debug, Default)]
pub struct Examples {
    /// Training lines.
    pub train: Vec<u8>,
    /// Validation lines.
    pub validation: Vec<u8>,
    /// Test lines.
    pub test: Vec<u8>,
    /// The counts.
    pub counts: ExampleCounts,
}

/// How the documents were used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExampleCounts {
    /// Documents read.
    pub documents: u64,
    /// Lines in each split.
    pub train: u64,
    /// Validation lines.
    pub validation: u64,
    /// Test lines.
    pub test: u64,
    /// Documents with no class (field missing, empty, or not matching the pattern).
    pub unlabelled: u64,
    /// Documents with no text left after preparation.
    pub empty: u64,
    /// Documents per class, over all splits.
    pub classes: BTreeMap<String, u64>,
}

/// Reads the shards and makes the examples.
pub fn examples(shards: &[PathBuf], settings: &TrainSettings) -> Result<Examples, TrainError> {
    let pattern = settings
        .label_pattern
        .as_deref()
        .map(Regex::new)
        .transpose()
        .map_err(|e| TrainError::Settings(vec![e.to_string()]))?;
    let preprocess = settings.preprocess();
    let mut out = Examples::default();
    for shard in shards {
        let unit = Unit::whole(shard, Format::Jsonl);
        for record in read_unit(&unit, &ReadOptions::default()) {
            let doc = record.map_err(|e| TrainError::Read(e.to_string()))?;
            out.counts.documents += 1;
            let labels = labels(&doc, &settings.label, pattern.as_ref());
            if labels.is_empty() {
                out.counts.unlabelled += 1;
                continue;
            }
            let text = line_text(&doc, &settings.prepend, &preprocess);
            if text.is_empty() {
                out.counts.empty += 1;
                continue;
            }
            let (lines, count) = match split_of(&doc.id, settings.validation, settings.test) {
                Split::Train => (&mut out.train, &mut out.counts.train),
                Split::Validation => (&mut out.validation, &mut out.counts.validation),
                Split::Test => (&mut out.test, &mut out.counts.test),
            };
            *count += 1;
            for label in &labels {
                *out.counts.classes.entry(label.clone()).or_default() += 1;
                lines.extend_from_slice(LABEL_PREFIX.as_bytes());
                lines.extend_from_slice(label.as_bytes());
                lines.push(b' ');
            }
            lines.extend_from_slice(text.as_bytes());
            lines.push(b'\n');
        }
    }
    Ok(out)
}

/// The text a model sees for a document: the prepended fields, then the text, prepared.
pub fn line_text(doc: &Document, prepend: &[String], preprocess: &Preprocess) -> String {
    let mut text = String::new();
    for field in prepend {
        if let Some(v) = lookup(&doc.metadata, field).and_then(scalar) {
            text.push_str(&v);
            text.push('\n');
        }
    }
    text.push_str(&doc.text);
    preprocess.line(&text)
}

/// A document's classes: the field's value (each element of a list), through the
/// pattern, with whitespace made `_` (a fastText label is one token).
fn labels(doc: &Document, field: &str, pattern: Option<&Regex>) -> Vec<String> {
    let values: Vec<String> = match lookup(&doc.metadata, field) {
        Some(Value::Array(items)) => items.iter().filter_map(scalar).collect(),
        Some(v) => scalar(v).into_iter().collect(),
        None => Vec::new(),
    };
    let mut labels: Vec<String> = values
        .iter()
        .filter_map(|v| match pattern {
            None => Some(v.as_str()),
            Some(re) => re
                .captures(v)
                .map(|c| c.get(1).or_else(|| c.get(0)).map_or("", |m| m.as_str())),
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join("_"))
        .filter(|l| !l.is_empty())
        .collect();
    labels.sort();
    labels.dedup();
    labels
}

/// A metadata value by dotted path.
fn lookup<'a>(metadata: &'a serde_json::Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = metadata.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, metadata: Value) -> Document {
        Document {
            id: id.into(),
            text: "Hello World".into(),
            metadata: metadata.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn labels_come_from_fields_lists_and_patterns() {
        let d = doc(
            "a",
            serde_json::json!({"group": "easy-ham-2", "tags": ["x y", 3, null], "n": {"k": true}}),
        );
        let re = Regex::new("(spam|ham)").unwrap();
        assert_eq!(labels(&d, "group", Some(&re)), ["ham"]);
        assert_eq!(labels(&d, "group", None), ["easy-ham-2"]);
        assert_eq!(labels(&d, "tags", None), ["3", "x_y"]);
        assert_eq!(labels(&d, "n.k", None), ["true"]);
        assert!(labels(&d, "missing", None).is_empty());
        let none = Regex::new("^spam").unwrap();
        assert!(labels(&d, "group", Some(&none)).is_empty());
    }

    #[test]
    fn the_split_depends_on_the_id_only_and_follows_the_shares() {
        let ids: Vec<String> = (0..20_000).map(|i| format!("doc-{i}")).collect();
        let count = |s: Split| {
            ids.iter().filter(|id| split_of(id, 0.1, 0.2) == s).count() as f64 / ids.len() as f64
        };
        assert!((count(Split::Test) - 0.2).abs() < 0.01);
        assert!((count(Split::Validation) - 0.1).abs() < 0.01);
        // Growing the validation share moves documents out of train only.
        for id in &ids {
            if split_of(id, 0.1, 0.2) == Split::Test {
                assert_eq!(split_of(id, 0.3, 0.2), Split::Test);
            }
        }
    }

    #[test]
    fn prepended_fields_come_first() {
        let d = doc("a", serde_json::json!({"subject": "WIN Now"}));
        let text = line_text(
            &d,
            &["subject".into(), "absent".into()],
            &Preprocess::STANDARD,
        );
        assert_eq!(text, "win now hello world");
    }
}
