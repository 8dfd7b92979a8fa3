//! Work kept in the project store for later runs: per input unit and per prefix of the
//! first map stage's steps, the documents that survived, their counters and their
//! quarantine entries.
//!
//! # Keys
//!
//! The key of a unit's read is `K0 = H(atelier version, file content hash, file path,
//! byte range, format, compression, max_record_bytes)`; after step `k` it is
//! `Kk = H(K(k-1), step name, step version, settings, hashes of the step's input files)`.
//! Only what the documents depend on goes in: never the number of tasks, workers or
//! where the unit's documents end up.
//!
//! # Which prefixes are kept
//!
//! Not every prefix: the read (a copy of the input) and the output of cheap steps are
//! quicker to compute again than to keep. A unit keeps its record after each step that
//! says it is expensive (`extract`: [`atelier_core::StepConfig::EXPENSIVE`])
//! and after the stage's last step (its output member). A change to a step starts from
//! the deepest kept prefix before it.
//!
//! # Packs
//!
//! A task's objects and records go into one pack of the store ([`atelier_store::Pack`]),
//! committed (synced once) when the task's work is done and before its marker: a folder
//! of thousands of small files costs a few files and fsyncs per task.
//!
//! # Records
//!
//! The record under `Kk` ([`UnitRecord`]) holds the counters of `read` and of each step
//! up to `k` for that unit, the quarantine entries each of them made (one object per
//! step), and the documents, in one of two forms:
//!
//! - [`Docs::Whole`]: every document as JSON lines in one object. The last prefix of the
//!   stage is always whole and compressed as the stage's output wants it (the dataset's
//!   compression, or zstd before a barrier), so that a unit whose every step is cached
//!   is appended to its shard byte for byte, without decoding anything.
//! - [`Docs::Picks`]: runs of positions in the previous record's documents, plus the
//!   documents this step rewrote in an object of their own. A filter that only drops
//!   documents costs a few bytes per run of kept documents instead of a copy of them.
//!   Whether a step rewrote a document is seen by comparing it with its state before.
//!
//! Every output member (a unit's documents in a shard) is one gzip member or zstd frame,
//! whether it was just computed or taken from the store, so a run that reuses work
//! writes the same bytes as one that does not. (Behind a barrier, units are not kept:
//! the dataset's gzip chunks are, [`crate::chunks`].)

use atelier_core::format::Compression;
use atelier_core::recipe::RecipeStep;
use atelier_core::{Document, StepStats};
use atelier_io::{Encoder, FAST_ZSTD_LEVEL, MEMBER_FORM, Member, ReadOptions, ShardWriter, Unit};
use atelier_store::{Hash, ObjectWriter, Pack, Record, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, BufReader, Read, Write};

/// The keys of one unit: `keys[0]` for the read, `keys[k]` after step `k`.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub keys: Vec<Hash>,
}

impl Chain {
    /// The keys of a unit read with `read` and sent through `steps`; `inputs[k]` is the
    /// hash of step `k`'s input files.
    pub fn new(
        unit: &Unit,
        file: &Hash,
        read: &ReadOptions,
        steps: &[RecipeStep],
        inputs: &[Hash],
    ) -> Chain {
        let mut key = Hash::key("atelier-unit")
            .text(env!("CARGO_PKG_VERSION"))
            .hash(file)
            .text(&unit.location.to_string())
            .number(unit.start)
            .number(unit.end.map_or(u64::MAX, |e| e))
            .text(&format!("{:?}/{:?}", unit.format, unit.compression))
            .number(read.max_record_bytes)
            .finish();
        let mut keys = vec![key];
        for (step, input) in steps.iter().zip(inputs) {
            let c = &step.config;
            key = Hash::key("atelier-step")
                .hash(&key)
                .text(c.name())
                .number(u64::from(c.version()))
                .text(&c.settings().to_string())
                .hash(input)
                .finish();
            keys.push(key);
        }
        Chain { keys }
    }
}

// Pinned format (tests/data/formats/unit-record-*.json, both forms), with no version
// field: a change must add one and keep reading records without it (or change the
// keys, which makes old records unreachable rather than misread).
/// How a record keeps its documents; see the [module](self) documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "lowercase")]
pub(crate) enum Docs {
    /// All documents as JSON lines in one object (none without documents).
    Whole {
        object: Option<Hash>,
        compression: Compression,
        /// The level of a zstd object, which decides whether it can be appended to a
        /// shard as it is. Records written before levels differed have none: their
        /// object is decoded and encoded again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zstd_level: Option<i32>,
        /// The form of a compressed member ([`atelier_io::MEMBER_FORM`]: in chunks).
        /// Records written before members were chunked have none: their object is
        /// decoded and encoded again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        member_form: Option<u32>,
    },
    /// Runs `[source, start, length]` of documents, `source` 0 for the base record's
    /// documents and 1 for this record's `object` (zstd JSON lines).
    Picks {
        base: Hash,
        runs: Vec<[u32; 3]>,
        object: Option<Hash>,
    },
}

/// What the store keeps for one unit after a prefix of steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UnitRecord {
    /// The documents that survived the prefix.
    pub docs: Docs,
    /// How many.
    pub documents: u64,
    /// Their text bytes.
    pub text_bytes: u64,
    /// Counters of `read` and each step of the prefix, for this unit, as first computed.
    pub stats: Vec<StepStats>,
    /// The quarantine entries each of them made (JSON lines), when any.
    pub quarantine: Vec<Option<Hash>>,
    /// What encoding `docs` as a dataset member cost (the `write` step), when it was.
    #[serde(default)]
    pub write: Option<StepStats>,
}

impl UnitRecord {
    /// The record with its links, for the store.
    pub fn into_record(self) -> Record<UnitRecord> {
        let mut objects: Vec<Hash> = self.quarantine.iter().flatten().copied().collect();
        let mut records = Vec::new();
        match &self.docs {
            Docs::Whole { object, .. } => objects.extend(object),
            Docs::Picks { base, object, .. } => {
                objects.extend(object);
                records.push(*base);
            }
        }
        Record {
            objects,
            records,
            data: self,
        }
    }
}

/// The project store and the keys of a task's units, in the task's order (none for a
/// unit whose file could not be hashed), and the pack the task's work goes to.
pub struct Reuse<'a> {
    pub(crate) store: &'a Store,
    pub(crate) pack: Pack,
    pub(crate) chains: Vec<Option<Chain>>,
}

impl std::fmt::Debug for Reuse<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reuse({} units)", self.chains.len())
    }
}

impl<'a> Reuse<'a> {
    /// The store and the keys of the task's unit number `i`, when it has keys.
    pub(crate) fn unit(&self, i: usize) -> Option<StoredUnit<'a, '_>> {
        Some(StoredUnit {
            store: self.store,
            pack: &self.pack,
            chain: self.chains.get(i)?.as_ref()?,
        })
    }

    /// Commits the task's pack: its work becomes visible to later runs.
    pub(crate) fn commit(&self) -> Result<(), StoreError> {
        self.pack.clone().commit().map(drop)
    }
}

/// The store and one unit's keys.
#[derive(Clone, Copy)]
pub(crate) struct StoredUnit<'s, 'c> {
    pub store: &'s Store,
    pub pack: &'c Pack,
    pub chain: &'c Chain,
}

/// The deepest prefix of a unit's steps that the store holds, opened.
pub(crate) struct StoredPrefix {
    /// The prefix's last position (0: the read).
    pub at: usize,
    pub record: UnitRecord,
    pub lines: Lines,
    /// The quarantine entries of `read` and each step of the prefix.
    pub quarantine: Vec<Vec<u8>>,
}

impl StoredUnit<'_, '_> {
    /// The deepest prefix whose record, documents and quarantine entries are all in the
    /// store, for the steps `names` (`read` first).
    pub fn deepest(&self, names: &[&str]) -> Option<StoredPrefix> {
        let store = self.store;
        for at in (0..self.chain.keys.len()).rev() {
            let Some(record) = store.record::<UnitRecord>(&self.chain.keys[at]) else {
                continue;
            };
            let record = record.data;
            let same_steps = record.stats.len() == at + 1
                && record.quarantine.len() == at + 1
                && record
                    .stats
                    .iter()
                    .zip(names)
                    .all(|(s, name)| s.name == *name);
            if !same_steps {
                continue;
            }
            let quarantine: Option<Vec<Vec<u8>>> = record
                .quarantine
                .iter()
                .map(|q| match q {
                    None => Some(Vec::new()),
                    Some(h) => {
                        let mut bytes = Vec::new();
                        let mut object = store.open_object(h).ok()?;
                        object.read_to_end(&mut bytes).ok().map(|_| bytes)
                    }
                })
                .collect();
            let (Some(quarantine), Ok(lines)) = (quarantine, Lines::open(store, &record.docs))
            else {
                continue;
            };
            return Some(StoredPrefix {
                at,
                record,
                lines,
                quarantine,
            });
        }
        None
    }

    /// Keeps the prefixes a unit computed now: the quarantine entries of positions from
    /// `start` on as objects (earlier ones are stored already), then a record per
    /// prefix, written after its objects. `stats` are the counters of `read` and each
    /// step as first computed; `write` those of the dataset's `write` step, when the
    /// last prefix was encoded as a dataset member.
    pub fn keep(
        &self,
        prefixes: Vec<NewPrefix>,
        start: usize,
        stats: &[StepStats],
        quarantine: &[Vec<u8>],
        write: Option<&StepStats>,
    ) -> io::Result<()> {
        if prefixes.is_empty() {
            return Ok(());
        }
        let last = quarantine.len() - 1;
        let mut objects = Vec::with_capacity(quarantine.len());
        for (k, q) in quarantine.iter().enumerate() {
            objects.push(match q.is_empty() {
                true => None,
                false if k < start => Some(Hash::of(q)),
                false => Some(self.pack.put_bytes(q).map_err(store_io)?),
            });
        }
        for p in prefixes {
            let record = UnitRecord {
                docs: p.docs,
                documents: p.documents,
                text_bytes: p.text_bytes,
                stats: stats[..=p.at].to_vec(),
                quarantine: objects[..=p.at].to_vec(),
                write: write.filter(|_| p.at == last).cloned(),
            };
            self.pack
                .put_record(&self.chain.keys[p.at], &record.into_record())
                .map_err(store_io)?;
        }
        Ok(())
    }

    /// The unit's keys that have a record: what the version keeps alive.
    pub fn kept_keys(&self) -> impl Iterator<Item = Hash> + '_ {
        self.chain
            .keys
            .iter()
            .filter(|k| self.pack.has_record(k))
            .copied()
    }
}

/// A prefix computed now, to keep in the store.
pub(crate) struct NewPrefix {
    pub at: usize,
    pub docs: Docs,
    pub documents: u64,
    pub text_bytes: u64,
}

/// The counters of a unit's work taken from the store: counted, but not as time spent.
pub(crate) fn reused(original: &StepStats) -> StepStats {
    let mut s = original.clone();
    s.reused_documents = original.documents_in;
    s.saved_cpu_seconds = original.cpu_seconds + original.saved_cpu_seconds;
    s.saved_wall_seconds = original.wall_seconds + original.saved_wall_seconds;
    s.cpu_seconds = 0.0;
    s.wall_seconds = 0.0;
    s
}

/// The copy of an output member kept in the store, when there is one.
pub(crate) struct StoreCopy(Option<ObjectWriter>);

impl Write for StoreCopy {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(object) = &mut self.0 {
            object.write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn store_io(e: StoreError) -> io::Error {
    io::Error::other(e.to_string())
}

/// A unit's output member: its documents encoded once, into the shard and (with a
/// store) into an object. The member starts, and the shard opens, on the first
/// document. A member of up to [`PLAIN_DOCUMENTS_MAX`] bytes of JSON lines is kept plain
/// (the pack compresses it with its neighbours, and reusing it compresses it again,
/// to the same bytes); a bigger one as the shard has it, to be appended as it is.
pub(crate) struct MemberWriter {
    member: Option<Member<StoreCopy>>,
    /// The pack, and the documents' JSON lines while they are few enough to keep plain.
    plain: Option<(Pack, Option<Vec<u8>>)>,
}

impl MemberWriter {
    pub fn new() -> MemberWriter {
        MemberWriter {
            member: None,
            plain: None,
        }
    }

    /// Appends one document.
    pub fn push(
        &mut self,
        doc: &Document,
        pack: Option<&Pack>,
        shard: &mut ShardWriter,
    ) -> io::Result<()> {
        let member = match &mut self.member {
            Some(member) => member,
            None => {
                self.plain = pack.map(|p| (p.clone(), Some(Vec::new())));
                self.member
                    .insert(shard.start(StoreCopy(pack.map(Pack::writer)))?)
            }
        };
        member.write(doc)?;
        if let Some((_, kept)) = &mut self.plain
            && let Some(lines) = kept
        {
            let line = member.last_line();
            if lines.len() + line.len() <= PLAIN_DOCUMENTS_MAX {
                lines.extend_from_slice(line);
            } else {
                *kept = None;
            }
        }
        Ok(())
    }

    /// Documents so far.
    pub fn documents(&self) -> u64 {
        self.member.as_ref().map_or(0, Member::documents)
    }

    /// Their text bytes.
    pub fn text_bytes(&self) -> u64 {
        self.member.as_ref().map_or(0, Member::text_bytes)
    }

    /// Ends the member, giving the shard back; returns how the store keeps it.
    pub fn finish(self, shard: &mut ShardWriter) -> io::Result<Docs> {
        let Some(member) = self.member else {
            return Ok(Docs::Whole {
                object: None,
                compression: shard.compression(),
                zstd_level: shard.member_zstd_level(),
                member_form: shard.member_form(),
            });
        };
        let copy = shard.end(member)?.0;
        Ok(match (self.plain, copy) {
            (Some((pack, Some(lines))), _) => Docs::Whole {
                object: Some(pack.put_bytes(&lines).map_err(store_io)?),
                compression: Compression::None,
                zstd_level: None,
                member_form: None,
            },
            (_, copy) => Docs::Whole {
                object: copy
                    .map(|object| object.finish().map_err(store_io))
                    .transpose()?
                    .map(|(hash, _)| hash),
                compression: shard.compression(),
                zstd_level: shard.member_zstd_level(),
                member_form: shard.member_form(),
            },
        })
    }
}

/// The documents of a prefix that is not the stage's last, as picks from the one before
/// (or, for the read, whole).
pub(crate) struct PrefixWriter {
    pack: Pack,
    base: Option<Hash>,
    runs: Vec<[u32; 3]>,
    object: Option<NewDocuments>,
    new_documents: u32,
    line: Vec<u8>,
    pub documents: u64,
    pub text_bytes: u64,
}

impl PrefixWriter {
    /// A writer whose documents are picked from the record `base` (`None`: all new).
    pub fn new(pack: &Pack, base: Option<Hash>) -> PrefixWriter {
        PrefixWriter {
            pack: pack.clone(),
            base,
            runs: Vec::new(),
            object: None,
            new_documents: 0,
            line: Vec::new(),
            documents: 0,
            text_bytes: 0,
        }
    }

    fn extend(&mut self, source: u32, start: u32) {
        match self.runs.last_mut() {
            Some(run) if run[0] == source && run[1] + run[2] == start => run[2] += 1,
            _ => self.runs.push([source, start, 1]),
        }
    }

    /// Whether documents the step did not change can be picked from a base.
    pub fn has_base(&self) -> bool {
        self.base.is_some()
    }

    /// A document the step did not change: position `at` of the base's documents.
    pub fn same(&mut self, at: u64, text_bytes: usize) {
        if self.base.is_none() {
            unreachable!("a prefix without a base has only new documents");
        }
        self.extend(0, at as u32);
        self.documents += 1;
        self.text_bytes += text_bytes as u64;
    }

    /// A document the step produced or rewrote.
    pub fn new_document(&mut self, doc: &Document) -> io::Result<()> {
        self.line.clear();
        doc.write_json_line(&mut self.line);
        let object = match &mut self.object {
            Some(object) => object,
            // Picks name a zstd object; whole documents start plain.
            None => self.object.insert(match self.base {
                Some(_) => NewDocuments::Zstd(Box::new(zstd_documents(&self.pack)?)),
                None => NewDocuments::Plain(Vec::new()),
            }),
        };
        object.write(&self.pack, &self.line)?;
        self.extend(1, self.new_documents);
        self.new_documents += 1;
        self.documents += 1;
        self.text_bytes += doc.text.len() as u64;
        Ok(())
    }

    pub fn finish(self) -> io::Result<Docs> {
        let (object, compression) = match self.object {
            Some(object) => {
                let (hash, compression) = object.finish(&self.pack)?;
                (Some(hash), compression)
            }
            None => (None, Compression::None),
        };
        let only_new = self.runs.iter().all(|r| r[0] == 1);
        Ok(match self.base {
            Some(base) if !only_new => Docs::Picks {
                base,
                runs: self.runs,
                object,
            },
            _ => Docs::Whole {
                object,
                compression,
                zstd_level: (compression == Compression::Zstd).then_some(FAST_ZSTD_LEVEL),
                member_form: (compression != Compression::None).then_some(MEMBER_FORM),
            },
        })
    }
}

/// A prefix's new documents up to this size stay plain: the pack compresses them with
/// its other entries, far better than alone (a mail's documents are a few kilobytes).
/// Past it they are compressed by themselves, as they may become a loose object.
const PLAIN_DOCUMENTS_MAX: usize = 1 << 20;

/// A new object of JSON lines in zstd, into the pack.
fn zstd_documents(pack: &Pack) -> io::Result<Encoder<ObjectWriter>> {
    Encoder::with_zstd_level(pack.writer(), Compression::Zstd, FAST_ZSTD_LEVEL)
}

/// The JSON lines of a prefix's new documents being written.
enum NewDocuments {
    Plain(Vec<u8>),
    Zstd(Box<Encoder<ObjectWriter>>),
}

impl NewDocuments {
    fn write(&mut self, pack: &Pack, line: &[u8]) -> io::Result<()> {
        if let NewDocuments::Plain(bytes) = self
            && bytes.len() + line.len() > PLAIN_DOCUMENTS_MAX
        {
            let mut encoder = zstd_documents(pack)?;
            encoder.write_all(bytes)?;
            *self = NewDocuments::Zstd(Box::new(encoder));
        }
        match self {
            NewDocuments::Plain(bytes) => bytes.extend_from_slice(line),
            NewDocuments::Zstd(encoder) => encoder.write_all(line)?,
        }
        Ok(())
    }

    /// The object and how it is compressed.
    fn finish(self, pack: &Pack) -> io::Result<(Hash, Compression)> {
        match self {
            NewDocuments::Plain(bytes) => {
                Ok((pack.put_bytes(&bytes).map_err(store_io)?, Compression::None))
            }
            NewDocuments::Zstd(encoder) => Ok((
                encoder.finish()?.finish().map_err(store_io)?.0,
                Compression::Zstd,
            )),
        }
    }
}

/// Reads the JSON lines of a record's documents.
pub(crate) enum Lines {
    /// Every line of an object (or none).
    Object(Option<Box<dyn BufRead + Send>>),
    /// Runs picked from a base and from new documents.
    Picks {
        base: Box<Lines>,
        base_at: u64,
        new: Option<Box<dyn BufRead + Send>>,
        runs: std::vec::IntoIter<[u32; 3]>,
        run: Option<(u32, u32)>,
        skip: Vec<u8>,
    },
}

/// Opens a store object for reading, decompressed.
pub(crate) fn open_object(
    store: &Store,
    hash: &Hash,
    compression: Compression,
) -> io::Result<Box<dyn BufRead + Send>> {
    let file = BufReader::with_capacity(128 * 1024, store.open_object(hash)?);
    let reader: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(file)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(file)?),
    };
    Ok(Box::new(BufReader::with_capacity(256 * 1024, reader)))
}

/// Most records a chain of picks may go through to its documents. A recipe's steps
/// bound a real chain; a longer one (a record that is its own base, from a damaged
/// store) is refused rather than followed until the stack overflows.
const MAX_PICKS_DEPTH: usize = 128;

impl Lines {
    /// Opens every object a record's documents need, so that nothing can go missing once
    /// reading starts; fails when one is absent.
    pub fn open(store: &Store, docs: &Docs) -> io::Result<Lines> {
        Lines::open_at(store, docs, 0)
    }

    fn open_at(store: &Store, docs: &Docs, depth: usize) -> io::Result<Lines> {
        if depth > MAX_PICKS_DEPTH {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a cached record's picks go more than {MAX_PICKS_DEPTH} records deep"),
            ));
        }
        match docs {
            Docs::Whole {
                object,
                compression,
                ..
            } => Ok(Lines::Object(
                object
                    .map(|h| open_object(store, &h, *compression))
                    .transpose()?,
            )),
            Docs::Picks { base, runs, object } => {
                let record = store.record::<UnitRecord>(base).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, format!("record {base} is gone"))
                })?;
                Ok(Lines::Picks {
                    base: Box::new(Lines::open_at(store, &record.data.docs, depth + 1)?),
                    base_at: 0,
                    new: object
                        .map(|h| open_object(store, &h, Compression::Zstd))
                        .transpose()?,
                    runs: runs.clone().into_iter(),
                    run: None,
                    skip: Vec::new(),
                })
            }
        }
    }

    /// Reads the next line (with its `\n`) into `buf`; false at the end.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        buf.clear();
        match self {
            Lines::Object(None) => Ok(false),
            Lines::Object(Some(reader)) => Ok(reader.read_until(b'\n', buf)? > 0),
            Lines::Picks {
                base,
                base_at,
                new,
                runs,
                run,
                skip,
            } => loop {
                match run {
                    Some((_, 0)) | None => match runs.next() {
                        None => return Ok(false),
                        Some([source, start, len]) => {
                            if source == 0 {
                                while *base_at < u64::from(start) {
                                    if !base.next_line(skip)? {
                                        return Err(truncated());
                                    }
                                    *base_at += 1;
                                }
                            }
                            *run = Some((source, len));
                        }
                    },
                    Some((source, left)) => {
                        *left -= 1;
                        let got = if *source == 0 {
                            *base_at += 1;
                            base.next_line(buf)?
                        } else {
                            match new {
                                Some(r) => r.read_until(b'\n', buf)? > 0,
                                None => false,
                            }
                        };
                        return if got { Ok(true) } else { Err(truncated()) };
                    }
                }
            },
        }
    }
}

/// Reads the documents of the unit record kept under `key` as a rerun that reuses it
/// would, and returns how many parse; for the fuzz target `unit_record` (fuzz/), which
/// writes any bytes as that record.
#[cfg(feature = "fuzzing")]
pub fn replay_record(store: &Store, key: &Hash) -> io::Result<u64> {
    let record = store
        .record::<UnitRecord>(key)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such record"))?
        .data;
    let mut lines = Lines::open(store, &record.docs)?;
    let (mut line, mut parsed) = (Vec::new(), 0);
    while lines.next_line(&mut line)? {
        parsed += u64::from(Document::from_json_slice(&line, String::new).is_ok());
    }
    Ok(parsed)
}

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "a cached record has fewer documents than it says",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use atelier_core::{Format, StepConfig};
    use schemars::JsonSchema;

    #[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
    #[serde(default)]
    struct Min {
        min: u32,
    }

    impl StepConfig for Min {
        const NAME: &'static str = "min";
        const SUMMARY: &'static str = "A threshold.";
        const VERSION: u32 = 1;
    }

    /// The same step, its behaviour changed.
    #[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
    #[serde(default)]
    struct MinV2 {
        min: u32,
    }

    impl StepConfig for MinV2 {
        const NAME: &'static str = "min";
        const SUMMARY: &'static str = "A threshold.";
        const VERSION: u32 = 2;
    }

    fn steps(configs: Vec<Box<dyn atelier_core::ConfiguredStep>>) -> Vec<RecipeStep> {
        configs
            .into_iter()
            .map(|config| RecipeStep { config, line: 0 })
            .collect()
    }

    #[test]
    fn keys_follow_the_bytes_the_settings_and_the_step_versions_only() {
        let unit = Unit::whole("/data/a.jsonl", Format::Jsonl);
        let read = ReadOptions::default();
        let file = Hash::of(b"the file");
        let none = Hash::key("atelier-step-inputs").finish();
        let key = |unit: &Unit, file: &Hash, s: Vec<RecipeStep>, input: &Hash| {
            let inputs = vec![*input; s.len()];
            Chain::new(unit, file, &read, &s, &inputs).keys
        };
        let base = key(&unit, &file, steps(vec![Box::new(Min { min: 1 })]), &none);
        assert_eq!(base.len(), 2);
        assert_eq!(
            base,
            key(&unit, &file, steps(vec![Box::new(Min { min: 1 })]), &none),
            "the same work, the same keys"
        );
        let setting = key(&unit, &file, steps(vec![Box::new(Min { min: 2 })]), &none);
        assert_eq!(setting[0], base[0], "a setting does not change the read");
        assert_ne!(setting[1], base[1]);
        let version = key(&unit, &file, steps(vec![Box::new(MinV2 { min: 1 })]), &none);
        assert_eq!(version[0], base[0]);
        assert_ne!(version[1], base[1], "a new step version is new work");
        let model = Hash::of(b"another model file");
        assert_ne!(
            key(&unit, &file, steps(vec![Box::new(Min { min: 1 })]), &model)[1],
            base[1]
        );
        let edited = key(
            &unit,
            &Hash::of(b"edited"),
            steps(vec![Box::new(Min { min: 1 })]),
            &none,
        );
        assert!(
            edited.iter().zip(&base).all(|(a, b)| a != b),
            "new bytes, new keys"
        );
        let range = Unit {
            start: 10,
            end: Some(20),
            ..unit.clone()
        };
        assert_ne!(key(&range, &file, steps(vec![]), &none)[0], base[0]);
    }

    fn doc(i: usize) -> Document {
        Document::new(format!("d{i}"), format!("text {i}"))
    }

    fn all(store: &Store, docs: &Docs) -> Vec<String> {
        let mut lines = Lines::open(store, docs).unwrap();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while lines.next_line(&mut buf).unwrap() {
            let d = Document::from_json_slice(buf.trim_ascii_end(), String::new).unwrap();
            out.push(d.id);
        }
        out
    }

    fn put(store: &Store, key: Hash, docs: Docs) {
        let record = UnitRecord {
            docs,
            documents: 0,
            text_bytes: 0,
            stats: Vec::new(),
            quarantine: Vec::new(),
            write: None,
        };
        store.put_record(&key, &record.into_record()).unwrap();
    }

    #[test]
    fn picks_read_back_through_their_bases() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let pack = store.pack();
        let mut read = PrefixWriter::new(&pack, None);
        for i in 0..10 {
            read.new_document(&doc(i)).unwrap();
        }
        let k0 = Hash::key("t").number(0).finish();
        let docs0 = read.finish().unwrap();
        pack.commit().unwrap();
        assert!(matches!(docs0, Docs::Whole { .. }));
        put(&store, k0, docs0);

        // A filter keeps the even documents and rewrites 4.
        let pack = store.pack();
        let mut filter = PrefixWriter::new(&pack, Some(k0));
        for i in (0..10).step_by(2) {
            if i == 4 {
                filter.new_document(&Document::new("d4-new", "x")).unwrap();
            } else {
                filter.same(i as u64, 6);
            }
        }
        let k1 = Hash::key("t").number(1).finish();
        let docs1 = filter.finish().unwrap();
        pack.commit().unwrap();
        assert!(matches!(&docs1, Docs::Picks { runs, .. } if runs.len() == 5));
        put(&store, k1, docs1.clone());
        assert_eq!(all(&store, &docs1), ["d0", "d2", "d4-new", "d6", "d8"]);

        // A second filter on top keeps the last two.
        let pack = store.pack();
        let mut second = PrefixWriter::new(&pack, Some(k1));
        second.same(3, 6);
        second.same(4, 6);
        let docs2 = second.finish().unwrap();
        pack.commit().unwrap();
        assert_eq!(all(&store, &docs2), ["d6", "d8"]);

        // Without its base, a record cannot be opened: the work is redone.
        std::fs::remove_file(store.record_path(&k1)).unwrap();
        assert!(Lines::open(&store, &docs2).is_err());
    }

    #[test]
    fn a_record_that_is_its_own_base_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = Hash::key("t").number(0).finish();
        let docs = Docs::Picks {
            base: key,
            runs: vec![[0, 0, 1]],
            object: None,
        };
        put(&store, key, docs.clone());
        let err = Lines::open(&store, &docs).err().expect("refused");
        assert!(err.to_string().contains("records deep"), "{err}");
    }

    #[test]
    fn small_members_are_kept_plain_big_ones_as_the_shard_has_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = dir.path().join("part-00000.jsonl.gz");
        let mut shard = ShardWriter::create(path.clone(), Compression::Gzip).unwrap();
        let pack = store.pack();
        let big = |i: usize| Document::new(format!("big{i}"), format!("{i} ").repeat(5000));
        let mut kept = Vec::new();
        for unit in 0..3 {
            let mut member = MemberWriter::new();
            if unit == 1 {
                // Past PLAIN_DOCUMENTS_MAX of JSON lines.
                for i in 0..120 {
                    member.push(&big(i), Some(&pack), &mut shard).unwrap();
                }
            } else {
                for i in 0..3 {
                    member
                        .push(&doc(unit * 3 + i), Some(&pack), &mut shard)
                        .unwrap();
                }
            }
            kept.push(member.finish(&mut shard).unwrap());
        }
        shard.finish().unwrap();
        assert!(pack.commit().unwrap().is_some());
        let compressions: Vec<Compression> = kept
            .iter()
            .map(|docs| match docs {
                Docs::Whole {
                    object: Some(_),
                    compression,
                    ..
                } => *compression,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            compressions,
            [Compression::None, Compression::Gzip, Compression::None]
        );
        assert_eq!(all(&store, &kept[0]), ["d0", "d1", "d2"]);
        assert_eq!(all(&store, &kept[1]).len(), 120);
        assert_eq!(all(&store, &kept[2]), ["d6", "d7", "d8"]);

        // As a rerun replays them: plain members compressed again line by line, the big
        // one appended as it is. The shard comes out the same, byte for byte.
        let again = dir.path().join("again.jsonl.gz");
        let mut shard = ShardWriter::create(again.clone(), Compression::Gzip).unwrap();
        for docs in &kept {
            let Docs::Whole {
                object: Some(object),
                compression,
                ..
            } = docs
            else {
                unreachable!()
            };
            if *compression == Compression::Gzip {
                shard
                    .append_reader(store.open_object(object).unwrap())
                    .unwrap();
                continue;
            }
            let mut lines = Lines::open(&store, docs).unwrap();
            let mut member = shard.start(io::sink()).unwrap();
            let mut line = Vec::new();
            while lines.next_line(&mut line).unwrap() {
                member.write_line(&line).unwrap();
            }
            shard.end(member).unwrap();
        }
        shard.finish().unwrap();
        assert!(
            std::fs::read(&path).unwrap() == std::fs::read(&again).unwrap(),
            "the replayed shard differs"
        );
    }
}
