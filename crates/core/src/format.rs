//! Input formats and compressions, named as recipes name them and detected from file
//! extensions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How a file's records are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON document per line (`.jsonl`, `.ndjson`, `.json`), datatrove or dolma shape.
    Jsonl,
    /// A whole file is one document (`.txt`, `.text`, `.md`).
    Text,
    /// A whole file is one HTML page (`.html`, `.htm`, `.xhtml`).
    Html,
    /// A whole file is one RFC 822 message (`.eml`).
    Mail,
    /// Many RFC 822 messages, each after a `From ` line (`.mbox`).
    Mbox,
    /// The JSON form of the SpamAssassin corpus (`{id, group, text}` where `text` is a raw
    /// RFC 822 message), one object per file or one per line.
    Spamassassin,
    /// WARC 1.0 or 1.1 (`.warc`, `.warc.gz` with one gzip member per record).
    Warc,
}

/// How a file's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain bytes.
    None,
    /// gzip (`.gz`), possibly several members.
    Gzip,
    /// Zstandard (`.zst`).
    Zstd,
}

impl Compression {
    /// The compression a file name's last extension implies.
    pub fn detect(path: &Path) -> Compression {
        match extension(path).as_deref() {
            Some("gz") => Compression::Gzip,
            Some("zst") => Compression::Zstd,
            _ => Compression::None,
        }
    }

    /// The file name suffix, with its dot (`""` for none).
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }
}

impl Format {
    /// Every format, in the order the docs list them.
    pub const ALL: [Format; 7] = [
        Format::Jsonl,
        Format::Text,
        Format::Html,
        Format::Mail,
        Format::Mbox,
        Format::Spamassassin,
        Format::Warc,
    ];

    /// The format a file name implies, looking through one compression extension;
    /// `None` when the name says nothing known.
    pub fn detect(path: &Path) -> Option<Format> {
        let inner = match Compression::detect(path) {
            Compression::None => path.to_path_buf(),
            _ => path.with_extension(""),
        };
        match extension(&inner)?.as_str() {
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            "txt" | "text" | "md" => Some(Format::Text),
            "html" | "htm" | "xhtml" => Some(Format::Html),
            "eml" => Some(Format::Mail),
            "mbox" => Some(Format::Mbox),
            "warc" => Some(Format::Warc),
            _ => None,
        }
    }

    /// The recipe name of this format.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Text => "text",
            Format::Html => "html",
            Format::Mail => "mail",
            Format::Mbox => "mbox",
            Format::Spamassassin => "spamassassin",
            Format::Warc => "warc",
        }
    }

    /// Whether a large file of this format and compression can be cut into byte ranges
    /// that are read independently.
    pub fn splittable(self, compression: Compression) -> bool {
        match self {
            Format::Jsonl | Format::Mbox | Format::Spamassassin => compression == Compression::None,
            // Common Crawl's .warc.gz has one gzip member per record: members are cut points.
            Format::Warc => compression != Compression::Zstd,
            Format::Text | Format::Html | Format::Mail => false,
        }
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_through_compression() {
        let cases = [
            ("a/0001.html.gz", Some(Format::Html), Compression::Gzip),
            ("x.warc.gz", Some(Format::Warc), Compression::Gzip),
            ("x.jsonl.zst", Some(Format::Jsonl), Compression::Zstd),
            ("notes.TXT", Some(Format::Text), Compression::None),
            ("LICENSE", None, Compression::None),
            ("blob.gz", None, Compression::Gzip),
        ];
        for (name, format, compression) in cases {
            assert_eq!(Format::detect(Path::new(name)), format, "{name}");
            assert_eq!(Compression::detect(Path::new(name)), compression, "{name}");
        }
    }

    #[test]
    fn only_record_aligned_files_split() {
        assert!(Format::Warc.splittable(Compression::Gzip));
        assert!(!Format::Jsonl.splittable(Compression::Gzip));
        assert!(!Format::Html.splittable(Compression::None));
    }
}
