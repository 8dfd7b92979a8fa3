//! Writing documents as JSON lines, plain, gzip or zstd, atomically.
//!
//! A shard is a sequence of *members*: gzip members or zstd frames, each valid alone, so
//! that a member kept elsewhere (the project store keeps a unit's documents) can be
//! appended to a shard byte for byte. [`Encoder`] compresses one member; [`ShardWriter`]
//! writes a shard of [`Member`]s. A compressed member is written in chunks that a later
//! shard can copy ([`crate::chunked`]).
//!
//! A [`ShardWriter`] writes an [`AtomicFile`] (a hidden temporary file beside its final
//! path, which [`crate::list_source`] skips and the runner removes after a crash),
//! created on the first byte, so that a shard that receives nothing leaves no file. Only
//! [`ShardWriter::finish`] renames it into place, after flushing and syncing it; a
//! writer dropped before `finish` removes its temporary file, so a final file is always
//! complete. ([`ShardWriter::in_memory`] keeps members in memory instead, for a member
//! made apart and appended to a shard later.) Output is deterministic: gzip at level 6 with
//! no time or system in its header, zstd at level 3 (or the level a shard is given) on
//! one thread.

use atelier_core::Document;
use atelier_core::atomic::AtomicFile;
use atelier_core::format::Compression;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::chunked::{ChunkCache, Chunked, Codec, Leftover};

/// gzip level of shards.
pub const GZIP_LEVEL: u32 = 6;
/// The form of compressed members: 1 for members in chunks ([`crate::chunked`]).
/// Members kept in another form are decoded and written again rather than copied.
pub const MEMBER_FORM: u32 = 1;
/// zstd level of shards.
pub const ZSTD_LEVEL: i32 = 3;
/// zstd level of documents that are not a dataset's: work handed from one stage to the
/// next, and cached in the project store. Written once, read once or twice: fast, still
/// small.
pub const FAST_ZSTD_LEVEL: i32 = 1;

/// A compressing writer of one member: a gzip member or zstd frames, in chunks
/// ([`crate::chunked`]), or plain bytes.
pub enum Encoder<W: Write> {
    /// No compression.
    Plain(W),
    /// gzip or zstd, in chunks.
    Chunked(Chunked<W>),
}

impl<W: Write> Encoder<W> {
    /// An encoder at the shard levels, with no timestamp, so that output is
    /// deterministic.
    pub fn new(out: W, compression: Compression) -> io::Result<Encoder<W>> {
        Encoder::with_zstd_level(out, compression, ZSTD_LEVEL)
    }

    /// The same with another zstd level (the project store keeps some documents faster).
    pub fn with_zstd_level(
        out: W,
        compression: Compression,
        zstd_level: i32,
    ) -> io::Result<Encoder<W>> {
        Encoder::reusing(out, compression, zstd_level, 0, None, None)
    }

    /// The same, reusing what the shard's last member left: its codec when it has this
    /// compression and level (the same bytes as a new one), the shard's chunk cache; the
    /// member starts `base` bytes into its shard.
    fn reusing(
        out: W,
        compression: Compression,
        zstd_level: i32,
        base: u64,
        codec: Option<Codec>,
        cache: Option<Box<dyn ChunkCache>>,
    ) -> io::Result<Encoder<W>> {
        let codec = match (compression, codec) {
            (Compression::None, _) => return Ok(Encoder::Plain(out)),
            (Compression::Gzip, Some(codec @ Codec::Gzip(_))) => codec,
            (Compression::Zstd, Some(codec @ Codec::Zstd(level, _))) if level == zstd_level => {
                codec
            }
            (Compression::Gzip, _) => Codec::gzip(),
            (Compression::Zstd, _) => Codec::zstd(zstd_level)?,
        };
        Ok(Encoder::Chunked(Chunked::new(out, codec, base, cache)?))
    }

    /// Compresses bytes.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.write_all(bytes),
            Encoder::Chunked(w) => w.write_all(bytes),
        }
    }

    /// Ends the member; gives the inner writer back.
    pub fn finish(self) -> io::Result<W> {
        self.finish_keeping().map(|(w, _)| w)
    }

    /// Ends the member; gives the inner writer back, and the codec and chunk cache for
    /// the shard's next member.
    fn finish_keeping(self) -> io::Result<(W, Option<Leftover>)> {
        match self {
            Encoder::Plain(w) => Ok((w, None)),
            Encoder::Chunked(w) => {
                let (w, left) = w.finish()?;
                Ok((w, Some(left)))
            }
        }
    }
}

/// Where a member's compressed bytes go: the shard, and a copy of them (the project
/// store's object for the member, or [`io::Sink`]).
pub struct Tee<C: Write> {
    shard: Target,
    copy: C,
    /// Bytes written to the shard.
    bytes: u64,
}

/// Where a shard's bytes go: its file, or memory for members made apart, to be
/// appended to a shard later ([`ShardWriter::in_memory`]).
enum Target {
    File(BufWriter<AtomicFile>),
    Memory(Vec<u8>),
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::File(file) => file.write(buf),
            Target::Memory(bytes) => bytes.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Target::File(file) => file.write_all(buf),
            Target::Memory(bytes) => bytes.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Target::File(file) => file.flush(),
            Target::Memory(_) => Ok(()),
        }
    }
}

impl<C: Write> Write for Tee<C> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.shard.write_all(buf)?;
        self.copy.write_all(buf)?;
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One member of a shard being written: documents compressed once, into the shard and
/// into a copy. Given back to [`ShardWriter::end`].
pub struct Member<C: Write> {
    encoder: Encoder<Tee<C>>,
    line: Vec<u8>,
    documents: u64,
    text_bytes: u64,
}

impl<C: Write> Member<C> {
    /// Appends one document as a JSON line.
    pub fn write(&mut self, doc: &Document) -> io::Result<()> {
        self.line.clear();
        doc.write_json_line(&mut self.line);
        self.encoder.write_all(&self.line)?;
        self.documents += 1;
        self.text_bytes += doc.text.len() as u64;
        Ok(())
    }

    /// Appends the JSON line (with its `\n`) of a document written before, as
    /// [`Member::write`] wrote it: the member's bytes are the same. Its text bytes are
    /// not counted.
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.encoder.write_all(line)?;
        self.documents += 1;
        Ok(())
    }

    /// The JSON line of the last document [`Member::write`] wrote.
    pub fn last_line(&self) -> &[u8] {
        &self.line
    }

    /// Documents written so far.
    pub fn documents(&self) -> u64 {
        self.documents
    }

    /// Their text bytes.
    pub fn text_bytes(&self) -> u64 {
        self.text_bytes
    }
}

/// What [`ShardWriter::finish`] left on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenShard {
    /// Documents written through its members.
    pub documents: u64,
    /// The file's size in bytes (0 when nothing was written, and no file made).
    pub bytes: u64,
}

/// Writes one output shard of JSON lines, member after member.
pub struct ShardWriter {
    path: PathBuf,
    compression: Compression,
    zstd_level: i32,
    /// The temporary file (or memory), once opened; taken by the member being written.
    file: Option<Target>,
    opened: bool,
    /// Kept in memory instead of a file.
    in_memory: bool,
    documents: u64,
    /// Bytes written so far.
    bytes: u64,
    /// The last member's codec, for the next.
    codec: Option<Codec>,
    /// Where members take kept chunks from and tell what they write.
    cache: Option<Box<dyn ChunkCache>>,
}

impl ShardWriter {
    /// Starts a shard that will be `path` once finished; nothing is on disk before the
    /// first byte.
    pub fn create(path: impl Into<PathBuf>, compression: Compression) -> io::Result<ShardWriter> {
        let path = path.into();
        if path.file_name().is_none() {
            return Err(io::Error::other(format!(
                "{}: not a file path",
                path.display()
            )));
        }
        Ok(ShardWriter {
            path,
            compression,
            zstd_level: ZSTD_LEVEL,
            file: None,
            opened: false,
            in_memory: false,
            documents: 0,
            bytes: 0,
            codec: None,
            cache: None,
        })
    }

    /// Members kept in memory, to append to a shard later
    /// ([`ShardWriter::append_reader`]): [`ShardWriter::into_bytes`] gives them.
    pub fn in_memory(compression: Compression) -> ShardWriter {
        ShardWriter {
            path: PathBuf::from("(memory)"),
            compression,
            zstd_level: ZSTD_LEVEL,
            file: None,
            opened: false,
            in_memory: true,
            documents: 0,
            bytes: 0,
            codec: None,
            cache: None,
        }
    }

    /// The bytes of an [`in_memory`](ShardWriter::in_memory) writer's members.
    pub fn into_bytes(mut self) -> io::Result<Vec<u8>> {
        match self.file.take() {
            Some(Target::Memory(bytes)) => Ok(bytes),
            None if !self.opened => Ok(Vec::new()),
            _ => Err(io::Error::other(
                "not an in-memory shard, or a member was left unfinished",
            )),
        }
    }

    /// The same shard with zstd members at another level.
    pub fn with_zstd_level(mut self, level: i32) -> ShardWriter {
        self.zstd_level = level;
        self
    }

    /// The same shard with its members' chunks taken from and told to `cache`
    /// ([`crate::chunked`]).
    pub fn with_chunk_cache(mut self, cache: Box<dyn ChunkCache>) -> ShardWriter {
        self.cache = Some(cache);
        self
    }

    /// The zstd level of its members, when they are zstd frames.
    pub fn member_zstd_level(&self) -> Option<i32> {
        (self.compression == Compression::Zstd).then_some(self.zstd_level)
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The form of its members, when they are compressed ([`MEMBER_FORM`]).
    pub fn member_form(&self) -> Option<u32> {
        (self.compression != Compression::None).then_some(MEMBER_FORM)
    }

    /// The compression of its members.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Documents written so far.
    pub fn documents(&self) -> u64 {
        self.documents
    }

    /// Starts a member whose compressed bytes also go to `copy`. The shard takes no
    /// other bytes until [`ShardWriter::end`] gets it back.
    pub fn start<C: Write>(&mut self, copy: C) -> io::Result<Member<C>> {
        let shard = self.take()?;
        Ok(Member {
            encoder: Encoder::reusing(
                Tee {
                    shard,
                    copy,
                    bytes: 0,
                },
                self.compression,
                self.zstd_level,
                self.bytes,
                self.codec.take(),
                self.cache.take(),
            )?,
            line: Vec::new(),
            documents: 0,
            text_bytes: 0,
        })
    }

    /// Ends a member; gives its copy back.
    pub fn end<C: Write>(&mut self, member: Member<C>) -> io::Result<C> {
        let (tee, left) = member.encoder.finish_keeping()?;
        if let Some(left) = left {
            self.codec = Some(left.codec);
            self.cache = left.cache;
        }
        self.file = Some(tee.shard);
        self.documents += member.documents;
        self.bytes += tee.bytes;
        Ok(tee.copy)
    }

    /// Appends a file's bytes: a member kept elsewhere, in this shard's compression.
    pub fn append(&mut self, path: &Path) -> io::Result<u64> {
        self.append_reader(File::open(path)?)
    }

    /// Appends what a reader yields: a member kept elsewhere, in this shard's
    /// compression.
    pub fn append_reader(&mut self, mut reader: impl io::Read) -> io::Result<u64> {
        let mut out = self.take()?;
        let copied = io::copy(&mut reader, &mut out);
        self.file = Some(out);
        self.bytes += *copied.as_ref().unwrap_or(&0);
        copied
    }

    /// The open file's writer (opened on first use) while a member is written.
    fn take(&mut self) -> io::Result<Target> {
        if !self.opened {
            self.file = Some(if self.in_memory {
                Target::Memory(Vec::new())
            } else {
                Target::File(BufWriter::with_capacity(
                    256 * 1024,
                    AtomicFile::create(&self.path)?,
                ))
            });
            self.opened = true;
        }
        self.file
            .take()
            .ok_or_else(|| io::Error::other("a shard writes one member at a time"))
    }

    /// Completes the shard: flushes, syncs, renames it into place. A shard that
    /// received nothing leaves no file.
    pub fn finish(mut self) -> io::Result<WrittenShard> {
        if !self.opened {
            return Ok(WrittenShard {
                documents: 0,
                bytes: 0,
            });
        }
        let out = match self.file.take() {
            Some(Target::File(out)) => out,
            Some(Target::Memory(_)) => {
                return Err(io::Error::other("an in-memory shard has no file to finish"));
            }
            None => return Err(io::Error::other("a member was left unfinished")),
        };
        let mut file = out.into_inner().map_err(|e| e.into_error())?;
        let bytes = file.file().metadata()?.len();
        file.commit()?;
        Ok(WrittenShard {
            documents: self.documents,
            bytes,
        })
    }
}
