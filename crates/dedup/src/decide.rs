//! The decider: streams a data task's decision file beside its documents.

use atelier_core::{BarrierContext, Document, Step, StepError, Verdict};
use serde_json::Value;

use crate::clusters::{ClusterVerdict, Decision};
use crate::files::{DECISIONS, IDS, SealedReader};
use crate::observe::TaskManifest;
use crate::{CLUSTER_KEY, CLUSTER_SIZE_KEY, DedupError, WorkPaths};

/// Decides for the documents of one data task, which must be the ones its observer saw,
/// in the same order: it checks each id against the observer's list.
pub(crate) struct DedupDecider {
    rank: usize,
    documents: u64,
    pos: u64,
    ids: SealedReader,
    decisions: SealedReader,
    next: Option<Decision>,
}

impl DedupDecider {
    pub(crate) fn new(ctx: &BarrierContext, rank: usize) -> Result<Self, DedupError> {
        let work = WorkPaths::new(ctx);
        let manifest_path = work.task_manifest(rank);
        let manifest: TaskManifest = crate::files::read_json(&manifest_path)?;
        let decisions_path = work.decisions(rank);
        if !decisions_path.exists() {
            return Err(DedupError::Setup(format!(
                "dedup: no decisions for data task {rank} ({} is missing): the clusters stage \
                 has not run",
                decisions_path.display()
            )));
        }
        let mut decisions = SealedReader::open(&decisions_path, DECISIONS)?;
        let ids = SealedReader::open(&work.ids(rank), IDS)?;
        if ids.count() != manifest.documents {
            return Err(ids.corrupt(format!(
                "lists {} documents, the task's manifest {}",
                ids.count(),
                manifest.documents
            )));
        }
        let next = Decision::read(&mut decisions)?;
        Ok(DedupDecider {
            rank,
            documents: manifest.documents,
            pos: 0,
            ids,
            decisions,
            next,
        })
    }

    fn decide(&mut self, doc: &mut Document) -> Result<Verdict, DedupError> {
        if self.pos >= self.documents {
            return Err(DedupError::Setup(format!(
                "dedup: data task {} got more than the {} documents its observer saw",
                self.rank, self.documents
            )));
        }
        let len = self.ids.u32()? as usize;
        let seen = self.ids.need(len)?;
        if seen != doc.id.as_bytes() {
            return Err(DedupError::Setup(format!(
                "dedup: data task {} got `{}` at position {} where its observer saw `{}`: the \
                 decider must see the observer's documents in the same order",
                self.rank,
                doc.id,
                self.pos,
                String::from_utf8_lossy(seen)
            )));
        }
        let pos = self.pos;
        self.pos += 1;
        let decision = match &self.next {
            Some(d) if u64::from(d.pos) == pos => self.next.take(),
            Some(d) if u64::from(d.pos) < pos => {
                return Err(self.decisions.corrupt(format!(
                    "positions are not increasing ({} after {})",
                    d.pos,
                    pos - 1
                )));
            }
            _ => None,
        };
        let Some(decision) = decision else {
            set_cluster(doc, Some(doc.id.clone()), 1);
            return Ok(Verdict::Keep);
        };
        self.next = Decision::read(&mut self.decisions)?;
        let representative = (decision.verdict != ClusterVerdict::DuplicateOfIndex)
            .then_some(decision.representative);
        set_cluster(doc, representative, decision.size);
        Ok(decision.verdict.verdict())
    }
}

fn set_cluster(doc: &mut Document, representative: Option<String>, size: u32) {
    match representative {
        Some(id) => doc.metadata.insert(CLUSTER_KEY.into(), Value::String(id)),
        None => doc.metadata.remove(CLUSTER_KEY),
    };
    doc.metadata
        .insert(CLUSTER_SIZE_KEY.into(), Value::from(size));
}

impl Step for DedupDecider {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        self.decide(doc).map_err(|e| StepError(e.to_string()))
    }
}
