//! Deduplication: the `dedup` step removes exact or near-duplicate documents, within a
//! run and against an earlier dataset, in bounded memory, with the same result whatever
//! the number of tasks.
//!
//! # What counts as a duplicate
//!
//! Texts are normalized ([`normalize`]) and turned into keys ([`signature`]):
//! `mode = "exact"` gives one key, a hash of the normalized text; `mode = "minhash"`
//! (the default) gives one key per LSH band of a MinHash signature over word shingles
//! (FineWeb's defaults: 5-word shingles, 14 bands of 8 hashes). Two documents that share a
//! key are duplicates, and duplicates of duplicates form a cluster (connected
//! components). A text with no words has no keys and is never a duplicate.
//!
//! # Which copy is kept
//!
//! Documents are ordered: first those of the `against` index, then this run's in input
//! order (data task rank, then position in the task; the runner deals input to tasks
//! contiguously, so this is input order whatever the number of tasks). The first
//! document of a cluster is its representative. With `keep = "one"` it is kept, if it is
//! new, and the others are dropped: as `duplicate`, or as `duplicate_of_index` when the
//! cluster holds a document of the `against` index. With `keep = "none"` every new
//! document of a cluster is dropped. Every document the step passes on gets
//! `dedup_cluster` (the id of its cluster's representative: its own id when it is one or
//! has no copy) and `dedup_cluster_size` (the documents of its cluster, the index's
//! included; 1 without copies). Dropped documents get them too before they go (no
//! `dedup_cluster` when the representative is in the index, whose ids are not kept).
//!
//! # How it runs
//!
//! As a [`Barrier`]: parts that exchange only files, each writing under a temporary name
//! and renaming when complete, so a killed part simply runs again.
//!
//! 1. **observe** (per data task): keys of every document, buffered per band and spilled
//!    as sorted runs when `memory_mb` is reached; the ids of the documents in order.
//! 2. **buckets** (one task per band): a k-way merge of every task's runs of the band
//!    (and the `against` index's band); each group of equal keys gives pairs
//!    `(first, other)`.
//! 3. **clusters** (one task): union-find over the pairs only (memory grows with the
//!    duplicated documents, not with all documents), then a decision file per data task,
//!    sorted by position.
//! 4. **index** (one task per band) and **commit** (one task): the new index, the
//!    `against` index plus the documents kept here, under `<output>/index/<index_name>/`
//!    (`index/minhash/` or `index/exact/` unless `index_name` says otherwise).
//! 5. **decide** (per data task): streams its decision file beside the documents, which
//!    it checks are the ones the observer saw, in the same order.
//!
//! Files in the work folder (all binary files are sealed, see [`files`]):
//!
//! ```text
//! observe/r00000/b000-s0000.run   sorted (key u64, position u32), one per band and spill
//! observe/r00000/ids              (len u32, id bytes) per document, in order
//! observe/r00000/offsets          u64 offset into ids per document
//! observe/r00000.json             the task's manifest, written last: documents, run names
//! pairs/b000.pairs                (first u64, other u64) document keys, per band
//! decisions/r00000.dec            (position u32, verdict u8, size u32, len u32, id) sorted
//! clusters.json                   what the clusters stage found
//! ```
//!
//! A document key is `(rank + 1) << 32 | position` for this run's documents and the
//! document number (below 2^32) for the index's, so keys sort in the order above.
//!
//! The index (`<output>/index/<index_name>/`) is `band-000.idx ...`, sorted
//! `(key u64, document u32)` records (12 bytes per document and band: 168 bytes per
//! document with the defaults), and `index.json`, written last, with the settings that
//! made it (a run with other settings refuses it) and the number of documents.
//!
//! # Example
//!
//! In a recipe, `[[step]] type = "dedup"` (with `against = "../v1"` for a second
//! version). Without the runner, [`dedup_in_memory`] drives the same parts in this
//! process:
//!
//! ```
//! use atelier_core::{Document, Verdict};
//! use atelier_dedup::{DedupConfig, dedup_in_memory};
//!
//! let text = "the same few words are here again, and then some more words";
//! let docs = vec![
//!     Document::new("a", text),
//!     Document::new("b", "something else entirely, with words of its own here"),
//!     Document::new("c", text.to_uppercase()),
//! ];
//! let dir = tempfile::tempdir().unwrap();
//! let out = dedup_in_memory(
//!     &DedupConfig::default(),
//!     &dir.path().join("work"),
//!     &dir.path().join("dataset"),
//!     &[docs],
//! )
//! .unwrap();
//! let verdicts: Vec<Verdict> = out[0].iter().map(|(_, v)| *v).collect();
//! assert_eq!(verdicts, [Verdict::Keep, Verdict::Keep, Verdict::Drop("duplicate")]);
//! assert_eq!(out[0][2].0.metadata["dedup_cluster"], "a");
//! ```

mod clusters;
mod config;
mod decide;
pub mod files;
mod index;
mod local;
mod merge;
pub mod normalize;
mod observe;
pub mod signature;

use atelier_core::{Barrier, BarrierContext, BarrierStage, BoxError, Observer, Step};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use config::{DedupConfig, Keep, Mode};
pub use index::{IndexManifest, IndexParams, find_index};
pub use local::{Outcome, dedup_in_memory, run_local};
pub use normalize::{NormalizeOptions, Normalizer};
pub use signature::Signer;

/// The metadata key of a cluster's representative id.
pub const CLUSTER_KEY: &str = "dedup_cluster";
/// The metadata key of a cluster's size.
pub const CLUSTER_SIZE_KEY: &str = "dedup_cluster_size";
/// The drop reason of a copy of an earlier document of this run.
pub const DUPLICATE: &str = "duplicate";
/// The drop reason of a copy of a document of the `against` index.
pub const DUPLICATE_OF_INDEX: &str = "duplicate_of_index";

/// Why a part of the step failed.
#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    /// Reading or writing a file failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// A file is not what this step wrote: truncated, damaged, or from another version.
    #[error("{}: {what}; delete the step's work folder to recompute it", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// The run cannot go on as set up (missing observer output, an unusable index).
    #[error("{0}")]
    Setup(String),
}

impl DedupError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        DedupError::Io {
            path: path.to_owned(),
            error: source,
        }
    }
}

/// The runtime of the `dedup` step: builds its observers, stages and deciders.
#[derive(Debug, Clone)]
pub struct DedupBarrier {
    config: Arc<DedupConfig>,
}

impl DedupBarrier {
    /// The barrier for (validated) settings.
    pub fn new(config: DedupConfig) -> Self {
        DedupBarrier {
            config: Arc::new(config),
        }
    }
}

impl Barrier for DedupBarrier {
    fn observer(&self, ctx: &BarrierContext, rank: usize) -> Result<Box<dyn Observer>, BoxError> {
        // Fail before the costly part when the index cannot be used.
        index::open_against(&self.config, ctx)?;
        let observer = observe::DedupObserver::new(&self.config, ctx, rank)?;
        Ok(Box::new(observer))
    }

    fn stages(&self, ctx: &BarrierContext) -> Vec<BarrierStage> {
        let keys = self.config.key_count();
        let stage =
            |name: &str,
             tasks: usize,
             f: fn(&DedupConfig, &BarrierContext, usize) -> Result<(), DedupError>| {
                let config = Arc::clone(&self.config);
                let ctx = ctx.clone();
                BarrierStage {
                    name: name.to_owned(),
                    tasks,
                    run: Arc::new(move |rank| Ok(f(&config, &ctx, rank)?)),
                }
            };
        let mut stages = vec![
            stage("buckets", keys, clusters::run_buckets),
            stage("clusters", 1, |c, ctx, _| clusters::run_clusters(c, ctx)),
        ];
        if self.config.write_index {
            stages.push(stage("index", keys, index::run_index_band));
            stages.push(stage("commit", 1, |c, ctx, _| index::run_commit(c, ctx)));
        }
        stages
    }

    fn decider(&self, ctx: &BarrierContext, rank: usize) -> Result<Box<dyn Step>, BoxError> {
        let decider = decide::DedupDecider::new(ctx, rank)?;
        Ok(Box::new(decider))
    }
}

/// The paths of the files the parts of a run keep in the step's work folder (the layout
/// in the crate doc).
#[derive(Debug, Clone)]
pub(crate) struct WorkPaths<'a> {
    root: &'a Path,
}

impl<'a> WorkPaths<'a> {
    pub(crate) fn new(ctx: &'a BarrierContext) -> Self {
        WorkPaths { root: &ctx.work }
    }
    pub(crate) fn observe_dir(&self) -> PathBuf {
        self.root.join("observe")
    }
    pub(crate) fn task_dir(&self, rank: usize) -> PathBuf {
        self.observe_dir().join(format!("r{rank:05}"))
    }
    pub(crate) fn task_manifest(&self, rank: usize) -> PathBuf {
        self.observe_dir().join(format!("r{rank:05}.json"))
    }
    pub(crate) fn run(&self, rank: usize, name: &str) -> PathBuf {
        self.task_dir(rank).join(name)
    }
    pub(crate) fn ids(&self, rank: usize) -> PathBuf {
        self.task_dir(rank).join("ids")
    }
    pub(crate) fn offsets(&self, rank: usize) -> PathBuf {
        self.task_dir(rank).join("offsets")
    }
    pub(crate) fn pairs_dir(&self) -> PathBuf {
        self.root.join("pairs")
    }
    pub(crate) fn pairs(&self, band: usize) -> PathBuf {
        self.pairs_dir().join(format!("b{band:03}.pairs"))
    }
    pub(crate) fn decisions_dir(&self) -> PathBuf {
        self.root.join("decisions")
    }
    pub(crate) fn decisions(&self, rank: usize) -> PathBuf {
        self.decisions_dir().join(format!("r{rank:05}.dec"))
    }
    pub(crate) fn clusters(&self) -> PathBuf {
        self.root.join("clusters.json")
    }
}

/// Document keys: this run's documents after the index's, in input order.
pub(crate) mod key {
    /// The key of position `pos` of data task `rank`.
    pub fn new(rank: usize, pos: u32) -> u64 {
        ((rank as u64 + 1) << 32) | u64::from(pos)
    }
    /// The key of document `doc` of the `against` index.
    pub fn index(doc: u32) -> u64 {
        u64::from(doc)
    }
    /// `(rank, position)` of a new document; `None` for an index document.
    pub fn split(key: u64) -> Option<(usize, u32)> {
        let high = key >> 32;
        (high > 0).then(|| ((high - 1) as usize, key as u32))
    }
}
