//! For the quality benchmark: writes each document's shingles (as this crate normalizes
//! and cuts them) and the candidate pairs of MinHash-LSH (documents that share a band
//! key), so that exact Jaccard and other implementations work on the same shingles.
//!
//! ```text
//! cargo run --release -p atelier-dedup --example dedup_shingles -- IN.jsonl SHINGLES.jsonl PAIRS.tsv [KEYS.tsv]
//! ```
//!
//! `SHINGLES.jsonl`: `{"id": ..., "shingles": [...]}` per document, shingles deduplicated
//! in first-seen order. `PAIRS.tsv`: `id1<TAB>id2` per candidate pair, `id1` first in
//! input order. `KEYS.tsv`: `id<TAB>key<TAB>key...` (the band keys, decimal) per document.

use atelier_core::Document;
use atelier_dedup::{DedupConfig, Signer};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, BufWriter, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (input, shingles, pairs, keys_out) = match args.as_slice() {
        [i, s, p] => (i, s, p, None),
        [i, s, p, k] => (i, s, p, Some(k)),
        _ => {
            return Err(
                "usage: dedup_shingles IN.jsonl SHINGLES.jsonl PAIRS.tsv [KEYS.tsv]".into(),
            );
        }
    };
    let mut keys_out = match keys_out {
        Some(path) => Some(BufWriter::new(std::fs::File::create(path)?)),
        None => None,
    };
    let config = DedupConfig::default();
    let mut signer = Signer::new(&config);
    let mut out = BufWriter::new(std::fs::File::create(shingles)?);
    let mut buckets: HashMap<(usize, u64), Vec<usize>> = HashMap::new();
    let mut ids = Vec::new();
    let mut keys = Vec::new();
    for (i, line) in BufReader::new(std::fs::File::open(input)?)
        .lines()
        .enumerate()
    {
        let doc = Document::from_json_slice(line?.as_bytes(), || format!("line-{i}"))?;
        let mut seen = HashSet::new();
        let mut list = Vec::new();
        signer.for_each_shingle(&doc.text, |s| {
            if seen.insert(s.to_owned()) {
                list.push(s.to_owned());
            }
        });
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({"id": doc.id, "shingles": list}),
        )?;
        out.write_all(b"\n")?;
        signer.keys(&doc.text, &mut keys);
        if let Some(out) = &mut keys_out {
            write!(out, "{}", doc.id)?;
            for k in &keys {
                write!(out, "\t{k}")?;
            }
            writeln!(out)?;
        }
        for (band, k) in keys.iter().enumerate() {
            buckets.entry((band, *k)).or_default().push(i);
        }
        ids.push(doc.id);
    }
    out.flush()?;
    if let Some(out) = &mut keys_out {
        out.flush()?;
    }
    let mut found = HashSet::new();
    for members in buckets.values() {
        for (x, &a) in members.iter().enumerate() {
            for &b in &members[x + 1..] {
                found.insert((a, b));
            }
        }
    }
    let mut found: Vec<_> = found.into_iter().collect();
    found.sort_unstable();
    let mut out = BufWriter::new(std::fs::File::create(pairs)?);
    for (a, b) in found {
        writeln!(out, "{}\t{}", ids[a], ids[b])?;
    }
    out.flush()?;
    Ok(())
}
