//! Objects (immutable blobs named by their hash) and records (cached work named by a key).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::pack::{BlockCache, PACKED_OBJECT_MAX, PackIndex};
use crate::{Hash, Pack, StoreError};

/// A project's store; see the [crate] documentation for its layout.
#[derive(Debug, Clone)]
pub struct Store {
    project: PathBuf,
    root: PathBuf,
    /// The packs' indexes, read on first use and shared by clones.
    pub(crate) packs: Arc<RwLock<Option<PackIndex>>>,
    /// The packs' blocks read last, decompressed, shared by clones.
    pub(crate) blocks: Arc<Mutex<BlockCache>>,
}

// Pinned format (tests/data/formats/record.json), with no version field: a change must
// keep reading the records already written (or add a version and keep reading these).
/// A cached piece of work: the objects and other records it needs (what gc keeps
/// alive while the record is reachable), and what its owner stores in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record<T> {
    /// Objects this record needs.
    pub objects: Vec<Hash>,
    /// Other records this record needs.
    pub records: Vec<Hash>,
    /// The owner's data.
    pub data: T,
}

impl Store {
    /// Opens (creating if needed) the store of the project in `project`.
    pub fn open(project: &Path) -> Result<Store, StoreError> {
        let project = std::path::absolute(project).map_err(|e| StoreError::io(project, e))?;
        let store = Store {
            root: crate::state_dir(&project),
            project,
            packs: Arc::default(),
            blocks: Arc::default(),
        };
        for dir in [
            store.packs_dir(),
            store.objects_dir(),
            store.records_dir(),
            store.tmp_dir(),
            store.versions_dir(),
        ] {
            std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        }
        Ok(store)
    }

    /// The project folder.
    pub fn project(&self) -> &Path {
        &self.project
    }

    /// `<project>/.atelier`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn objects_dir(&self) -> PathBuf {
        self.root.join("store").join("objects")
    }

    pub(crate) fn records_dir(&self) -> PathBuf {
        self.root.join("store").join("records")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("store").join("tmp")
    }

    /// The folder of the versions and aliases.
    pub fn versions_dir(&self) -> PathBuf {
        self.root.join("versions")
    }

    /// A fresh temporary path in the store (nothing is created).
    pub(crate) fn temp_path(&self, what: &str) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.tmp_dir()
            .join(format!("{what}-{}-{n}.tmp", std::process::id()))
    }

    /// Where the object with this hash is (or would be) as a loose file.
    pub fn object_path(&self, hash: &Hash) -> PathBuf {
        let hex = hash.hex();
        self.objects_dir().join(&hex[..2]).join(hex)
    }

    /// Whether the object is present, loose or in a pack.
    pub fn has_object(&self, hash: &Hash) -> bool {
        self.object_path(hash).is_file() || self.has_packed_object(hash)
    }

    /// Opens an object, loose or packed, for reading (a packed one is read whole and
    /// checked against its hash).
    pub fn open_object(&self, hash: &Hash) -> std::io::Result<Box<dyn io::Read + Send>> {
        crate::pack::read_object(self, hash)
    }

    /// Starts writing an object; [`ObjectWriter::finish`] names it by its hash.
    pub fn writer(&self) -> Result<ObjectWriter, StoreError> {
        let tmp = self.temp_path("object");
        let file = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        Ok(ObjectWriter {
            store: self.clone(),
            tmp,
            out: Out::File(BufWriter::with_capacity(256 * 1024, file)),
            hasher: blake3::Hasher::new(),
            bytes: 0,
        })
    }

    /// Stores some bytes as an object.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Hash, StoreError> {
        let hash = Hash::of(bytes);
        if self.has_object(&hash) {
            return Ok(hash);
        }
        let mut writer = self.writer()?;
        writer
            .write_all(bytes)
            .map_err(|e| StoreError::io(&writer.tmp, e))?;
        Ok(writer.finish()?.0)
    }

    /// Makes an existing file an object without copying it when possible (a hard link:
    /// the file must then never be changed in place, only replaced or removed, which is
    /// how atelier writes every file). Returns its hash and size.
    pub fn link_file(&self, path: &Path) -> Result<(Hash, u64), StoreError> {
        let hash = Hash::of_file(path).map_err(|e| StoreError::io(path, e))?;
        let size = std::fs::metadata(path)
            .map_err(|e| StoreError::io(path, e))?
            .len();
        let object = self.object_path(&hash);
        if object.is_file() {
            return Ok((hash, size));
        }
        let dir = object.parent().expect("objects have a folder");
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let tmp = self.temp_path("link");
        if std::fs::hard_link(path, &tmp).is_err() {
            // Another file system: copy.
            std::fs::copy(path, &tmp).map_err(|e| StoreError::io(path, e))?;
            File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| StoreError::io(&tmp, e))?;
        }
        seal(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        std::fs::rename(&tmp, &object).map_err(|e| StoreError::io(&object, e))?;
        Ok((hash, size))
    }

    /// Where the record with this key is (or would be).
    pub fn record_path(&self, key: &Hash) -> PathBuf {
        let hex = key.hex();
        self.records_dir()
            .join(&hex[..2])
            .join(format!("{hex}.json"))
    }

    /// Whether a record exists under this key, loose or in a pack.
    pub fn has_record(&self, key: &Hash) -> bool {
        self.has_packed_record(key) || self.record_path(key).is_file()
    }

    /// Writes a record, replacing any under the same key. Write its objects first: a
    /// record is only visible once complete, and gc keeps what it names.
    pub fn put_record<T: Serialize>(
        &self,
        key: &Hash,
        record: &Record<T>,
    ) -> Result<(), StoreError> {
        let path = self.record_path(key);
        let dir = path.parent().expect("records have a folder");
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let json = serde_json::to_vec(record).expect("records serialize");
        let tmp = self.temp_path("record");
        std::fs::write(&tmp, json).map_err(|e| StoreError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, e))
    }

    /// The record under this key, if there is one that reads as `T` (a pack's first, as
    /// the newer). A record that cannot be read is treated as absent: the work is
    /// simply done again.
    pub fn record<T: DeserializeOwned>(&self, key: &Hash) -> Option<Record<T>> {
        if let Some(record) = self
            .packed_record(key)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        {
            return Some(record);
        }
        let bytes = std::fs::read(self.record_path(key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Makes an object read-only, so that an editor or a script cannot change it in place.
fn seal(path: &Path) -> io::Result<()> {
    let mut permissions = std::fs::metadata(path)?.permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(path, permissions)
}

/// Writes one object: bytes go to a temporary file while their hash is computed;
/// [`ObjectWriter::finish`] syncs the file and renames it to its hash. Dropped unfinished,
/// it removes its temporary file. One written through a [`Pack`] ([`Pack::writer`])
/// keeps its bytes in memory and goes into the pack when finished, unless it grows past
/// [`crate::PACKED_OBJECT_MAX`]: it then becomes a loose object.
pub struct ObjectWriter {
    store: Store,
    tmp: PathBuf,
    out: Out,
    hasher: blake3::Hasher,
    bytes: u64,
}

/// Where an object's bytes go.
enum Out {
    File(BufWriter<File>),
    Memory(Pack, Vec<u8>),
    Done,
}

impl ObjectWriter {
    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// A writer into a pack.
    pub(crate) fn packed(pack: Pack) -> ObjectWriter {
        ObjectWriter {
            store: pack.store().clone(),
            tmp: PathBuf::new(),
            out: Out::Memory(pack, Vec::new()),
            hasher: blake3::Hasher::new(),
            bytes: 0,
        }
    }

    /// Completes the object; returns its hash and size.
    pub fn finish(mut self) -> Result<(Hash, u64), StoreError> {
        let out = match std::mem::replace(&mut self.out, Out::Done) {
            Out::File(out) => out,
            Out::Memory(pack, bytes) => {
                let hash = Hash::from_hasher(&self.hasher);
                pack.put_object(hash, &bytes)?;
                return Ok((hash, self.bytes));
            }
            Out::Done => unreachable!("finished once"),
        };
        let file = out
            .into_inner()
            .map_err(|e| StoreError::io(&self.tmp, e.into_error()))?;
        file.sync_all().map_err(|e| StoreError::io(&self.tmp, e))?;
        drop(file);
        let hash = Hash::from_hasher(&self.hasher);
        let object = self.store.object_path(&hash);
        if object.is_file() {
            let _ = std::fs::remove_file(&self.tmp);
        } else {
            let dir = object.parent().expect("objects have a folder");
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
            seal(&self.tmp).map_err(|e| StoreError::io(&self.tmp, e))?;
            std::fs::rename(&self.tmp, &object).map_err(|e| StoreError::io(&object, e))?;
        }
        Ok((hash, self.bytes))
    }
}

impl Write for ObjectWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Out::Memory(_, bytes) = &self.out
            && bytes.len() + buf.len() > PACKED_OBJECT_MAX
        {
            // Too big to keep in memory: a loose object after all.
            let Out::Memory(_, bytes) = std::mem::replace(&mut self.out, Out::Done) else {
                unreachable!("just matched")
            };
            let tmp = self.store.temp_path("object");
            let mut file = BufWriter::with_capacity(256 * 1024, File::create(&tmp)?);
            self.tmp = tmp;
            file.write_all(&bytes)?;
            self.out = Out::File(file);
        }
        let n = match &mut self.out {
            Out::File(out) => out.write(buf)?,
            Out::Memory(_, bytes) => {
                bytes.extend_from_slice(buf);
                buf.len()
            }
            Out::Done => return Err(io::Error::other("object already finished")),
        };
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Out::File(out) => out.flush(),
            _ => Ok(()),
        }
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        if let Out::File(_) = std::mem::replace(&mut self.out, Out::Done) {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_named_by_their_bytes_and_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut w = store.writer().unwrap();
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let (hash, bytes) = w.finish().unwrap();
        assert_eq!((hash, bytes), (Hash::of(b"hello world"), 11));
        assert_eq!(
            std::fs::read(store.object_path(&hash)).unwrap(),
            b"hello world"
        );
        assert!(
            std::fs::metadata(store.object_path(&hash))
                .unwrap()
                .permissions()
                .readonly()
        );
        assert_eq!(store.put_bytes(b"hello world").unwrap(), hash);
        let abandoned = store.writer().unwrap();
        drop(abandoned);
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn linked_files_keep_their_content_when_the_original_goes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let shard = dir.path().join("part-00000.jsonl");
        std::fs::write(&shard, "{\"text\":\"a\"}\n").unwrap();
        let (hash, size) = store.link_file(&shard).unwrap();
        assert_eq!(size, 13);
        std::fs::remove_file(&shard).unwrap();
        assert_eq!(
            Hash::of_file(&store.object_path(&hash)).unwrap(),
            hash,
            "the object outlives the output file"
        );
    }

    #[test]
    fn records_round_trip_and_unreadable_ones_are_absent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = Hash::key("test").text("a").finish();
        assert!(store.record::<u32>(&key).is_none());
        let record = Record {
            objects: vec![Hash::of(b"x")],
            records: vec![],
            data: 7u32,
        };
        store.put_record(&key, &record).unwrap();
        assert_eq!(store.record::<u32>(&key), Some(record));
        std::fs::write(store.record_path(&key), "{\"truncated").unwrap();
        assert!(store.record::<u32>(&key).is_none());
    }
}
