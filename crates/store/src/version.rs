//! Versions: immutable manifests of datasets (and, later, models), their folders, and the
//! aliases that point at them.
//!
//! A version is the folder `versions/v<N>/`: `manifest.json` and hard links to the
//! version's objects under their own names (`part-00000.jsonl.gz`, `index/dedup/…`), so
//! that the folder reads like the dataset's output folder at the time (a `dedup` step can
//! point `against` at it). The manifest's two long lists, the input files and the store
//! records, are kept beside it in `lists.json.zst` (compressed JSON, an object like the
//! shards): a folder of a million mails lists a million hashes, which `manifest.json`
//! would hold as 230 bytes of indented JSON apiece. It is assembled under a temporary
//! name and appears by one rename, so it is complete or absent. An alias is a symbolic
//! link `versions/<name>` to `v<N>`, replaced by a rename.

use atelier_core::atomic::sync_dir;
use atelier_core::{TaskStats, utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Hash, Store, StoreError};

/// The manifest format this build writes: 2 keeps `sources` and `keys` in
/// [`LISTS_FILE`]; 1 (still read) kept them in `manifest.json`.
pub const MANIFEST_FORMAT: u32 = 2;

/// The file of a version that holds its manifest's sources and keys: zstd-compressed
/// JSON, `{"sources": [...], "keys": [...]}`.
pub const LISTS_FILE: &str = "lists.json.zst";

/// What [`LISTS_FILE`] holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Lists {
    sources: Vec<SourceFile>,
    keys: Vec<Hash>,
}

/// What a version holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A dataset: shards of documents.
    #[default]
    Dataset,
    /// A classifier model, trained on dataset versions named in
    /// [`Manifest::trained_on`].
    Model,
    /// A language model: one GGUF file (imported, or trained on dataset versions).
    Lm,
}

/// The recipe a version was made with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipeInfo {
    /// The recipe file.
    pub path: PathBuf,
    /// BLAKE3 of its text.
    pub hash: Hash,
    /// Its text.
    pub text: String,
}

impl RecipeInfo {
    /// The recipe at `path` (made absolute) with its text.
    pub fn new(path: &Path, text: &str) -> RecipeInfo {
        RecipeInfo {
            path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
            hash: Hash::of(text.as_bytes()),
            text: text.to_owned(),
        }
    }
}

/// One input file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFile {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// BLAKE3 of its bytes.
    pub hash: Hash,
}

/// One step as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    /// The step's name.
    pub name: String,
    /// Its behaviour version.
    pub version: u32,
    /// Its settings, defaults included.
    pub settings: serde_json::Value,
}

/// One file of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Its path inside the version folder (and the output folder it came from).
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// BLAKE3 of its bytes: the object that holds it.
    pub hash: Hash,
}

// Pinned format (tests/data/formats/manifest-*.json): a change must bump MANIFEST_FORMAT
// and keep reading the manifests already written.
/// An immutable description of one version: what went in, what came out, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`] when written.
    pub format: u32,
    /// `v<N>`, numbered from 1 in the project.
    pub id: String,
    /// Dataset or model.
    pub kind: Kind,
    /// The dataset's (or model's) name.
    pub name: String,
    /// When it was committed, UTC, RFC 3339.
    pub created: String,
    /// The same, in seconds since 1970.
    pub created_unix: u64,
    /// The atelier version that made it.
    pub atelier_version: String,
    /// The version `latest` named when the run that made this one began, if any.
    pub parent: Option<String>,
    /// For a model: the dataset versions it was trained on.
    #[serde(default)]
    pub trained_on: Vec<String>,
    /// The recipe.
    pub recipe: Option<RecipeInfo>,
    /// The input files, with their hashes (in `manifest.json` for format 1, in
    /// [`Manifest::lists`] from format 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceFile>,
    /// Settings other than the steps' (the recipe's `[dataset]` and `[output]`).
    #[serde(default)]
    pub settings: serde_json::Value,
    /// The steps, in order.
    #[serde(default)]
    pub steps: Vec<StepInfo>,
    /// The dataset's shards (a model's weights), in order.
    pub shards: Vec<FileEntry>,
    /// Other files: the deduplication index, quarantine files, the run summary.
    #[serde(default)]
    pub files: Vec<FileEntry>,
    /// Documents in the shards.
    pub documents: u64,
    /// The run's counters.
    #[serde(default)]
    pub stats: TaskStats,
    /// For a model: its evaluation (accuracy, per-class scores, confusion matrix) and
    /// training figures, as the trainer wrote them.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub metrics: serde_json::Value,
    /// For a dataset: the reports of the stages run on it once written, by name
    /// (`tokenize`: the tokenizer, documents and tokens per split).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stages: BTreeMap<String, serde_json::Value>,
    /// The store records (cached work) the run used or made (likewise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<Hash>,
    /// From format 2, where `sources` and `keys` are: [`LISTS_FILE`] in the version's
    /// folder, absent when both are empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lists: Option<FileEntry>,
}

impl Manifest {
    /// `manifest.json` as [`Store::commit`] writes it: indented JSON, without the lists
    /// that [`Manifest::lists`] holds (taken out while it is written, then put back).
    pub fn file_json(&mut self) -> Vec<u8> {
        if self.lists.is_none() {
            return serde_json::to_vec_pretty(self).expect("manifests serialize");
        }
        let sources = std::mem::take(&mut self.sources);
        let keys = std::mem::take(&mut self.keys);
        let json = serde_json::to_vec_pretty(self).expect("manifests serialize");
        (self.sources, self.keys) = (sources, keys);
        json
    }
}

/// What a new version is made of; [`Store::commit`] turns it into a [`Manifest`].
#[derive(Debug, Clone, Default)]
pub struct NewVersion {
    /// Dataset or model.
    pub kind: Kind,
    /// The dataset's (or model's) name.
    pub name: String,
    /// The version this one follows, if any.
    pub parent: Option<String>,
    /// For a model, the dataset versions it was trained on.
    pub trained_on: Vec<String>,
    /// The recipe.
    pub recipe: Option<RecipeInfo>,
    /// The input files.
    pub sources: Vec<SourceFile>,
    /// Settings other than the steps'.
    pub settings: serde_json::Value,
    /// The steps.
    pub steps: Vec<StepInfo>,
    /// Shards: (path in the version, file to take it from).
    pub shards: Vec<(String, PathBuf)>,
    /// Other files, likewise.
    pub files: Vec<(String, PathBuf)>,
    /// Documents in the shards.
    pub documents: u64,
    /// Counters.
    pub stats: TaskStats,
    /// For a model, its evaluation and training figures.
    pub metrics: serde_json::Value,
    /// For a dataset, the reports of the stages after it, by name.
    pub stages: BTreeMap<String, serde_json::Value>,
    /// Store records used.
    pub keys: Vec<Hash>,
    /// Aliases to move to the new version (`latest` for every run).
    pub aliases: Vec<String>,
}

/// Whether a name is a version id (`v12`) rather than an alias.
fn version_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix('v').unwrap_or(name);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Checks an alias name.
fn check_alias(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name != "manifest.json"
        && version_number(name).is_none()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadAlias(name.to_owned()))
    }
}

impl Store {
    /// The folder of a version.
    pub fn version_dir(&self, id: &str) -> PathBuf {
        self.versions_dir().join(id)
    }

    /// Every version, oldest first.
    pub fn versions(&self) -> Result<Vec<Manifest>, StoreError> {
        let mut numbered = Vec::new();
        for n in self.version_numbers()? {
            numbered.push(self.manifest(&format!("v{n}"))?);
        }
        Ok(numbered)
    }

    /// The newest version of this kind and name: the one a new version of it follows.
    pub fn newest(&self, kind: Kind, name: &str) -> Result<Option<Manifest>, StoreError> {
        Ok(self
            .versions()?
            .into_iter()
            .rev()
            .find(|m| m.kind == kind && m.name == name))
    }

    /// The numbers of the versions there are, ascending.
    pub(crate) fn version_numbers(&self) -> Result<Vec<u64>, StoreError> {
        let dir = self.versions_dir();
        let mut numbers = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))? {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if let Some(n) = version_number(&name).filter(|_| is_dir && name.starts_with('v')) {
                numbers.push(n);
            }
        }
        numbers.sort_unstable();
        Ok(numbers)
    }

    fn manifest(&self, id: &str) -> Result<Manifest, StoreError> {
        let path = self.version_dir(id).join("manifest.json");
        let bytes = std::fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
        let mut manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path,
                what: e.to_string(),
            })?;
        if let Some(entry) = &manifest.lists {
            let path = safe_join(&self.version_dir(id), &entry.path)?;
            let bytes = std::fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
            let corrupt = |what: String| StoreError::Corrupt {
                path: path.clone(),
                what,
            };
            let json = zstd::decode_all(bytes.as_slice()).map_err(|e| corrupt(e.to_string()))?;
            let lists: Lists = serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))?;
            manifest.sources = lists.sources;
            manifest.keys = lists.keys;
        }
        Ok(manifest)
    }

    /// The version a name means: `v3`, `3`, or an alias.
    pub fn resolve(&self, name: &str) -> Result<Manifest, StoreError> {
        let id = match version_number(name) {
            Some(n) => Some(format!("v{n}")),
            None => self.alias(name)?,
        };
        match id {
            Some(id) if self.version_dir(&id).join("manifest.json").is_file() => self.manifest(&id),
            _ => {
                let mut known: Vec<String> = self
                    .version_numbers()?
                    .into_iter()
                    .map(|n| format!("v{n}"))
                    .collect();
                known.extend(self.aliases()?.into_keys());
                Err(StoreError::Unknown {
                    name: name.to_owned(),
                    project: self.project().to_path_buf(),
                    known,
                })
            }
        }
    }

    /// The version an alias points at, if the alias exists.
    pub fn alias(&self, name: &str) -> Result<Option<String>, StoreError> {
        if check_alias(name).is_err() {
            return Ok(None);
        }
        let path = self.versions_dir().join(name);
        match std::fs::read_link(&path) {
            Ok(target) => Ok(Some(target.to_string_lossy().into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(None),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// Every alias and the version it points at.
    pub fn aliases(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let dir = self.versions_dir();
        let mut out = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))? {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            if !entry.file_type().is_ok_and(|t| t.is_symlink()) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if check_alias(&name).is_err() {
                continue;
            }
            if let Ok(target) = std::fs::read_link(entry.path()) {
                out.insert(name, target.to_string_lossy().into_owned());
            }
        }
        Ok(out)
    }

    /// Points an alias at a version (given by id or by another alias), atomically.
    pub fn set_alias(&self, name: &str, version: &str) -> Result<String, StoreError> {
        check_alias(name)?;
        let id = self.resolve(version)?.id;
        self.point_alias(name, &id)?;
        Ok(id)
    }

    /// Points a checked alias name at the version `id`, which exists.
    fn point_alias(&self, name: &str, id: &str) -> Result<(), StoreError> {
        let tmp = self
            .versions_dir()
            .join(format!(".alias-{name}-{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(id, &tmp).map_err(|e| StoreError::io(&tmp, e))?;
        let path = self.versions_dir().join(name);
        std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, e))?;
        sync_dir(&self.versions_dir());
        Ok(())
    }

    /// Removes an alias (the version stays).
    pub fn remove_alias(&self, name: &str) -> Result<(), StoreError> {
        check_alias(name)?;
        if self.alias(name)?.is_none() {
            return Err(StoreError::Refused(format!("there is no alias `{name}`")));
        }
        let path = self.versions_dir().join(name);
        std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))
    }

    /// Commits a new version: links its files into the store, assembles its folder under
    /// a temporary name, renames it to the next free `v<N>`, then moves the aliases asked
    /// for. Until that rename, no reader sees anything of it.
    pub fn commit(&self, new: NewVersion) -> Result<Manifest, StoreError> {
        for alias in &new.aliases {
            check_alias(alias)?;
        }
        let tmp = self.versions_dir().join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        let result = self.assemble(new, &tmp);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    fn assemble(&self, new: NewVersion, tmp: &Path) -> Result<Manifest, StoreError> {
        let place = |rel: &str, source: &Path| -> Result<FileEntry, StoreError> {
            let (hash, bytes) = self.link_file(source)?;
            let target = safe_join(tmp, rel)?;
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
            }
            let object = self.object_path(&hash);
            if std::fs::hard_link(&object, &target).is_err() {
                std::fs::copy(&object, &target).map_err(|e| StoreError::io(&target, e))?;
            }
            Ok(FileEntry {
                path: rel.to_owned(),
                bytes,
                hash,
            })
        };
        let shards = new
            .shards
            .iter()
            .map(|(rel, path)| place(rel, path))
            .collect::<Result<Vec<_>, _>>()?;
        let files = new
            .files
            .iter()
            .map(|(rel, path)| place(rel, path))
            .collect::<Result<Vec<_>, _>>()?;
        let lists = Lists {
            sources: new.sources,
            keys: new.keys,
        };
        let lists_file = self.put_lists(&lists, tmp)?;
        let created_unix = std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_secs());
        let mut manifest = Manifest {
            format: MANIFEST_FORMAT,
            id: String::new(),
            kind: new.kind,
            name: new.name,
            created: utc(created_unix),
            created_unix,
            atelier_version: env!("CARGO_PKG_VERSION").to_owned(),
            parent: new.parent,
            trained_on: new.trained_on,
            recipe: new.recipe,
            sources: lists.sources,
            settings: new.settings,
            steps: new.steps,
            shards,
            files,
            documents: new.documents,
            metrics: new.metrics,
            stages: new.stages,
            stats: new.stats,
            keys: lists.keys,
            lists: lists_file,
        };
        let mut n = self.version_numbers()?.last().copied().unwrap_or(0) + 1;
        loop {
            manifest.id = format!("v{n}");
            let path = tmp.join("manifest.json");
            write_synced(&path, &manifest.file_json()).map_err(|e| StoreError::io(&path, e))?;
            sync_dir(tmp);
            atelier_core::fault::crash_at("commit");
            let target = self.version_dir(&manifest.id);
            match std::fs::rename(tmp, &target) {
                Ok(()) => break,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::DirectoryNotEmpty
                    ) || target.exists() =>
                {
                    n += 1;
                }
                Err(e) => return Err(StoreError::io(&target, e)),
            }
        }
        sync_dir(&self.versions_dir());
        for alias in &new.aliases {
            self.point_alias(alias, &manifest.id)?;
        }
        Ok(manifest)
    }

    /// Keeps a new version's sources and keys as [`LISTS_FILE`], an object linked into
    /// its folder `dir`; none when both are empty.
    fn put_lists(&self, lists: &Lists, dir: &Path) -> Result<Option<FileEntry>, StoreError> {
        if lists.sources.is_empty() && lists.keys.is_empty() {
            return Ok(None);
        }
        let json = serde_json::to_vec(lists).expect("lists serialize");
        let target = dir.join(LISTS_FILE);
        let bytes = zstd::bulk::compress(&json, crate::LISTS_ZSTD_LEVEL)
            .map_err(|e| StoreError::io(&target, e))?;
        let hash = self.put_bytes(&bytes)?;
        if std::fs::hard_link(self.object_path(&hash), &target).is_err() {
            write_synced(&target, &bytes).map_err(|e| StoreError::io(&target, e))?;
        }
        Ok(Some(FileEntry {
            path: LISTS_FILE.to_owned(),
            bytes: bytes.len() as u64,
            hash,
        }))
    }

    /// Removes a version's folder (its objects stay until gc finds them unreachable).
    /// An aliased version is refused: move or remove the alias first.
    pub fn remove_version(&self, id: &str) -> Result<(), StoreError> {
        let manifest = self.resolve(id)?;
        let aliased: Vec<String> = self
            .aliases()?
            .into_iter()
            .filter(|(_, v)| *v == manifest.id)
            .map(|(a, _)| a)
            .collect();
        if !aliased.is_empty() {
            return Err(StoreError::Refused(format!(
                "{} is aliased as {}; move the alias first",
                manifest.id,
                aliased.join(", ")
            )));
        }
        let dir = self.version_dir(&manifest.id);
        // Out of sight in one rename, then deleted.
        let trash = self.versions_dir().join(format!(".trash-{}", manifest.id));
        std::fs::rename(&dir, &trash).map_err(|e| StoreError::io(&dir, e))?;
        std::fs::remove_dir_all(&trash).map_err(|e| StoreError::io(&trash, e))
    }

    /// Checks a version's files against their hashes; returns the problems found.
    pub fn verify(&self, manifest: &Manifest) -> Vec<String> {
        let dir = self.version_dir(&manifest.id);
        let mut problems = Vec::new();
        for entry in manifest
            .shards
            .iter()
            .chain(&manifest.files)
            .chain(&manifest.lists)
        {
            let path = dir.join(&entry.path);
            match Hash::of_file(&path) {
                Ok(h) if h == entry.hash => {}
                Ok(h) => problems.push(format!(
                    "{}: content hash {} but the manifest says {}",
                    path.display(),
                    h.short(),
                    entry.hash.short()
                )),
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            }
        }
        problems
    }
}

/// Joins a relative path from a manifest, refusing anything that would leave the folder.
fn safe_join(dir: &Path, rel: &str) -> Result<PathBuf, StoreError> {
    let path = Path::new(rel);
    let plain = path
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain || rel.is_empty() {
        return Err(StoreError::Refused(format!(
            "`{rel}` is not a plain relative path inside a version"
        )));
    }
    Ok(dir.join(path))
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Commits a one-shard dataset version holding `content`, read from one source file
    /// of the same content, moving `latest`.
    pub(crate) fn dataset(store: &Store, dir: &Path, content: &str) -> Manifest {
        let shard = dir.join("part-00000.jsonl");
        let _ = std::fs::remove_file(&shard);
        std::fs::write(&shard, content).unwrap();
        store
            .commit(NewVersion {
                name: "demo".into(),
                sources: vec![SourceFile {
                    path: "in.jsonl".into(),
                    size: content.len() as u64,
                    hash: Hash::of(content.as_bytes()),
                }],
                shards: vec![("part-00000.jsonl".into(), shard)],
                documents: content.lines().count() as u64,
                aliases: vec!["latest".into()],
                ..NewVersion::default()
            })
            .unwrap()
    }

    #[test]
    fn versions_number_up_and_aliases_move() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let v1 = dataset(&store, dir.path(), "{\"id\":\"a\",\"text\":\"x\"}\n");
        let v2 = dataset(&store, dir.path(), "{\"id\":\"b\",\"text\":\"y\"}\n");
        assert_eq!((v1.id.as_str(), v2.id.as_str()), ("v1", "v2"));
        assert_eq!(store.resolve("latest").unwrap().id, "v2");
        assert_eq!(store.resolve("1").unwrap(), v1);
        store.set_alias("prod", "v1").unwrap();
        assert_eq!(store.resolve("prod").unwrap().id, "v1");
        assert_eq!(
            store.aliases().unwrap().into_iter().collect::<Vec<_>>(),
            [("latest".into(), "v2".into()), ("prod".into(), "v1".into())]
        );
        assert!(store.verify(&v1).is_empty());
        let versions: Vec<String> = store
            .versions()
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(versions, ["v1", "v2"]);
        let err = store.resolve("staging").unwrap_err().to_string();
        assert!(err.contains("known: v1, v2, latest, prod"), "{err}");
        assert!(matches!(
            store.set_alias("v7", "v1"),
            Err(StoreError::BadAlias(_))
        ));
        assert!(
            store.remove_version("prod").is_err(),
            "aliased versions stay"
        );
    }

    #[test]
    fn a_model_names_the_dataset_it_was_trained_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let data = dataset(&store, dir.path(), "{\"id\":\"a\",\"text\":\"x\"}\n");
        let weights = dir.path().join("model.bin");
        std::fs::write(&weights, [1u8, 2, 3]).unwrap();
        let model = store
            .commit(NewVersion {
                kind: Kind::Model,
                name: "classifier".into(),
                trained_on: vec![data.id.clone()],
                shards: vec![("model.bin".into(), weights)],
                aliases: vec!["classifier-latest".into()],
                ..NewVersion::default()
            })
            .unwrap();
        let back = store.resolve("classifier-latest").unwrap();
        assert_eq!(
            (back.kind, back.trained_on.clone()),
            (Kind::Model, vec![data.id.clone()])
        );
        assert_eq!(back, model);
        // The newest of a kind and name, past a newer version of another kind.
        let v3 = dataset(&store, dir.path(), "{\"id\":\"b\",\"text\":\"y\"}\n");
        assert_eq!(
            store.newest(Kind::Model, "classifier").unwrap(),
            Some(model)
        );
        assert_eq!(store.newest(Kind::Dataset, "demo").unwrap(), Some(v3));
        assert_eq!(store.newest(Kind::Lm, "classifier").unwrap(), None);
        assert_eq!(store.newest(Kind::Model, "other").unwrap(), None);
    }

    #[test]
    fn a_version_left_half_made_by_a_crash_is_invisible_and_collected() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let v1 = dataset(&store, dir.path(), "{\"id\":\"a\",\"text\":\"x\"}\n");
        // What a process killed between assembling a version and renaming it leaves.
        let half = store.versions_dir().join(".tmp-999-1");
        std::fs::create_dir(&half).unwrap();
        let mut m = v1.clone();
        m.id = "v2".into();
        std::fs::write(half.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
        std::fs::write(half.join("part-00000.jsonl"), "{\"text\":").unwrap();
        assert_eq!(store.versions().unwrap(), std::slice::from_ref(&v1));
        assert!(store.resolve("v2").is_err());
        assert_eq!(store.resolve("latest").unwrap(), v1);
        let v2 = dataset(&store, dir.path(), "{\"id\":\"b\",\"text\":\"y\"}\n");
        assert_eq!(v2.id, "v2");

        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        std::fs::File::open(&half)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let report = store.gc(&crate::GcOptions::default()).unwrap();
        assert_eq!(report.temporaries_removed, 1);
        assert!(!half.exists());
        assert!(store.verify(&v1).is_empty() && store.verify(&v2).is_empty());
    }

    #[test]
    fn paths_outside_the_version_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let file = dir.path().join("x");
        std::fs::write(&file, "x").unwrap();
        let err = store
            .commit(NewVersion {
                files: vec![("../escape".into(), file)],
                ..NewVersion::default()
            })
            .unwrap_err();
        assert!(
            err.to_string().contains("not a plain relative path"),
            "{err}"
        );
        assert!(store.versions().unwrap().is_empty());
        let leftovers = std::fs::read_dir(store.versions_dir()).unwrap().count();
        assert_eq!(leftovers, 0, "the temporary folder is removed");
    }
}
