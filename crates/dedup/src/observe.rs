//! The observer: keys of every document of one data task, in sorted runs per band, and
//! the documents' ids in order.

use atelier_core::{BarrierContext, Document, Observer};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::PathBuf;

use crate::files::{IDS, OFFSETS, RUN, SealedWriter, create_dir, remove_if_exists, write_atomic};
use crate::{DedupConfig, DedupError, Signer, WorkPaths};

/// What one data task's observer left: written last, so its presence means the task's
/// files are complete.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TaskManifest {
    /// The data task.
    pub rank: usize,
    /// Documents observed.
    pub documents: u64,
    /// Documents with keys (the others have no words).
    pub keyed: u64,
    /// Per band, the names of its sorted runs in the task's folder.
    pub runs: Vec<Vec<String>>,
}

impl TaskManifest {
    /// Reads the manifests of every data task; a missing one is an error naming it.
    pub(crate) fn read_all(ctx: &BarrierContext) -> Result<Vec<TaskManifest>, DedupError> {
        let work = WorkPaths::new(ctx);
        (0..ctx.world)
            .map(|rank| {
                let path = work.task_manifest(rank);
                if !path.exists() {
                    return Err(DedupError::Setup(format!(
                        "dedup: data task {rank} has not finished observing ({} is missing)",
                        path.display()
                    )));
                }
                let manifest: TaskManifest = crate::files::read_json(&path)?;
                if manifest.rank != rank {
                    return Err(DedupError::Corrupt {
                        path,
                        what: format!("is the manifest of task {}", manifest.rank),
                    });
                }
                Ok(manifest)
            })
            .collect()
    }
}

/// Bytes one buffered key takes: `(key << 32 | position)` as a `u128`.
const ENTRY_BYTES: usize = 16;

/// Observes one data task.
pub(crate) struct DedupObserver {
    rank: usize,
    dir: PathBuf,
    manifest_path: PathBuf,
    signer: Signer,
    keys: Vec<u64>,
    buffers: Vec<Vec<u128>>,
    per_band: usize,
    runs: Vec<Vec<String>>,
    documents: u64,
    keyed: u64,
    ids: SealedWriter,
    offsets: SealedWriter,
}

impl DedupObserver {
    /// Starts the observer of task `rank`, removing what an earlier attempt left.
    pub(crate) fn new(
        config: &DedupConfig,
        ctx: &BarrierContext,
        rank: usize,
    ) -> Result<Self, DedupError> {
        let work = WorkPaths::new(ctx);
        let dir = work.task_dir(rank);
        let manifest_path = work.task_manifest(rank);
        remove_if_exists(&manifest_path)?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| DedupError::io(&dir, e))?;
        }
        create_dir(&dir)?;
        let bands = config.key_count();
        let budget = config.memory_mb.saturating_mul(1 << 20) / ENTRY_BYTES;
        let per_band = (budget / bands).max(1024);
        Ok(DedupObserver {
            rank,
            ids: SealedWriter::create(&work.ids(rank), IDS)?,
            offsets: SealedWriter::create(&work.offsets(rank), OFFSETS)?,
            dir,
            manifest_path,
            signer: Signer::new(config),
            keys: Vec::with_capacity(bands),
            // Reserved, not touched: pages are committed only as keys arrive.
            buffers: (0..bands).map(|_| Vec::with_capacity(per_band)).collect(),
            per_band,
            runs: vec![Vec::new(); bands],
            documents: 0,
            keyed: 0,
        })
    }

    fn observe_doc(&mut self, doc: &Document) -> Result<(), DedupError> {
        let pos = u32::try_from(self.documents).map_err(|_| {
            DedupError::Setup(format!(
                "dedup: data task {} has more than 2^32 documents; use more tasks",
                self.rank
            ))
        })?;
        let id = doc.id.as_bytes();
        let id_len = u32::try_from(id.len())
            .map_err(|_| DedupError::Setup("dedup: a document id above 4 GiB".into()))?;
        let offset = self.ids.payload_bytes();
        self.offsets.record(&[&offset.to_le_bytes()])?;
        self.ids.record(&[&id_len.to_le_bytes(), id])?;
        self.documents += 1;

        self.signer.keys(&doc.text, &mut self.keys);
        if self.keys.is_empty() {
            return Ok(());
        }
        self.keyed += 1;
        for (buffer, &k) in self.buffers.iter_mut().zip(&self.keys) {
            buffer.push((u128::from(k) << 32) | u128::from(pos));
        }
        if self.buffers[0].len() >= self.per_band {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts every band's buffer and writes it as a run.
    fn spill(&mut self) -> Result<(), DedupError> {
        for (band, buffer) in self.buffers.iter_mut().enumerate() {
            buffer.sort_unstable();
            let name = format!("b{band:03}-s{:04}.run", self.runs[band].len());
            let mut writer = SealedWriter::create(&self.dir.join(&name), RUN)?;
            for &entry in buffer.iter() {
                let k = (entry >> 32) as u64;
                let pos = entry as u32;
                writer.record(&[&k.to_le_bytes(), &pos.to_le_bytes()])?;
            }
            writer.finish()?;
            buffer.clear();
            self.runs[band].push(name);
        }
        Ok(())
    }

    fn finish_task(mut self) -> Result<(), DedupError> {
        if !self.buffers[0].is_empty() {
            self.spill()?;
        }
        self.ids.finish()?;
        self.offsets.finish()?;
        let manifest = TaskManifest {
            rank: self.rank,
            documents: self.documents,
            keyed: self.keyed,
            runs: std::mem::take(&mut self.runs),
        };
        let json = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
        write_atomic(&self.manifest_path, &json)
    }
}

impl Observer for DedupObserver {
    fn observe(&mut self, doc: &Document) -> io::Result<()> {
        self.observe_doc(doc).map_err(io::Error::other)
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        self.finish_task().map_err(io::Error::other)
    }
}
