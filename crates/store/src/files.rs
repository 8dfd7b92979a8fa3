//! Content hashes of input files, remembered by path, size, modification time and inode
//! so that unchanged files are not read again just to be hashed.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::{Hash, Store, StoreError};

/// What identifies one state of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime_ns: i64,
    inode: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    stamp: Stamp,
    hash: Hash,
    /// Looked at by this process: the file exists.
    #[serde(skip)]
    seen: bool,
}

// `files.json.zst`: this JSON, compact, as one zstd frame (`files.json`, the same JSON
// uncompressed, is what stores written before kept, and is still read). Pinned format
// (tests/data/formats/files.json, and files.json.zst compressed), with no version
// field: a change must keep reading the files already written (or add a version and
// keep reading these). One that cannot be read only costs hashing every input again.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    files: BTreeMap<PathBuf, Entry>,
}

/// The remembered hashes, loaded from `store/files.json.zst`.
#[derive(Debug)]
pub struct FileHashes {
    path: PathBuf,
    /// The uncompressed file of older stores: read when there is no compressed one,
    /// removed once the compressed one is written.
    old_path: PathBuf,
    cache: CacheFile,
    changed: bool,
}

/// A file changed less than this long ago may change again within the same timestamp
/// tick, unseen: its hash is used but not remembered (git's "racy clean" problem).
const SETTLED: Duration = Duration::from_secs(2);

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    Stamp {
        size: meta.len(),
        mtime_ns: meta
            .mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(meta.mtime_nsec()),
        inode: meta.ino(),
    }
}

impl FileHashes {
    /// The hashes remembered in a store.
    pub fn load(store: &Store) -> FileHashes {
        let dir = store.root().join("store");
        let (path, old_path) = (dir.join("files.json.zst"), dir.join("files.json"));
        let (json, legacy) = match std::fs::read(&path) {
            Ok(compressed) => (zstd::decode_all(compressed.as_slice()).ok(), false),
            Err(_) => {
                let old = std::fs::read(&old_path).ok();
                let legacy = old.is_some();
                (old, legacy)
            }
        };
        FileHashes {
            cache: json
                .and_then(|json| serde_json::from_slice(&json).ok())
                .unwrap_or_default(),
            // An older store's file is written again compressed, and removed.
            changed: legacy,
            path,
            old_path,
        }
    }

    /// The hash of a file's content: remembered when its size, modification time and
    /// inode are those seen when it was hashed, else read and hashed now.
    pub fn hash(&mut self, path: &Path) -> std::io::Result<Hash> {
        let meta = std::fs::metadata(path)?;
        let now = stamp(&meta);
        if let Some(entry) = self.cache.files.get_mut(path)
            && entry.stamp == now
        {
            entry.seen = true;
            return Ok(entry.hash);
        }
        let hash = Hash::of_file(path)?;
        self.remember(path, &meta, now, hash);
        Ok(hash)
    }

    /// Hashes of many files, those not remembered read on up to `threads` threads.
    pub fn hash_all(&mut self, paths: &[PathBuf], threads: usize) -> Vec<std::io::Result<Hash>> {
        let mut results: Vec<Option<std::io::Result<Hash>>> = Vec::with_capacity(paths.len());
        let mut missing = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            match std::fs::metadata(path) {
                Err(e) => results.push(Some(Err(e))),
                Ok(meta) => {
                    let now = stamp(&meta);
                    match self.cache.files.get_mut(path) {
                        Some(entry) if entry.stamp == now => {
                            entry.seen = true;
                            results.push(Some(Ok(entry.hash)));
                        }
                        _ => {
                            results.push(None);
                            missing.push((i, meta));
                        }
                    }
                }
            }
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let computed = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..threads.clamp(1, missing.len().max(1)) {
                scope.spawn(|| {
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((i, _)) = missing.get(k) else { break };
                        let hash = Hash::of_file(&paths[*i]);
                        computed.lock().expect("no panics").push((k, hash));
                    }
                });
            }
        });
        for (k, hash) in computed.into_inner().expect("threads joined") {
            let (i, meta) = &missing[k];
            if let Ok(h) = &hash {
                self.remember(&paths[*i], meta, stamp(meta), *h);
            }
            results[*i] = Some(hash);
        }
        results
            .into_iter()
            .map(|r| r.expect("every file hashed"))
            .collect()
    }

    fn remember(&mut self, path: &Path, meta: &std::fs::Metadata, stamp: Stamp, hash: Hash) {
        let settled = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age >= SETTLED);
        if settled {
            self.cache.files.insert(
                path.to_path_buf(),
                Entry {
                    stamp,
                    hash,
                    seen: true,
                },
            );
            self.changed = true;
        }
    }

    /// Writes the remembered hashes back, forgetting files that no longer exist.
    pub fn save(&mut self) -> Result<(), StoreError> {
        let before = self.cache.files.len();
        // Files looked at in this process exist; only the others are checked.
        self.cache
            .files
            .retain(|path, entry| entry.seen || path.exists());
        if !self.changed && before == self.cache.files.len() {
            return Ok(());
        }
        let json = serde_json::to_vec(&self.cache).expect("hashes serialize");
        // Mostly hex hashes and paths that differ in their last characters: a quarter
        // of the JSON's size.
        let compressed = zstd::bulk::compress(&json, crate::LISTS_ZSTD_LEVEL)
            .map_err(|e| StoreError::io(&self.path, e))?;
        atelier_core::atomic::write_atomic(&self.path, &compressed)
            .map_err(|e| StoreError::io(&self.path, e))?;
        match std::fs::remove_file(&self.old_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::io(&self.old_path, e));
            }
            _ => {}
        }
        self.changed = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path) {
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }

    /// A file `a.txt` holding `one`, settled, in a folder with a store.
    fn settled_file(dir: &Path) -> (Store, PathBuf) {
        let store = Store::open(dir).unwrap();
        let file = dir.join("a.txt");
        std::fs::write(&file, "one").unwrap();
        age(&file);
        (store, file)
    }

    #[test]
    fn unchanged_files_are_not_read_again_and_changed_ones_are() {
        let dir = tempfile::tempdir().unwrap();
        let (store, file) = settled_file(dir.path());
        let mut hashes = FileHashes::load(&store);
        assert_eq!(hashes.hash(&file).unwrap(), Hash::of(b"one"));
        hashes.save().unwrap();

        // A remembered hash is trusted while the stamp is the same: prove it by lying.
        let json = zstd::decode_all(std::fs::read(&hashes.path).unwrap().as_slice()).unwrap();
        let mut cache: serde_json::Value = serde_json::from_slice(&json).unwrap();
        cache["files"][file.to_str().unwrap()]["hash"] = Hash::of(b"remembered").hex().into();
        let json = serde_json::to_vec(&cache).unwrap();
        std::fs::write(&hashes.path, zstd::encode_all(json.as_slice(), 3).unwrap()).unwrap();
        let mut again = FileHashes::load(&store);
        assert_eq!(again.hash(&file).unwrap(), Hash::of(b"remembered"));

        std::fs::write(&file, "two!").unwrap();
        age(&file);
        let got = again.hash_all(std::slice::from_ref(&file), 2);
        assert_eq!(got[0].as_ref().unwrap(), &Hash::of(b"two!"));
    }

    #[test]
    fn files_that_are_gone_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (kept, gone) = (dir.path().join("kept.txt"), dir.path().join("gone.txt"));
        for file in [&kept, &gone] {
            std::fs::write(file, "text").unwrap();
            age(file);
        }
        let mut hashes = FileHashes::load(&store);
        hashes.hash_all(&[kept.clone(), gone.clone()], 1);
        hashes.save().unwrap();
        std::fs::remove_file(&gone).unwrap();
        // A later process that looks only at the kept file still forgets the other.
        let mut later = FileHashes::load(&store);
        later.hash(&kept).unwrap();
        later.save().unwrap();
        let files: Vec<PathBuf> = FileHashes::load(&store).cache.files.into_keys().collect();
        assert_eq!(files, [kept]);
    }

    #[test]
    fn fresh_files_are_hashed_but_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let file = dir.path().join("new.txt");
        std::fs::write(&file, "just written").unwrap();
        let mut hashes = FileHashes::load(&store);
        assert_eq!(hashes.hash(&file).unwrap(), Hash::of(b"just written"));
        assert!(hashes.cache.files.is_empty());
    }

    #[test]
    fn an_older_stores_uncompressed_file_is_read_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (store, file) = settled_file(dir.path());
        let mut hashes = FileHashes::load(&store);
        hashes.hash(&file).unwrap();
        let json = serde_json::to_vec(&hashes.cache).unwrap();
        // The same stamp with another hash, as an older build would have left it.
        let lie = String::from_utf8(json)
            .unwrap()
            .replace(&Hash::of(b"one").hex(), &Hash::of(b"remembered").hex());
        std::fs::write(&hashes.old_path, lie).unwrap();

        let mut old = FileHashes::load(&store);
        assert_eq!(old.hash(&file).unwrap(), Hash::of(b"remembered"));
        old.save().unwrap();
        assert!(!old.old_path.exists());
        let mut again = FileHashes::load(&store);
        assert_eq!(again.hash(&file).unwrap(), Hash::of(b"remembered"));
    }

    /// `files.json` pinned in `tests/data/formats/`: it still reads into the same hashes
    /// and stamps, and is written the same (compressed: `files.json.zst`, pinned too, is
    /// that JSON compressed).
    #[test]
    fn files_json_is_pinned() {
        let mut cache = CacheFile::default();
        for (path, size, hash) in [
            ("/project/data/a.jsonl.gz", 1_048_576, Hash::of(b"a")),
            ("/project/data/b.warc.gz", 12, Hash::of(b"b")),
        ] {
            let stamp = Stamp {
                size,
                mtime_ns: 1_796_414_400_123_456_789,
                inode: 4_242,
            };
            let seen = false;
            cache.files.insert(path.into(), Entry { stamp, hash, seen });
        }
        let today = serde_json::to_vec(&cache).unwrap();
        let pinned = include_bytes!("../tests/data/formats/files.json");
        let compressed = include_bytes!("../tests/data/formats/files.json.zst");
        assert_eq!(zstd::decode_all(&compressed[..]).unwrap(), pinned);
        let old: CacheFile = serde_json::from_slice(pinned).unwrap();
        assert_eq!(old.files.len(), cache.files.len());
        for ((p, e), (q, f)) in old.files.iter().zip(&cache.files) {
            assert_eq!((p, e.stamp, e.hash), (q, f.stamp, f.hash));
        }
        assert!(
            today == pinned,
            "files.json is written differently from the pinned file"
        );
    }
}
