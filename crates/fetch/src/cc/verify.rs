//! Checking a record fetched by range before it is written.
//!
//! The bytes must be exactly one gzip member (its CRC checked by the decoder) that
//! decodes to one WARC record: a `WARC/1.x` header that parses, a block of its
//! `Content-Length` and the two closing CRLFs, nothing else. Then:
//!
//! - `WARC-Block-Digest`, when it is a SHA-1 (base32 or hex), must match the block;
//! - `WARC-Target-URI` must be the URL of the index row;
//! - the index's `digest` must be the record's `WARC-Payload-Digest` when both are
//!   given, and for `response`, `resource` and `conversion` records the SHA-1 of the
//!   payload (after the HTTP head in an `application/http` block) must match it. WARC
//!   writers disagree on whether a chunked payload is hashed as stored or de-chunked
//!   (Common Crawl stores and hashes it de-chunked; the WARC 1.1 text says de-chunked),
//!   so both are accepted. `revisit` records have no payload: only the header is
//!   compared.

use super::cdx::{CdxRow, strip_sha1};
use data_encoding::{BASE32, HEXLOWER_PERMISSIVE};
use sha1::{Digest, Sha1};
use std::io::Read;

/// What a verified record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `WARC-Type`.
    pub warc_type: String,
    /// Whether a block digest was checked.
    pub block_digest: bool,
    /// Whether the payload was hashed and matched the expected digest.
    pub payload_digest: bool,
}

/// Checks `member`, fetched for `row`; the reason when it fails. `max_decoded` caps the
/// record's decompressed size.
pub fn verify(member: &[u8], row: &CdxRow, max_decoded: u64) -> Result<Verified, String> {
    let record = gunzip_one(member, max_decoded)?;
    let (head, block) = split_record(&record)?;
    let field = |name: &str| -> Option<&str> {
        head.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let warc_type = field("WARC-Type").ok_or("no WARC-Type")?.to_string();

    let mut block_digest = false;
    if let Some(expected) = field("WARC-Block-Digest")
        && let Some(matches) = sha1_matches(expected, block)
    {
        if !matches {
            return Err(format!(
                "WARC-Block-Digest {expected} does not match the block ({})",
                base32_sha1(block)
            ));
        }
        block_digest = true;
    }

    if let Some(uri) = field("WARC-Target-URI") {
        let uri = uri.trim_start_matches('<').trim_end_matches('>');
        if uri != row.url {
            return Err(format!(
                "the record is for {uri}, the index says {}",
                row.url
            ));
        }
    }

    let header_digest = field("WARC-Payload-Digest");
    if let (Some(indexed), Some(header)) = (&row.digest, header_digest)
        && header
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("sha1:")
        && !strip_sha1(header).eq_ignore_ascii_case(indexed)
    {
        return Err(format!(
            "WARC-Payload-Digest {header} is not the index's digest {indexed}"
        ));
    }
    let expected = row
        .digest
        .clone()
        .or_else(|| header_digest.map(|h| h.trim().to_string()));
    let mut payload_digest = false;
    if let Some(expected) = expected
        && matches!(warc_type.as_str(), "response" | "resource" | "conversion")
    {
        let http = field("Content-Type").is_some_and(|t| {
            t.trim()
                .to_ascii_lowercase()
                .starts_with("application/http")
        });
        let (payload, chunked) = if http {
            let (head_len, chunked) = http_head(block)?;
            (&block[head_len..], chunked)
        } else {
            (block, false)
        };
        let raw = sha1_matches(&expected, payload);
        if raw.is_some() {
            let dechunked = || {
                chunked
                    && dechunk(payload).is_some_and(|p| sha1_matches(&expected, &p) == Some(true))
            };
            if raw != Some(true) && !dechunked() {
                return Err(format!(
                    "the payload's SHA-1 ({}) is not the digest {expected}",
                    base32_sha1(payload)
                ));
            }
            payload_digest = true;
        }
    }
    Ok(Verified {
        warc_type,
        block_digest,
        payload_digest,
    })
}

/// The decompressed bytes of `member`, which must be exactly one gzip member.
fn gunzip_one(member: &[u8], max_decoded: u64) -> Result<Vec<u8>, String> {
    let mut decoder = flate2::bufread::GzDecoder::new(member);
    let mut out = Vec::new();
    (&mut decoder)
        .take(max_decoded + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("not a whole gzip member: {e}"))?;
    if out.len() as u64 > max_decoded {
        return Err(format!("decompresses to more than {max_decoded} bytes"));
    }
    let rest = decoder.into_inner();
    if !rest.is_empty() {
        return Err(format!(
            "{} bytes after the gzip member: the range holds more than one record",
            rest.len()
        ));
    }
    Ok(out)
}

/// Header fields, names as written, values trimmed.
type Fields = Vec<(String, String)>;

/// The header fields and the block of one WARC record, which must be all of `record`.
fn split_record(record: &[u8]) -> Result<(Fields, &[u8]), String> {
    if !record.starts_with(b"WARC/1.") {
        let start = String::from_utf8_lossy(&record[..record.len().min(20)]).into_owned();
        return Err(format!("not a WARC record: starts with {start:?}"));
    }
    let head_len = memchr_crlf2(record).ok_or("the WARC header does not end")?;
    let head = std::str::from_utf8(&record[..head_len])
        .map_err(|_| "the WARC header is not UTF-8".to_string())?;
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
        if line.starts_with([' ', '\t']) {
            let last = fields
                .last_mut()
                .ok_or("the WARC header starts with a continuation line")?;
            last.1.push(' ');
            last.1.push_str(line.trim());
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad WARC header line {line:?}"))?;
        fields.push((name.trim().to_string(), value.trim().to_string()));
    }
    let length: usize = fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        .ok_or("no Content-Length")?
        .1
        .parse()
        .map_err(|_| "Content-Length is not a number".to_string())?;
    let rest = &record[head_len..];
    if rest.len() < length {
        return Err(format!(
            "Content-Length {length} but {} bytes of block",
            rest.len()
        ));
    }
    let (block, tail) = rest.split_at(length);
    if tail != b"\r\n\r\n" {
        return Err(format!(
            "the block is followed by {} bytes, not the closing CRLF CRLF",
            tail.len()
        ));
    }
    Ok((fields, block))
}

/// The length of the head up to and with the blank line (`\r\n\r\n`).
fn memchr_crlf2(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

/// The length of an HTTP head at the start of `block` and whether it says chunked.
fn http_head(block: &[u8]) -> Result<(usize, bool), String> {
    let head_len = memchr_crlf2(block).ok_or("the HTTP head of the block does not end")?;
    let head = String::from_utf8_lossy(&block[..head_len]).to_ascii_lowercase();
    let chunked = head.lines().any(|l| {
        l.strip_prefix("transfer-encoding:")
            .is_some_and(|v| v.contains("chunked"))
    });
    Ok((head_len, chunked))
}

/// Whether `digest` (`sha1:` + base32 or hex, or bare) is the SHA-1 of `bytes`;
/// `None` when it is not a SHA-1 digest.
fn sha1_matches(digest: &str, bytes: &[u8]) -> Option<bool> {
    let digest = digest.trim();
    let value = match digest.split_once(':') {
        Some((algorithm, value)) if algorithm.eq_ignore_ascii_case("sha1") => value,
        Some(_) => return None,
        None => digest,
    };
    let expected = match value.len() {
        32 => BASE32.decode(value.to_ascii_uppercase().as_bytes()).ok()?,
        40 => HEXLOWER_PERMISSIVE.decode(value.as_bytes()).ok()?,
        _ => return None,
    };
    Some(expected == Sha1::digest(bytes).as_slice())
}

/// Base32 SHA-1, for messages.
fn base32_sha1(bytes: &[u8]) -> String {
    BASE32.encode(&Sha1::digest(bytes))
}

/// A chunked body de-chunked; `None` when it is not well formed.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if body.len() < size + 2 || &body[size..size + 2] != b"\r\n" {
            return None;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atelier_io::{WarcRecord, encode_record, new_record_id};
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn response(block: &str) -> Vec<u8> {
        let head_len = block.find("\r\n\r\n").unwrap() + 4;
        encode_record(&WarcRecord {
            warc_type: "response",
            id: new_record_id(),
            target_uri: Some("http://example.com/"),
            date: "2026-12-04T00:00:00Z",
            content_type: "application/http;msgtype=response",
            block: block.as_bytes(),
            payload_start: Some(head_len),
            fields: Vec::new(),
        })
    }

    fn row(digest: Option<&str>) -> CdxRow {
        CdxRow {
            url: "http://example.com/".to_string(),
            filename: "f.warc.gz".to_string(),
            offset: 0,
            length: 0,
            digest: digest.map(str::to_string),
            timestamp: None,
        }
    }

    const PAGE: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n\r\n<p>hello</p>";

    #[test]
    fn a_good_record_passes_with_both_digests() {
        let digest = base32_sha1(b"<p>hello</p>");
        let verified = verify(&gzip(&response(PAGE)), &row(Some(&digest)), 1 << 20).unwrap();
        assert_eq!(verified.warc_type, "response");
        assert!(verified.block_digest && verified.payload_digest);
    }

    #[test]
    fn damaged_or_wrong_records_are_refused_with_a_reason() {
        let member = gzip(&response(PAGE));
        let digest = base32_sha1(b"<p>hello</p>");
        let good = row(Some(&digest));
        let cases: Vec<(Vec<u8>, CdxRow, &str)> = vec![
            (member[..member.len() - 5].to_vec(), good.clone(), "gzip"),
            (
                [member.clone(), member.clone()].concat(),
                good.clone(),
                "after the gzip member",
            ),
            (gzip(b"hello"), good.clone(), "not a WARC record"),
            (
                gzip(&response(PAGE).replace_bytes(b"hello", b"jello")),
                good.clone(),
                "WARC-Block-Digest",
            ),
            (
                member.clone(),
                row(Some(&base32_sha1(b"other"))),
                "is not the index's digest",
            ),
            (
                member.clone(),
                CdxRow {
                    url: "http://example.com/other".to_string(),
                    ..good.clone()
                },
                "the index says",
            ),
            (
                {
                    let record = response(PAGE);
                    gzip(&record[..record.len() - 10])
                },
                good.clone(),
                "Content-Length",
            ),
        ];
        for (bytes, row, expected) in cases {
            let reason = verify(&bytes, &row, 1 << 20).unwrap_err();
            assert!(reason.contains(expected), "{expected}: {reason}");
        }
        let reason = verify(&member, &good, 10).unwrap_err();
        assert!(reason.contains("more than 10 bytes"), "{reason}");
    }

    #[test]
    fn a_chunked_payload_matches_hashed_either_way() {
        let block = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let record = encode_record(&WarcRecord {
            warc_type: "response",
            id: new_record_id(),
            target_uri: Some("http://example.com/"),
            date: "2026-12-04T00:00:00Z",
            content_type: "application/http;msgtype=response",
            block: block.as_bytes(),
            payload_start: None,
            fields: Vec::new(),
        });
        let member = gzip(&record);
        let dechunked = base32_sha1(b"hello world");
        assert!(
            verify(&member, &row(Some(&dechunked)), 1 << 20)
                .unwrap()
                .payload_digest
        );
        let stored = base32_sha1(&block.as_bytes()[block.find("\r\n\r\n").unwrap() + 4..]);
        assert!(
            verify(&member, &row(Some(&stored)), 1 << 20)
                .unwrap()
                .payload_digest
        );
        assert!(verify(&member, &row(Some(&base32_sha1(b"x"))), 1 << 20).is_err());
    }

    trait ReplaceBytes {
        fn replace_bytes(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
    }

    impl ReplaceBytes for Vec<u8> {
        fn replace_bytes(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
            let at = self.windows(from.len()).position(|w| w == from).unwrap();
            [&self[..at], to, &self[at + from.len()..]].concat()
        }
    }
}
