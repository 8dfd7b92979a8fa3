//! Byte sources: an opened file (seekable), a remote file (seekable by asking again
//! from the new position) or a decompressed stream, read through one buffer that tracks the absolute position, can peek a few bytes ahead and reads lines
//! without ever holding more than a given number of bytes.

use crate::http::RemoteReader;
use crate::location::{Location, client};
use atelier_core::format::Compression;
use flate2::bufread::GzDecoder;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Size of the read buffer.
const BUFFER: usize = 64 * 1024;

/// Bytes of a bad record kept in [`crate::RecordError::excerpt`].
pub(crate) const EXCERPT: usize = 2048;

/// Where the bytes come from.
enum Inner {
    /// A plain file: positions are file offsets and seeking is possible.
    File(File),
    /// A remote file as it is stored: positions are file offsets, and seeking asks for
    /// the bytes from the new position.
    Remote {
        /// Its URL.
        url: String,
        /// The bytes from the position of the buffer's end.
        reader: Box<RemoteReader>,
    },
    /// A decompressed stream: positions count decompressed bytes.
    Stream(Box<dyn Read + Send>),
    /// One gzip member of a file; `into_file` gives the file back once it is read.
    Member(Box<GzDecoder<Source>>),
}

/// A buffered byte source with absolute positions.
pub(crate) struct Source {
    inner: Inner,
    buf: Box<[u8]>,
    head: usize,
    tail: usize,
    /// Absolute position of `buf[head]`.
    pos: u64,
    /// A buffer kept for the next gzip member, so that members do not each allocate one.
    spare: Option<Box<[u8]>>,
}

/// One line read by [`Source::read_line`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line {
    /// Position of its first byte.
    pub start: u64,
    /// Bytes of content, without the `\n`.
    pub len: u64,
    /// Whether the content was longer than the limit, so only a prefix was kept.
    pub overflow: bool,
}

/// Opens a file for reading, refusing folders with a clear message.
pub(crate) fn open_file(path: &Path) -> io::Result<File> {
    let file = File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(io::Error::other("is a folder, not a file"));
    }
    Ok(file)
}

impl Source {
    fn new(inner: Inner, pos: u64) -> Source {
        Source::with_buffer(inner, pos, vec![0; BUFFER].into_boxed_slice())
    }

    fn with_buffer(inner: Inner, pos: u64, buf: Box<[u8]>) -> Source {
        Source {
            inner,
            buf,
            head: 0,
            tail: 0,
            pos,
            spare: None,
        }
    }

    /// A file as stored, positioned at `start`.
    pub fn plain(location: &Location, start: u64) -> io::Result<Source> {
        let inner = match location {
            Location::Local(path) => {
                let mut file = open_file(path)?;
                if start > 0 {
                    file.seek(SeekFrom::Start(start))?;
                }
                Inner::File(file)
            }
            Location::Remote(url) => Inner::Remote {
                url: url.clone(),
                reader: Box::new(client().reader(url, start, None)),
            },
        };
        Ok(Source::new(inner, start))
    }

    /// A file decompressed as `compression` says, from its first byte.
    pub fn decoded(location: &Location, compression: Compression) -> io::Result<Source> {
        let raw: Box<dyn Read + Send> = match location {
            Location::Local(path) if compression == Compression::None => {
                return Ok(Source::new(Inner::File(open_file(path)?), 0));
            }
            Location::Remote(_) if compression == Compression::None => {
                return Source::plain(location, 0);
            }
            Location::Local(path) => Box::new(open_file(path)?),
            Location::Remote(url) => Box::new(client().reader(url, 0, None)),
        };
        let inner = match compression {
            Compression::None => unreachable!("returned above"),
            Compression::Gzip => Inner::Stream(Box::new(flate2::bufread::MultiGzDecoder::new(
                BufReader::with_capacity(BUFFER, raw),
            ))),
            Compression::Zstd => Inner::Stream(Box::new(zstd::stream::read::Decoder::new(raw)?)),
        };
        Ok(Source::new(inner, 0))
    }

    /// The decompressed bytes of the gzip member starting at this source's position;
    /// positions restart at 0.
    pub fn into_member(mut self) -> Source {
        let buf = self
            .spare
            .take()
            .unwrap_or_else(|| vec![0; BUFFER].into_boxed_slice());
        Source::with_buffer(Inner::Member(Box::new(GzDecoder::new(self))), 0, buf)
    }

    /// The file under a gzip member source, positioned where the decoder stopped.
    pub fn into_file(self) -> Option<Source> {
        match self.inner {
            Inner::Member(decoder) => {
                let mut file = decoder.into_inner();
                file.spare = Some(self.buf);
                Some(file)
            }
            _ => None,
        }
    }

    /// Absolute position of the next byte.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Whether [`Source::seek_to`] works.
    pub fn seekable(&self) -> bool {
        matches!(self.inner, Inner::File(_) | Inner::Remote { .. })
    }

    /// Moves to an absolute position; `Ok(false)` for streams, which cannot seek.
    pub fn seek_to(&mut self, target: u64) -> io::Result<bool> {
        if !self.seekable() {
            return Ok(false);
        }
        let buf_start = self.pos - self.head as u64;
        if target >= buf_start && target <= buf_start + self.tail as u64 {
            self.head = (target - buf_start) as usize;
        } else {
            match &mut self.inner {
                Inner::File(file) => {
                    file.seek(SeekFrom::Start(target))?;
                }
                Inner::Remote { url, reader } => {
                    **reader = client().reader(url, target, None);
                }
                Inner::Stream(_) | Inner::Member(_) => unreachable!("not seekable"),
            }
            self.head = 0;
            self.tail = 0;
        }
        self.pos = target;
        Ok(true)
    }

    fn read_inner(&mut self, from: usize) -> io::Result<usize> {
        let buf = &mut self.buf[from..];
        loop {
            let result = match &mut self.inner {
                Inner::File(file) => file.read(buf),
                Inner::Remote { reader, .. } => reader.read(buf),
                Inner::Stream(stream) => stream.read(buf),
                Inner::Member(decoder) => decoder.read(buf),
            };
            match result {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    /// Up to `n` bytes ahead without consuming them; fewer only at the end of input.
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        let n = n.min(self.buf.len());
        if self.tail - self.head < n {
            self.buf.copy_within(self.head..self.tail, 0);
            self.tail -= self.head;
            self.head = 0;
            while self.tail < n {
                let read = self.read_inner(self.tail)?;
                if read == 0 {
                    break;
                }
                self.tail += read;
            }
        }
        Ok(&self.buf[self.head..self.tail.min(self.head + n)])
    }

    /// Skips up to `n` bytes; returns how many were skipped (fewer only at the end).
    pub fn skip(&mut self, n: u64) -> io::Result<u64> {
        let mut left = n;
        while left > 0 {
            let available = self.fill_buf()?.len();
            if available == 0 {
                break;
            }
            let step = (available as u64).min(left) as usize;
            self.consume(step);
            left -= step as u64;
        }
        Ok(n - left)
    }

    /// Reads exactly `n` bytes, appending them to `out`.
    pub fn read_exact_into(&mut self, n: u64, out: &mut Vec<u8>) -> io::Result<()> {
        let mut left = n;
        while left > 0 {
            let chunk = self.fill_buf()?;
            if chunk.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("input ends {left} bytes early"),
                ));
            }
            let step = (chunk.len() as u64).min(left) as usize;
            out.extend_from_slice(&chunk[..step]);
            self.consume(step);
            left -= step as u64;
        }
        Ok(())
    }

    /// Reads up to `limit` bytes into `out` (cleared first) and skips the rest of the
    /// input; returns the total size of the input from here.
    pub fn read_to_end_limited(&mut self, limit: u64, out: &mut Vec<u8>) -> io::Result<u64> {
        out.clear();
        let mut total = 0u64;
        loop {
            let chunk = self.fill_buf()?;
            if chunk.is_empty() {
                return Ok(total);
            }
            let n = chunk.len();
            let room = limit.saturating_sub(out.len() as u64).min(n as u64) as usize;
            out.extend_from_slice(&chunk[..room]);
            self.consume(n);
            total += n as u64;
        }
    }

    /// Reads one line into `out` (cleared first) without its `\n`, keeping at most
    /// `limit` bytes of it (the rest is skipped, and `overflow` set). `None` at the end.
    pub fn read_line(&mut self, out: &mut Vec<u8>, limit: u64) -> io::Result<Option<Line>> {
        out.clear();
        let start = self.pos;
        let mut len = 0u64;
        let mut any = false;
        loop {
            let chunk = self.fill_buf()?;
            if chunk.is_empty() {
                return Ok(any.then_some(Line {
                    start,
                    len,
                    overflow: len > limit,
                }));
            }
            any = true;
            let (content, used, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i, i + 1, true),
                None => (chunk.len(), chunk.len(), false),
            };
            let room = limit.saturating_sub(out.len() as u64).min(content as u64) as usize;
            out.extend_from_slice(&chunk[..room]);
            len += content as u64;
            self.consume(used);
            if done {
                return Ok(Some(Line {
                    start,
                    len,
                    overflow: len > limit,
                }));
            }
        }
    }

    /// Skips past the next `\n`; returns false when the input ends first.
    pub fn skip_line(&mut self) -> io::Result<bool> {
        loop {
            let chunk = self.fill_buf()?;
            if chunk.is_empty() {
                return Ok(false);
            }
            match memchr::memchr(b'\n', chunk) {
                Some(i) => {
                    self.consume(i + 1);
                    return Ok(true);
                }
                None => {
                    let n = chunk.len();
                    self.consume(n);
                }
            }
        }
    }
}

impl Read for Source {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let chunk = self.fill_buf()?;
        let n = chunk.len().min(out.len());
        out[..n].copy_from_slice(&chunk[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Source {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.head == self.tail {
            self.head = 0;
            self.tail = self.read_inner(0)?;
        }
        Ok(&self.buf[self.head..self.tail])
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.tail - self.head);
        self.head += n;
        self.pos += n as u64;
    }
}

/// The start of a raw record for [`crate::RecordError::excerpt`].
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(EXCERPT)]).into_owned()
}

/// Describes a read failure in the middle of a (possibly compressed) input.
pub(crate) fn describe_io(error: &io::Error, compression: Compression, at: u64) -> String {
    let what = match compression {
        Compression::None => "file",
        Compression::Gzip => "gzip stream",
        Compression::Zstd => "zstd stream",
    };
    if error.kind() == io::ErrorKind::UnexpectedEof {
        format!("{what} is truncated (at byte {at}): {error}")
    } else {
        format!("{what} cannot be read (at byte {at}): {error}")
    }
}

/// The message for a record above the size limit.
pub(crate) fn too_large(size: u64, limit: u64) -> String {
    format!("record of {size} bytes exceeds max_record_bytes ({limit})")
}

/// The file name without all its extensions: `0001.html.gz` gives `0001`.
pub fn file_id(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let cut = name
        .char_indices()
        .skip(1)
        .find(|&(_, c)| c == '.')
        .map(|(i, _)| i);
    match cut {
        Some(i) => name[..i].to_string(),
        None => name.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn source_of(bytes: &[u8]) -> (tempfile::TempDir, Source) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, bytes).unwrap();
        let source = Source::plain(&Location::Local(path), 0).unwrap();
        (dir, source)
    }

    #[test]
    fn lines_are_bounded_and_positioned() {
        let (_dir, mut s) = source_of(b"short\nthis one is long\nlast");
        let mut buf = Vec::new();
        let line = s.read_line(&mut buf, 8).unwrap().unwrap();
        assert_eq!(
            (line.start, line.len, line.overflow, &buf[..]),
            (0, 5, false, &b"short"[..])
        );
        let line = s.read_line(&mut buf, 8).unwrap().unwrap();
        assert_eq!(
            (line.start, line.len, line.overflow, &buf[..]),
            (6, 16, true, &b"this one"[..])
        );
        let line = s.read_line(&mut buf, 8).unwrap().unwrap();
        assert_eq!((line.start, line.len, &buf[..]), (23, 4, &b"last"[..]));
        assert!(s.read_line(&mut buf, 8).unwrap().is_none());
    }

    #[test]
    fn peek_and_seek() {
        let (_dir, mut s) = source_of(b"0123456789");
        assert_eq!(s.peek(3).unwrap(), b"012");
        s.consume(4);
        assert_eq!(s.pos(), 4);
        assert!(s.seek_to(1).unwrap());
        assert_eq!(s.peek(2).unwrap(), b"12");
        assert!(s.seek_to(9).unwrap());
        assert_eq!(s.peek(5).unwrap(), b"9");
    }

    #[test]
    fn gzip_members_end_where_they_end() {
        let mut bytes = Vec::new();
        for text in ["first member", "second"] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(text.as_bytes()).unwrap();
            bytes.extend(e.finish().unwrap());
        }
        let first_len = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(b"first member").unwrap();
            e.finish().unwrap().len() as u64
        };
        let (_dir, s) = source_of(&bytes);
        let mut member = s.into_member();
        let mut out = String::new();
        member.read_to_string(&mut out).unwrap();
        assert_eq!(out, "first member");
        let s = member.into_file().unwrap();
        assert_eq!(s.pos(), first_len);
        let mut member = s.into_member();
        out.clear();
        member.read_to_string(&mut out).unwrap();
        assert_eq!(out, "second");
    }

    #[test]
    fn ids_drop_every_extension() {
        assert_eq!(file_id(Path::new("a/0001.html.gz")), "0001");
        assert_eq!(file_id(Path::new("notes")), "notes");
        assert_eq!(file_id(Path::new(".hidden.txt")), ".hidden");
    }
}
