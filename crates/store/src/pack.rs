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
//! Entries are compressed together: they are appended to a block, and a block of
//! [`BLOCK_BYTES`] or more becomes one zstd frame. Small JSON records and the documents
//! of one mail compress poorly alone and well beside their neighbours, and better still
//! beside their own kind: objects and records fill blocks of their own (the mails'
//! blocks are 6% smaller than with the two kinds interleaved). Readers keep the last
//! few blocks they decompressed, so reading a task's units in order decompresses each
//! block once.
//!
//! Format (pinned: `tests/data/formats/pack-v2.pack`; `pack-v2-mixed.pack`, written
//! before objects and records had blocks of their own, still reads), all integers
//! little-endian:
//!
//! ```text
//! "ATPACK2\n"                                     magic and version
//! blocks, one after the other                     zstd frames (with checksums) of
//!                                                 entry bytes
//! index: blocks (u64), then per block 16 bytes    offset (u64), compressed length (u32),
//!                                                 length (u32)
//!        per entry 45 bytes                       kind (0 object, 1 record), key (32),
//!                                                 block (u32), offset in it (u32),
//!                                                 length (u32)
//! trailer: entries (u64), index offset (u64),     32 bytes
//!          created (u64, ns since 1970), "ATPKIDX2"
//! ```
//!
//! Version 1 (`"ATPACK1\n"`, pinned: `tests/data/formats/pack-v1.pack`) is still read: its
//! entries are stored as they are, and its index has per entry kind, key, offset (u64)
//! and length (u64), 49 bytes, before a trailer ending in `"ATPKIDX1"`.
//!
//! An object's key is its hash, a record's the key it is kept under. A later entry for
//! the same key wins within a pack, and a newer pack (by `created`) over an older one.

use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::{Hash, ObjectWriter, Record, Store, StoreError};

/// The first bytes of a pack (format version 2).
pub const PACK_MAGIC: &[u8; 8] = b"ATPACK2\n";
const TRAILER_MAGIC: &[u8; 8] = b"ATPKIDX2";
const V1_MAGIC: &[u8; 8] = b"ATPACK1\n";
const V1_TRAILER_MAGIC: &[u8; 8] = b"ATPKIDX1";
const V1_ENTRY_BYTES: u64 = 49;
const BLOCK_INDEX_BYTES: u64 = 16;
const ENTRY_BYTES: u64 = 45;
const TRAILER_BYTES: u64 = 32;

/// Objects written through a pack are kept in memory up to this size; a bigger one
/// becomes a loose object.
pub const PACKED_OBJECT_MAX: usize = 4 << 20;

/// A block is compressed once its entries reach this many bytes.
pub const BLOCK_BYTES: usize = 1 << 20;

/// zstd level of blocks: written once per task, read on every rerun.
const BLOCK_ZSTD_LEVEL: i32 = 3;

/// Decompressed blocks a store keeps for its readers.
const CACHED_BLOCKS: usize = 8;

/// What an entry of a pack is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Record,
}

/// A compressed block of a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block {
    offset: u64,
    compressed: u32,
    len: u32,
}

/// Where an entry's bytes are in its pack.
#[derive(Debug, Clone, Copy)]
pub(crate) enum At {
    /// As they are, at `offset` (version 1).
    Plain { offset: u64, len: u64 },
    /// At `offset` of a block once decompressed.
    Block { block: Block, offset: u32, len: u32 },
}

/// One entry of a pack's index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub kind: Kind,
    pub key: Hash,
    pub at: At,
}

/// Where a packed entry is: which pack of the [`PackIndex`], and where in it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    pack: usize,
    at: At,
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
            let place = Place { pack, at: e.at };
            match e.kind {
                Kind::Object => self.objects.insert(e.key, place),
                Kind::Record => self.records.insert(e.key, place),
            };
        }
    }

    fn find(&self, kind: Kind, key: &Hash) -> Option<(&Path, At)> {
        let place = match kind {
            Kind::Object => self.objects.get(key),
            Kind::Record => self.records.get(key),
        }?;
        Some((&self.packs[place.pack], place.at))
    }
}

/// The last blocks decompressed, most recent last.
#[derive(Debug, Default)]
pub(crate) struct BlockCache {
    blocks: VecDeque<(PathBuf, u64, Arc<Vec<u8>>)>,
}

fn invalid(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: not a complete pack: {what}", path.display()),
    )
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn kind_of(byte: u8) -> Option<Kind> {
    match byte {
        0 => Some(Kind::Object),
        1 => Some(Kind::Record),
        _ => None,
    }
}

/// Reads a pack's index: its creation time and entries. Fails on anything but a
/// complete pack, of either version.
pub(crate) fn read_index(path: &Path) -> io::Result<(u64, Vec<Entry>)> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let bad = |what: &str| invalid(path, what);
    if size < PACK_MAGIC.len() as u64 + TRAILER_BYTES {
        return Err(bad("too short"));
    }
    let mut magic = [0u8; 8];
    file.read_exact_at(&mut magic, 0)?;
    let v1 = match &magic {
        m if m == PACK_MAGIC => false,
        m if m == V1_MAGIC => true,
        _ => return Err(bad("no pack magic")),
    };
    let mut trailer = [0u8; TRAILER_BYTES as usize];
    file.read_exact_at(&mut trailer, size - TRAILER_BYTES)?;
    if &trailer[24..] != if v1 { V1_TRAILER_MAGIC } else { TRAILER_MAGIC } {
        return Err(bad("no index magic"));
    }
    let (count, at, created) = (
        u64_at(&trailer, 0),
        u64_at(&trailer, 8),
        u64_at(&trailer, 16),
    );
    if at < PACK_MAGIC.len() as u64 || at > size - TRAILER_BYTES {
        return Err(bad("the index is outside the pack"));
    }
    let mut raw = vec![0u8; (size - TRAILER_BYTES - at) as usize];
    file.read_exact_at(&mut raw, at)?;
    if v1 {
        read_v1_entries(&raw, count, at).ok_or_else(|| bad("a damaged index"))
    } else {
        read_entries(&raw, count, at).ok_or_else(|| bad("a damaged index"))
    }
    .map(|entries| (created, entries))
}

/// The entries of a version 2 index `raw` that starts at `at`; none if it is damaged.
fn read_entries(raw: &[u8], count: u64, at: u64) -> Option<Vec<Entry>> {
    let blocks = u64_at(raw.get(..8)?, 0);
    let entries_at = blocks.checked_mul(BLOCK_INDEX_BYTES)?.checked_add(8)?;
    if count.checked_mul(ENTRY_BYTES)?.checked_add(entries_at)? != raw.len() as u64 {
        return None;
    }
    let mut table = Vec::with_capacity(blocks as usize);
    let mut end = PACK_MAGIC.len() as u64;
    for b in raw[8..entries_at as usize].chunks_exact(BLOCK_INDEX_BYTES as usize) {
        let block = Block {
            offset: u64_at(b, 0),
            compressed: u32_at(b, 8),
            len: u32_at(b, 12),
        };
        // Blocks follow each other from the magic to the index.
        if block.offset != end {
            return None;
        }
        end = block.offset + u64::from(block.compressed);
        table.push(block);
    }
    if end != at {
        return None;
    }
    let mut entries = Vec::with_capacity(count as usize);
    for e in raw[entries_at as usize..].chunks_exact(ENTRY_BYTES as usize) {
        let block = *table.get(u32_at(e, 33) as usize)?;
        let (offset, len) = (u32_at(e, 37), u32_at(e, 41));
        if offset.checked_add(len)? > block.len {
            return None;
        }
        entries.push(Entry {
            kind: kind_of(e[0])?,
            key: Hash::from_bytes(e[1..33].try_into().expect("32 bytes")),
            at: At::Block { block, offset, len },
        });
    }
    Some(entries)
}

/// The entries of a version 1 index `raw` that starts at `at`; none if it is damaged.
fn read_v1_entries(raw: &[u8], count: u64, at: u64) -> Option<Vec<Entry>> {
    if count.checked_mul(V1_ENTRY_BYTES)? != raw.len() as u64 {
        return None;
    }
    let mut entries = Vec::with_capacity(count as usize);
    for e in raw.chunks_exact(V1_ENTRY_BYTES as usize) {
        let (offset, len) = (u64_at(e, 33), u64_at(e, 41));
        if offset < V1_MAGIC.len() as u64 || offset.checked_add(len)? > at {
            return None;
        }
        entries.push(Entry {
            kind: kind_of(e[0])?,
            key: Hash::from_bytes(e[1..33].try_into().expect("32 bytes")),
            at: At::Plain { offset, len },
        });
    }
    Some(entries)
}

impl Store {
    /// The folder of the packs.
    pub(crate) fn packs_dir(&self) -> PathBuf {
        self.root().join("store").join("packs")
    }

    /// Where a packed entry is, loading the packs' indexes on first use.
    fn packed(&self, kind: Kind, key: &Hash) -> Option<(PathBuf, At)> {
        {
            let index = self.packs.read().expect("no panics holding the pack index");
            if let Some(index) = index.as_ref() {
                return index
                    .find(kind, key)
                    .map(|(path, at)| (path.to_path_buf(), at));
            }
        }
        let mut index = self
            .packs
            .write()
            .expect("no panics holding the pack index");
        let index = index.get_or_insert_with(|| PackIndex::load(&self.packs_dir()));
        index
            .find(kind, key)
            .map(|(path, at)| (path.to_path_buf(), at))
    }

    /// Forgets the packs' indexes: the next lookup reads them again (after gc).
    pub(crate) fn reload_packs(&self) {
        *self
            .packs
            .write()
            .expect("no panics holding the pack index") = None;
        self.blocks
            .lock()
            .expect("no panics holding the block cache")
            .blocks
            .clear();
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
        let (path, at) = self.packed(Kind::Object, hash)?;
        Some(self.read_entry(&path, at).and_then(|bytes| {
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
        let (path, at) = self.packed(Kind::Record, key)?;
        self.read_entry(&path, at).ok()
    }

    /// An entry's bytes, from its block (kept in the cache) or as they are.
    fn read_entry(&self, path: &Path, at: At) -> io::Result<Vec<u8>> {
        let (block, offset, len) = match at {
            At::Plain { offset, len } => {
                let mut bytes = vec![0u8; len as usize];
                File::open(path)?.read_exact_at(&mut bytes, offset)?;
                return Ok(bytes);
            }
            At::Block { block, offset, len } => (block, offset as usize, len as usize),
        };
        let cached = {
            let cache = self
                .blocks
                .lock()
                .expect("no panics holding the block cache");
            cache
                .blocks
                .iter()
                .find(|(p, o, _)| *o == block.offset && p == path)
                .map(|(_, _, bytes)| bytes.clone())
        };
        let bytes = match cached {
            Some(bytes) => bytes,
            None => {
                let mut compressed = vec![0u8; block.compressed as usize];
                File::open(path)?.read_exact_at(&mut compressed, block.offset)?;
                // Memory grows with what the frame really holds, up to the length the
                // index gives: a damaged index cannot make it allocate gigabytes up front.
                let mut bytes = Vec::new();
                zstd::stream::read::Decoder::new(compressed.as_slice())
                    .and_then(|d| d.take(u64::from(block.len) + 1).read_to_end(&mut bytes))
                    .ok()
                    .filter(|_| bytes.len() == block.len as usize)
                    .ok_or_else(|| invalid(path, "a block does not decompress"))?;
                let bytes = Arc::new(bytes);
                let mut cache = self
                    .blocks
                    .lock()
                    .expect("no panics holding the block cache");
                if cache.blocks.len() == CACHED_BLOCKS {
                    cache.blocks.pop_front();
                }
                cache
                    .blocks
                    .push_back((path.to_path_buf(), block.offset, bytes.clone()));
                bytes
            }
        };
        Ok(bytes[offset..offset + len].to_vec())
    }

    /// Starts a pack for a task's objects and records; see [`Pack`].
    pub fn pack(&self) -> Pack {
        Pack {
            store: self.clone(),
            state: Arc::new(Mutex::new(PackState {
                tmp: self.temp_path("pack"),
                out: None,
                hasher: blake3::Hasher::new(),
                offset: PACK_MAGIC.len() as u64,
                open: Default::default(),
                blocks: Vec::new(),
                entries: Vec::new(),
                objects: HashSet::new(),
                records: HashSet::new(),
                done: false,
            })),
        }
    }
}

/// A task's pack being written: objects and records appended to blocks of one
/// temporary file, visible to the store once [`Pack::commit`] has synced and renamed
/// it. Clones share the pack. Dropped uncommitted, its file is removed and its entries
/// are lost.
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

/// An entry being written: its block's number ([`u32::MAX`] while its block is open).
struct NewEntry {
    kind: Kind,
    key: Hash,
    block: u32,
    offset: u32,
    len: u32,
}

struct PackState {
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
    hasher: blake3::Hasher,
    /// Where the next block starts.
    offset: u64,
    /// The blocks being filled: objects', records'.
    open: [OpenBlock; 2],
    blocks: Vec<Block>,
    entries: Vec<NewEntry>,
    objects: HashSet<Hash>,
    records: HashSet<Hash>,
    done: bool,
}

/// A block being filled: its bytes and its entries (indexes into `PackState::entries`).
#[derive(Default)]
struct OpenBlock {
    bytes: Vec<u8>,
    entries: Vec<usize>,
}

/// Which open block an entry of this kind goes to.
fn slot(kind: Kind) -> usize {
    match kind {
        Kind::Object => 0,
        Kind::Record => 1,
    }
}

impl PackState {
    fn check_open(&self) -> io::Result<()> {
        if self.done {
            return Err(io::Error::other("the pack is already committed"));
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.check_open()?;
        if self.out.is_none() {
            let mut out = BufWriter::with_capacity(256 * 1024, File::create(&self.tmp)?);
            out.write_all(PACK_MAGIC)?;
            self.hasher.update(PACK_MAGIC);
            self.out = Some(out);
        }
        self.out.as_mut().expect("just opened").write_all(bytes)?;
        self.hasher.update(bytes);
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn append(&mut self, kind: Kind, key: Hash, bytes: &[u8]) -> io::Result<()> {
        self.check_open()?;
        let too_big = || io::Error::other("an entry too big for a pack");
        let slot = slot(kind);
        let open = &mut self.open[slot];
        let offset = u32::try_from(open.bytes.len()).map_err(|_| too_big())?;
        let len = u32::try_from(bytes.len()).map_err(|_| too_big())?;
        offset.checked_add(len).ok_or_else(too_big)?;
        open.bytes.extend_from_slice(bytes);
        open.entries.push(self.entries.len());
        self.entries.push(NewEntry {
            kind,
            key,
            block: u32::MAX,
            offset,
            len,
        });
        if self.open[slot].bytes.len() >= BLOCK_BYTES {
            self.end_block(slot)?;
        }
        Ok(())
    }

    /// Compresses an open block into the file, giving its entries their block number.
    fn end_block(&mut self, slot: usize) -> io::Result<()> {
        let open = std::mem::take(&mut self.open[slot]);
        if open.bytes.is_empty() {
            return Ok(());
        }
        // With its checksum: a damaged block is refused as a whole, records included.
        let mut compressor = zstd::bulk::Compressor::new(BLOCK_ZSTD_LEVEL)?;
        compressor.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
        let compressed = compressor.compress(&open.bytes)?;
        let block = Block {
            offset: self.offset,
            compressed: u32::try_from(compressed.len())
                .map_err(|_| io::Error::other("a block too big for a pack"))?,
            len: open.bytes.len() as u32,
        };
        self.write(&compressed)?;
        let number = self.blocks.len() as u32;
        self.blocks.push(block);
        for &e in &open.entries {
            self.entries[e].block = number;
        }
        Ok(())
    }

    /// The index and trailer.
    fn index(&self, created: u64) -> Vec<u8> {
        let mut index = Vec::with_capacity(
            8 + self.blocks.len() * BLOCK_INDEX_BYTES as usize
                + self.entries.len() * ENTRY_BYTES as usize
                + TRAILER_BYTES as usize,
        );
        index.extend_from_slice(&(self.blocks.len() as u64).to_le_bytes());
        for b in &self.blocks {
            index.extend_from_slice(&b.offset.to_le_bytes());
            index.extend_from_slice(&b.compressed.to_le_bytes());
            index.extend_from_slice(&b.len.to_le_bytes());
        }
        for e in &self.entries {
            index.push(match e.kind {
                Kind::Object => 0,
                Kind::Record => 1,
            });
            index.extend_from_slice(e.key.bytes());
            index.extend_from_slice(&e.block.to_le_bytes());
            index.extend_from_slice(&e.offset.to_le_bytes());
            index.extend_from_slice(&e.len.to_le_bytes());
        }
        index.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        index.extend_from_slice(&self.offset.to_le_bytes());
        index.extend_from_slice(&created.to_le_bytes());
        index.extend_from_slice(TRAILER_MAGIC);
        index
    }

    /// The entries as the index has them.
    fn entries(&self) -> Vec<Entry> {
        self.entries
            .iter()
            .map(|e| Entry {
                kind: e.kind,
                key: e.key,
                at: At::Block {
                    block: self.blocks[e.block as usize],
                    offset: e.offset,
                    len: e.len,
                },
            })
            .collect()
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

    /// Compresses the last block, writes the index, syncs the pack once and renames it
    /// into `store/packs`; returns its path (none for an empty pack, which leaves no
    /// file). Objects written through the pack and not finished are lost.
    pub fn commit(self) -> Result<Option<PathBuf>, StoreError> {
        let mut state = self.state.lock().expect("no panics holding a pack");
        if state.entries.is_empty() {
            state.done = true;
            return Ok(None);
        }
        let tmp = state.tmp.clone();
        for slot in 0..state.open.len() {
            state.end_block(slot).map_err(|e| StoreError::io(&tmp, e))?;
        }
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let index = state.index(created);
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
            index.add(path.clone(), &state.entries());
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
