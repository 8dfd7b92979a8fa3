//! Packs: the small objects and records of one task in one file, synced once.
//!
//! A folder of pages or mails makes one input unit per file, and each unit a few objects
//! and records of a few kilobytes. As files of their own, each written, synced and
//! renamed, they cost an fsync apiece and a file-system block or more each. A [`Pack`]
//! gathers them: objects and records are appended to one temporary file as they are
//! finished, and [`Pack::commit`] writes the index, syncs the file once and renames it
//! to `store/packs/<hash>.pack`. The runner commits a task's pack before the task's
//! marker, so a task that completed has its work kept, and a task killed before has none
//! of it visible (its temporary file goes with the other temporaries).
//!
//! Objects stay content-addressed: a packed object is checked against its hash whenever
//! it is read, so a damaged pack costs recomputing its work, never wrong output. Objects
//! larger than [`PACKED_OBJECT_MAX`] are loose files as before (their own fsync is small
//! beside their size). gc deletes a pack once nothing in it is reachable; a pack that
//! holds some garbage is kept whole until a repack (not written yet).
//!
//! Format (pinned: `tests/data/formats/pack-v1.pack`), all integers little-endian:
//!
//! ```text
//! "ATPACK1\n"                                     magic and version
//! entry bytes, one after the other                an object's bytes or a record's JSON
//! index: per entry 49 bytes                       kind (0 object, 1 record), key (32),
//!                                                 offset (u64), length (u64)
//! trailer: entries (u64), index offset (u64),     32 bytes
//!          created (u64, ns since 1970), "ATPKIDX1"
//! ```
//!
//! An object's key is its hash, a record's the key it is kept under. A later entry for
//! the same key wins within a pack, and a newer pack (by `created`) over an older one.

use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::{Hash, ObjectWriter, Record, Store, StoreError};

/// The first bytes of a pack (format version 1).
pub const PACK_MAGIC: &[u8; 8] = b"ATPACK1\n";
const TRAILER_MAGIC: &[u8; 8] = b"ATPKIDX1";
const ENTRY_BYTES: u64 = 49;
const TRAILER_BYTES: u64 = 32;

/// Objects written through a pack are kept in memory up to this size; a bigger one
/// becomes a loose object.
pub const PACKED_OBJECT_MAX: usize = 4 << 20;

/// What an entry of a pack is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Record,
}

/// One entry of a pack's index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub kind: Kind,
    pub key: Hash,
    pub offset: u64,
    pub len: u64,
}

/// Where a packed entry is: which pack of the [`PackIndex`], and where in it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    pack: usize,
    offset: u64,
    len: u64,
}

/// The entries of every committed pack of a store, loaded once per process.
#[derive(Debug, Default)]
pub(crate) struct PackIndex {
    packs: Vec<PathBuf>,
    objects: HashMap<Hash, Place>,
    records: HashMap<Hash, Place>,
}

impl PackIndex {
    /// Reads the index of every pack in `dir`; a pack whose index does not read is
    /// skipped (its work is done again).
    pub fn load(dir: &Path) -> PackIndex {
        let mut found = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "pack")
                    && let Ok((created, entries)) = read_index(&path)
                {
                    found.push((created, path, entries));
                }
            }
        }
        // Older first, so that a newer pack's entry for the same key wins.
        found.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut index = PackIndex::default();
        for (_, path, entries) in found {
            index.add(path, &entries);
        }
        index
    }

    fn add(&mut self, path: PathBuf, entries: &[Entry]) {
        let pack = self.packs.len();
        self.packs.push(path);
        for e in entries {
            let place = Place {
                pack,
                offset: e.offset,
                len: e.len,
            };
            match e.kind {
                Kind::Object => self.objects.insert(e.key, place),
                Kind::Record => self.records.insert(e.key, place),
            };
        }
    }

    fn find(&self, kind: Kind, key: &Hash) -> Option<(&Path, Place)> {
        let place = match kind {
            Kind::Object => self.objects.get(key),
            Kind::Record => self.records.get(key),
        }?;
        Some((&self.packs[place.pack], *place))
    }
}

/// Reads a pack's index: its creation time and entries. Fails on anything but a
/// complete pack.
pub(crate) fn read_index(path: &Path) -> io::Result<(u64, Vec<Entry>)> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let bad = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a complete pack: {what}"),
        )
    };
    if size < PACK_MAGIC.len() as u64 + TRAILER_BYTES {
        return Err(bad("too short"));
    }
    let mut magic = [0u8; 8];
    file.read_exact_at(&mut magic, 0)?;
    if &magic != PACK_MAGIC {
        return Err(bad("no pack magic"));
    }
    let mut trailer = [0u8; TRAILER_BYTES as usize];
    file.read_exact_at(&mut trailer, size - TRAILER_BYTES)?;
    let number =
        |i: usize| u64::from_le_bytes(trailer[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    if &trailer[24..] != TRAILER_MAGIC {
        return Err(bad("no index magic"));
    }
    let (count, at, created) = (number(0), number(1), number(2));
    if count
        .checked_mul(ENTRY_BYTES)
        .and_then(|n| n.checked_add(at))
        != Some(size - TRAILER_BYTES)
    {
        return Err(bad("the index does not end where the trailer starts"));
    }
    let mut raw = vec![0u8; (count * ENTRY_BYTES) as usize];
    file.read_exact_at(&mut raw, at)?;
    let mut entries = Vec::with_capacity(count as usize);
    for e in raw.chunks_exact(ENTRY_BYTES as usize) {
        let kind = match e[0] {
            0 => Kind::Object,
            1 => Kind::Record,
            _ => return Err(bad("an entry of unknown kind")),
        };
        let key = Hash::from_bytes(e[1..33].try_into().expect("32 bytes"));
        let offset = u64::from_le_bytes(e[33..41].try_into().expect("8 bytes"));
        let len = u64::from_le_bytes(e[41..49].try_into().expect("8 bytes"));
        if offset < PACK_MAGIC.len() as u64 || offset.checked_add(len).is_none_or(|end| end > at) {
            return Err(bad("an entry outside the pack"));
        }
        entries.push(Entry {
            kind,
            key,
            offset,
            len,
        });
    }
    Ok((created, entries))
}

impl Store {
    /// The folder of the packs.
    pub(crate) fn packs_dir(&self) -> PathBuf {
        self.root().join("store").join("packs")
    }

    /// Where a packed entry is, loading the packs' indexes on first use.
    fn packed(&self, kind: Kind, key: &Hash) -> Option<(PathBuf, u64, u64)> {
        {
            let index = self.packs.read().expect("no panics holding the pack index");
            if let Some(index) = index.as_ref() {
                return index
                    .find(kind, key)
                    .map(|(path, p)| (path.to_path_buf(), p.offset, p.len));
            }
        }
        let mut index = self
            .packs
            .write()
            .expect("no panics holding the pack index");
        let index = index.get_or_insert_with(|| PackIndex::load(&self.packs_dir()));
        index
            .find(kind, key)
            .map(|(path, p)| (path.to_path_buf(), p.offset, p.len))
    }

    /// Forgets the packs' indexes: the next lookup reads them again (after gc).
    pub(crate) fn reload_packs(&self) {
        *self
            .packs
            .write()
            .expect("no panics holding the pack index") = None;
    }

    /// Whether a pack holds the object.
    pub(crate) fn has_packed_object(&self, hash: &Hash) -> bool {
        self.packed(Kind::Object, hash).is_some()
    }

    /// Whether a pack holds a record under the key.
    pub(crate) fn has_packed_record(&self, key: &Hash) -> bool {
        self.packed(Kind::Record, key).is_some()
    }

    /// A packed object's bytes, checked against its hash.
    pub(crate) fn packed_object(&self, hash: &Hash) -> Option<io::Result<Vec<u8>>> {
        let (path, offset, len) = self.packed(Kind::Object, hash)?;
        Some(read_at(&path, offset, len).and_then(|bytes| {
            if Hash::of(&bytes) == *hash {
                Ok(bytes)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: object {hash} does not match its hash", path.display()),
                ))
            }
        }))
    }

    /// A packed record's bytes.
    pub(crate) fn packed_record(&self, key: &Hash) -> Option<Vec<u8>> {
        let (path, offset, len) = self.packed(Kind::Record, key)?;
        read_at(&path, offset, len).ok()
    }

    /// Starts a pack for a task's objects and records; see [`Pack`].
    pub fn pack(&self) -> Pack {
        Pack {
            store: self.clone(),
            state: Arc::new(Mutex::new(PackState {
                tmp: self.temp_path("pack"),
                out: None,
                hasher: blake3::Hasher::new(),
                offset: 0,
                entries: Vec::new(),
                objects: HashSet::new(),
                records: HashSet::new(),
                done: false,
            })),
        }
    }
}

fn read_at(path: &Path, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut bytes = vec![0u8; len as usize];
    file.read_exact_at(&mut bytes, offset)?;
    Ok(bytes)
}

/// A task's pack being written: objects and records appended to one temporary file,
/// visible to the store once [`Pack::commit`] has synced and renamed it. Clones share
/// the pack. Dropped uncommitted, its file is removed and its entries are lost.
#[derive(Clone)]
pub struct Pack {
    store: Store,
    state: Arc<Mutex<PackState>>,
}

impl std::fmt::Debug for Pack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock().expect("no panics holding a pack");
        write!(
            f,
            "Pack({}, {} entries)",
            state.tmp.display(),
            state.entries.len()
        )
    }
}

struct PackState {
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
    hasher: blake3::Hasher,
    offset: u64,
    entries: Vec<Entry>,
    objects: HashSet<Hash>,
    records: HashSet<Hash>,
    done: bool,
}

impl PackState {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.done {
            return Err(io::Error::other("the pack is already committed"));
        }
        if self.out.is_none() {
            let mut out = BufWriter::with_capacity(256 * 1024, File::create(&self.tmp)?);
            out.write_all(PACK_MAGIC)?;
            self.hasher.update(PACK_MAGIC);
            self.offset = PACK_MAGIC.len() as u64;
            self.out = Some(out);
        }
        self.out.as_mut().expect("just opened").write_all(bytes)?;
        self.hasher.update(bytes);
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn append(&mut self, kind: Kind, key: Hash, bytes: &[u8]) -> io::Result<()> {
        let start = if self.out.is_none() {
            PACK_MAGIC.len() as u64
        } else {
            self.offset
        };
        self.write(bytes)?;
        self.entries.push(Entry {
            kind,
            key,
            offset: start,
            len: bytes.len() as u64,
        });
        Ok(())
    }
}

impl Drop for PackState {
    fn drop(&mut self) {
        if !self.done && self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl Pack {
    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Starts writing an object into the pack (a loose object past
    /// [`PACKED_OBJECT_MAX`]); [`ObjectWriter::finish`] names it by its hash.
    pub fn writer(&self) -> ObjectWriter {
        ObjectWriter::packed(self.clone())
    }

    /// Adds an object's bytes, unless the store or the pack has it already.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Hash, StoreError> {
        let hash = Hash::of(bytes);
        self.put_object(hash, bytes)?;
        Ok(hash)
    }

    /// Adds an object whose hash is known.
    pub(crate) fn put_object(&self, hash: Hash, bytes: &[u8]) -> Result<(), StoreError> {
        if self.store.has_object(&hash) {
            return Ok(());
        }
        let mut state = self.state.lock().expect("no panics holding a pack");
        if !state.objects.insert(hash) {
            return Ok(());
        }
        state
            .append(Kind::Object, hash, bytes)
            .map_err(|e| StoreError::io(&state.tmp, e))
    }

    /// Adds a record under `key`; it replaces any the store has once the pack is
    /// committed. Put its objects first.
    pub fn put_record<T: Serialize>(
        &self,
        key: &Hash,
        record: &Record<T>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_vec(record).expect("records serialize");
        let mut state = self.state.lock().expect("no panics holding a pack");
        state.records.insert(*key);
        state
            .append(Kind::Record, *key, &json)
            .map_err(|e| StoreError::io(&state.tmp, e))
    }

    /// Whether a record is kept under the key, in the store or in this pack.
    pub fn has_record(&self, key: &Hash) -> bool {
        let pending = self
            .state
            .lock()
            .expect("no panics holding a pack")
            .records
            .contains(key);
        pending || self.store.has_record(key)
    }

    /// Entries so far.
    pub fn entries(&self) -> usize {
        self.state
            .lock()
            .expect("no panics holding a pack")
            .entries
            .len()
    }

    /// Writes the index, syncs the pack once and renames it into `store/packs`; returns
    /// its path (none for an empty pack, which leaves no file). Objects written
    /// through the pack and not finished are lost.
    pub fn commit(self) -> Result<Option<PathBuf>, StoreError> {
        let mut state = self.state.lock().expect("no panics holding a pack");
        if state.out.is_none() {
            state.done = true;
            return Ok(None);
        }
        let tmp = state.tmp.clone();
        let at = state.offset;
        let mut index = Vec::with_capacity(state.entries.len() * ENTRY_BYTES as usize + 32);
        for e in &state.entries {
            index.push(match e.kind {
                Kind::Object => 0,
                Kind::Record => 1,
            });
            index.extend_from_slice(e.key.bytes());
            index.extend_from_slice(&e.offset.to_le_bytes());
            index.extend_from_slice(&e.len.to_le_bytes());
        }
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        index.extend_from_slice(&(state.entries.len() as u64).to_le_bytes());
        index.extend_from_slice(&at.to_le_bytes());
        index.extend_from_slice(&created.to_le_bytes());
        index.extend_from_slice(TRAILER_MAGIC);
        state.write(&index).map_err(|e| StoreError::io(&tmp, e))?;
        let out = state.out.take().expect("opened");
        let file = out
            .into_inner()
            .map_err(|e| StoreError::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| StoreError::io(&tmp, e))?;
        drop(file);
        let name = format!("{}.pack", Hash::from_hasher(&state.hasher).hex());
        let dir = self.store.packs_dir();
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let path = dir.join(name);
        seal(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, e))?;
        state.done = true;
        atelier_core::atomic::sync_dir(&dir);
        if let Some(index) = self.store.packs.write().expect("no panics").as_mut() {
            index.add(path.clone(), &state.entries);
        }
        Ok(Some(path))
    }
}

fn seal(path: &Path) -> io::Result<()> {
    let mut permissions = std::fs::metadata(path)?.permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(path, permissions)
}

/// Reads the whole of a store object, loose or packed; a packed one is checked against
/// its hash.
pub(crate) fn read_object(store: &Store, hash: &Hash) -> io::Result<Box<dyn Read + Send>> {
    match File::open(store.object_path(hash)) {
        Ok(file) => Ok(Box::new(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match store.packed_object(hash) {
            Some(bytes) => Ok(Box::new(io::Cursor::new(bytes?))),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}
