//! Common Crawl by URL pattern: a CDX query, then each record by a byte-range request
//! from the data server, verified, and written byte for byte into WARC files.
//!
//! The index is Common Crawl's (`https://index.commoncrawl.org/{INDEX}-index`, see
//! [`common_crawl_index`]) or any pywb-compatible CDX server; the data server is
//! Common Crawl's ([`COMMON_CRAWL_DATA`]) or any HTTP server that holds the files the
//! rows name and serves byte ranges. Each record is checked ([`verify`]) before it is
//! written; one that fails is fetched once more, then logged with its reason and
//! skipped, never written.
//!
//! The output folder holds:
//!
//! - `cc-NNNNN.warc.gz`: the records, each the gzip member fetched, unchanged; each
//!   file opens with a `warcinfo` record of its own and is rotated at a size;
//! - `cc-state.jsonl`: one line per record written (`filename`, `offset`, `length` of
//!   the source, `warc` and `end` of the copy), appended only after the WARC file was
//!   synced: a run stopped anywhere resumes from it, cutting the last file back to the
//!   last recorded end, and skips the records already there, so none is written twice;
//! - `cc-log.jsonl`: the outcome of each record (`written`, or `failed` with the
//!   reason).
//!
//! Politeness: few connections to the data server (two by default), an optional wait
//! between a connection's requests, and the retries of [`atelier_io::http`] (backoff
//! honouring `Retry-After` on `429` and `503`).

pub mod cdx;
pub mod verify;

use atelier_io::WarcWriter;
pub use atelier_io::http::HttpOptions;
use atelier_io::http::{HttpClient, HttpError};
use cdx::{CdxQuery, CdxRow};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Common Crawl's data server.
pub const COMMON_CRAWL_DATA: &str = "https://data.commoncrawl.org/";

/// The record list of the output folder.
pub const STATE_FILE: &str = "cc-state.jsonl";

/// The outcome log of the output folder.
pub const LOG_FILE: &str = "cc-log.jsonl";

/// Prefix of the WARC files written.
pub const WARC_PREFIX: &str = "cc";

/// The CDX endpoint of a Common Crawl index, e.g. `CC-MAIN-2024-10`.
pub fn common_crawl_index(index: &str) -> String {
    format!("https://index.commoncrawl.org/{index}-index")
}

/// Why a pull stopped.
#[derive(Debug, thiserror::Error)]
pub enum CcError {
    /// An endpoint is not a URL.
    #[error("{url}: invalid URL: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The index server could not be asked.
    #[error("index query: {0}")]
    Http(HttpError),
    /// The index server answered with an error.
    #[error("{url}: the index server answered HTTP {status}: {body}")]
    CdxStatus {
        /// The query.
        url: String,
        /// The status.
        status: u16,
        /// The start of its body.
        body: String,
    },
    /// A row of the index cannot be read.
    #[error("{url}: line {line}: {reason}")]
    BadCdx {
        /// The query.
        url: String,
        /// The line of the answer (1-based).
        line: u64,
        /// Why.
        reason: String,
    },
    /// Reading or writing the output folder failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
    /// A line of the state file cannot be read.
    #[error("{}: line {line}: {reason}", path.display())]
    State {
        /// The state file.
        path: PathBuf,
        /// The line (1-based).
        line: u64,
        /// Why.
        reason: String,
    },
    /// The output folder has WARC files but no state: not a pull to resume.
    #[error(
        "{}: holds {file} but no {STATE_FILE}: WARC files of another run; choose another output folder",
        dir.display()
    )]
    NotOurs {
        /// The folder.
        dir: PathBuf,
        /// One of its WARC files.
        file: String,
    },
}

/// What to pull and how.
#[derive(Debug, Clone)]
pub struct CcOptions {
    /// The CDX endpoint (see [`common_crawl_index`]).
    pub cdx: String,
    /// Base URL the rows' file names are relative to.
    pub data: String,
    /// The URL or pattern (`example.com/*`).
    pub url: String,
    /// `matchType`, when given.
    pub match_type: Option<String>,
    /// CDX `filter`s passed through (`status:200`, `mime:text/html`).
    pub filters: Vec<String>,
    /// The first `limit` rows of the index only (already fetched ones included).
    pub limit: Option<u64>,
    /// The output folder.
    pub output: PathBuf,
    /// A WARC file is closed once it holds this many bytes.
    pub max_file_bytes: u64,
    /// Connections to the data server at once.
    pub connections: usize,
    /// Wait between two requests of one connection.
    pub delay: Duration,
    /// The HTTP client's options for the data server (the index gets a longer timeout
    /// and no size cap).
    pub http: HttpOptions,
    /// Largest record fetched (compressed) and largest once decompressed.
    pub max_record_bytes: u64,
}

impl CcOptions {
    /// Options with the defaults: two connections, no wait, 1 GB files, records up to
    /// 64 MiB.
    pub fn new(cdx: &str, data: &str, url: &str, output: impl Into<PathBuf>) -> CcOptions {
        CcOptions {
            cdx: cdx.to_string(),
            data: data.to_string(),
            url: url.to_string(),
            match_type: None,
            filters: Vec::new(),
            limit: None,
            output: output.into(),
            max_file_bytes: 1_000_000_000,
            connections: 2,
            delay: Duration::ZERO,
            http: HttpOptions::default(),
            max_record_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Counts of a pull; they add.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CcStats {
    /// Rows taken from the index (within the limit).
    pub listed: u64,
    /// Rows skipped: written by an earlier run, or listed twice.
    pub skipped: u64,
    /// Records written.
    pub written: u64,
    /// Records that failed (fetch or verification) and were not written.
    pub failed: u64,
    /// Records fetched a second time after failing verification.
    pub retried: u64,
    /// Bytes of records written.
    pub bytes: u64,
}

impl std::ops::Add for CcStats {
    type Output = CcStats;
    fn add(self, other: CcStats) -> CcStats {
        CcStats {
            listed: self.listed + other.listed,
            skipped: self.skipped + other.skipped,
            written: self.written + other.written,
            failed: self.failed + other.failed,
            retried: self.retried + other.retried,
            bytes: self.bytes + other.bytes,
        }
    }
}

/// What happened, as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// The index answered: `pages` when it pages its answers.
    Index {
        /// The number of pages, for a paged index.
        pages: Option<u64>,
    },
    /// A record was written.
    Written {
        /// Its row.
        row: &'a CdxRow,
    },
    /// A record failed and was skipped.
    Failed {
        /// Its row.
        row: &'a CdxRow,
        /// Why.
        reason: &'a str,
    },
    /// Counts changed (after each record).
    Progress,
}

/// The end of a pull.
#[derive(Debug, Clone)]
pub struct CcSummary {
    /// The counts.
    pub stats: CcStats,
    /// The WARC files written to in this run.
    pub files: Vec<PathBuf>,
}

/// Pulls the records of `options.url` into `options.output`, resuming an earlier pull
/// there. `on_event` hears each record's outcome with the counts so far.
pub fn run(
    options: &CcOptions,
    on_event: &mut dyn FnMut(&Event<'_>, &CcStats),
) -> Result<CcSummary, CcError> {
    let query = CdxQuery {
        endpoint: options.cdx.clone(),
        url: options.url.clone(),
        match_type: options.match_type.clone(),
        filters: options.filters.clone(),
        limit: options.limit,
    };
    query.request_url(None, false)?;
    let mut output = Output::open(options)?;
    let data_client = HttpClient::new(HttpOptions {
        max_bytes: options.max_record_bytes,
        ..options.http.clone()
    });
    let cdx_client = HttpClient::new(HttpOptions {
        max_bytes: u64::MAX,
        timeout: options.http.timeout.max(Duration::from_secs(300)),
        ..options.http.clone()
    });
    let cancel = AtomicBool::new(false);
    let connections = options.connections.max(1);
    let (row_tx, row_rx) = sync_channel::<CdxRow>(connections * 2);
    let row_rx = Mutex::new(row_rx);
    let (msg_tx, msg_rx) = channel::<Message>();
    let mut stats = CcStats::default();
    let mut failure: Option<CcError> = None;
    let done = std::mem::take(&mut output.done);
    let (query, cdx_client, data_client, cancel) = (&query, &cdx_client, &data_client, &cancel);
    std::thread::scope(|scope| {
        let producer_tx = msg_tx.clone();
        let done = &done;
        scope.spawn(move || {
            let result = list(
                query,
                cdx_client,
                done,
                options.limit,
                &row_tx,
                &producer_tx,
                cancel,
            );
            let _ = producer_tx.send(Message::Listed(result));
        });
        for _ in 0..connections {
            let (tx, rx) = (msg_tx.clone(), &row_rx);
            scope.spawn(move || fetch_rows(rx, &tx, data_client, options, cancel));
        }
        drop(msg_tx);
        for message in msg_rx {
            if failure.is_some() {
                continue;
            }
            if let Err(e) = handle(message, &mut output, &mut stats, on_event) {
                failure = Some(e);
                cancel.store(true, Ordering::Relaxed);
            }
        }
    });
    if let Some(e) = failure {
        // What was written and synced stays recorded; the rest is cut back next time.
        let _ = output.commit();
        return Err(e);
    }
    let files = output.finish()?;
    Ok(CcSummary { stats, files })
}

/// What the listing and fetching threads tell the writer.
enum Message {
    /// The listing is over (the number of pages, for a paged index).
    Listed(Result<Option<u64>, CcError>),
    /// The index answered.
    Index(Option<u64>),
    /// A row was taken from the index.
    Row,
    /// A row was skipped: already written, or listed twice.
    Skipped,
    /// A record was fetched and verified, or failed.
    Fetched {
        row: CdxRow,
        result: Result<Vec<u8>, String>,
        retried: bool,
    },
}

/// Handles one message in the writing thread.
fn handle(
    message: Message,
    output: &mut Output,
    stats: &mut CcStats,
    on_event: &mut dyn FnMut(&Event<'_>, &CcStats),
) -> Result<(), CcError> {
    match message {
        Message::Listed(result) => {
            result?;
        }
        Message::Index(pages) => on_event(&Event::Index { pages }, stats),
        Message::Row => {
            stats.listed += 1;
            on_event(&Event::Progress, stats);
        }
        Message::Skipped => {
            stats.listed += 1;
            stats.skipped += 1;
            on_event(&Event::Progress, stats);
        }
        Message::Fetched {
            row,
            result,
            retried,
        } => {
            stats.retried += u64::from(retried);
            match result {
                Ok(member) => {
                    output.write(&row, &member)?;
                    stats.written += 1;
                    stats.bytes += member.len() as u64;
                    on_event(&Event::Written { row: &row }, stats);
                }
                Err(reason) => {
                    output.log_failure(&row, &reason)?;
                    stats.failed += 1;
                    on_event(
                        &Event::Failed {
                            row: &row,
                            reason: &reason,
                        },
                        stats,
                    );
                }
            }
            on_event(&Event::Progress, stats);
        }
    }
    Ok(())
}

/// Lists the rows, page by page, sending the ones to fetch; gives the number of pages.
fn list(
    query: &CdxQuery,
    client: &HttpClient,
    done: &HashSet<(String, u64, u64)>,
    limit: Option<u64>,
    rows_tx: &SyncSender<CdxRow>,
    messages: &Sender<Message>,
    cancel: &AtomicBool,
) -> Result<Option<u64>, CcError> {
    let pages = match query.paging(client)? {
        cdx::Paging::Pages(pages) => Some(pages),
        cdx::Paging::Unpaged => None,
    };
    let _ = messages.send(Message::Index(pages));
    let mut taken = 0u64;
    let mut seen = HashSet::new();
    let mut page = 0u64;
    while limit.is_none_or(|l| taken < l) && !cancel.load(Ordering::Relaxed) {
        let rows = match pages {
            None if page == 0 => query.rows(client, None)?,
            Some(pages) if page < pages => query.rows(client, Some(page))?,
            _ => break,
        };
        page += 1;
        for row in rows {
            if cancel.load(Ordering::Relaxed) || limit.is_some_and(|l| taken >= l) {
                return Ok(pages);
            }
            taken += 1;
            let key = row.key();
            if done.contains(&key) || !seen.insert(key) {
                let _ = messages.send(Message::Skipped);
                continue;
            }
            let _ = messages.send(Message::Row);
            if rows_tx.send(row).is_err() {
                return Ok(pages);
            }
        }
    }
    Ok(pages)
}

/// One connection to the data server: fetches rows until there are none.
fn fetch_rows(
    rows: &Mutex<Receiver<CdxRow>>,
    messages: &Sender<Message>,
    client: &HttpClient,
    options: &CcOptions,
    cancel: &AtomicBool,
) {
    let mut first = true;
    loop {
        let row = rows.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(row) = row else { return };
        if cancel.load(Ordering::Relaxed) {
            continue;
        }
        let mut retried = false;
        let mut result;
        loop {
            if !first && !options.delay.is_zero() {
                std::thread::sleep(options.delay);
            }
            first = false;
            result = fetch_record(client, options, &row);
            match &result {
                Err(Failure::Bad(_)) if !retried => retried = true,
                _ => break,
            }
        }
        let result = result.map_err(|f| match f {
            Failure::Http(reason) | Failure::Bad(reason) => reason,
        });
        if messages
            .send(Message::Fetched {
                row,
                result,
                retried,
            })
            .is_err()
        {
            return;
        }
    }
}

/// Why a record was not had.
enum Failure {
    /// The request failed (after the client's retries).
    Http(String),
    /// The answer was wrong: worth one more try.
    Bad(String),
}

/// Fetches one record by its byte range and verifies it.
fn fetch_record(
    client: &HttpClient,
    options: &CcOptions,
    row: &CdxRow,
) -> Result<Vec<u8>, Failure> {
    let url = data_url(&options.data, &row.filename);
    let last = row.offset + row.length - 1;
    let range = format!("bytes={}-{last}", row.offset);
    let exchange = client
        .get(&url, &[("Range", &range)])
        .map_err(|e| Failure::Http(e.to_string()))?;
    match exchange.status {
        206 => {}
        200 => {
            return Err(Failure::Http(format!(
                "{url}: HTTP 200: the data server does not serve byte ranges"
            )));
        }
        status => return Err(Failure::Http(format!("{url}: HTTP {status}"))),
    }
    if let Some(content_range) = exchange.header("content-range") {
        let expected = format!("bytes {}-{last}/", row.offset);
        if !content_range.trim().starts_with(&expected) {
            return Err(Failure::Bad(format!(
                "{url}: asked for {range}, got Content-Range {content_range}"
            )));
        }
    }
    if exchange.body.len() as u64 != row.length {
        return Err(Failure::Bad(format!(
            "{url}: got {} bytes of the {} asked for",
            exchange.body.len(),
            row.length
        )));
    }
    verify::verify(&exchange.body, row, options.max_record_bytes)
        .map_err(|reason| Failure::Bad(format!("{url} at {}: {reason}", row.offset)))?;
    Ok(exchange.body)
}

/// The URL of a row's file on the data server.
pub fn data_url(base: &str, filename: &str) -> String {
    if filename.starts_with("http://") || filename.starts_with("https://") {
        return filename.to_string();
    }
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        filename.trim_start_matches('/')
    )
}

/// The output folder: WARC files, state and log.
struct Output {
    dir: PathBuf,
    writer: WarcWriter,
    state: BufWriter<File>,
    log: BufWriter<File>,
    /// Records written by earlier runs.
    done: HashSet<(String, u64, u64)>,
    /// State lines of records written since the last sync.
    pending: Vec<String>,
    last_commit: Instant,
}

impl Output {
    /// Opens the folder, resuming a pull there.
    fn open(options: &CcOptions) -> Result<Output, CcError> {
        let dir = options.output.clone();
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |error| CcError::Io { path, error }
        };
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let state_path = dir.join(STATE_FILE);
        let info = format!(
            "software: atelier/{}\r\nformat: WARC File Format 1.1\r\ndescription: records of {} from the index {}, copied unchanged\r\n",
            env!("CARGO_PKG_VERSION"),
            options.url,
            options.cdx
        );
        let (done, last) = if state_path.exists() {
            read_state(&state_path)?
        } else {
            if let Some(file) = warc_files(&dir).map_err(io_error(&dir))?.into_iter().next() {
                return Err(CcError::NotOurs { dir, file });
            }
            File::create(&state_path).map_err(io_error(&state_path))?;
            (HashSet::new(), None)
        };
        let writer = WarcWriter::resume(
            &dir,
            WARC_PREFIX,
            options.max_file_bytes,
            &info,
            last.as_ref().map(|(name, end)| (name.as_str(), *end)),
        )
        .map_err(io_error(&dir))?;
        let append = |path: &Path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(BufWriter::new)
                .map_err(io_error(path))
        };
        Ok(Output {
            state: append(&state_path)?,
            log: append(&dir.join(LOG_FILE))?,
            dir,
            writer,
            done,
            pending: Vec::new(),
            last_commit: Instant::now(),
        })
    }

    /// Appends a record; the state records it at the next commit.
    fn write(&mut self, row: &CdxRow, member: &[u8]) -> Result<(), CcError> {
        let written = self
            .writer
            .write_member(member)
            .map_err(|error| CcError::Io {
                path: self.dir.clone(),
                error,
            })?;
        let warc = written
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.pending.push(
            serde_json::json!({
                "filename": row.filename,
                "offset": row.offset,
                "length": row.length,
                "warc": warc,
                "end": written.end,
            })
            .to_string(),
        );
        self.log_line(serde_json::json!({
            "outcome": "written",
            "url": row.url,
            "timestamp": row.timestamp,
            "filename": row.filename,
            "offset": row.offset,
            "length": row.length,
            "warc": warc,
            "warc_offset": written.offset,
        }))?;
        if self.pending.len() >= 256 || self.last_commit.elapsed() >= Duration::from_secs(2) {
            self.commit()?;
        }
        Ok(())
    }

    /// Logs a record that failed.
    fn log_failure(&mut self, row: &CdxRow, reason: &str) -> Result<(), CcError> {
        self.log_line(serde_json::json!({
            "outcome": "failed",
            "url": row.url,
            "timestamp": row.timestamp,
            "filename": row.filename,
            "offset": row.offset,
            "length": row.length,
            "reason": reason,
        }))
    }

    fn log_line(&mut self, line: serde_json::Value) -> Result<(), CcError> {
        writeln!(self.log, "{line}").map_err(|error| CcError::Io {
            path: self.dir.join(LOG_FILE),
            error,
        })
    }

    /// Syncs the WARC file, then records what it holds in the state.
    fn commit(&mut self) -> Result<(), CcError> {
        self.writer.sync().map_err(|error| CcError::Io {
            path: self.dir.clone(),
            error,
        })?;
        let state_path = self.dir.join(STATE_FILE);
        let io_error = |error| CcError::Io {
            path: state_path.clone(),
            error,
        };
        for line in self.pending.drain(..) {
            writeln!(self.state, "{line}").map_err(io_error)?;
        }
        self.state.flush().map_err(io_error)?;
        self.log.flush().map_err(|error| CcError::Io {
            path: self.dir.join(LOG_FILE),
            error,
        })?;
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Commits and closes; gives the files written to.
    fn finish(mut self) -> Result<Vec<PathBuf>, CcError> {
        self.commit()?;
        self.writer.finish().map_err(|error| CcError::Io {
            path: self.dir.clone(),
            error,
        })
    }
}

/// Done records and the last (file, end) of a state file. A last line cut short by a
/// stop is dropped from the file.
type State = (HashSet<(String, u64, u64)>, Option<(String, u64)>);

fn read_state(path: &Path) -> Result<State, CcError> {
    let io_error = |error| CcError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut bytes = std::fs::read(path).map_err(io_error)?;
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        bytes.truncate(keep);
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_error)?;
        file.set_len(keep as u64).map_err(io_error)?;
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut done = HashSet::new();
    let mut last = None;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| CcError::State {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let text = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_string);
        let number = |name: &str| value.get(name).and_then(serde_json::Value::as_u64);
        match (
            text("filename"),
            number("offset"),
            number("length"),
            text("warc"),
            number("end"),
        ) {
            (Some(filename), Some(offset), Some(length), Some(warc), Some(end)) => {
                done.insert((filename, offset, length));
                last = Some((warc, end));
            }
            _ => {
                return Err(bad(
                    "needs filename, offset, length, warc and end".to_string()
                ));
            }
        }
    }
    Ok((done, last))
}

/// Names of the `cc-*.warc.gz` files in `dir`.
fn warc_files(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("{WARC_PREFIX}-")) && name.ends_with(".warc.gz") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_join_base_and_file() {
        assert_eq!(
            data_url(
                "https://data.commoncrawl.org/",
                "crawl-data/CC-MAIN-2024-10/a.warc.gz"
            ),
            "https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-10/a.warc.gz"
        );
        assert_eq!(
            data_url("http://h:1/x", "/a.warc.gz"),
            "http://h:1/x/a.warc.gz"
        );
        assert_eq!(data_url("http://h:1/x", "http://o/a.gz"), "http://o/a.gz");
        assert_eq!(
            common_crawl_index("CC-MAIN-2024-10"),
            "https://index.commoncrawl.org/CC-MAIN-2024-10-index"
        );
    }

    #[test]
    fn a_state_cut_short_drops_its_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        std::fs::write(
            &path,
            "{\"filename\":\"a\",\"offset\":0,\"length\":5,\"warc\":\"cc-00000.warc.gz\",\"end\":90}\n{\"filename\":\"a\",\"off",
        )
        .unwrap();
        let (done, last) = read_state(&path).unwrap();
        assert!(done.contains(&("a".to_string(), 0, 5)));
        assert_eq!(last, Some(("cc-00000.warc.gz".to_string(), 90)));
        assert!(std::fs::read_to_string(&path).unwrap().ends_with("90}\n"));

        std::fs::write(&path, "{\"filename\":\"a\"}\n{}\n").unwrap();
        let error = read_state(&path).unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
    }

    #[test]
    fn stats_add() {
        let one = CcStats {
            written: 1,
            bytes: 10,
            ..CcStats::default()
        };
        assert_eq!((one + one).bytes, 20);
        assert_eq!((one + one).written, 2);
    }
}
