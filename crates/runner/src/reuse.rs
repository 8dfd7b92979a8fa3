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
//! writes the same bytes as one that does not.

use atelier_core::format::Compression;
use atelier_core::recipe::RecipeStep;
use atelier_core::{Document, StepStats};
use atelier_io::{ReadOptions, Unit};
use atelier_store::{Hash, ObjectWriter, Record, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// zstd level of cached documents that are not an output member: fast, still small.
const CACHE_ZSTD_LEVEL: i32 = 1;

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
            .text(&unit.path.to_string_lossy())
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

/// How a record keeps its documents; see the [module](self) documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "lowercase")]
pub(crate) enum Docs {
    /// All documents as JSON lines in one object (none without documents).
    Whole {
        object: Option<Hash>,
        compression: Compression,
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

/// A compressing writer: one gzip member, one zstd frame, or plain bytes.
pub(crate) enum Encoder<W: Write> {
    Plain(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    /// An encoder as shards are written: gzip and zstd at the shard levels, with no
    /// timestamp, so that output is deterministic.
    pub fn member(out: W, compression: Compression) -> io::Result<Encoder<W>> {
        Encoder::new(out, compression, atelier_io::ZSTD_LEVEL)
    }

    fn new(out: W, compression: Compression, zstd_level: i32) -> io::Result<Encoder<W>> {
        Ok(match compression {
            Compression::None => Encoder::Plain(out),
            Compression::Gzip => Encoder::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(out, flate2::Compression::new(atelier_io::GZIP_LEVEL)),
            ),
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(out, zstd_level)?;
                e.include_checksum(true)?;
                Encoder::Zstd(e)
            }
        })
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.write_all(bytes),
            Encoder::Gzip(w) => w.write_all(bytes),
            Encoder::Zstd(w) => w.write_all(bytes),
        }
    }

    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Plain(w) => Ok(w),
            Encoder::Gzip(w) => w.finish(),
            Encoder::Zstd(w) => w.finish(),
        }
    }
}

/// Writes into a shard and, with a store, into an object at the same time.
pub(crate) struct Tee {
    object: Option<ObjectWriter>,
    shard: BufWriter<File>,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.shard.write_all(buf)?;
        if let Some(object) = &mut self.object {
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
/// store) into an object.
pub(crate) struct MemberWriter {
    compression: Compression,
    encoder: Option<Encoder<Tee>>,
    line: Vec<u8>,
    pub documents: u64,
    pub text_bytes: u64,
}

impl MemberWriter {
    pub fn new(compression: Compression) -> MemberWriter {
        MemberWriter {
            compression,
            encoder: None,
            line: Vec::new(),
            documents: 0,
            text_bytes: 0,
        }
    }

    /// Appends one document; the member starts (and the shard opens) on the first.
    pub fn push(
        &mut self,
        doc: &Document,
        store: Option<&Store>,
        shard: &mut ShardFile,
    ) -> io::Result<()> {
        self.line.clear();
        doc.write_json_line(&mut self.line);
        if self.encoder.is_none() {
            let object = store.map(Store::writer).transpose().map_err(store_io)?;
            let tee = Tee {
                object,
                shard: shard.take()?,
            };
            self.encoder = Some(Encoder::member(tee, self.compression)?);
        }
        let encoder = self.encoder.as_mut().expect("just opened");
        encoder.write_all(&self.line)?;
        self.documents += 1;
        self.text_bytes += doc.text.len() as u64;
        Ok(())
    }

    /// Ends the member, giving the shard back; returns how the store keeps it.
    pub fn finish(self, shard: &mut ShardFile) -> io::Result<Docs> {
        let object = match self.encoder {
            None => None,
            Some(encoder) => {
                let tee = encoder.finish()?;
                shard.put_back(tee.shard);
                match tee.object {
                    Some(object) => Some(object.finish().map_err(store_io)?.0),
                    None => None,
                }
            }
        };
        Ok(Docs::Whole {
            object,
            compression: self.compression,
        })
    }
}

/// The documents of a prefix that is not the stage's last, as picks from the one before
/// (or, for the read, whole).
pub(crate) struct PrefixWriter {
    store: Store,
    base: Option<Hash>,
    runs: Vec<[u32; 3]>,
    object: Option<Encoder<ObjectWriter>>,
    new_documents: u32,
    line: Vec<u8>,
    pub documents: u64,
    pub text_bytes: u64,
}

impl PrefixWriter {
    /// A writer whose documents are picked from the record `base` (`None`: all new).
    pub fn new(store: &Store, base: Option<Hash>) -> PrefixWriter {
        PrefixWriter {
            store: store.clone(),
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
        if self.object.is_none() {
            let writer = self.store.writer().map_err(store_io)?;
            self.object = Some(Encoder::new(writer, Compression::Zstd, CACHE_ZSTD_LEVEL)?);
        }
        self.line.clear();
        doc.write_json_line(&mut self.line);
        self.object
            .as_mut()
            .expect("opened")
            .write_all(&self.line)?;
        self.extend(1, self.new_documents);
        self.new_documents += 1;
        self.documents += 1;
        self.text_bytes += doc.text.len() as u64;
        Ok(())
    }

    pub fn finish(self) -> io::Result<Docs> {
        let object = match self.object {
            Some(encoder) => Some(encoder.finish()?.finish().map_err(store_io)?.0),
            None => None,
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
                compression: Compression::Zstd,
            },
        })
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
    let file = BufReader::with_capacity(128 * 1024, File::open(store.object_path(hash))?);
    let reader: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(file)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(file)?),
    };
    Ok(Box::new(BufReader::with_capacity(256 * 1024, reader)))
}

impl Lines {
    /// Opens every object a record's documents need, so that nothing can go missing once
    /// reading starts; fails when one is absent.
    pub fn open(store: &Store, docs: &Docs) -> io::Result<Lines> {
        match docs {
            Docs::Whole {
                object,
                compression,
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
                    base: Box::new(Lines::open(store, &record.data.docs)?),
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

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "a cached record has fewer documents than it says",
    )
}

/// A shard made of members, opened on the first one (a task that keeps nothing leaves
/// no file), under a hidden temporary name until [`ShardFile::finish`].
pub(crate) struct ShardFile {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
    opened: bool,
}

impl ShardFile {
    pub fn new(path: PathBuf) -> ShardFile {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.tmp"));
        ShardFile {
            path,
            tmp,
            out: None,
            opened: false,
        }
    }

    /// Takes the open shard's writer (opening it on first use) while a member is written.
    fn take(&mut self) -> io::Result<BufWriter<File>> {
        if !self.opened {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            self.out = Some(BufWriter::with_capacity(
                256 * 1024,
                File::create(&self.tmp)?,
            ));
            self.opened = true;
        }
        self.out
            .take()
            .ok_or_else(|| io::Error::other("a shard writes one member at a time"))
    }

    fn put_back(&mut self, out: BufWriter<File>) {
        self.out = Some(out);
    }

    /// Appends a file's bytes (a cached member).
    pub fn append(&mut self, path: &Path) -> io::Result<u64> {
        let mut out = self.take()?;
        let copied = File::open(path).and_then(|mut file| io::copy(&mut file, &mut out));
        self.put_back(out);
        copied
    }

    /// Syncs and renames the shard into place, if anything was written.
    pub fn finish(mut self) -> io::Result<()> {
        if !self.opened {
            return Ok(());
        }
        let out = self
            .out
            .take()
            .ok_or_else(|| io::Error::other("a member was left unfinished"))?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path)?;
        self.opened = false;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for ShardFile {
    fn drop(&mut self) {
        if self.opened {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
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
        let mut read = PrefixWriter::new(&store, None);
        for i in 0..10 {
            read.new_document(&doc(i)).unwrap();
        }
        let k0 = Hash::key("t").number(0).finish();
        let docs0 = read.finish().unwrap();
        assert!(matches!(docs0, Docs::Whole { .. }));
        put(&store, k0, docs0);

        // A filter keeps the even documents and rewrites 4.
        let mut filter = PrefixWriter::new(&store, Some(k0));
        for i in (0..10).step_by(2) {
            if i == 4 {
                filter.new_document(&Document::new("d4-new", "x")).unwrap();
            } else {
                filter.same(i as u64, 6);
            }
        }
        let k1 = Hash::key("t").number(1).finish();
        let docs1 = filter.finish().unwrap();
        assert!(matches!(&docs1, Docs::Picks { runs, .. } if runs.len() == 5));
        put(&store, k1, docs1.clone());
        assert_eq!(all(&store, &docs1), ["d0", "d2", "d4-new", "d6", "d8"]);

        // A second filter on top keeps the last two.
        let mut second = PrefixWriter::new(&store, Some(k1));
        second.same(3, 6);
        second.same(4, 6);
        let docs2 = second.finish().unwrap();
        assert_eq!(all(&store, &docs2), ["d6", "d8"]);

        // Without its base, a record cannot be opened: the work is redone.
        std::fs::remove_file(store.record_path(&k1)).unwrap();
        assert!(Lines::open(&store, &docs2).is_err());
    }

    #[test]
    fn members_are_valid_alone_and_concatenated() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = dir.path().join("part-00000.jsonl.gz");
        let mut shard = ShardFile::new(path.clone());
        let mut objects = Vec::new();
        for unit in 0..2 {
            let mut member = MemberWriter::new(Compression::Gzip);
            for i in 0..3 {
                member
                    .push(&doc(unit * 3 + i), Some(&store), &mut shard)
                    .unwrap();
            }
            match member.finish(&mut shard).unwrap() {
                Docs::Whole {
                    object: Some(h),
                    compression: Compression::Gzip,
                } => objects.push(h),
                other => panic!("{other:?}"),
            }
        }
        shard.finish().unwrap();
        let ids: Vec<String> = objects
            .iter()
            .flat_map(|h| {
                all(
                    &store,
                    &Docs::Whole {
                        object: Some(*h),
                        compression: Compression::Gzip,
                    },
                )
            })
            .collect();
        assert_eq!(ids, ["d0", "d1", "d2", "d3", "d4", "d5"]);
        let mut joined = Vec::new();
        for h in &objects {
            joined.extend(std::fs::read(store.object_path(h)).unwrap());
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            joined,
            "the shard is its members"
        );
    }
}
