//! Querying a CDX index server: Common Crawl's (`https://index.commoncrawl.org/{INDEX}-index`)
//! or any pywb-compatible one (`http://host:port/{coll}/cdx`).
//!
//! A query asks first for `showNumPages=true`: a paged (ZipNum) index answers
//! `{"pages": N, "pageSize": ..., "blocks": ...}` and the rows come page by page
//! (`page=0..N`); an index that does not page answers the rows themselves, and then
//! the query is asked once without it. Rows are JSON lines (`output=json`); a `404`
//! answering `No Captures found` is an empty result.

use super::CcError;
use atelier_io::http::{Exchange, HttpClient};
use serde_json::Value;

/// One row of the index: where a record lies in which file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdxRow {
    /// The URL captured (`url`).
    pub url: String,
    /// The WARC file, relative to the data server (`filename`).
    pub filename: String,
    /// Offset of the record's gzip member in the file (`offset`).
    pub offset: u64,
    /// Length of the gzip member (`length`).
    pub length: u64,
    /// Base32 SHA-1 of the payload (`digest`), without a `sha1:` prefix.
    pub digest: Option<String>,
    /// `timestamp` (`YYYYMMDDhhmmss`).
    pub timestamp: Option<String>,
}

impl CdxRow {
    /// The key of the record in the done list: file, offset and length.
    pub fn key(&self) -> (String, u64, u64) {
        (self.filename.clone(), self.offset, self.length)
    }
}

/// How an index answers a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// In this many pages (`page=0` to `page=N-1`).
    Pages(u64),
    /// All at once, to a query without `page`.
    Unpaged,
}

/// A query: the endpoint, the URL pattern, filters passed through.
#[derive(Debug, Clone)]
pub struct CdxQuery {
    /// The index endpoint, e.g. `https://index.commoncrawl.org/CC-MAIN-2024-10-index`.
    pub endpoint: String,
    /// The URL or pattern (`example.com/*`, `*.example.com`).
    pub url: String,
    /// `matchType` (`exact`, `prefix`, `host`, `domain`), when given.
    pub match_type: Option<String>,
    /// `filter` values passed through (`status:200`, `mime:text/html`, `!status:404`).
    pub filters: Vec<String>,
    /// `limit`, asked for in a query without pages (the first rows of a paged index
    /// are counted by the caller).
    pub limit: Option<u64>,
}

impl CdxQuery {
    /// The request URL, for page `page` or for the page count.
    pub fn request_url(&self, page: Option<u64>, count_pages: bool) -> Result<String, CcError> {
        let mut url = url::Url::parse(&self.endpoint).map_err(|e| CcError::BadUrl {
            url: self.endpoint.clone(),
            reason: e.to_string(),
        })?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("url", &self.url);
            query.append_pair("output", "json");
            if let Some(match_type) = &self.match_type {
                query.append_pair("matchType", match_type);
            }
            for filter in &self.filters {
                query.append_pair("filter", filter);
            }
            if let Some(page) = page {
                query.append_pair("page", &page.to_string());
            }
            if let (None, false, Some(limit)) = (page, count_pages, self.limit) {
                query.append_pair("limit", &limit.to_string());
            }
            if count_pages {
                query.append_pair("showNumPages", "true");
            }
        }
        Ok(url.into())
    }

    /// Asks how the index answers this query: in pages, or all rows at once. An index
    /// that does not page (pywb over a CDXJ file) answers the page count question with
    /// rows, unfiltered: then the rows are asked for again without it.
    pub fn paging(&self, client: &HttpClient) -> Result<Paging, CcError> {
        let url = self.request_url(None, true)?;
        let Some(body) = get(client, &url)? else {
            return Ok(Paging::Unpaged);
        };
        let text = String::from_utf8_lossy(&body);
        if let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text.trim())
            && let Some(pages) = object.get("pages")
            && !object.contains_key("url")
        {
            let pages = pages.as_u64().ok_or_else(|| CcError::BadCdx {
                url: url.clone(),
                line: 1,
                reason: format!("`pages` is not a count: {pages}"),
            })?;
            return Ok(Paging::Pages(pages));
        }
        Ok(Paging::Unpaged)
    }

    /// The rows of page `page` (all rows when `None`).
    pub fn rows(&self, client: &HttpClient, page: Option<u64>) -> Result<Vec<CdxRow>, CcError> {
        let url = self.request_url(page, false)?;
        match get(client, &url)? {
            Some(body) => parse_rows(&body, &url),
            None => Ok(Vec::new()),
        }
    }
}

/// The body of a `200`; `None` for a `404` saying `No Captures found` (as Common
/// Crawl's index answers a query that finds nothing).
fn get(client: &HttpClient, url: &str) -> Result<Option<Vec<u8>>, CcError> {
    let exchange: Exchange = client.get(url, &[]).map_err(CcError::Http)?;
    let no_captures = || {
        String::from_utf8_lossy(&exchange.body)
            .to_ascii_lowercase()
            .contains("no captures")
    };
    match exchange.status {
        200 => Ok(Some(exchange.body)),
        404 if no_captures() => Ok(None),
        status => Err(CcError::CdxStatus {
            url: url.to_string(),
            status,
            body: excerpt(&exchange.body),
        }),
    }
}

/// Rows from JSON lines.
pub fn parse_rows(body: &[u8], url: &str) -> Result<Vec<CdxRow>, CcError> {
    let text = std::str::from_utf8(body).map_err(|e| CcError::BadCdx {
        url: url.to_string(),
        line: 0,
        reason: format!("not UTF-8: {e}"),
    })?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |reason: String| CcError::BadCdx {
            url: url.to_string(),
            line: i as u64 + 1,
            reason,
        };
        let value: Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON ({e}): {line}")))?;
        rows.push(parse_row(&value).map_err(bad)?);
    }
    Ok(rows)
}

/// One row from its JSON object (numbers as strings, as the servers write them, or as
/// numbers).
fn parse_row(value: &Value) -> Result<CdxRow, String> {
    let text = |name: &str| -> Option<String> {
        match value.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let number = |name: &str| -> Result<u64, String> {
        let field = text(name).ok_or_else(|| format!("no `{name}`"))?;
        field
            .trim()
            .parse()
            .map_err(|_| format!("`{name}` is not a number: {field}"))
    };
    let length = number("length")?;
    if length == 0 {
        return Err("`length` is 0".to_string());
    }
    Ok(CdxRow {
        url: text("url").ok_or("no `url`")?,
        filename: text("filename").ok_or("no `filename`")?,
        offset: number("offset")?,
        length,
        digest: text("digest")
            .map(|d| strip_sha1(&d).to_string())
            .filter(|d| !d.is_empty() && d != "-"),
        timestamp: text("timestamp"),
    })
}

/// A digest without its `sha1:` prefix.
pub(crate) fn strip_sha1(digest: &str) -> &str {
    let digest = digest.trim();
    digest
        .strip_prefix("sha1:")
        .or_else(|| digest.strip_prefix("SHA1:"))
        .unwrap_or(digest)
}

/// The first 200 characters of a body, for an error.
fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_as_common_crawl_and_pywb_write_them() {
        // A line of Common Crawl's index (numbers as strings) and one of pywb's.
        let body = br#"{"urlkey": "org,commoncrawl)/", "timestamp": "20240218090604", "url": "https://commoncrawl.org/", "mime": "text/html", "mime-detected": "text/html", "status": "200", "digest": "KX7SX7WGCV3ACQIM4IJ3TR4H3BTBOEYN", "length": "18405", "offset": "1074525584", "filename": "crawl-data/CC-MAIN-2024-10/segments/1707947474641.34/warc/CC-MAIN-20240225171204-20240225201204-00523.warc.gz", "languages": "eng", "encoding": "UTF-8"}

{"urlkey": "com,example)/page/0", "timestamp": "20261204235544", "url": "http://example.com/page/0", "mime": "text/html", "status": "200", "digest": "sha1:ITT6DUK3EH74CDWKHHCSO2QKHVUEGKCH", "length": 119727, "offset": 0, "filename": "src.warc.gz", "source": "coll/indexes/index.cdxj", "source-coll": "coll", "access": "allow"}
"#;
        let rows = parse_rows(body, "http://index/").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].offset, 1074525584);
        assert_eq!(rows[0].length, 18405);
        assert_eq!(
            rows[0].digest.as_deref(),
            Some("KX7SX7WGCV3ACQIM4IJ3TR4H3BTBOEYN")
        );
        assert_eq!(rows[1].filename, "src.warc.gz");
        assert_eq!(
            rows[1].digest.as_deref(),
            Some("ITT6DUK3EH74CDWKHHCSO2QKHVUEGKCH")
        );
    }

    #[test]
    fn a_bad_row_names_the_query_and_line() {
        let body = b"{\"url\": \"http://a/\", \"filename\": \"f\", \"offset\": \"1\", \"length\": \"10\"}\n{\"url\": \"http://b/\", \"filename\": \"f\", \"length\": \"10\"}\n";
        let error = parse_rows(body, "http://index/q").unwrap_err().to_string();
        assert!(error.contains("http://index/q"), "{error}");
        assert!(error.contains("line 2"), "{error}");
        assert!(error.contains("offset"), "{error}");
    }

    #[test]
    fn request_urls_carry_the_query() {
        let query = CdxQuery {
            endpoint: "https://index.commoncrawl.org/CC-MAIN-2024-10-index".to_string(),
            url: "example.com/*".to_string(),
            match_type: None,
            filters: vec!["status:200".to_string(), "mime:text/html".to_string()],
            limit: Some(5),
        };
        assert_eq!(
            query.request_url(Some(3), false).unwrap(),
            "https://index.commoncrawl.org/CC-MAIN-2024-10-index?url=example.com%2F*&output=json&filter=status%3A200&filter=mime%3Atext%2Fhtml&page=3"
        );
        assert!(
            query
                .request_url(None, true)
                .unwrap()
                .ends_with("mime%3Atext%2Fhtml&showNumPages=true")
        );
        assert!(
            query
                .request_url(None, false)
                .unwrap()
                .ends_with("&limit=5")
        );
    }
}
