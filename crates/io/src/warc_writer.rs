//! Writing WARC 1.1 files, `.warc.gz` with one gzip member per record (what Common
//! Crawl, wget and every WARC reader expect), rotated at a size, each file opened by a
//! `warcinfo` record.
//!
//! A group of records (a request and its response) is never split across two files.
//! [`WarcWriter::write_member`] appends a record that is already a gzip member, byte
//! for byte, for copies of records from other WARC files.

use atelier_core::atomic::sync_dir;
use data_encoding::BASE32;
use flate2::write::GzEncoder;
use sha1::{Digest, Sha1};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// One record to write.
#[derive(Debug, Clone)]
pub struct WarcRecord<'a> {
    /// `WARC-Type`: `request`, `response`, `resource`, `metadata`, `warcinfo`, ...
    pub warc_type: &'a str,
    /// `WARC-Record-ID`, with its angle brackets; see [`new_record_id`].
    pub id: String,
    /// `WARC-Target-URI`.
    pub target_uri: Option<&'a str>,
    /// `WARC-Date` (`YYYY-MM-DDThh:mm:ssZ`).
    pub date: &'a str,
    /// `Content-Type` of the block, e.g. `application/http;msgtype=response`.
    pub content_type: &'a str,
    /// The block.
    pub block: &'a [u8],
    /// Where the payload starts in the block (after an HTTP head): gives a
    /// `WARC-Payload-Digest`.
    pub payload_start: Option<usize>,
    /// Other named fields (`WARC-Concurrent-To`, `WARC-IP-Address`, `WARC-Truncated`, ...).
    pub fields: Vec<(&'a str, String)>,
}

/// A fresh `<urn:uuid:...>` record id.
pub fn new_record_id() -> String {
    format!("<urn:uuid:{}>", uuid::Uuid::new_v4())
}

/// `sha1:` and the base32 SHA-1 of `bytes`, as WARC digests are written.
pub fn warc_digest(bytes: &[u8]) -> String {
    format!("sha1:{}", BASE32.encode(&Sha1::digest(bytes)))
}

/// The uncompressed bytes of one record: header, block, and the two closing CRLFs.
pub fn encode_record(record: &WarcRecord<'_>) -> Vec<u8> {
    let mut head = String::with_capacity(512);
    head.push_str("WARC/1.1\r\n");
    head.push_str(&format!("WARC-Type: {}\r\n", record.warc_type));
    head.push_str(&format!("WARC-Record-ID: {}\r\n", record.id));
    head.push_str(&format!("WARC-Date: {}\r\n", record.date));
    if let Some(uri) = record.target_uri {
        head.push_str(&format!("WARC-Target-URI: {uri}\r\n"));
    }
    for (name, value) in &record.fields {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "WARC-Block-Digest: {}\r\n",
        warc_digest(record.block)
    ));
    if let Some(start) = record.payload_start {
        let payload = record.block.get(start..).unwrap_or_default();
        head.push_str(&format!(
            "WARC-Payload-Digest: {}\r\n",
            warc_digest(payload)
        ));
    }
    head.push_str(&format!("Content-Type: {}\r\n", record.content_type));
    head.push_str(&format!("Content-Length: {}\r\n\r\n", record.block.len()));
    let mut out = head.into_bytes();
    out.extend_from_slice(record.block);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// Where a group of records went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// Offset of the group's first member.
    pub offset: u64,
    /// Offset just past its last member: the file's length once flushed.
    pub end: u64,
}

/// The file being written.
struct OpenWarc {
    path: PathBuf,
    out: BufWriter<File>,
    len: u64,
}

/// Writes records into rotated `.warc.gz` files in one folder.
pub struct WarcWriter {
    dir: PathBuf,
    prefix: String,
    max_file_bytes: u64,
    /// Fields of each file's `warcinfo` record (`software: ...` lines).
    info: String,
    current: Option<OpenWarc>,
    serial: u32,
    files: Vec<PathBuf>,
}

impl WarcWriter {
    /// Writes into `dir` files named `{prefix}-{serial:05}.warc.gz`, a new one once a
    /// file holds `max_file_bytes`; serials go on after the files already there. `info`
    /// is the block of each file's `warcinfo` record (`name: value` lines).
    pub fn new(
        dir: impl Into<PathBuf>,
        prefix: &str,
        max_file_bytes: u64,
        info: &str,
    ) -> io::Result<WarcWriter> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        let serial = next_serial(&dir, prefix)?;
        Ok(WarcWriter {
            dir,
            prefix: prefix.to_string(),
            max_file_bytes,
            info: info.to_string(),
            current: None,
            serial,
            files: Vec::new(),
        })
    }

    /// Reopens a writer after a stop. `last` names the file written last and its length
    /// known to be good (synced before it was recorded): that file is cut back to that
    /// length and written on; the prefix's files after it, which hold nothing known to
    /// be good, are removed. With `last` `None` nothing was known good: all of the
    /// prefix's files are removed and writing starts afresh.
    pub fn resume(
        dir: impl Into<PathBuf>,
        prefix: &str,
        max_file_bytes: u64,
        info: &str,
        last: Option<(&str, u64)>,
    ) -> io::Result<WarcWriter> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        let last_serial = match last {
            Some((name, _)) => Some(serial_of(name, prefix).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{name} is not a file name of {prefix}-NNNNN.warc.gz"),
                )
            })?),
            None => None,
        };
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            if serial_of(name, prefix).is_some_and(|s| last_serial.is_none_or(|last| s > last)) {
                std::fs::remove_file(dir.join(name))?;
            }
        }
        let mut writer = WarcWriter::new(dir, prefix, max_file_bytes, info)?;
        if let Some((name, end)) = last {
            let path = writer.dir.join(name);
            let file = OpenOptions::new().write(true).open(&path)?;
            let len = file.metadata()?.len();
            if len < end {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{}: {len} bytes, shorter than the {end} recorded as written",
                        path.display()
                    ),
                ));
            }
            file.set_len(end)?;
            file.sync_all()?;
            let mut out = BufWriter::with_capacity(256 * 1024, file);
            out.seek(SeekFrom::Start(end))?;
            writer.files.push(path.clone());
            writer.current = Some(OpenWarc {
                path,
                out,
                len: end,
            });
        }
        sync_dir(&writer.dir);
        Ok(writer)
    }

    /// Writes `records` as one group, each its own gzip member.
    pub fn write(&mut self, records: &[WarcRecord<'_>]) -> io::Result<Written> {
        self.write_member(&gzip_records(records)?)
    }

    /// Appends bytes that are already whole gzip members, unchanged.
    pub fn write_member(&mut self, members: &[u8]) -> io::Result<Written> {
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.len > 0 && c.len + members.len() as u64 > self.max_file_bytes)
        {
            self.close_current()?;
        }
        if self.current.is_none() {
            self.open_next()?;
        }
        let current = self.current.as_mut().expect("opened above");
        let offset = current.len;
        current.out.write_all(members)?;
        current.len += members.len() as u64;
        Ok(Written {
            path: current.path.clone(),
            offset,
            end: current.len,
        })
    }

    /// Flushes and syncs the current file: what was written survives a crash.
    pub fn sync(&mut self) -> io::Result<()> {
        if let Some(current) = &mut self.current {
            current.out.flush()?;
            current.out.get_ref().sync_data()?;
        }
        Ok(())
    }

    /// The files written so far, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Syncs and closes; gives the files written.
    pub fn finish(mut self) -> io::Result<Vec<PathBuf>> {
        self.close_current()?;
        Ok(std::mem::take(&mut self.files))
    }

    fn close_current(&mut self) -> io::Result<()> {
        self.sync()?;
        self.current = None;
        Ok(())
    }

    fn open_next(&mut self) -> io::Result<()> {
        let name = format!("{}-{:05}.warc.gz", self.prefix, self.serial);
        self.serial += 1;
        let path = self.dir.join(&name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        sync_dir(&self.dir);
        self.files.push(path.clone());
        self.current = Some(OpenWarc {
            path,
            out: BufWriter::with_capacity(256 * 1024, file),
            len: 0,
        });
        let date = atelier_core::utc_now();
        let info = WarcRecord {
            warc_type: "warcinfo",
            id: new_record_id(),
            target_uri: None,
            date: &date,
            content_type: "application/warc-fields",
            block: self.info.as_bytes(),
            payload_start: None,
            fields: vec![("WARC-Filename", name)],
        };
        let member = gzip_member(&encode_record(&info))?;
        let current = self.current.as_mut().expect("set above");
        current.out.write_all(&member)?;
        current.len += member.len() as u64;
        Ok(())
    }
}

/// `records`, each encoded and compressed as its own gzip member, one after the other:
/// what [`WarcWriter::write`] appends, made ready elsewhere (a worker thread) for
/// [`WarcWriter::write_member`].
pub fn gzip_records(records: &[WarcRecord<'_>]) -> io::Result<Vec<u8>> {
    let mut members = Vec::new();
    for record in records {
        members.extend_from_slice(&gzip_member(&encode_record(record))?);
    }
    Ok(members)
}

/// The serial of a file named `{prefix}-NNNNN.warc.gz`.
fn serial_of(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|rest| rest.strip_suffix(".warc.gz"))
        .and_then(|serial| serial.parse::<u32>().ok())
}

/// The serial after the highest of `{prefix}-NNNNN.warc.gz` in `dir`.
fn next_serial(dir: &Path, prefix: &str) -> io::Result<u32> {
    let mut next = 0;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(serial) = serial_of(name, prefix) {
            next = next.max(serial + 1);
        }
    }
    Ok(next)
}

/// `bytes` as one gzip member.
fn gzip_member(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3 + 64),
        flate2::Compression::new(crate::GZIP_LEVEL),
    );
    encoder.write_all(bytes)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ReadOptions, Unit, read_unit};
    use atelier_core::Format;

    #[test]
    fn digests_are_base32_sha1() {
        // SHA-1 of the empty string, as WARC tools print it.
        assert_eq!(warc_digest(b""), "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ");
    }

    #[test]
    fn written_records_read_back_and_files_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = WarcWriter::new(dir.path(), "crawl", 600, "software: test\r\n").unwrap();
        let mut ends = Vec::new();
        for i in 0..3 {
            let url = format!("http://example.com/{i}");
            let block = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n\r\n<html><body><p>page number {i} with some words</p></body></html>"
            );
            let head_len = block.find("\r\n\r\n").unwrap() + 4;
            let written = writer
                .write(&[WarcRecord {
                    warc_type: "response",
                    id: new_record_id(),
                    target_uri: Some(&url),
                    date: "2026-12-04T00:00:00Z",
                    content_type: "application/http;msgtype=response",
                    block: block.as_bytes(),
                    payload_start: Some(head_len),
                    fields: Vec::new(),
                }])
                .unwrap();
            ends.push(written);
        }
        let files = writer.finish().unwrap();
        assert!(files.len() >= 2, "rotated at 600 bytes: {files:?}");
        assert_eq!(files[0].file_name().unwrap(), "crawl-00000.warc.gz");
        for w in &ends {
            assert!(std::fs::metadata(&w.path).unwrap().len() >= w.end);
        }
        let mut urls = Vec::new();
        for file in &files {
            for doc in read_unit(&Unit::whole(file, Format::Warc), &ReadOptions::default()) {
                let doc = doc.unwrap();
                assert!(doc.text.contains("page number"));
                urls.push(
                    doc.metadata
                        .get("url")
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
        }
        assert_eq!(
            urls,
            [
                "http://example.com/0",
                "http://example.com/1",
                "http://example.com/2"
            ]
        );
        // A second writer goes on after the files there.
        let writer = WarcWriter::new(dir.path(), "crawl", 600, "").unwrap();
        assert_eq!(writer.serial as usize, files.len());
    }

    #[test]
    fn resume_cuts_back_to_the_last_good_length_and_drops_later_files() {
        let dir = tempfile::tempdir().unwrap();
        let record = |i: usize| {
            let block = format!("record {i} with a few words to make it longer than nothing");
            gzip_member(&encode_record(&WarcRecord {
                warc_type: "resource",
                id: new_record_id(),
                target_uri: Some("http://example.com/"),
                date: "2026-12-04T00:00:00Z",
                content_type: "text/plain",
                block: block.as_bytes(),
                payload_start: None,
                fields: Vec::new(),
            }))
            .unwrap()
        };
        let mut writer = WarcWriter::new(dir.path(), "cc", 10_000, "").unwrap();
        let good = writer.write_member(&record(0)).unwrap();
        writer.sync().unwrap();
        // Written after the last recorded point: lost at a stop, then a later file.
        writer.write_member(&record(1)).unwrap();
        writer.sync().unwrap();
        let first_file = std::fs::read(&good.path).unwrap();
        let name = good.path.file_name().unwrap().to_str().unwrap().to_string();
        std::fs::write(dir.path().join("cc-00001.warc.gz"), b"partial").unwrap();
        std::fs::write(dir.path().join("other-00001.warc.gz"), b"kept").unwrap();
        drop(writer);

        let mut writer =
            WarcWriter::resume(dir.path(), "cc", 10_000, "", Some((&name, good.end))).unwrap();
        assert!(!dir.path().join("cc-00001.warc.gz").exists());
        assert!(dir.path().join("other-00001.warc.gz").exists());
        let third = record(2);
        let again = writer.write_member(&third).unwrap();
        assert_eq!(
            (again.path.clone(), again.offset),
            (good.path.clone(), good.end)
        );
        let files = writer.finish().unwrap();
        assert_eq!(files, std::slice::from_ref(&good.path));
        let bytes = std::fs::read(&good.path).unwrap();
        assert_eq!(bytes.len() as u64, again.end);
        assert_eq!(
            &bytes[..good.end as usize],
            &first_file[..good.end as usize]
        );
        assert_eq!(&bytes[again.offset as usize..], &third[..]);

        // Nothing known good: every file of the prefix goes.
        let writer = WarcWriter::resume(dir.path(), "cc", 10_000, "", None).unwrap();
        assert!(!good.path.exists());
        assert!(writer.files().is_empty());
    }
}
