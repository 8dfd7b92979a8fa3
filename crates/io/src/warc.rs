//! WARC 1.0 and 1.1, plain, gzip (one member per record, as Common Crawl writes them)
//! or zstd.
//!
//! Records of type `response`, `resource` and `conversion` whose payload is text (a
//! `text/*` media type, or one naming HTML, XML or JSON) become documents; other record
//! types (`warcinfo`, `request`, `metadata`, `revisit`, ...), binary payloads and empty
//! payloads are skipped without a word.
//!
//! A `response` holding `application/http` is split with `httparse`: the status goes to
//! `metadata.http_status`, the headers to `metadata.http_headers` (an object with
//! lowercase names; repeated headers joined by `, `), and the body is de-chunked and
//! de-compressed (`gzip`, `deflate`, `zstd`) as its headers say. Text is decoded with the
//! charset of its `Content-Type`, else as [`crate::charset`] finds.
//!
//! The id is the `WARC-Record-ID` without its angle brackets. Metadata: `url`
//! (`WARC-Target-URI`), `date` (`WARC-Date`), `record_id`, `warc_type`, `content_type`
//! (media type of the payload), `charset`, `source` and `offset`: the offset of the
//! record in a plain file, of its gzip member in a `.warc.gz`, in the decompressed
//! stream for `.warc.zst`.
//!
//! A record that cannot be read (no `WARC/` line, a bad header or `Content-Length`, a
//! content that does not end where its length says) is a [`RecordError`]; reading
//! resumes at the next line starting with `WARC/1.` (plain and zstd) or the next gzip
//! member that decodes to `WARC/` (gzip). Ranges work the same way: a range that starts
//! inside a file begins at the first record start found at or after its start, checked
//! by parsing its header (plain) or decoding its first bytes (gzip).

use crate::charset::{charset_param, decode_html, decode_text, media_type};
use crate::source::{Source, describe_io, file_id, too_large};
use crate::{Location, ReadOptions, RecordError, Unit};
use atelier_core::format::Compression;
use atelier_core::{Document, Metadata};
use serde_json::Value;
use std::io::{self, Read};
use std::path::PathBuf;

/// Longest header line accepted.
const MAX_HEADER_LINE: u64 = 64 * 1024;
/// Largest header block accepted.
const MAX_HEADER: u64 = 1024 * 1024;
/// The three bytes that start a deflate-compressed gzip member.
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// Reads a WARC unit.
pub(crate) fn read(unit: &Unit, options: &ReadOptions) -> crate::Records {
    let ctx = Ctx {
        path: unit.location.name(),
        location: unit.location.clone(),
        source_name: unit.location.to_string(),
        stem: file_id(&unit.location.name()),
        compression: unit.compression,
        limit: options.max_record_bytes,
        record: 0,
    };
    match unit.compression {
        Compression::Gzip => Box::new(GzWarc {
            ctx,
            start: unit.start,
            end: unit.end,
            state: GzState::Unopened,
            reported: false,
        }),
        Compression::None | Compression::Zstd => Box::new(PlainWarc {
            ctx,
            start: unit.start,
            end: unit.end,
            stream: None,
            opened: false,
        }),
    }
}

/// What every record of a unit shares.
struct Ctx {
    path: PathBuf,
    location: Location,
    source_name: String,
    stem: String,
    compression: Compression,
    limit: u64,
    /// Number of the next record in the unit.
    record: u64,
}

impl Ctx {
    fn error(&self, offset: Option<u64>, message: String, raw: &[u8]) -> RecordError {
        RecordError::at(&self.path, offset, self.record, message, raw)
    }
}

/// A parsed WARC header.
#[derive(Debug)]
struct Header {
    fields: Vec<(String, String)>,
    content_length: u64,
}

impl Header {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What reading a header found.
enum HeaderRead {
    /// The end of input (or of the range).
    End,
    /// A header; its record starts at `offset`.
    Record { offset: u64, header: Header },
    /// Not a valid header; scanning for the next may resume at `resume`.
    Corrupt {
        offset: u64,
        resume: u64,
        message: String,
        raw: Vec<u8>,
    },
}

/// What one step of a [`Stream`] gives.
enum Step {
    Item(Result<Document, RecordError>),
    End,
    /// The input itself failed (a decompression error, a truncation): nothing more can
    /// be read from this stream.
    Failed(RecordError),
}

/// Records read one after the other from one byte source.
struct Stream {
    src: Source,
    end: Option<u64>,
    /// The offset reported for every record (that of the gzip member being read).
    member_offset: Option<u64>,
    /// Looking for a record start: candidates that do not parse are passed silently.
    scanning: bool,
    line: Vec<u8>,
    finished: bool,
}

impl Stream {
    fn new(src: Source, end: Option<u64>, member_offset: Option<u64>, scanning: bool) -> Stream {
        Stream {
            src,
            end,
            member_offset,
            scanning,
            line: Vec::new(),
            finished: false,
        }
    }

    fn read_header(&mut self) -> io::Result<HeaderRead> {
        // The version line, past blank lines (and, while scanning, anything else).
        let (offset, version_end) = loop {
            let Some(line) = self.src.read_line(&mut self.line, MAX_HEADER_LINE)? else {
                return Ok(HeaderRead::End);
            };
            let text = &self.line;
            if !line.overflow && text.iter().all(|&b| b == b'\r') {
                continue;
            }
            let candidate = if self.scanning {
                text.starts_with(b"WARC/1.")
            } else {
                text.starts_with(b"WARC/")
            };
            // No record that starts here or later belongs to the range.
            if self.end.is_some_and(|end| line.start >= end) {
                return Ok(HeaderRead::End);
            }
            if candidate {
                break (line.start, self.src.pos());
            }
            if !self.scanning {
                let raw = self.line.clone();
                let message = "expected a `WARC/` version line".into();
                let resume = self.src.pos();
                return Ok(HeaderRead::Corrupt {
                    offset: line.start,
                    resume,
                    message,
                    raw,
                });
            }
        };
        let mut raw = self.line.clone();
        raw.push(b'\n');
        let corrupt = |message: &str, raw: Vec<u8>| {
            Ok(HeaderRead::Corrupt {
                offset,
                resume: version_end,
                message: message.into(),
                raw,
            })
        };
        let mut fields: Vec<(String, String)> = Vec::new();
        loop {
            let Some(line) = self.src.read_line(&mut self.line, MAX_HEADER_LINE)? else {
                return corrupt("WARC header ends before its blank line", raw);
            };
            if line.overflow || raw.len() as u64 + line.len > MAX_HEADER {
                return corrupt("WARC header line too long", raw);
            }
            raw.extend_from_slice(&self.line);
            raw.push(b'\n');
            let text = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
            if text.is_empty() {
                break;
            }
            let text = String::from_utf8_lossy(text);
            if text.starts_with([' ', '\t']) {
                match fields.last_mut() {
                    Some((_, value)) => {
                        value.push(' ');
                        value.push_str(text.trim());
                    }
                    None => return corrupt("WARC header starts with a continuation line", raw),
                }
            } else if let Some((name, value)) = text.split_once(':') {
                fields.push((name.trim().to_string(), value.trim().to_string()));
            } else {
                return corrupt("WARC header line without `:`", raw);
            }
        }
        let header = Header {
            fields,
            content_length: 0,
        };
        let Some(length) = header.get("Content-Length") else {
            return corrupt("WARC header without Content-Length", raw);
        };
        let Ok(content_length) = length.parse::<u64>() else {
            return corrupt("WARC header with a bad Content-Length", raw);
        };
        Ok(HeaderRead::Record {
            offset,
            header: Header {
                content_length,
                ..header
            },
        })
    }

    fn offset(&self, record_offset: u64) -> u64 {
        self.member_offset.unwrap_or(record_offset)
    }

    /// After a bad record: go back to `resume` where possible and look for the next.
    fn rescan(&mut self, resume: u64) -> io::Result<()> {
        self.src.seek_to(resume)?;
        self.scanning = true;
        Ok(())
    }

    fn next_step(&mut self, ctx: &mut Ctx) -> Step {
        match self.try_next(ctx) {
            Ok(step) => step,
            Err(e) => {
                self.finished = true;
                let at = self.src.pos();
                Step::Failed(ctx.error(
                    Some(self.offset(at)),
                    describe_io(&e, ctx.compression, at),
                    &[],
                ))
            }
        }
    }

    fn try_next(&mut self, ctx: &mut Ctx) -> io::Result<Step> {
        loop {
            if self.finished {
                return Ok(Step::End);
            }
            let (offset, header) = match self.read_header()? {
                HeaderRead::End => {
                    self.finished = true;
                    return Ok(Step::End);
                }
                HeaderRead::Corrupt {
                    offset,
                    resume,
                    message,
                    raw,
                } => {
                    let was_scanning = self.scanning;
                    self.rescan(resume)?;
                    if was_scanning {
                        continue;
                    }
                    let error = ctx.error(Some(self.offset(offset)), message, &raw);
                    ctx.record += 1;
                    return Ok(Step::Item(Err(error)));
                }
                HeaderRead::Record { offset, header } => (offset, header),
            };
            self.scanning = false;
            let content_start = self.src.pos();
            let length = header.content_length;
            let kind = header.get("WARC-Type").unwrap_or("").to_ascii_lowercase();
            let keep = matches!(kind.as_str(), "response" | "resource" | "conversion");
            let load = keep && length <= ctx.limit;
            let mut content = Vec::new();
            let read = if load {
                self.src.read_exact_into(length, &mut content)
            } else {
                self.src.skip(length).and_then(|n| match n < length {
                    true => Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "input ends early",
                    )),
                    false => Ok(()),
                })
            };
            let problem = match read {
                Ok(()) => match self.src.peek(1)?.first() {
                    None | Some(b'\r' | b'\n' | b'W') => None,
                    Some(_) => Some(format!(
                        "WARC record content does not end where its Content-Length ({length}) says"
                    )),
                },
                // Maybe the length is wrong rather than the file cut: look again.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && self.src.seekable() => Some(
                    format!("WARC record is truncated: the input ends before its {length} bytes"),
                ),
                Err(e) => return Err(e),
            };
            let record_offset = self.offset(offset);
            if let Some(message) = problem {
                self.rescan(content_start)?;
                let error = ctx.error(Some(record_offset), message, &content);
                ctx.record += 1;
                return Ok(Step::Item(Err(error)));
            }
            let result = if !keep {
                Ok(None)
            } else if !load {
                Err(too_large(length, ctx.limit))
            } else {
                to_document(&header, &kind, content, record_offset, ctx)
            };
            let item = match result {
                Ok(None) => None,
                Ok(Some(doc)) => Some(Ok(doc)),
                Err(message) => Some(Err(ctx.error(Some(record_offset), message, &[]))),
            };
            ctx.record += 1;
            if let Some(item) = item {
                return Ok(Step::Item(item));
            }
        }
    }
}

/// A plain or zstd WARC.
struct PlainWarc {
    ctx: Ctx,
    start: u64,
    end: Option<u64>,
    stream: Option<Stream>,
    opened: bool,
}

impl PlainWarc {
    fn open(&mut self) -> io::Result<Option<Stream>> {
        if self.ctx.compression != Compression::None {
            // A compressed stream is never split: a range past 0 owns nothing.
            return match self.start {
                0 => Ok(Some(Stream::new(
                    Source::decoded(&self.ctx.location, self.ctx.compression)?,
                    None,
                    None,
                    false,
                ))),
                _ => Ok(None),
            };
        }
        if self.start == 0 {
            return Ok(Some(Stream::new(
                Source::plain(&self.ctx.location, 0)?,
                self.end,
                None,
                false,
            )));
        }
        let mut src = Source::plain(&self.ctx.location, self.start - 1)?;
        src.skip_line()?;
        Ok(Some(Stream::new(src, self.end, None, true)))
    }
}

impl Iterator for PlainWarc {
    type Item = Result<Document, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.opened {
            self.opened = true;
            match self.open() {
                Ok(stream) => self.stream = stream,
                Err(e) => return Some(Err(self.ctx.error(None, format!("cannot open: {e}"), &[]))),
            }
        }
        let stream = self.stream.as_mut()?;
        match stream.next_step(&mut self.ctx) {
            Step::Item(item) => Some(item),
            Step::End => {
                self.stream = None;
                None
            }
            Step::Failed(error) => {
                self.stream = None;
                Some(Err(error))
            }
        }
    }
}

enum GzState {
    Unopened,
    /// Between members, at the start of the next one.
    Between(Source),
    /// Reading the member that starts at `offset`.
    Member {
        offset: u64,
        stream: Stream,
    },
    Done,
}

/// A `.warc.gz`, read member by member.
struct GzWarc {
    ctx: Ctx,
    start: u64,
    end: Option<u64>,
    state: GzState,
    /// Whether an error was already reported for the member being read.
    reported: bool,
}

impl GzWarc {
    /// Moves to the first gzip member at or after `from` (and before the range end) that
    /// decodes to `WARC/`.
    fn find_member(&self, mut src: Source, from: u64) -> io::Result<Option<Source>> {
        src.seek_to(from)?;
        loop {
            if self.end.is_some_and(|end| src.pos() >= end) {
                return Ok(None);
            }
            let window = src.peek(64 * 1024)?;
            if window.len() < GZIP_MAGIC.len() {
                return Ok(None);
            }
            let Some(i) = memchr::memmem::find(window, &GZIP_MAGIC) else {
                let n = window.len() - (GZIP_MAGIC.len() - 1);
                src.skip(n as u64)?;
                continue;
            };
            src.skip(i as u64)?;
            // Enough bytes in the buffer to decode the member's first ones and come back
            // without reading again (which, for a remote file, is a new request).
            src.peek(4096)?;
            let candidate = src.pos();
            if self.end.is_some_and(|end| candidate >= end) {
                return Ok(None);
            }
            let mut member = src.into_member();
            let mut head = Vec::with_capacity(5);
            let _ = member.by_ref().take(5).read_to_end(&mut head);
            src = member.into_file().expect("a member source");
            if head == b"WARC/" {
                src.seek_to(candidate)?;
                return Ok(Some(src));
            }
            src.seek_to(candidate + 1)?;
        }
    }

    /// After a broken member: continue at the next good one.
    fn resync(&mut self, src: Source, member_offset: u64) {
        self.state = match self.find_member(src, member_offset + 1) {
            Ok(Some(src)) => GzState::Between(src),
            _ => GzState::Done,
        };
    }
}

impl Iterator for GzWarc {
    type Item = Result<Document, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match std::mem::replace(&mut self.state, GzState::Done) {
                GzState::Done => return None,
                GzState::Unopened => {
                    // A remote file is asked for from the range's start on.
                    let opened = Source::plain(&self.ctx.location, self.start).and_then(|src| {
                        match self.start {
                            0 => Ok(Some(src)),
                            start => self.find_member(src, start),
                        }
                    });
                    match opened {
                        Ok(Some(src)) => self.state = GzState::Between(src),
                        Ok(None) => return None,
                        Err(e) => {
                            return Some(Err(self.ctx.error(
                                None,
                                format!("cannot open: {e}"),
                                &[],
                            )));
                        }
                    }
                }
                GzState::Between(mut src) => {
                    let offset = src.pos();
                    if self.end.is_some_and(|end| offset >= end) {
                        return None;
                    }
                    let head = match src.peek(GZIP_MAGIC.len()) {
                        Ok(head) => head,
                        Err(e) => {
                            let message = describe_io(&e, Compression::None, offset);
                            return Some(Err(self.ctx.error(Some(offset), message, &[])));
                        }
                    };
                    if head.is_empty() {
                        return None;
                    }
                    if head != GZIP_MAGIC {
                        let error = self
                            .ctx
                            .error(Some(offset), "not a gzip member".into(), &[]);
                        self.ctx.record += 1;
                        self.resync(src, offset);
                        return Some(Err(error));
                    }
                    self.reported = false;
                    let stream = Stream::new(src.into_member(), None, Some(offset), false);
                    self.state = GzState::Member { offset, stream };
                }
                GzState::Member { offset, mut stream } => match stream.next_step(&mut self.ctx) {
                    Step::Item(item) => {
                        self.reported |= item.is_err();
                        self.state = GzState::Member { offset, stream };
                        return Some(item);
                    }
                    Step::End => {
                        let src = stream.src.into_file().expect("a member source");
                        self.state = GzState::Between(src);
                    }
                    Step::Failed(mut error) => {
                        let src = stream.src.into_file().expect("a member source");
                        self.resync(src, offset);
                        if !self.reported {
                            error.message = format!("bad gzip member: {}", error.message);
                            self.ctx.record += 1;
                            return Some(Err(error));
                        }
                    }
                },
            }
        }
    }
}

/// Turns a kept record into a document; `Ok(None)` for payloads that are not text.
fn to_document(
    header: &Header,
    kind: &str,
    content: Vec<u8>,
    offset: u64,
    ctx: &Ctx,
) -> Result<Option<Document>, String> {
    let warc_content_type = header.get("Content-Type").unwrap_or("");
    let mut metadata = Metadata::new();
    let (body, content_type) =
        if kind == "response" && media_type(warc_content_type) == "application/http" {
            let HttpResponse {
                status,
                headers,
                body,
            } = parse_http(&content, ctx.limit)?;
            let content_type = headers
                .get("content-type")
                .and_then(Value::as_str)
                .map(str::to_string);
            metadata.insert("http_status".into(), status.into());
            metadata.insert("http_headers".into(), Value::Object(headers));
            (body, content_type)
        } else {
            (
                content,
                (!warc_content_type.is_empty()).then(|| warc_content_type.to_string()),
            )
        };
    let declared = content_type.as_deref().and_then(charset_param);
    let media = match content_type.as_deref().map(media_type) {
        Some(media) if !media.is_empty() => media,
        _ => sniff(&body).to_string(),
    };
    let textual = media.starts_with("text/")
        || media.contains("html")
        || media.contains("xml")
        || media.contains("json");
    if !textual || body.is_empty() {
        return Ok(None);
    }
    let (text, encoding) = if media.contains("html") || media.contains("xml") {
        decode_html(&body, declared)
    } else {
        decode_text(&body, declared)
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    let record_id = header.get("WARC-Record-ID").map(strip_angles);
    let id = match record_id {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => format!("{}/{offset}", ctx.stem),
    };
    let mut meta = Metadata::new();
    if let Some(url) = header.get("WARC-Target-URI") {
        meta.insert("url".into(), strip_angles(url).into());
    }
    if let Some(date) = header.get("WARC-Date") {
        meta.insert("date".into(), date.into());
    }
    if let Some(record_id) = record_id {
        meta.insert("record_id".into(), record_id.into());
    }
    meta.insert("warc_type".into(), kind.into());
    meta.insert("content_type".into(), media.into());
    meta.insert("charset".into(), encoding.name().into());
    meta.extend(metadata);
    meta.insert("source".into(), ctx.source_name.clone().into());
    meta.insert("offset".into(), offset.into());
    Ok(Some(Document {
        id,
        text,
        metadata: meta,
    }))
}

fn strip_angles(value: &str) -> &str {
    value
        .strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
        .unwrap_or(value)
}

/// A media type for a payload that has none.
fn sniff(body: &[u8]) -> &'static str {
    let head = &body[..body.len().min(1024)];
    if head.contains(&0) {
        "application/octet-stream"
    } else if head.trim_ascii_start().starts_with(b"<") {
        "text/html"
    } else {
        "text/plain"
    }
}

/// An HTTP response split by [`parse_http`].
struct HttpResponse {
    status: u16,
    /// Lowercase names; repeated headers joined by `, `.
    headers: Metadata,
    /// De-chunked and decoded.
    body: Vec<u8>,
}

/// Splits an HTTP response into status, headers and decoded body.
fn parse_http(content: &[u8], limit: u64) -> Result<HttpResponse, String> {
    let mut slots = vec![httparse::EMPTY_HEADER; 512];
    let mut response = httparse::Response::new(&mut slots);
    let parsed = httparse::ParserConfig::default()
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .ignore_invalid_headers_in_responses(true)
        .parse_response(&mut response, content);
    let body_start = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err("incomplete HTTP header".into()),
        Err(e) => return Err(format!("invalid HTTP header: {e}")),
    };
    let status = response.code.unwrap_or(0);
    let mut headers = Metadata::new();
    for h in response.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        let value = String::from_utf8_lossy(h.value).trim().to_string();
        match headers.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name, value.into());
            }
        }
    }
    let header = |name: &str| headers.get(name).and_then(Value::as_str).unwrap_or("");
    let mut body = content[body_start..].to_vec();
    if header("transfer-encoding")
        .to_ascii_lowercase()
        .contains("chunked")
        && let Some(dechunked) = dechunk(&body)
    {
        body = dechunked;
    }
    for coding in header("content-encoding").rsplit(',') {
        body = decode_content(body, &coding.trim().to_ascii_lowercase(), limit)?;
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// Undoes `Transfer-Encoding: chunked`; `None` when the body is not chunked after all.
fn dechunk(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    loop {
        let line_end = memchr::memchr(b'\n', rest)?;
        let size_field = rest[..line_end].split(|&b| b == b';').next()?;
        let size = std::str::from_utf8(size_field).ok()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        rest = &rest[line_end + 1..];
        if size == 0 {
            return Some(out);
        }
        if rest.len() <= size {
            // A cut body: keep what there is.
            out.extend_from_slice(rest);
            return Some(out);
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size..];
        rest = rest.strip_prefix(b"\r").unwrap_or(rest);
        rest = rest.strip_prefix(b"\n").unwrap_or(rest);
        if rest.is_empty() {
            return Some(out);
        }
    }
}

/// Undoes one `Content-Encoding`.
fn decode_content(body: Vec<u8>, coding: &str, limit: u64) -> Result<Vec<u8>, String> {
    let inflate = |reader: &mut dyn Read| -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        reader
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("cannot decode {coding} body: {e}"))?;
        if out.len() as u64 > limit {
            return Err(format!(
                "decoded {coding} body exceeds max_record_bytes ({limit})"
            ));
        }
        Ok(out)
    };
    match coding {
        "" | "identity" => Ok(body),
        // Crawlers often store the body already decoded but keep the header.
        "gzip" | "x-gzip" if !body.starts_with(&GZIP_MAGIC[..2]) => Ok(body),
        "gzip" | "x-gzip" => inflate(&mut flate2::read::MultiGzDecoder::new(&body[..])),
        "deflate" => inflate(&mut flate2::read::ZlibDecoder::new(&body[..]))
            .or_else(|_| inflate(&mut flate2::read::DeflateDecoder::new(&body[..]))),
        "zstd" => match zstd::stream::read::Decoder::new(&body[..]) {
            Ok(mut decoder) => inflate(&mut decoder),
            Err(e) => Err(format!("cannot decode zstd body: {e}")),
        },
        other => Err(format!("unsupported Content-Encoding `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks() {
        assert_eq!(
            dechunk(b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n").unwrap(),
            b"hello world"
        );
        assert_eq!(dechunk(b"<html>"), None);
    }

    #[test]
    fn http_bodies_are_decoded() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"<p>zipped</p>").unwrap();
        let mut content =
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nX-A: 1\r\nx-a: 2\r\n\r\n".to_vec();
        content.extend(gz.finish().unwrap());
        let HttpResponse {
            status,
            headers,
            body,
        } = parse_http(&content, 1 << 20).unwrap();
        assert_eq!(status, 200);
        assert_eq!(headers["x-a"], "1, 2");
        assert_eq!(body, b"<p>zipped</p>");
        assert!(decode_content(b"x".to_vec(), "br", 10).is_err());
    }
}
