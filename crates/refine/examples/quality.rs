//! Runs the quality rules (default settings) on JSONL documents and prints each rule's
//! decision per document as JSON lines: `{"id", "gopher_repetition": "keep" or the
//! reason, ...}`. With `--words english|unicode|auto` the word splitting is forced;
//! with `--tokens` it prints each document's words instead (to compare tokenizers).
//! The quality benchmark (`bench/quality/run.py`) compares this with datatrove.
//!
//! ```sh
//! cargo run --release -p atelier-refine --example quality -- docs.jsonl > decisions.jsonl
//! ```

use std::io::{BufRead, Write};

use atelier_core::{Document, StepConfig, Verdict};
use atelier_refine::words::WordSplit;
use atelier_refine::{C4Config, FineWebQualityConfig, GopherQualityConfig, GopherRepetitionConfig};
use serde_json::{Map, Value, json};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut input = None;
    let mut words = WordSplit::Auto;
    let mut tokens = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--words" => {
                words = serde_json::from_value(json!(args.next().expect("a word split")))
                    .expect("auto, english or unicode")
            }
            "--tokens" => tokens = true,
            _ => input = Some(arg),
        }
    }
    let reader: Box<dyn BufRead> = match input {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).expect("input opens"),
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut steps = vec![
        (
            "gopher_repetition",
            GopherRepetitionConfig {
                words,
                ..Default::default()
            }
            .build()
            .unwrap(),
        ),
        (
            "gopher_quality",
            GopherQualityConfig {
                words,
                ..Default::default()
            }
            .build()
            .unwrap(),
        ),
        ("c4_quality", C4Config::default().build().unwrap()),
        (
            "fineweb_quality",
            FineWebQualityConfig {
                words,
                ..Default::default()
            }
            .build()
            .unwrap(),
        ),
    ];
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in reader.lines() {
        let line = line.expect("input reads");
        let doc = Document::from_json_slice(line.as_bytes(), String::new).expect("a document");
        let mut record = Map::new();
        record.insert("id".into(), json!(doc.id));
        if tokens {
            record.insert(
                "words".into(),
                json!(words.words(&doc.text, doc.meta_str("language"))),
            );
        } else {
            for (name, step) in &mut steps {
                let mut copy = doc.clone();
                let decision = match step.process(&mut copy).expect("no step errors") {
                    Verdict::Keep => "keep",
                    Verdict::Drop(reason) => reason,
                };
                record.insert((*name).into(), json!(decision));
                if *name == "c4_quality" && decision == "keep" {
                    record.insert("c4_text".into(), Value::String(copy.text));
                }
            }
        }
        serde_json::to_writer(&mut out, &record).expect("stdout");
        out.write_all(b"\n").expect("stdout");
    }
}
