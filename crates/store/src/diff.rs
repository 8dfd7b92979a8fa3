//! What changed between two versions: documents added, removed and changed (by id),
//! input files, settings, and the counters of every step.

use atelier_core::StepStats;
use atelier_core::format::Compression;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::{Hash, Kind, Manifest, Store, StoreError};

/// The differences between two versions, from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionDiff {
    /// The older side.
    pub from: String,
    /// The newer side.
    pub to: String,
    /// Whether the recipe's text differs.
    pub recipe_changed: bool,
    /// Settings that differ, each by its key.
    pub settings: Vec<SettingChange>,
    /// Input files.
    pub sources: SourceChanges,
    /// Documents, by id (datasets only).
    pub documents: DocumentChanges,
    /// Counters of each step, where they differ.
    pub steps: Vec<StepChange>,
}

/// One setting that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingChange {
    /// `dataset.tasks`, `step 2 (length).min_chars`, ...
    pub key: String,
    /// Its value in `from`, if set there.
    pub from: Option<Value>,
    /// Its value in `to`, if set there.
    pub to: Option<Value>,
}

/// Input files that differ.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceChanges {
    /// Files only in `to`.
    pub added: Vec<PathBuf>,
    /// Files only in `from`.
    pub removed: Vec<PathBuf>,
    /// Files in both, with other content.
    pub changed: Vec<PathBuf>,
    /// Files in both with the same content.
    pub unchanged: usize,
}

/// Documents that differ, by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DocumentChanges {
    /// Ids only in `to`, sorted.
    pub added: Vec<String>,
    /// Ids only in `from`, sorted.
    pub removed: Vec<String>,
    /// Ids in both whose text or metadata differ, sorted.
    pub changed: Vec<String>,
    /// Ids in both, the same.
    pub unchanged: u64,
}

/// One step's counters on each side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepChange {
    /// The step (`read`, `length`, `write`, ...).
    pub name: String,
    /// Its counters in `from`, if it ran there.
    pub from: Option<StepCounts>,
    /// Its counters in `to`, if it ran there.
    pub to: Option<StepCounts>,
}

/// The document counters of a step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StepCounts {
    /// Documents in.
    pub documents_in: u64,
    /// Kept.
    pub kept: u64,
    /// Dropped, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Quarantined.
    pub quarantined: u64,
}

impl From<&StepStats> for StepCounts {
    fn from(s: &StepStats) -> StepCounts {
        StepCounts {
            documents_in: s.documents_in,
            kept: s.kept,
            dropped: s.dropped.clone(),
            quarantined: s.quarantined,
        }
    }
}

/// Compares two versions of a store.
pub fn diff(store: &Store, from: &Manifest, to: &Manifest) -> Result<VersionDiff, StoreError> {
    let documents = if from.kind == Kind::Dataset && to.kind == Kind::Dataset {
        document_changes(store, from, to)?
    } else {
        DocumentChanges::default()
    };
    Ok(VersionDiff {
        from: from.id.clone(),
        to: to.id.clone(),
        recipe_changed: from.recipe.as_ref().map(|r| r.hash) != to.recipe.as_ref().map(|r| r.hash),
        settings: setting_changes(from, to),
        sources: source_changes(from, to),
        documents,
        steps: step_changes(from, to),
    })
}

fn setting_changes(from: &Manifest, to: &Manifest) -> Vec<SettingChange> {
    let mut changes = Vec::new();
    flat_diff("", &from.settings, &to.settings, &mut changes);
    for i in 0..from.steps.len().max(to.steps.len()) {
        match (from.steps.get(i), to.steps.get(i)) {
            (Some(a), Some(b)) if a.name == b.name => {
                let prefix = format!("step {} ({})", i + 1, a.name);
                if a.version != b.version {
                    changes.push(SettingChange {
                        key: format!("{prefix}.version"),
                        from: Some(a.version.into()),
                        to: Some(b.version.into()),
                    });
                }
                flat_diff(&prefix, &a.settings, &b.settings, &mut changes);
            }
            (a, b) => changes.push(SettingChange {
                key: format!("step {}", i + 1),
                from: a.map(|s| s.name.clone().into()),
                to: b.map(|s| s.name.clone().into()),
            }),
        }
    }
    changes
}

/// Compares two JSON values key by key, objects recursively.
fn flat_diff(prefix: &str, a: &Value, b: &Value, out: &mut Vec<SettingChange>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) if x.is_object() && y.is_object() => {
                        flat_diff(&join(k), x, y, out)
                    }
                    (x, y) if x != y => out.push(SettingChange {
                        key: join(k),
                        from: x.cloned(),
                        to: y.cloned(),
                    }),
                    _ => {}
                }
            }
        }
        (a, b) if a != b => out.push(SettingChange {
            key: prefix.to_owned(),
            from: Some(a.clone()).filter(|v| !v.is_null()),
            to: Some(b.clone()).filter(|v| !v.is_null()),
        }),
        _ => {}
    }
}

fn source_changes(from: &Manifest, to: &Manifest) -> SourceChanges {
    let old: HashMap<&PathBuf, &Hash> = from.sources.iter().map(|s| (&s.path, &s.hash)).collect();
    let mut changes = SourceChanges::default();
    for s in &to.sources {
        match old.get(&s.path) {
            None => changes.added.push(s.path.clone()),
            Some(h) if **h != s.hash => changes.changed.push(s.path.clone()),
            Some(_) => changes.unchanged += 1,
        }
    }
    let new: std::collections::HashSet<&PathBuf> = to.sources.iter().map(|s| &s.path).collect();
    changes.removed = from
        .sources
        .iter()
        .filter(|s| !new.contains(&s.path))
        .map(|s| s.path.clone())
        .collect();
    changes
}

fn step_changes(from: &Manifest, to: &Manifest) -> Vec<StepChange> {
    let mut out = Vec::new();
    for i in 0..from.stats.steps.len().max(to.stats.steps.len()) {
        let a = from.stats.steps.get(i);
        let b = to.stats.steps.get(i);
        let (ca, cb) = (a.map(StepCounts::from), b.map(StepCounts::from));
        if ca != cb {
            out.push(StepChange {
                name: b.or(a).map(|s| s.name.clone()).unwrap_or_default(),
                from: ca,
                to: cb,
            });
        }
    }
    out
}

/// Every document of a version: its id and the hash of its line.
fn documents(store: &Store, manifest: &Manifest) -> Result<Vec<(String, Hash)>, StoreError> {
    let dir = store.version_dir(&manifest.id);
    let mut out = Vec::new();
    for shard in &manifest.shards {
        let path = dir.join(&shard.path);
        let corrupt = |what: String| StoreError::Corrupt {
            path: path.clone(),
            what,
        };
        let mut lines = open_lines(&path).map_err(|e| StoreError::io(&path, e))?;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = lines
                .read_until(b'\n', &mut line)
                .map_err(|e| StoreError::io(&path, e))?;
            if n == 0 {
                break;
            }
            let body = line.strip_suffix(b"\n").unwrap_or(&line);
            if body.is_empty() {
                continue;
            }
            let doc = atelier_core::Document::from_json_slice(body, String::new)
                .map_err(|e| corrupt(e.to_string()))?;
            out.push((doc.id, Hash::of(body)));
        }
    }
    Ok(out)
}

/// A shard's JSON lines, decompressed as its name says.
fn open_lines(path: &Path) -> std::io::Result<Box<dyn BufRead>> {
    let file = BufReader::new(std::fs::File::open(path)?);
    let reader: Box<dyn Read> = match Compression::detect(path) {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(file)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(file)?),
    };
    Ok(Box::new(BufReader::with_capacity(256 * 1024, reader)))
}

fn document_changes(
    store: &Store,
    from: &Manifest,
    to: &Manifest,
) -> Result<DocumentChanges, StoreError> {
    let mut old: HashMap<String, Hash> = documents(store, from)?.into_iter().collect();
    let mut changes = DocumentChanges::default();
    for (id, hash) in documents(store, to)? {
        match old.remove(&id) {
            None => changes.added.push(id),
            Some(h) if h != hash => changes.changed.push(id),
            Some(_) => changes.unchanged += 1,
        }
    }
    changes.removed = old.into_keys().collect();
    changes.added.sort();
    changes.removed.sort();
    changes.changed.sort();
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::tests::dataset;

    #[test]
    fn documents_are_compared_by_id_and_content() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let line = |id: &str, text: &str| format!("{{\"id\":\"{id}\",\"text\":\"{text}\"}}\n");
        let a = dataset(
            &store,
            dir.path(),
            &(line("x", "1") + &line("y", "2") + &line("z", "3")),
        );
        let b = dataset(
            &store,
            dir.path(),
            &(line("x", "1") + &line("y", "two") + &line("w", "4")),
        );
        let d = diff(&store, &a, &b).unwrap();
        assert_eq!(d.documents.added, ["w"]);
        assert_eq!(d.documents.removed, ["z"]);
        assert_eq!(d.documents.changed, ["y"]);
        assert_eq!(d.documents.unchanged, 1);
    }

    #[test]
    fn settings_are_compared_key_by_key() {
        let a = serde_json::json!({"dataset": {"tasks": 4, "name": "spam"}});
        let b =
            serde_json::json!({"dataset": {"tasks": 8, "name": "spam"}, "output": {"path": "o"}});
        let mut out = Vec::new();
        flat_diff("", &a, &b, &mut out);
        let keys: Vec<&str> = out.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["dataset.tasks", "output"]);
        assert_eq!(out[0].to, Some(8.into()));
    }
}
