//! HTTP for fetching pages and reading remote sources.
//!
//! One blocking client ([`HttpClient`], on `ureq`: HTTP/1.1, rustls) with a user agent
//! naming a contact, timeouts, a cap on each response's size and no automatic
//! redirects (a crawler records and follows them itself). [`HttpClient::get`] retries
//! timeouts, broken connections, `429` and `5xx` with a doubling backoff that honours
//! `Retry-After`; [`HttpClient::reader`] streams a file or a byte range of it and, when
//! the connection breaks, resumes where it stopped with a `Range` request.
//!
//! An [`Exchange`] keeps what a WARC needs: the request head as sent, the response head
//! and the body. The client asks for `Accept-Encoding: identity`, so the body is what
//! the server holds; `Transfer-Encoding` is dropped from the kept head because the body
//! is kept de-chunked.

use std::io::{self, Read};
use std::time::{Duration, SystemTime};

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// `User-Agent`; a serious crawler names a contact in it.
    pub user_agent: String,
    /// Longest wait for a connection (DNS, TCP and TLS).
    pub connect_timeout: Duration,
    /// Longest wait for one whole exchange ([`HttpClient::get`]) or, for
    /// [`HttpClient::reader`], for the response head and for each read.
    pub timeout: Duration,
    /// Attempts after the first one, for errors worth retrying.
    pub retries: u32,
    /// First wait before a retry; each later wait doubles, up to `max_backoff`.
    pub backoff: Duration,
    /// Longest wait between two attempts; a `Retry-After` asking for more gives up.
    pub max_backoff: Duration,
    /// Largest response body kept; a larger one is [`HttpError::TooLarge`].
    pub max_bytes: u64,
}

/// `User-Agent` of [`HttpOptions::default`].
pub const DEFAULT_USER_AGENT: &str = concat!(
    "atelier/",
    env!("CARGO_PKG_VERSION"),
    " (+https://example.invalid/atelier)"
);

impl Default for HttpOptions {
    fn default() -> HttpOptions {
        HttpOptions {
            user_agent: DEFAULT_USER_AGENT.to_string(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_bytes: 10 * 1024 * 1024,
        }
    }
}

/// Why an HTTP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL cannot be requested.
    #[error("{url}: invalid URL: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// No answer in time.
    #[error("{url}: timed out ({phase})")]
    Timeout {
        /// The URL.
        url: String,
        /// What was going on: connecting, waiting for the head, reading the body.
        phase: String,
    },
    /// The body is larger than [`HttpOptions::max_bytes`].
    #[error("{url}: response larger than the cap of {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap.
        limit: u64,
    },
    /// The connection failed: no such host, refused, reset, a TLS or protocol error.
    #[error("{url}: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The server kept answering with a status worth retrying (`429`, `5xx`), or with
    /// a `Retry-After` longer than [`HttpOptions::max_backoff`].
    #[error("{url}: HTTP {status} after {attempts} attempt(s)")]
    Status {
        /// The URL.
        url: String,
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// A range was asked for and the server answered with something else.
    #[error("{url}: the server does not serve byte ranges (asked from {start}, got HTTP {status})")]
    NoRanges {
        /// The URL.
        url: String,
        /// First byte asked for.
        start: u64,
        /// The status answered.
        status: u16,
    },
}

impl HttpError {
    /// Whether another attempt may succeed.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            HttpError::Timeout { .. } | HttpError::Transport { .. }
        )
    }

    /// A short word for logs and counters: `timeout`, `too-large`, `transport`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            HttpError::BadUrl { .. } => "bad-url",
            HttpError::Timeout { .. } => "timeout",
            HttpError::TooLarge { .. } => "too-large",
            HttpError::Transport { .. } => "transport",
            HttpError::Status { .. } => "status",
            HttpError::NoRanges { .. } => "no-ranges",
        }
    }
}

/// One HTTP exchange, as a WARC keeps it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The URL asked for.
    pub url: String,
    /// Request line and headers as sent, ending with the empty line.
    pub request_head: Vec<u8>,
    /// The status code.
    pub status: u16,
    /// Status line and headers as received (names lowercase, `Transfer-Encoding`
    /// left out), ending with the empty line.
    pub response_head: Vec<u8>,
    /// The headers, names lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// When the response head arrived.
    pub date: SystemTime,
}

impl Exchange {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The wait a `Retry-After` header asks for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(self.header("retry-after")?, SystemTime::now())
    }

    /// Whether the status is worth another attempt: `429` or `5xx`.
    pub fn retryable(&self) -> bool {
        self.status == 429 || (500..600).contains(&self.status)
    }

    /// The media type of the body, lowercase, without parameters.
    pub fn media_type(&self) -> Option<String> {
        let value = self.header("content-type")?;
        let media = value.split(';').next()?.trim().to_ascii_lowercase();
        (!media.is_empty()).then_some(media)
    }
}

/// Parses a `Retry-After` value: seconds, or an HTTP date (a wait from `now`).
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Waits between attempts: doubling from a first wait, never under a `Retry-After`.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `first`, at most `max`.
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { next: first, max }
    }

    /// The next wait, at least `asked` (a `Retry-After`); `None` when `asked` is longer
    /// than the longest wait allowed.
    pub fn next_wait(&mut self, asked: Option<Duration>) -> Option<Duration> {
        if asked.is_some_and(|a| a > self.max) {
            return None;
        }
        let wait = self.next.max(asked.unwrap_or_default()).min(self.max);
        self.next = (self.next * 2).min(self.max);
        Some(wait)
    }
}

/// A blocking HTTP client; cheap to clone, shared by threads.
#[derive(Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    options: HttpOptions,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("options", &self.options)
            .finish()
    }
}

impl HttpClient {
    /// A client with these options.
    pub fn new(options: HttpOptions) -> HttpClient {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(options.user_agent.as_str())
            .accept_encoding("identity")
            .timeout_connect(Some(options.connect_timeout))
            .timeout_global(Some(options.timeout))
            .build();
        HttpClient {
            agent: config.into(),
            options,
        }
    }

    /// The options it was made with.
    pub fn options(&self) -> &HttpOptions {
        &self.options
    }

    /// One `GET`, no retry: any status is an answer, not an error. `headers` are added
    /// to the request (and to [`Exchange::request_head`]).
    pub fn get_once(&self, url: &str, headers: &[(&str, &str)]) -> Result<Exchange, HttpError> {
        let uri: ureq::http::Uri = url.parse().map_err(|e| HttpError::BadUrl {
            url: url.to_string(),
            reason: format!("{e}"),
        })?;
        let mut request = self
            .agent
            .get(url)
            .header("User-Agent", self.options.user_agent.as_str())
            .header("Accept", "*/*")
            .header("Accept-Encoding", "identity");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request_head = request_head(&uri, &self.options.user_agent, headers);
        let mut response = request
            .call()
            .map_err(|e| classify(url, e, "waiting for the answer"))?;
        let date = SystemTime::now();
        let (status, response_head, kept) = response_head(&response);
        // A body announced larger than the cap is not read at all.
        let announced = kept
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, value)| value.trim().parse::<u64>().ok());
        if announced.is_some_and(|len| len > self.options.max_bytes) {
            return Err(HttpError::TooLarge {
                url: url.to_string(),
                limit: self.options.max_bytes,
            });
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(self.options.max_bytes)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => HttpError::TooLarge {
                    url: url.to_string(),
                    limit: self.options.max_bytes,
                },
                other => classify(url, other, "reading the body"),
            })?;
        Ok(Exchange {
            url: url.to_string(),
            request_head,
            status,
            response_head,
            headers: kept,
            body,
            date,
        })
    }

    /// A `GET` retried on timeouts, broken connections, `429` and `5xx`, waiting as
    /// [`Backoff`] says. A final `429`/`5xx` is [`HttpError::Status`]; other statuses
    /// (`3xx`, `404`, ...) are answers.
    pub fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Exchange, HttpError> {
        self.retrying(url, || self.get_once(url, headers))
    }

    /// Runs `attempt` until it gives an answer not worth retrying, or retries run out.
    fn retrying(
        &self,
        url: &str,
        mut attempt: impl FnMut() -> Result<Exchange, HttpError>,
    ) -> Result<Exchange, HttpError> {
        let mut backoff = Backoff::new(self.options.backoff, self.options.max_backoff);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = attempt();
            let (asked, give_up) = match &result {
                Ok(exchange) if exchange.retryable() => (exchange.retry_after(), false),
                Ok(_) => return result,
                Err(e) if e.retryable() => (None, false),
                Err(_) => (None, true),
            };
            let wait = if give_up || attempts > self.options.retries {
                None
            } else {
                backoff.next_wait(asked)
            };
            match wait {
                Some(wait) => std::thread::sleep(wait),
                None => {
                    return match result {
                        Ok(exchange) => Err(HttpError::Status {
                            url: url.to_string(),
                            status: exchange.status,
                            attempts,
                        }),
                        Err(e) => Err(e),
                    };
                }
            }
        }
    }

    /// Streams `url` from byte `start` (to `end`, exclusive, when given), resuming with a
    /// `Range` request when the connection breaks, up to [`HttpOptions::retries`] times
    /// in a row. The body is not capped.
    pub fn reader(&self, url: &str, start: u64, end: Option<u64>) -> RemoteReader {
        RemoteReader {
            client: self.clone(),
            url: url.to_string(),
            pos: start,
            end,
            body: None,
            failures: 0,
        }
    }

    /// The length of `url` and whether its server serves byte ranges, from a `HEAD`
    /// (retried like [`HttpClient::get`]).
    pub fn probe(&self, url: &str) -> Result<Probe, HttpError> {
        let exchange = self.retrying(url, || {
            let response = self
                .agent
                .head(url)
                .header("Accept-Encoding", "identity")
                .call()
                .map_err(|e| classify(url, e, "waiting for the answer"))?;
            let (status, response_head, headers) = response_head(&response);
            Ok(Exchange {
                url: url.to_string(),
                request_head: Vec::new(),
                status,
                response_head,
                headers,
                body: Vec::new(),
                date: SystemTime::now(),
            })
        })?;
        if exchange.status >= 400 {
            return Err(HttpError::Status {
                url: url.to_string(),
                status: exchange.status,
                attempts: 1,
            });
        }
        Ok(Probe {
            status: exchange.status,
            length: exchange
                .header("content-length")
                .and_then(|v| v.trim().parse().ok()),
            ranges: exchange
                .header("accept-ranges")
                .is_some_and(|v| v.eq_ignore_ascii_case("bytes")),
            etag: exchange.header("etag").map(str::to_string),
            last_modified: exchange.header("last-modified").map(str::to_string),
        })
    }

    /// Opens the body from `pos` (a `Range` request unless `pos` is 0 and `end` is open).
    fn open(
        &self,
        url: &str,
        pos: u64,
        end: Option<u64>,
    ) -> Result<ureq::BodyReader<'static>, HttpError> {
        let mut request = self
            .agent
            .get(url)
            .config()
            .timeout_global(None)
            .timeout_recv_response(Some(self.options.timeout))
            .timeout_per_read(Some(self.options.timeout))
            .build()
            .header("Accept-Encoding", "identity");
        let ranged = pos > 0 || end.is_some();
        if ranged {
            let range = match end {
                Some(end) => format!("bytes={pos}-{}", end.saturating_sub(1)),
                None => format!("bytes={pos}-"),
            };
            request = request.header("Range", range);
        }
        let response = request
            .call()
            .map_err(|e| classify(url, e, "waiting for the answer"))?;
        let status = response.status().as_u16();
        if status == 429 || status >= 500 {
            return Err(HttpError::Transport {
                url: url.to_string(),
                reason: format!("HTTP {status}"),
            });
        }
        if status >= 300 {
            return Err(HttpError::Status {
                url: url.to_string(),
                status,
                attempts: 1,
            });
        }
        if ranged && status != 206 {
            return Err(HttpError::NoRanges {
                url: url.to_string(),
                start: pos,
                status,
            });
        }
        Ok(response
            .into_body()
            .into_with_config()
            .limit(u64::MAX)
            .reader())
    }
}

/// What a `HEAD` tells about a remote file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The status (after no redirect).
    pub status: u16,
    /// `Content-Length`, when given.
    pub length: Option<u64>,
    /// Whether `Accept-Ranges: bytes` was given.
    pub ranges: bool,
    /// `ETag`, when given.
    pub etag: Option<String>,
    /// `Last-Modified`, when given.
    pub last_modified: Option<String>,
}

/// A remote file read as a stream; see [`HttpClient::reader`].
pub struct RemoteReader {
    client: HttpClient,
    url: String,
    pos: u64,
    end: Option<u64>,
    body: Option<ureq::BodyReader<'static>>,
    failures: u32,
}

impl RemoteReader {
    /// Position of the next byte read.
    pub fn pos(&self) -> u64 {
        self.pos
    }
}

impl Read for RemoteReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.end.is_some_and(|end| self.pos >= end) {
            return Ok(0);
        }
        let mut backoff =
            Backoff::new(self.client.options.backoff, self.client.options.max_backoff);
        loop {
            if self.body.is_none() {
                match self.client.open(&self.url, self.pos, self.end) {
                    Ok(body) => self.body = Some(body),
                    Err(e) if e.retryable() && self.failures < self.client.options.retries => {
                        self.failures += 1;
                        std::thread::sleep(backoff.next_wait(None).unwrap_or_default());
                        continue;
                    }
                    Err(e) => return Err(io::Error::other(e)),
                }
            }
            let body = self.body.as_mut().expect("opened above");
            match body.read(buf) {
                Ok(n) => {
                    if n > 0 {
                        self.failures = 0;
                    }
                    self.pos += n as u64;
                    if n == 0 && self.end.is_some_and(|end| self.pos < end) {
                        // Closed early without an error: resume.
                        self.body = None;
                        if self.failures >= self.client.options.retries {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                format!("{}: closed at byte {}", self.url, self.pos),
                            ));
                        }
                        self.failures += 1;
                        continue;
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.body = None;
                    if self.failures >= self.client.options.retries {
                        return Err(io::Error::new(
                            e.kind(),
                            format!("{}: at byte {}: {e}", self.url, self.pos),
                        ));
                    }
                    self.failures += 1;
                    std::thread::sleep(backoff.next_wait(None).unwrap_or_default());
                }
            }
        }
    }
}

/// The request head as `get_once` sends it (`ureq` adds no other header).
fn request_head(uri: &ureq::http::Uri, user_agent: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let host = match (uri.host(), uri.port_u16()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        _ => String::new(),
    };
    let mut head = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {user_agent}\r\nAccept: */*\r\nAccept-Encoding: identity\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Status, kept head and headers of a response.
fn response_head(
    response: &ureq::http::Response<ureq::Body>,
) -> (u16, Vec<u8>, Vec<(String, String)>) {
    let status = response.status();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut kept = Vec::new();
    for (name, value) in response.headers() {
        if name == ureq::http::header::TRANSFER_ENCODING {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        head.push_str(&format!("{}: {value}\r\n", name.as_str()));
        kept.push((name.as_str().to_string(), value));
    }
    head.push_str("\r\n");
    (status.as_u16(), head.into_bytes(), kept)
}

/// Turns a `ureq` error into an [`HttpError`].
fn classify(url: &str, error: ureq::Error, phase: &str) -> HttpError {
    let url = url.to_string();
    match error {
        ureq::Error::Timeout(which) => HttpError::Timeout {
            url,
            phase: format!("{phase}, {which}"),
        },
        ureq::Error::BadUri(reason) => HttpError::BadUrl { url, reason },
        ureq::Error::Http(e) => HttpError::BadUrl {
            url,
            reason: e.to_string(),
        },
        ureq::Error::Io(e) if e.kind() == io::ErrorKind::TimedOut => HttpError::Timeout {
            url,
            phase: phase.to_string(),
        },
        other => HttpError::Transport {
            url,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn backoff_doubles_honours_retry_after_and_gives_up_beyond_max() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        assert_eq!(b.next_wait(None), Some(Duration::from_secs(1)));
        assert_eq!(b.next_wait(None), Some(Duration::from_secs(2)));
        assert_eq!(
            b.next_wait(Some(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(b.next_wait(None), Some(Duration::from_secs(8)));
        assert_eq!(b.next_wait(None), Some(Duration::from_secs(10)));
        assert_eq!(b.next_wait(Some(Duration::from_secs(11))), None);
    }

    #[test]
    fn request_head_names_host_and_headers() {
        let uri: ureq::http::Uri = "http://127.0.0.1:8080/a/b?c=1".parse().unwrap();
        let head = request_head(&uri, "ua", &[("Range", "bytes=0-9")]);
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "GET /a/b?c=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ua\r\nAccept: */*\r\nAccept-Encoding: identity\r\nRange: bytes=0-9\r\n\r\n"
        );
    }
}
