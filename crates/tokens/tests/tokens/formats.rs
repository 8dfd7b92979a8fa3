//! Pinned format: a token folder's `index.json`, as today's code writes it, kept in
//! `tests/data/formats/tokens/`. It must still open into the same values (a dataset
//! version keeps its token folder, and training reads it later), and today's code must
//! write the same bytes for those values. A test that fails here means the format
//! changed: bump [`INDEX_FORMAT`], add a new fixture and keep reading this one.

use atelier_core::StepStats;
use atelier_tokens::{
    Count, Dtype, INDEX_FORMAT, Index, IndexTokenizer, Layout, ShardEntry, TokenShards,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats/tokens")
}

fn shard(layout: Layout, split: &str, rank: usize, documents: u64, tokens: u64) -> ShardEntry {
    ShardEntry {
        layout,
        split: split.into(),
        rank,
        files: layout
            .files(&format!("part-{rank:05}"))
            .into_iter()
            .map(|f| format!("{}/{split}/{f}", layout.name()))
            .collect(),
        documents,
        tokens,
    }
}

/// Two tasks, two splits, two layouts, a BOS token, one quarantined line.
fn index() -> Index {
    let mut stats = StepStats::named("tokenize");
    stats.documents_in = 9;
    stats.kept = 8;
    stats.quarantined = 1;
    stats.bytes_in = 4000;
    stats.bytes_out = 3600;
    stats.wall_seconds = 0.5;
    stats.cpu_seconds = 0.25;
    let mut splits = BTreeMap::new();
    splits.insert(
        "train".to_owned(),
        Count {
            documents: 7,
            tokens: 700,
        },
    );
    splits.insert(
        "validation".to_owned(),
        Count {
            documents: 1,
            tokens: 90,
        },
    );
    let mut sources = BTreeMap::new();
    sources.insert(
        "mail".to_owned(),
        Count {
            documents: 8,
            tokens: 790,
        },
    );
    Index {
        format: INDEX_FORMAT,
        tokenizer: IndexTokenizer {
            hash: "5d6f5e1b2c3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6".into(),
            vocab_size: 49_152,
            eos: 2,
            bos: Some(1),
        },
        dtype: Dtype::Uint16,
        settings: json!({
            "tokenizer": {"path": "tokenizer.json", "vocab_size": 49_152, "eos": 2, "bos": 1},
            "max_tokens": null,
            "too_long": "split",
            "validation": 0.125,
            "seed": 7,
            "layouts": ["datatrove", "megatron"],
            "dtype": "uint16",
        }),
        shards: vec![
            shard(Layout::Datatrove, "train", 0, 4, 400),
            shard(Layout::Megatron, "train", 0, 4, 400),
            shard(Layout::Datatrove, "train", 1, 3, 300),
            shard(Layout::Megatron, "train", 1, 3, 300),
            shard(Layout::Datatrove, "validation", 1, 1, 90),
            shard(Layout::Megatron, "validation", 1, 1, 90),
        ],
        splits,
        stats,
        histogram: vec![0, 0, 0, 0, 0, 0, 7, 1],
        sources,
        quarantine: vec!["quarantine/part-00001.jsonl".into()],
    }
}

#[test]
fn a_token_index_written_today_still_opens() {
    let shards = TokenShards::open(&fixture()).unwrap();
    assert_eq!(shards.index, index());
}

#[test]
fn a_token_index_is_written_as_pinned() {
    // As `atelier_tokens::finish` writes it.
    let today = serde_json::to_vec_pretty(&index()).unwrap();
    let pinned = std::fs::read(fixture().join("index.json")).unwrap();
    assert!(
        today == pinned,
        "today's code writes the token index differently from the pinned one:\n{}",
        String::from_utf8_lossy(&today)
    );
}
