//! The dataset's compressed chunks kept for the next run: after a barrier, a shard is
//! not compressed again where its lines did not change.
//!
//! Behind a barrier (dedup), a task's documents are one member (gzip, or zstd frames)
//! written in chunks that depend on their lines alone ([`atelier_io::chunked`]). With a
//! project store, each such shard leaves a record, keyed by the shard's hash, that lists
//! its chunks: the hash of each chunk's lines, where its compressed bytes are in the
//! shard, and their hash. The next run reads the lists of the `latest` version's shards
//! ([`ChunkIndex::load`]); a chunk whose lines are the same is copied from the shard
//! that version kept (checked against the hash of its compressed bytes) instead of
//! compressed again. The bytes are the same either way, so a run that copies writes the
//! shards a run without a store writes.
//!
//! The version reaches the record (its key goes with the task's store keys), and holds
//! the shard: gc keeps both while the version lives.

use atelier_core::format::Compression;
use atelier_io::GZIP_LEVEL;
use atelier_io::chunked::ChunkCache;
use atelier_store::{Hash, Record, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::measure::Stopwatch;

// Pinned format (tests/data/formats/chunk-list.json), with no version field: a change
// must add one, or change the key so that old lists are not read.
/// The chunks of one shard, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChunkList {
    pub chunks: Vec<ChunkEntry>,
}

/// One chunk of a shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChunkEntry {
    /// [`chunk_key`] of its lines.
    pub key: Hash,
    /// Where its compressed bytes start in the shard, and how many there are.
    pub offset: u64,
    pub bytes: u64,
    /// BLAKE3 of its compressed bytes.
    pub hash: Hash,
    /// Its documents (lines).
    pub documents: u64,
    /// What compressing it cost, on one CPU (what copying it saves).
    pub cpu_seconds: f64,
}

/// The key of a chunk's lines: what decides its compressed bytes (the lines, the
/// compression and its level, and the build, whose compressor wrote them).
fn chunk_key(lines: &[u8], (compression, zstd_level): (Compression, i32)) -> Hash {
    let level = match compression {
        Compression::Gzip => i64::from(GZIP_LEVEL),
        _ => i64::from(zstd_level),
    };
    Hash::key("atelier-chunk")
        .text(env!("CARGO_PKG_VERSION"))
        .text(compression.suffix())
        .number(level as u64)
        .field(lines)
        .finish()
}

/// The key of a shard's chunk list.
fn list_key(shard: &Hash) -> Hash {
    Hash::key("atelier-chunks").hash(shard).finish()
}

/// Where a kept chunk is, and what it holds.
#[derive(Debug, Clone)]
struct Kept {
    shard: Hash,
    entry: ChunkEntry,
}

/// The chunks of the `latest` version's shards, by the key of their lines.
#[derive(Debug, Default)]
pub(crate) struct ChunkIndex {
    chunks: HashMap<Hash, Kept>,
}

impl ChunkIndex {
    /// The chunk lists of the `latest` version's shards (none when there is no version
    /// or its shards have no lists).
    pub fn load(store: &Store) -> ChunkIndex {
        let mut chunks = HashMap::new();
        let Ok(latest) = store.resolve("latest") else {
            return ChunkIndex::default();
        };
        for shard in &latest.shards {
            let Some(list) = store.record::<ChunkList>(&list_key(&shard.hash)) else {
                continue;
            };
            for c in list.data.chunks {
                chunks.entry(c.key).or_insert(Kept {
                    shard: shard.hash,
                    entry: c,
                });
            }
        }
        ChunkIndex { chunks }
    }
}

/// What a shard's chunks were: its list, and what copying saved.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub list: Vec<ChunkEntry>,
    /// Documents in chunks copied.
    pub copied_documents: u64,
    /// What compressing the copied chunks cost when they were first written.
    pub saved_cpu_seconds: f64,
}

/// A task's [`ChunkCache`]: copies chunks from the index's shards, lists what the task
/// writes.
pub(crate) struct ShardChunks {
    store: Store,
    index: Arc<ChunkIndex>,
    /// Shards opened so far, with their sizes.
    open: HashMap<Hash, (File, u64)>,
    /// The chunk last asked for: its key and documents, whether it was copied (and what
    /// compressing it first cost), else since when it is being compressed.
    asked: Option<(Hash, u64, Result<f64, Stopwatch>)>,
    tally: Arc<Mutex<Tally>>,
    /// The shard's compression and zstd level.
    compression: (Compression, i32),
}

impl ShardChunks {
    /// A cache over `index` for a shard of this compression and zstd level; `tally`
    /// receives the shard's list.
    pub fn new(
        store: &Store,
        index: Arc<ChunkIndex>,
        tally: Arc<Mutex<Tally>>,
        compression: (Compression, i32),
    ) -> ShardChunks {
        ShardChunks {
            store: store.clone(),
            index,
            open: HashMap::new(),
            asked: None,
            tally,
            compression,
        }
    }

    /// A kept chunk's compressed bytes, when its shard is there and they are what the
    /// list says (a damaged or missing shard costs compressing again, never wrong output).
    fn copy(&mut self, kept: &Kept) -> Option<Vec<u8>> {
        let entry = &kept.entry;
        let (file, size) = match self.open.entry(kept.shard) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let file = File::open(self.store.object_path(&kept.shard)).ok()?;
                let size = file.metadata().ok()?.len();
                e.insert((file, size))
            }
        };
        // A list that points past its shard is damaged: nothing to read there.
        if entry.offset.checked_add(entry.bytes)? > *size {
            return None;
        }
        let mut bytes = vec![0; usize::try_from(entry.bytes).ok()?];
        file.read_exact_at(&mut bytes, entry.offset).ok()?;
        (Hash::of(&bytes) == entry.hash).then_some(bytes)
    }
}

impl ChunkCache for ShardChunks {
    fn find(&mut self, lines: &[u8]) -> Option<Vec<u8>> {
        let key = chunk_key(lines, self.compression);
        let documents = lines.iter().filter(|&&b| b == b'\n').count() as u64;
        let kept = self.index.chunks.get(&key).cloned();
        let copied = kept.and_then(|k| Some((self.copy(&k)?, k.entry.cpu_seconds)));
        let (bytes, spent) = match copied {
            Some((bytes, first)) => (Some(bytes), Ok(first)),
            None => (None, Err(Stopwatch::start())),
        };
        self.asked = Some((key, documents, spent));
        bytes
    }

    fn written(&mut self, compressed: &[u8], offset: u64) {
        let (key, documents, spent) = self
            .asked
            .take()
            .expect("a chunk is asked for before it is written");
        let mut tally = self.tally.lock().expect("no panics holding a tally");
        let cpu_seconds = match spent {
            Ok(first) => {
                tally.copied_documents += documents;
                tally.saved_cpu_seconds += first;
                first
            }
            Err(watch) => watch.elapsed().cpu,
        };
        tally.list.push(ChunkEntry {
            key,
            offset,
            bytes: compressed.len() as u64,
            hash: Hash::of(compressed),
            documents,
            cpu_seconds,
        });
    }
}

/// Keeps the chunk list of a finished shard in the store (unless it has one: the same
/// shard written again); returns the record's key.
pub(crate) fn keep(
    store: &Store,
    shard: &Path,
    chunks: Vec<ChunkEntry>,
) -> Result<Hash, StoreError> {
    let hash = Hash::of_file(shard).map_err(|e| StoreError::Io {
        path: shard.to_path_buf(),
        error: e,
    })?;
    let key = list_key(&hash);
    if store.has_record(&key) {
        return Ok(key);
    }
    let pack = store.pack();
    pack.put_record(
        &key,
        &Record {
            objects: Vec::new(),
            records: Vec::new(),
            data: ChunkList { chunks },
        },
    )?;
    pack.commit()?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store holding one "shard" object, and a cache whose index lists `entries` in it.
    fn cache_over(bytes: &[u8], entries: Vec<ChunkEntry>) -> (tempfile::TempDir, ShardChunks) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let shard = store.put_bytes(bytes).unwrap();
        let chunks = entries
            .into_iter()
            .map(|entry| (entry.key, Kept { shard, entry }))
            .collect();
        let index = Arc::new(ChunkIndex { chunks });
        let tally = Arc::new(Mutex::new(Tally::default()));
        let cache = ShardChunks::new(&store, index, tally, (Compression::Gzip, 3));
        (dir, cache)
    }

    fn entry(lines: &[u8], offset: u64, compressed: &[u8]) -> ChunkEntry {
        ChunkEntry {
            key: chunk_key(lines, (Compression::Gzip, 3)),
            offset,
            bytes: compressed.len() as u64,
            hash: Hash::of(compressed),
            documents: 1,
            cpu_seconds: 0.5,
        }
    }

    #[test]
    fn a_kept_chunk_is_copied_only_when_its_bytes_are_what_the_list_says() {
        let shard = b"header|compressed chunk|trailer";
        let good = entry(b"a line\n", 7, b"compressed chunk");
        let mut past_end = entry(b"another line\n", 7, b"compressed chunk");
        past_end.bytes = u64::MAX - 3;
        let damaged = entry(b"a third line\n", 7, b"compressed chunk, as it was");
        let (_dir, mut cache) = cache_over(shard, vec![good, past_end, damaged]);
        assert_eq!(
            cache.find(b"a line\n").as_deref(),
            Some(&b"compressed chunk"[..])
        );
        cache.written(b"compressed chunk", 10);
        assert_eq!(cache.find(b"another line\n"), None);
        cache.written(b"new bytes", 26);
        assert_eq!(cache.find(b"a third line\n"), None);
        cache.written(b"new bytes", 35);
        assert_eq!(cache.find(b"unknown\n"), None);
        cache.written(b"new bytes", 44);
        let tally = cache.tally.lock().unwrap();
        assert_eq!(tally.copied_documents, 1);
        assert_eq!(tally.saved_cpu_seconds, 0.5);
        let offsets: Vec<u64> = tally.list.iter().map(|c| c.offset).collect();
        assert_eq!(offsets, [10, 26, 35, 44]);
    }
}
