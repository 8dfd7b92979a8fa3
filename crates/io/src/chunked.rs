//! Members written in chunks that a later shard can copy instead of compressing again.
//!
//! A member (one gzip member, or zstd frames) holds its lines in *chunks*, each
//! compressed alone, so that a chunk's bytes depend on nothing but its own lines:
//!
//! - gzip: one gzip member, readable by every gzip reader, whose deflate stream is the
//!   run of chunks: each a fresh raw deflate (no match reaches back into the chunk
//!   before) ended by a sync flush, so a byte-aligned run of deflate blocks. The member
//!   ends with an empty final block, the CRC-32 and the length of all lines.
//! - zstd: one frame (with its checksum) per chunk; frames one after the other are one
//!   zstd stream to every reader.
//!
//! Where chunks end depends on the lines alone, never on where a shard or a task starts
//! or on the run: a line ends its chunk when its CRC-32, read as a fraction of 2^32, is
//! below its length over [`CHUNK_TARGET_BYTES`] (so chunks hold about that many bytes,
//! whatever the lines' sizes), unless the chunk is under [`CHUNK_MIN_BYTES`]; a chunk
//! also ends at the first line that brings it to [`CHUNK_MAX_BYTES`]. Lines inserted or
//! changed somewhere change the chunk they fall in and seldom the next; the chunks after
//! are the same bytes (as `gzip --rsyncable` keeps a compressed file's bytes where its
//! input did not change), and a shard that starts at another line finds the same chunk
//! ends after its first one. A [`ChunkCache`] may then give a chunk's compressed bytes
//! kept from an earlier shard: copying them is what compressing again would write, for a
//! small part of its cost. A fresh dictionary for each chunk costs about 1% of size
//! (2,000-byte mails, the bundled example's shards).
//!
//! The boundaries are found in the bytes (line by line), not in how they were handed
//! over, so the same lines give the same member whether written one by one or at once.
//! gzip is framed by hand here because no crate writes a member from byte-aligned
//! deflate pieces given from outside; each piece is `flate2`'s raw deflate.

use flate2::{Compress, FlushCompress, Status};
use std::io::{self, Write};

use crate::write::GZIP_LEVEL;

/// The size chunks have on average: a line of `n` bytes ends its chunk with the
/// probability `n / CHUNK_TARGET_BYTES` (by its CRC-32).
pub const CHUNK_TARGET_BYTES: usize = 256 << 10;
/// No line ends a chunk smaller than this...
pub const CHUNK_MIN_BYTES: usize = 32 << 10;
/// ... and the first line that brings a chunk to this size ends it.
pub const CHUNK_MAX_BYTES: usize = 4 << 20;

/// Whether a line ends its chunk: `crc` is the line's CRC-32, `line_bytes` its length
/// (its newline included) and `chunk_bytes` what the chunk holds with it. Whatever cuts
/// lines as chunks do (tokenizing's units too) cuts with this.
pub fn ends_chunk(crc: u32, line_bytes: usize, chunk_bytes: usize) -> bool {
    // crc / 2^32 < line_bytes / target, in integers.
    let below = u128::from(crc) * (CHUNK_TARGET_BYTES as u128) < (line_bytes as u128) << 32;
    chunk_bytes >= CHUNK_MAX_BYTES || (chunk_bytes >= CHUNK_MIN_BYTES && below)
}

/// A gzip header with no name, no time and an unknown system, so that output does not
/// depend on where it was written.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// An empty final deflate block (fixed codes, end of block only).
const LAST_BLOCK: [u8; 2] = [0x03, 0x00];

/// Compressed chunks kept from earlier shards, and told about the chunks a member
/// writes.
pub trait ChunkCache: Send {
    /// The compressed bytes of a chunk of these lines, when kept: exactly what
    /// compressing them would write. Called once before each chunk is written.
    fn find(&mut self, lines: &[u8]) -> Option<Vec<u8>>;

    /// The chunk last asked for is written: its compressed bytes, at `offset` bytes from
    /// the start of the shard.
    fn written(&mut self, compressed: &[u8], offset: u64);
}

/// What compresses chunks: kept from one member to the next of a shard, since making one
/// costs a fifth of writing a small member.
pub enum Codec {
    /// gzip at [`GZIP_LEVEL`]: raw deflate, reset for each chunk.
    Gzip(Box<Compress>),
    /// zstd at a level, with checksums: one frame per chunk.
    Zstd(i32, Box<zstd::bulk::Compressor<'static>>),
}

impl Codec {
    /// gzip at [`GZIP_LEVEL`].
    pub fn gzip() -> Codec {
        Codec::Gzip(Box::new(Compress::new(
            flate2::Compression::new(GZIP_LEVEL),
            false,
        )))
    }

    /// zstd at `level`, writing checksums.
    pub fn zstd(level: i32) -> io::Result<Codec> {
        let mut compressor = zstd::bulk::Compressor::new(level)?;
        compressor.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
        Ok(Codec::Zstd(level, Box::new(compressor)))
    }

    /// Compresses one chunk into `out`, replacing what it held.
    fn compress(&mut self, lines: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Codec::Gzip(deflate) => deflate_chunk(deflate, lines, out),
            Codec::Zstd(_, compressor) => {
                out.clear();
                out.reserve(zstd::zstd_safe::compress_bound(lines.len()));
                compressor.compress_to_buffer(lines, out)?;
                Ok(())
            }
        }
    }
}

/// What a finished member hands to the next of its shard.
pub struct Leftover {
    /// Its codec.
    pub codec: Codec,
    /// Its chunk cache.
    pub cache: Option<Box<dyn ChunkCache>>,
}

/// A member being written in chunks; see the [module](self) documentation.
pub struct Chunked<W: Write> {
    out: W,
    codec: Codec,
    /// Where the member starts in its shard.
    base: u64,
    /// Compressed bytes written so far, the gzip header included.
    written: u64,
    /// Chunks written so far.
    chunks: u64,
    /// Lines of the chunk being gathered.
    lines: Vec<u8>,
    /// CRC-32 of the line being gathered, to see whether it ends the chunk, and where
    /// it starts in `lines`.
    line: crc32fast::Hasher,
    line_start: usize,
    /// CRC-32 and length of everything written (the gzip trailer).
    whole: crc32fast::Hasher,
    length: u64,
    compressed: Vec<u8>,
    cache: Option<Box<dyn ChunkCache>>,
}

impl<W: Write> Chunked<W> {
    /// Starts a member at `base` bytes into its shard, compressed by `codec`, taking
    /// chunks from `cache`.
    pub fn new(
        mut out: W,
        codec: Codec,
        base: u64,
        cache: Option<Box<dyn ChunkCache>>,
    ) -> io::Result<Chunked<W>> {
        let mut written = 0;
        if let Codec::Gzip(_) = codec {
            out.write_all(&HEADER)?;
            written = HEADER.len() as u64;
        }
        Ok(Chunked {
            out,
            codec,
            base,
            written,
            chunks: 0,
            lines: Vec::new(),
            line: crc32fast::Hasher::new(),
            line_start: 0,
            whole: crc32fast::Hasher::new(),
            length: 0,
            compressed: Vec::new(),
            cache,
        })
    }

    /// Appends bytes, ending a chunk after each line that ends one.
    pub fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while let Some(end) = memchr::memchr(b'\n', bytes) {
            let (line, rest) = bytes.split_at(end + 1);
            self.lines.extend_from_slice(line);
            self.line.update(line);
            let crc = std::mem::replace(&mut self.line, crc32fast::Hasher::new()).finalize();
            let size = self.lines.len();
            if ends_chunk(crc, size - self.line_start, size) {
                self.end_chunk()?;
            }
            self.line_start = self.lines.len();
            bytes = rest;
        }
        self.lines.extend_from_slice(bytes);
        self.line.update(bytes);
        Ok(())
    }

    /// Writes the gathered lines as one chunk: copied from the cache, or compressed.
    fn end_chunk(&mut self) -> io::Result<()> {
        let kept = self.cache.as_mut().and_then(|c| c.find(&self.lines));
        match kept {
            Some(bytes) => self.compressed = bytes,
            None => self.codec.compress(&self.lines, &mut self.compressed)?,
        }
        self.out.write_all(&self.compressed)?;
        if let Some(cache) = &mut self.cache {
            cache.written(&self.compressed, self.base + self.written);
        }
        self.written += self.compressed.len() as u64;
        self.chunks += 1;
        if let Codec::Gzip(_) = self.codec {
            self.whole.update(&self.lines);
            self.length += self.lines.len() as u64;
        }
        self.lines.clear();
        self.line_start = 0;
        Ok(())
    }

    /// Ends the member; gives the writer back, the codec and the cache.
    pub fn finish(mut self) -> io::Result<(W, Leftover)> {
        // The last lines; a zstd member of no lines is still one (empty) frame.
        let zstd = matches!(self.codec, Codec::Zstd(..));
        if !self.lines.is_empty() || (zstd && self.chunks == 0) {
            self.end_chunk()?;
        }
        if !zstd {
            self.out.write_all(&LAST_BLOCK)?;
            self.out
                .write_all(&self.whole.clone().finalize().to_le_bytes())?;
            // ISIZE: the length modulo 2^32, as the format says.
            self.out.write_all(&(self.length as u32).to_le_bytes())?;
        }
        let left = Leftover {
            codec: self.codec,
            cache: self.cache,
        };
        Ok((self.out, left))
    }
}

/// Compresses one gzip chunk into `out` (replacing what it held): a fresh raw deflate of
/// `lines`, ended by a sync flush.
fn deflate_chunk(deflate: &mut Compress, lines: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    deflate.reset();
    out.clear();
    // Room for incompressible input, with margin; the loop grows it if ever short.
    out.reserve(lines.len() + lines.len() / 8 + 64);
    let start = deflate.total_in();
    loop {
        let consumed = (deflate.total_in() - start) as usize;
        let status = deflate
            .compress_vec(&lines[consumed..], out, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        let done = deflate.total_in() - start == lines.len() as u64;
        if done && out.len() < out.capacity() {
            return Ok(());
        }
        if status == Status::StreamEnd {
            return Err(io::Error::other(
                "deflate ended a stream it was only flushing",
            ));
        }
        out.reserve(out.capacity().max(4096));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn lines(n: usize, seed: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut x = seed;
        for i in 0..n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            out.extend_from_slice(format!("{{\"id\":{i},\"text\":\"line {x} ").as_bytes());
            out.extend(std::iter::repeat_n(
                b'a' + (x >> 59) as u8,
                (x >> 40) as usize % 900,
            ));
            out.extend_from_slice(b"\"}\n");
        }
        out
    }

    fn member(bytes: &[u8], pieces: usize, cache: Option<Box<dyn ChunkCache>>) -> Vec<u8> {
        member_with(Codec::gzip(), bytes, pieces, cache)
    }

    fn member_with(
        codec: Codec,
        bytes: &[u8],
        pieces: usize,
        cache: Option<Box<dyn ChunkCache>>,
    ) -> Vec<u8> {
        let mut member = Chunked::new(Vec::new(), codec, 0, cache).unwrap();
        for piece in bytes.chunks(bytes.len().div_ceil(pieces).max(1)) {
            member.write_all(piece).unwrap();
        }
        member.finish().unwrap().0
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Records what was written, and serves the chunks of an earlier member.
    #[derive(Default)]
    struct Kept {
        earlier: Vec<(Vec<u8>, Vec<u8>)>,
        asked: Option<Vec<u8>>,
        written: Vec<(Vec<u8>, Vec<u8>, u64)>,
        copied: usize,
    }

    impl ChunkCache for std::sync::Arc<std::sync::Mutex<Kept>> {
        fn find(&mut self, lines: &[u8]) -> Option<Vec<u8>> {
            let mut kept = self.lock().unwrap();
            kept.asked = Some(lines.to_vec());
            let found = kept
                .earlier
                .iter()
                .find(|(l, _)| l == lines)
                .map(|(_, c)| c.clone());
            kept.copied += usize::from(found.is_some());
            found
        }
        fn written(&mut self, compressed: &[u8], offset: u64) {
            let mut kept = self.lock().unwrap();
            let lines = kept.asked.take().unwrap();
            kept.written.push((lines, compressed.to_vec(), offset));
        }
    }

    #[test]
    fn a_member_is_gzip_of_its_lines_however_they_are_handed_over() {
        let text = lines(3000, 1);
        let whole = member(&text, 1, None);
        assert_eq!(gunzip(&whole), text);
        assert_eq!(member(&text, 777, None), whole);
        assert_eq!(gunzip(&member(b"", 1, None)), b"");
        assert_eq!(gunzip(&member(b"no line end", 1, None)), b"no line end");
    }

    #[test]
    fn a_zstd_member_is_frames_of_its_lines_however_they_are_handed_over() {
        let text = lines(3000, 5);
        let zstd = || Codec::zstd(3).unwrap();
        let whole = member_with(zstd(), &text, 1, None);
        assert_eq!(zstd::decode_all(&whole[..]).unwrap(), text);
        assert_eq!(member_with(zstd(), &text, 333, None), whole);
        let empty = member_with(zstd(), b"", 1, None);
        assert!(!empty.is_empty(), "one empty frame");
        assert_eq!(zstd::decode_all(&empty[..]).unwrap(), b"");
    }

    /// The compressed chunks a member is written in.
    fn chunks_of(bytes: &[u8]) -> Vec<Vec<u8>> {
        let cache = std::sync::Arc::new(std::sync::Mutex::new(Kept::default()));
        member(bytes, 1, Some(Box::new(cache.clone())));
        let kept = cache.lock().unwrap();
        kept.written.iter().map(|(_, c, _)| c.clone()).collect()
    }

    #[test]
    fn a_member_that_starts_at_another_line_ends_its_chunks_at_the_same_lines() {
        let text = lines(4000, 4);
        let whole = chunks_of(&text);
        assert!(whole.len() >= 4, "{} chunks", whole.len());
        // A shard whose task starts 300 lines later: after its first chunk, every chunk
        // is one of the whole text's.
        let start = text
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(299)
            .unwrap()
            .0
            + 1;
        let later = chunks_of(&text[start..]);
        assert!(later[1..].iter().all(|c| whole.contains(c)));
    }

    #[test]
    fn chunks_after_a_change_are_the_same_bytes_and_copied() {
        let text = lines(4000, 2);
        let cache = std::sync::Arc::new(std::sync::Mutex::new(Kept::default()));
        let first = member(&text, 1, Some(Box::new(cache.clone())));
        let chunks = cache.lock().unwrap().written.clone();
        assert!(chunks.len() >= 4, "{} chunks", chunks.len());
        for (_, compressed, offset) in &chunks {
            let at = *offset as usize;
            assert_eq!(&first[at..at + compressed.len()], &compressed[..]);
        }
        // Lines inserted near the start: a fresh member, then one copying kept chunks.
        let at = text.iter().position(|&b| b == b'\n').unwrap() + 1;
        let mut changed = text[..at].to_vec();
        changed.extend_from_slice(&lines(20, 3));
        changed.extend_from_slice(&text[at..]);
        let fresh = member(&changed, 1, None);
        let again = Kept {
            earlier: chunks
                .iter()
                .map(|(l, c, _)| (l.clone(), c.clone()))
                .collect(),
            ..Kept::default()
        };
        let again = std::sync::Arc::new(std::sync::Mutex::new(again));
        let copied = member(&changed, 3, Some(Box::new(again.clone())));
        assert_eq!(copied, fresh);
        assert_eq!(gunzip(&copied), changed);
        let kept = again.lock().unwrap();
        assert!(
            kept.copied + 2 >= chunks.len(),
            "{} of {} chunks copied",
            kept.copied,
            chunks.len()
        );
    }
}
