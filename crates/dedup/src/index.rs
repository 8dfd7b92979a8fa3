//! The persistent index: the keys of a dataset's documents, kept with the dataset so that
//! a later run deduplicates new documents against it without recomputing anything.
//!
//! `<dataset>/index/<index_name>/` holds `band-000.idx ...` (sealed, sorted `(key u64,
//! document u32)` records: the document numbers count the dataset's documents, earlier
//! indexes' first) and `index.json` ([`IndexManifest`]), written last. A run's index is
//! the `against` index plus the documents this run kept.

use atelier_core::{BarrierContext, StepConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::clusters::{ClusterVerdict, Decision};
use crate::files::{DECISIONS, INDEX, SealedReader, SealedWriter, create_dir, read_json};
use crate::merge::{KeyEntry, Merger};
use crate::observe::TaskManifest;
use crate::{DedupConfig, DedupError, Mode, WorkPaths, key};

/// The version of the index's layout.
const FORMAT: u32 = 1;
const MANIFEST: &str = "index.json";

/// The settings that decide an index's keys: two runs can share an index only when these
/// are equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexParams {
    /// `minhash` or `exact`.
    pub mode: Mode,
    /// The step's behaviour version.
    pub step_version: u32,
    /// Words per shingle (0 for exact).
    pub shingle_words: usize,
    /// Bands (1 for exact).
    pub bands: usize,
    /// Hashes per band (0 for exact).
    pub rows: usize,
    /// The hash seed (0 for exact).
    pub seed: u64,
    /// Unicode NFKC.
    pub nfkc: bool,
    /// Lowercase.
    pub lowercase: bool,
    /// Accents stripped.
    pub strip_accents: bool,
    /// Punctuation removed.
    pub remove_punctuation: bool,
    /// Digits zeroed.
    pub zero_digits: bool,
}

impl IndexParams {
    /// The parameters of a configuration.
    pub fn of(config: &DedupConfig) -> Self {
        let minhash = config.mode == Mode::Minhash;
        IndexParams {
            mode: config.mode,
            step_version: DedupConfig::VERSION,
            shingle_words: if minhash { config.shingle_words } else { 0 },
            bands: config.key_count(),
            rows: if minhash { config.rows } else { 0 },
            seed: if minhash { config.seed } else { 0 },
            nfkc: config.nfkc,
            lowercase: config.lowercase,
            strip_accents: config.strip_accents,
            remove_punctuation: config.remove_punctuation,
            zero_digits: config.zero_digits,
        }
    }
}

// Pinned format (tests/data/formats/dedup-index/, with its band files): a change must
// bump FORMAT and keep reading the indexes already written, which datasets keep.
/// `index.json`: what an index holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexManifest {
    /// The layout version.
    pub format: u32,
    /// The settings that made the keys.
    pub params: IndexParams,
    /// Documents indexed (numbered `0..documents`).
    pub documents: u64,
    /// Documents with keys (the others have no words).
    pub keyed: u64,
    /// The band files, in band order.
    pub bands: Vec<String>,
    /// Bytes of all band files.
    pub bytes: u64,
    /// `bytes / documents`.
    pub bytes_per_document: f64,
}

/// The folder of this run's index.
pub(crate) fn index_dir(config: &DedupConfig, ctx: &BarrierContext) -> PathBuf {
    ctx.output.join("index").join(config.index_folder_name())
}

fn band_name(band: usize) -> String {
    format!("band-{band:03}.idx")
}

/// Finds the index of a dataset: `path` itself when it holds an `index.json`, else
/// `path/index/<index_name>/` (see [`DedupConfig::index_folder_name`]). Returns the folder and its manifest.
pub fn find_index(path: &Path, index_name: &str) -> Result<(PathBuf, IndexManifest), DedupError> {
    let candidates = [path.to_path_buf(), path.join("index").join(index_name)];
    for dir in &candidates {
        let manifest = dir.join(MANIFEST);
        if manifest.exists() {
            let m: IndexManifest = read_json(&manifest)?;
            if m.format != FORMAT {
                return Err(DedupError::Setup(format!(
                    "dedup: {} is index format {}, this build reads {FORMAT}",
                    manifest.display(),
                    m.format
                )));
            }
            return Ok((dir.clone(), m));
        }
    }
    Err(DedupError::Setup(format!(
        "dedup: no index at {} (looked for {} and {})",
        path.display(),
        candidates[0].join(MANIFEST).display(),
        candidates[1].join(MANIFEST).display()
    )))
}

/// An index this run deduplicates against.
pub(crate) struct Against {
    dir: PathBuf,
    manifest: IndexManifest,
}

impl Against {
    pub(crate) fn band_path(&self, band: usize) -> PathBuf {
        self.dir.join(&self.manifest.bands[band])
    }
}

/// Opens and checks the `against` index, if the settings name one.
pub(crate) fn open_against(
    config: &DedupConfig,
    ctx: &BarrierContext,
) -> Result<Option<Against>, DedupError> {
    let Some(path) = &config.against else {
        return Ok(None);
    };
    let (dir, manifest) = find_index(path, config.index_folder_name())?;
    let ours = IndexParams::of(config);
    if manifest.params != ours {
        return Err(DedupError::Setup(format!(
            "dedup: the index at {} was built with other settings ({:?}) than this step's \
             ({:?}); its keys would never match",
            dir.display(),
            manifest.params,
            ours
        )));
    }
    if manifest.bands.len() != config.key_count() {
        return Err(DedupError::Corrupt {
            path: dir.join(MANIFEST),
            what: format!(
                "lists {} bands for {}",
                manifest.bands.len(),
                config.key_count()
            ),
        });
    }
    let here = index_dir(config, ctx);
    let same = match (dir.canonicalize(), here.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same && config.write_index {
        return Err(DedupError::Setup(format!(
            "dedup: `against` is this run's own index ({}); point it at an earlier dataset",
            dir.display()
        )));
    }
    Ok(Some(Against { dir, manifest }))
}

/// Removes an index (its manifest first).
pub(crate) fn clear_index(dir: &Path) -> Result<(), DedupError> {
    crate::files::remove_if_exists(&dir.join(MANIFEST))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| DedupError::io(dir, e))?;
    }
    Ok(())
}

/// For every data task: its first document number in the new index, and the sorted
/// positions it dropped.
struct Numbering {
    base: Vec<u64>,
    dropped: Vec<Vec<u32>>,
    total: u64,
    keyed_new: u64,
}

impl Numbering {
    fn read(ctx: &BarrierContext, against: Option<&Against>) -> Result<Self, DedupError> {
        let work = WorkPaths::new(ctx);
        let manifests = TaskManifest::read_all(ctx)?;
        let mut next = against.map_or(0, |a| a.manifest.documents);
        let (mut base, mut dropped) = (Vec::new(), Vec::new());
        let mut keyed_new = 0;
        for m in &manifests {
            let mut reader = SealedReader::open(&work.decisions(m.rank), DECISIONS)?;
            let mut gone = Vec::new();
            while let Some(decision) = Decision::read(&mut reader)? {
                if decision.verdict != ClusterVerdict::Kept {
                    gone.push(decision.pos);
                }
            }
            base.push(next);
            next += m.documents - gone.len() as u64;
            // Every dropped document had keys (it was in a cluster).
            keyed_new += m.keyed - gone.len() as u64;
            dropped.push(gone);
        }
        if next > u64::from(u32::MAX) {
            return Err(DedupError::Setup(format!(
                "dedup: the index would hold {next} documents, above the 2^32 that its \
                 document numbers allow; start a new index (write_index = false or another \
                 index_name)"
            )));
        }
        Ok(Numbering {
            base,
            dropped,
            total: next,
            keyed_new,
        })
    }

    /// The new number of position `pos` of task `rank`, or `None` when it was dropped.
    fn number(&self, rank: usize, pos: u32) -> Option<u32> {
        let dropped = &self.dropped[rank];
        let before = dropped.partition_point(|&p| p < pos);
        if dropped.get(before) == Some(&pos) {
            return None;
        }
        Some((self.base[rank] + u64::from(pos) - before as u64) as u32)
    }
}

/// The `index` stage, task `band`: the `against` index's band merged with the kept
/// documents' keys, renumbered.
pub(crate) fn run_index_band(
    config: &DedupConfig,
    ctx: &BarrierContext,
    band: usize,
) -> Result<(), DedupError> {
    let work = WorkPaths::new(ctx);
    let against = open_against(config, ctx)?;
    let numbering = Numbering::read(ctx, against.as_ref())?;
    let mut merger = Merger::new();
    if let Some(a) = &against {
        merger.add_index(&a.band_path(band))?;
    }
    for m in TaskManifest::read_all(ctx)? {
        for name in &m.runs[band] {
            merger.add_run(&work.run(m.rank, name), m.rank)?;
        }
    }
    let dir = index_dir(config, ctx);
    create_dir(&dir)?;
    let mut writer = SealedWriter::create(&dir.join(band_name(band)), INDEX)?;
    while let Some(KeyEntry { key: k, doc }) = merger.next()? {
        let number = match key::split(doc) {
            None => doc as u32,
            Some((rank, pos)) => match numbering.number(rank, pos) {
                Some(n) => n,
                None => continue,
            },
        };
        writer.record(&[&k.to_le_bytes(), &number.to_le_bytes()])?;
    }
    writer.finish()?;
    Ok(())
}

/// The `commit` stage: checks every band file and writes `index.json`.
pub(crate) fn run_commit(config: &DedupConfig, ctx: &BarrierContext) -> Result<(), DedupError> {
    let against = open_against(config, ctx)?;
    let numbering = Numbering::read(ctx, against.as_ref())?;
    let keyed = against.as_ref().map_or(0, |a| a.manifest.keyed) + numbering.keyed_new;
    let dir = index_dir(config, ctx);
    let mut bands = Vec::new();
    let mut bytes = 0;
    for band in 0..config.key_count() {
        let name = band_name(band);
        let path = dir.join(&name);
        let reader = SealedReader::open(&path, INDEX)?;
        if reader.count() != keyed {
            return Err(reader.corrupt(format!(
                "holds {} keys where {keyed} documents have keys",
                reader.count()
            )));
        }
        bytes += std::fs::metadata(&path)
            .map_err(|e| DedupError::io(&path, e))?
            .len();
        bands.push(name);
    }
    let manifest = IndexManifest {
        format: FORMAT,
        params: IndexParams::of(config),
        documents: numbering.total,
        keyed,
        bands,
        bytes,
        bytes_per_document: bytes as f64 / numbering.total.max(1) as f64,
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
    crate::files::write_atomic(&dir.join(MANIFEST), &json)
}
