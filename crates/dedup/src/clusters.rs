//! The middle stages: `buckets` finds the documents that share a key, `clusters` joins
//! them into clusters and decides.
//!
//! A decision file (`decisions/r00000.dec`, sealed) lists the task's documents that
//! belong to a cluster, by position: `position u32, verdict u8, size u32, len u32,
//! representative id (len bytes)`. Verdicts: 0 kept representative, 1 `duplicate`,
//! 2 `duplicate_of_index` (then the id is empty). Documents not listed have no copy.

use atelier_core::{BarrierContext, Verdict};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::files::{
    DECISIONS, IDS, OFFSETS, PAIRS, SealedBlob, SealedReader, SealedTable, SealedWriter,
    create_dir, u32_at, u64_at, write_atomic,
};
use crate::index::{index_dir, open_against};
use crate::merge::{KeyEntry, Merger};
use crate::observe::TaskManifest;
use crate::{DedupConfig, DedupError, Keep, WorkPaths, key};

/// What the clusters stage decided for a document that has a copy. The discriminant is
/// the `verdict u8` of a decision file: never renumber one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum ClusterVerdict {
    /// A kept representative.
    Kept = 0,
    /// Dropped: a copy of an earlier document of this run.
    Duplicate = 1,
    /// Dropped: a copy of a document of the `against` index.
    DuplicateOfIndex = 2,
}

impl ClusterVerdict {
    /// The verdict written as `code` in a decision file; `None` for an unknown code.
    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(ClusterVerdict::Kept),
            1 => Some(ClusterVerdict::Duplicate),
            2 => Some(ClusterVerdict::DuplicateOfIndex),
            _ => None,
        }
    }

    /// The code written in a decision file.
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    /// The drop reason ([`crate::DUPLICATE`] or [`crate::DUPLICATE_OF_INDEX`]); `None`
    /// for a kept document.
    pub(crate) fn reason(self) -> Option<&'static str> {
        match self {
            ClusterVerdict::Kept => None,
            ClusterVerdict::Duplicate => Some(crate::DUPLICATE),
            ClusterVerdict::DuplicateOfIndex => Some(crate::DUPLICATE_OF_INDEX),
        }
    }

    /// The step's verdict for the document.
    pub(crate) fn verdict(self) -> Verdict {
        match self.reason() {
            None => Verdict::Keep,
            Some(reason) => Verdict::Drop(reason),
        }
    }
}

/// The `buckets` stage, task `band`: merges every data task's runs of the band (and the
/// index's band) and writes a pair `(first, other)` for each other document that shares
/// a key with the first. Pairs of two index documents are left out: those are kept
/// already.
pub(crate) fn run_buckets(
    config: &DedupConfig,
    ctx: &BarrierContext,
    band: usize,
) -> Result<(), DedupError> {
    let work = WorkPaths::new(ctx);
    let manifests = TaskManifest::read_all(ctx)?;
    let mut merger = Merger::new();
    if let Some(against) = open_against(config, ctx)? {
        merger.add_index(&against.band_path(band))?;
    }
    for m in &manifests {
        for name in &m.runs[band] {
            merger.add_run(&work.run(m.rank, name), m.rank)?;
        }
    }
    create_dir(&work.pairs_dir())?;
    let mut pairs = SealedWriter::create(&work.pairs(band), PAIRS)?;
    // The first entry of the current group of equal keys.
    let mut first: Option<KeyEntry> = None;
    while let Some(entry) = merger.next()? {
        match first {
            Some(f) if f.key == entry.key => {
                if key::split(entry.doc).is_some() {
                    pairs.record(&[&f.doc.to_le_bytes(), &entry.doc.to_le_bytes()])?;
                }
            }
            _ => first = Some(entry),
        }
    }
    pairs.finish()?;
    Ok(())
}

/// One record of a decision file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// The document's position in its task.
    pub pos: u32,
    /// What was decided for it.
    pub verdict: ClusterVerdict,
    /// Documents in its cluster.
    pub size: u32,
    /// The representative's id (empty when it is in the index).
    pub representative: String,
}

impl Decision {
    /// The next decision of a decision file.
    pub(crate) fn read(reader: &mut SealedReader) -> Result<Option<Decision>, DedupError> {
        let Some(head) = reader.take(13)? else {
            return Ok(None);
        };
        let pos = u32_at(head, 0);
        let code = head[4];
        let size = u32_at(head, 5);
        let len = u32_at(head, 9) as usize;
        let Some(verdict) = ClusterVerdict::from_code(code) else {
            return Err(reader.corrupt(format!("holds an unknown verdict {code}")));
        };
        let bytes = reader.need(len)?.to_vec();
        let representative = String::from_utf8(bytes)
            .map_err(|_| reader.corrupt(format!("the id at position {pos} is not UTF-8")))?;
        Ok(Some(Decision {
            pos,
            verdict,
            size,
            representative,
        }))
    }
}

/// What the clusters stage found, for people and reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ClusterSummary {
    /// Documents observed.
    pub documents: u64,
    /// Pairs read, over all bands.
    pub pairs: u64,
    /// Clusters (two documents or more).
    pub clusters: u64,
    /// Documents of this run in a cluster.
    pub clustered: u64,
    /// Documents dropped as `duplicate`.
    pub duplicate: u64,
    /// Documents dropped as `duplicate_of_index`.
    pub duplicate_of_index: u64,
}

/// Union-find over document keys; the root of a set is its smallest key.
#[derive(Default)]
struct UnionFind {
    parent: FxHashMap<u64, u64>,
}

impl UnionFind {
    fn find(&mut self, mut x: u64) -> u64 {
        loop {
            let p = *self.parent.get(&x).unwrap_or(&x);
            if p == x {
                return x;
            }
            let grand = *self.parent.get(&p).unwrap_or(&p);
            if grand != p {
                // Path halving.
                self.parent.insert(x, grand);
            }
            x = grand;
        }
    }

    fn union(&mut self, a: u64, b: u64) {
        self.parent.entry(a).or_insert(a);
        self.parent.entry(b).or_insert(b);
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent.insert(ra.max(rb), ra.min(rb));
        }
    }
}

/// The `clusters` stage: union-find over every band's pairs, then one decision file per
/// data task. Memory grows with the documents that have a copy, not with all documents.
pub(crate) fn run_clusters(config: &DedupConfig, ctx: &BarrierContext) -> Result<(), DedupError> {
    let work = WorkPaths::new(ctx);
    let manifests = TaskManifest::read_all(ctx)?;
    if config.write_index {
        // The index of an earlier run of this step goes first, so that a crash from here
        // on never leaves a manifest beside bands of another run.
        crate::index::clear_index(&index_dir(config, ctx))?;
    }
    let mut summary = ClusterSummary {
        documents: manifests.iter().map(|m| m.documents).sum(),
        ..ClusterSummary::default()
    };

    let mut sets = UnionFind::default();
    for band in 0..config.key_count() {
        let mut reader = SealedReader::open(&work.pairs(band), PAIRS)?;
        while let Some(record) = reader.take(16)? {
            sets.union(u64_at(record, 0), u64_at(record, 8));
            summary.pairs += 1;
        }
    }

    let mut members: Vec<(u64, u64)> = Vec::with_capacity(sets.parent.len());
    let keys: Vec<u64> = sets.parent.keys().copied().collect();
    for k in keys {
        members.push((k, sets.find(k)));
    }
    drop(sets);
    members.sort_unstable();
    let mut sizes: FxHashMap<u64, u32> = FxHashMap::default();
    for &(_, root) in &members {
        *sizes.entry(root).or_default() += 1;
    }
    summary.clusters = sizes.len() as u64;

    let mut roots: Vec<u64> = sizes
        .keys()
        .copied()
        .filter(|&r| key::split(r).is_some())
        .collect();
    roots.sort_unstable();
    let ids = representative_ids(&work, &roots)?;

    create_dir(&work.decisions_dir())?;
    let mut members = members.into_iter().peekable();
    for rank in 0..ctx.world {
        let mut writer = SealedWriter::create(&work.decisions(rank), DECISIONS)?;
        while let Some(&(k, root)) = members.peek() {
            let Some((r, pos)) = key::split(k) else {
                // An index document: already kept, nothing to decide.
                members.next();
                continue;
            };
            if r != rank {
                break;
            }
            members.next();
            summary.clustered += 1;
            let (verdict, id) = match key::split(root) {
                None => (ClusterVerdict::DuplicateOfIndex, ""),
                Some(_) => {
                    let kept = config.keep == Keep::One && root == k;
                    let verdict = if kept {
                        ClusterVerdict::Kept
                    } else {
                        ClusterVerdict::Duplicate
                    };
                    (verdict, ids[&root].as_str())
                }
            };
            match verdict {
                ClusterVerdict::Kept => {}
                ClusterVerdict::Duplicate => summary.duplicate += 1,
                ClusterVerdict::DuplicateOfIndex => summary.duplicate_of_index += 1,
            }
            let size = sizes[&root];
            let len = u32::try_from(id.len()).expect("ids were read with u32 lengths");
            writer.record(&[
                &pos.to_le_bytes(),
                &[verdict.code()],
                &size.to_le_bytes(),
                &len.to_le_bytes(),
                id.as_bytes(),
            ])?;
        }
        writer.finish()?;
    }
    if let Some(&(k, _)) = members.peek() {
        return Err(DedupError::Setup(format!(
            "dedup: a pair names task {:?}, beyond the {} data tasks; the work folder holds \
             files of another run",
            key::split(k).map(|(r, _)| r),
            ctx.world
        )));
    }
    let json = serde_json::to_vec_pretty(&summary).expect("summary serializes");
    write_atomic(&work.clusters(), &json)
}

/// The ids of the given (sorted) representatives of this run, read from the tasks' id
/// files at their offsets.
fn representative_ids(
    work: &WorkPaths<'_>,
    roots: &[u64],
) -> Result<FxHashMap<u64, String>, DedupError> {
    let mut out = FxHashMap::default();
    let mut open: Option<(usize, SealedTable, SealedBlob)> = None;
    for &root in roots {
        let (rank, pos) = key::split(root).expect("only this run's documents");
        if open.as_ref().is_none_or(|(r, _, _)| *r != rank) {
            open = Some((
                rank,
                SealedTable::open(&work.offsets(rank), OFFSETS)?,
                SealedBlob::open(&work.ids(rank), IDS)?,
            ));
        }
        let (_, offsets, ids) = open.as_ref().expect("just opened");
        let mut word = [0u8; 8];
        offsets.get(u64::from(pos), &mut word)?;
        let offset = u64::from_le_bytes(word);
        let mut len = [0u8; 4];
        ids.read_at(offset, &mut len)?;
        let mut bytes = vec![0u8; u32_at(&len, 0) as usize];
        ids.read_at(offset + 4, &mut bytes)?;
        let id = String::from_utf8(bytes).map_err(|_| DedupError::Corrupt {
            path: work.ids(rank),
            what: format!("the id at position {pos} is not UTF-8"),
        })?;
        out.insert(root, id);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_find_roots_are_the_smallest_keys() {
        let mut uf = UnionFind::default();
        uf.union(9, 5);
        uf.union(7, 3);
        uf.union(5, 7);
        uf.union(20, 21);
        for k in [3, 5, 7, 9] {
            assert_eq!(uf.find(k), 3);
        }
        assert_eq!(uf.find(21), 20);
        assert_eq!(uf.find(100), 100, "a key never seen is its own root");
    }

    #[test]
    fn verdict_codes_and_reasons_are_pinned() {
        // The codes are in decision files, the reasons in reports: neither may change.
        let pinned = [
            (ClusterVerdict::Kept, 0, None),
            (ClusterVerdict::Duplicate, 1, Some("duplicate")),
            (
                ClusterVerdict::DuplicateOfIndex,
                2,
                Some("duplicate_of_index"),
            ),
        ];
        for (verdict, code, reason) in pinned {
            assert_eq!(verdict.code(), code);
            assert_eq!(ClusterVerdict::from_code(code), Some(verdict));
            assert_eq!(verdict.reason(), reason);
        }
        assert_eq!(ClusterVerdict::from_code(3), None);
        assert_eq!(ClusterVerdict::Kept.verdict(), Verdict::Keep);
        assert_eq!(
            ClusterVerdict::DuplicateOfIndex.verdict(),
            Verdict::Drop("duplicate_of_index")
        );
    }
}
