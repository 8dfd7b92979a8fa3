//! Crawling sites into WARC files: from seed URLs and sitemaps, obeying robots.txt,
//! polite per host, resumable after a kill.
//!
//! [`crawl`] runs a [`CrawlConfig`] into an output folder that holds:
//!
//! - `crawl-NNNNN.warc.gz`: WARC 1.1, one gzip member per record, a `response` and a
//!   `request` record per page, redirect and sitemap kept; a new file past
//!   [`CrawlConfig::warc_max_bytes`];
//! - `crawl-log.jsonl`: one [`LogLine`] per URL considered, with its outcome
//!   (`fetched`, `sitemap`, `redirected`, `robots-disallowed`, `filtered`, `error`) and
//!   reason;
//! - `frontier.redb`: the seen-set and the frontier (see [`frontier`]).
//!
//! One thread (the caller's) owns the frontier, the WARC writer and the log; it hands
//! URLs to [`CrawlConfig::concurrency`] worker threads, at most
//! [`CrawlConfig::max_connections_per_host`] at a time per host and one start per
//! delay (the larger of [`CrawlConfig::delay_secs`] and the host's `Crawl-delay`).
//! Workers fetch, build and compress the records and extract links; the owner writes
//! records, logs outcomes, queues new URLs and, a few times a second, syncs the WARC
//! file and the log and commits the frontier together with their lengths. A rerun on
//! the same folder cuts the files back to the last commit and goes on: every URL is
//! logged once and every page written once.

pub mod fetcher;
pub mod frontier;
pub mod robots;
pub mod urls;

use atelier_io::WarcWriter;
use atelier_io::http::{HttpClient, HttpOptions};
use fetcher::Fetched;
use frontier::{Entry, Frontier, FrontierError, Kind};
use regex::Regex;
use robots::Rules;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use url::Url;

/// The log's name in the output folder.
pub const LOG_NAME: &str = "crawl-log.jsonl";
/// The frontier database's name in the output folder.
pub const FRONTIER_NAME: &str = "frontier.redb";

/// How often the WARC file, the log and the frontier are made durable together.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// Page cache of the frontier database.
const FRONTIER_CACHE: usize = 32 << 20;

/// What to crawl and how; a recipe can hold it as a table. Every field has a default,
/// so `seeds` alone is a working crawl.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrawlConfig {
    /// URLs to start from (depth 0).
    pub seeds: Vec<String>,
    /// Sitemaps (or sitemap indexes, plain or gzip) whose URLs start at depth 0.
    pub sitemaps: Vec<String>,
    /// Also read the sitemaps robots.txt names.
    pub robots_sitemaps: bool,
    /// `User-Agent` sent, naming a contact; its first word is matched against
    /// robots.txt groups.
    pub user_agent: String,
    /// Requests in flight at once, all hosts together (worker threads).
    pub concurrency: usize,
    /// Requests in flight at once to one host.
    pub max_connections_per_host: usize,
    /// Seconds between two request starts to one host; a larger robots.txt
    /// `Crawl-delay` wins.
    pub delay_secs: f64,
    /// Follow only links to the hosts of the seeds and sitemaps.
    pub same_host: bool,
    /// Regexes; when any is given, a URL must match one.
    pub include: Vec<String>,
    /// Regexes; a URL matching one is not fetched.
    pub exclude: Vec<String>,
    /// Links followed from a seed, at most.
    pub max_depth: Option<u32>,
    /// Pages kept, at most (over all runs of the crawl).
    pub max_pages: Option<u64>,
    /// Payload bytes kept, at most (over all runs of the crawl).
    pub max_bytes: Option<u64>,
    /// Media types kept; other answers are logged as filtered.
    pub content_types: Vec<String>,
    /// Largest response body; a larger one is logged as `too-large`, nothing written.
    pub max_response_bytes: u64,
    /// Seconds for one whole exchange.
    pub timeout_secs: f64,
    /// Attempts after the first, after a timeout, a broken connection, `429` or `5xx`.
    pub retries: u32,
    /// Seconds before the first retry; each later one doubles, and a `Retry-After`
    /// asking for more is honoured.
    pub backoff_secs: f64,
    /// Longest wait before a retry, in seconds; a `Retry-After` asking for more gives up.
    pub max_backoff_secs: f64,
    /// Redirects followed in a row, at most.
    pub max_redirects: u32,
    /// Size at which a new WARC file is started.
    pub warc_max_bytes: u64,
}

impl Default for CrawlConfig {
    fn default() -> CrawlConfig {
        CrawlConfig {
            seeds: Vec::new(),
            sitemaps: Vec::new(),
            robots_sitemaps: true,
            user_agent: atelier_io::http::DEFAULT_USER_AGENT.to_string(),
            concurrency: 16,
            max_connections_per_host: 2,
            delay_secs: 1.0,
            same_host: true,
            include: Vec::new(),
            exclude: Vec::new(),
            max_depth: None,
            max_pages: None,
            max_bytes: None,
            content_types: vec![
                "text/html".to_string(),
                "application/xhtml+xml".to_string(),
                "text/plain".to_string(),
            ],
            max_response_bytes: 10 << 20,
            timeout_secs: 30.0,
            retries: 3,
            backoff_secs: 1.0,
            max_backoff_secs: 60.0,
            max_redirects: 5,
            warc_max_bytes: 1 << 30,
        }
    }
}

/// A checked [`CrawlConfig`], ready to run.
#[derive(Debug)]
pub struct Plan {
    /// The configuration.
    pub config: CrawlConfig,
    seeds: Vec<Url>,
    sitemaps: Vec<Url>,
    scope: HashSet<String>,
    include: Vec<Regex>,
    exclude: Vec<Regex>,
    delay: Duration,
    timeout: Duration,
    backoff: Duration,
    max_backoff: Duration,
}

impl CrawlConfig {
    /// Checks every field, reporting every problem at once.
    pub fn build(&self) -> Result<Plan, CrawlError> {
        let mut problems = Vec::new();
        let mut urls = |list: &[String], what: &str| -> Vec<Url> {
            list.iter()
                .filter_map(|u| {
                    let url = urls::normalize(None, u);
                    if url.is_none() {
                        problems.push(format!("{what} {u:?} is not an http(s) URL"));
                    }
                    url
                })
                .collect()
        };
        let seeds = urls(&self.seeds, "seed");
        let sitemaps = urls(&self.sitemaps, "sitemap");
        if self.seeds.is_empty() && self.sitemaps.is_empty() {
            problems.push("no seed URL and no sitemap: nothing to crawl".to_string());
        }
        let mut regexes = |list: &[String], what: &str| -> Vec<Regex> {
            list.iter()
                .filter_map(|r| {
                    Regex::new(r)
                        .map_err(|e| problems.push(format!("{what} pattern {r:?}: {e}")))
                        .ok()
                })
                .collect()
        };
        let include = regexes(&self.include, "include");
        let exclude = regexes(&self.exclude, "exclude");
        let mut seconds = |value: f64, what: &str, positive: bool| -> Duration {
            if !value.is_finite() || value < 0.0 || (positive && value == 0.0) {
                problems.push(format!(
                    "{what} must be a {} number of seconds, not {value}",
                    if positive { "positive" } else { "non-negative" }
                ));
                return Duration::ZERO;
            }
            Duration::from_secs_f64(value)
        };
        let delay = seconds(self.delay_secs, "delay_secs", false);
        let timeout = seconds(self.timeout_secs, "timeout_secs", true);
        let backoff = seconds(self.backoff_secs, "backoff_secs", false);
        let max_backoff = seconds(self.max_backoff_secs, "max_backoff_secs", false);
        if self.concurrency == 0 {
            problems.push("concurrency must be at least 1".to_string());
        }
        if self.max_connections_per_host == 0 {
            problems.push("max_connections_per_host must be at least 1".to_string());
        }
        if self.user_agent.trim().is_empty() || self.user_agent.contains(['\r', '\n']) {
            problems.push("user_agent must be one non-empty line".to_string());
        }
        if self.content_types.is_empty() {
            problems.push("content_types is empty: nothing would be kept".to_string());
        }
        if !problems.is_empty() {
            return Err(CrawlError::Config { problems });
        }
        let scope = seeds
            .iter()
            .chain(&sitemaps)
            .filter_map(|u| u.host_str().map(str::to_string))
            .collect();
        let mut config = self.clone();
        for media in &mut config.content_types {
            *media = media.trim().to_ascii_lowercase();
        }
        Ok(Plan {
            config,
            seeds,
            sitemaps,
            scope,
            include,
            exclude,
            delay,
            timeout,
            backoff,
            max_backoff,
        })
    }
}

/// Why a crawl could not run or go on.
#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    /// The configuration is wrong.
    #[error("bad crawl configuration:\n  - {}", problems.join("\n  - "))]
    Config {
        /// Every problem found.
        problems: Vec<String>,
    },
    /// A file of the output folder could not be written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: io::Error,
    },
    /// The output folder holds crawl files but no frontier to resume from.
    #[error(
        "{path}: holds WARC files or a crawl log but no {FRONTIER_NAME} to resume from; use an empty folder"
    )]
    NotResumable {
        /// The folder.
        path: PathBuf,
    },
    /// The frontier database failed.
    #[error(transparent)]
    Frontier(#[from] FrontierError),
}

/// What happened to a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A page of a kept type, written.
    Fetched,
    /// A sitemap, written and its URLs queued.
    Sitemap,
    /// A redirect, written and its target queued.
    Redirected,
    /// robots.txt disallows it (or could not be read).
    RobotsDisallowed,
    /// Not fetched (`scope`, `include`, `exclude`, `depth`), or fetched and not kept
    /// (`content-type ...`).
    Filtered,
    /// Failed: `http-404`, `http-500` after retries, `timeout`, `too-large`,
    /// `redirect-loop`, `too-many-redirects`, `transport: ...`.
    Error,
}

impl Outcome {
    /// The name written in the log.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Fetched => "fetched",
            Outcome::Sitemap => "sitemap",
            Outcome::Redirected => "redirected",
            Outcome::RobotsDisallowed => "robots-disallowed",
            Outcome::Filtered => "filtered",
            Outcome::Error => "error",
        }
    }
}

/// One line of `crawl-log.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogLine {
    /// The normalized URL.
    pub url: String,
    /// What happened.
    pub outcome: Outcome,
    /// Why, when it says more than the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The HTTP status of the last answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Links followed from a seed.
    pub depth: u32,
    /// Where a redirect points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The WARC file holding its records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warc: Option<String>,
    /// Offset of its first record's gzip member in that file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Size of the payload kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Attempts made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// When it was settled.
    pub date: String,
}

/// Where a crawl stands, for a progress bar.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrawlProgress {
    /// Pages kept, all runs.
    pub pages: u64,
    /// Payload bytes kept, all runs.
    pub bytes: u64,
    /// URLs settled as errors in this run.
    pub errors: u64,
    /// URLs settled in this run.
    pub settled: u64,
    /// URLs waiting (queued, in flight, to retry).
    pub pending: u64,
    /// Time since this run started.
    pub elapsed: Duration,
}

/// What a crawl run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CrawlSummary {
    /// URLs settled per outcome (`fetched`, `filtered`, `error`, ...).
    pub outcomes: BTreeMap<String, u64>,
    /// URLs settled per outcome and reason (`error: http-404`, `filtered: scope`).
    pub reasons: BTreeMap<String, u64>,
    /// Pages kept in this run.
    pub pages: u64,
    /// Payload bytes kept in this run.
    pub bytes: u64,
    /// Pages kept over all runs.
    pub total_pages: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// URLs left in the frontier (a page or byte limit stopped the crawl).
    pub pending: u64,
    /// Wall time of this run.
    pub seconds: f64,
    /// WARC files written to in this run.
    pub warc_files: Vec<PathBuf>,
}

impl CrawlSummary {
    /// URLs settled as errors.
    pub fn errors(&self) -> u64 {
        self.outcomes.get("error").copied().unwrap_or(0)
    }

    fn count(&mut self, line: &LogLine) {
        *self
            .outcomes
            .entry(line.outcome.name().to_string())
            .or_default() += 1;
        let reason = match &line.reason {
            // Keep reasons few: `content-type text/css` stays, `transport: <message>`
            // becomes `transport`.
            Some(r) => r.split(':').next().unwrap_or(r).to_string(),
            None => String::new(),
        };
        *self
            .reasons
            .entry(format!("{}: {reason}", line.outcome.name()))
            .or_default() += 1;
    }
}

/// The crawl log, cut back to its last durable length on open.
struct CrawlLog {
    path: PathBuf,
    out: BufWriter<File>,
    len: u64,
}

impl CrawlLog {
    fn open(path: PathBuf, len: u64) -> Result<CrawlLog, CrawlError> {
        let io = |error| CrawlError::Io {
            path: path.clone(),
            error,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let on_disk = file.metadata().map_err(io)?.len();
        if on_disk < len {
            return Err(io(io::Error::other(format!(
                "shorter ({on_disk} bytes) than its last checkpoint ({len} bytes)"
            ))));
        }
        file.set_len(len).map_err(io)?;
        file.seek(SeekFrom::Start(len)).map_err(io)?;
        Ok(CrawlLog {
            path,
            out: BufWriter::new(file),
            len,
        })
    }

    fn append(&mut self, line: &LogLine) -> Result<(), CrawlError> {
        let mut bytes = serde_json::to_vec(line).expect("log lines serialize");
        bytes.push(b'\n');
        self.out.write_all(&bytes).map_err(|error| CrawlError::Io {
            path: self.path.clone(),
            error,
        })?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), CrawlError> {
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_data())
            .map_err(|error| CrawlError::Io {
                path: self.path.clone(),
                error,
            })
    }
}

/// The robots.txt state of a host.
enum RobotsState {
    /// Not asked yet.
    Unknown,
    /// A worker is asking, after `attempts` failures.
    Asking { attempts: u32 },
    /// Failed `attempts` times; ask again at `at`.
    Retry { at: Instant, attempts: u32 },
    /// Known.
    Known(Rules),
    /// Failed every time: nothing of the host is fetched.
    Unavailable(String),
}

/// What the owner thread knows of a host (hosts are few next to URLs).
struct Host {
    robots_url: String,
    robots: RobotsState,
    delay: Duration,
    active: usize,
    next_at: Instant,
    queued: bool,
}

/// Work for a worker.
enum Job {
    Fetch { seq: u64, entry: Entry },
    Robots { host: String, url: String },
}

/// A worker's answer.
enum Done {
    Fetch {
        seq: u64,
        entry: Entry,
        fetched: Box<Fetched>,
    },
    Robots {
        host: String,
        rules: Result<Rules, String>,
    },
}

/// Crawls as `config` says into `output` (created if needed; resumed when it holds a
/// crawl), calling `progress` a few times a second.
pub fn crawl(
    config: &CrawlConfig,
    output: &Path,
    progress: &dyn Fn(&CrawlProgress),
) -> Result<CrawlSummary, CrawlError> {
    let plan = config.build()?;
    std::fs::create_dir_all(output).map_err(|error| CrawlError::Io {
        path: output.to_path_buf(),
        error,
    })?;
    let db_path = output.join(FRONTIER_NAME);
    if !db_path.exists() && holds_crawl_files(output) {
        return Err(CrawlError::NotResumable {
            path: output.to_path_buf(),
        });
    }
    let frontier = Frontier::open(&db_path, FRONTIER_CACHE)?;
    let warc_at = frontier.checkpoint.warc.clone();
    let info = format!(
        "software: atelier-fetch/{}\r\nformat: WARC File Format 1.1\r\nconformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\nhttp-header-user-agent: {}\r\nrobots: obey\r\n",
        env!("CARGO_PKG_VERSION"),
        plan.config.user_agent
    );
    let warc = WarcWriter::resume(
        output,
        "crawl",
        plan.config.warc_max_bytes,
        &info,
        warc_at.as_ref().map(|(name, len)| (name.as_str(), *len)),
    )
    .map_err(|error| CrawlError::Io {
        path: warc_at.map_or_else(|| output.to_path_buf(), |(name, _)| output.join(name)),
        error,
    })?;
    let log = CrawlLog::open(output.join(LOG_NAME), frontier.checkpoint.log_len)?;
    let client = HttpClient::new(HttpOptions {
        user_agent: plan.config.user_agent.clone(),
        connect_timeout: plan.timeout,
        timeout: plan.timeout,
        retries: 0,
        backoff: plan.backoff,
        max_backoff: plan.max_backoff,
        max_bytes: plan.config.max_response_bytes,
    });
    let mut run = Run {
        plan: &plan,
        output: output.to_path_buf(),
        frontier,
        warc,
        log,
        hosts: HashMap::new(),
        summary: CrawlSummary::default(),
        active: 0,
        active_pages: 0,
        next_delayed: None,
        started: Instant::now(),
        errors: 0,
        settled: 0,
    };
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let agent = robots::agent_token(&plan.config.user_agent).to_string();
    let result = std::thread::scope(|scope| {
        for _ in 0..plan.config.concurrency {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            let client = client.clone();
            let (plan, agent) = (&plan, &agent);
            scope.spawn(move || {
                loop {
                    let job = job_rx.lock().expect("job queue").recv();
                    let Ok(job) = job else { return };
                    let done = match job {
                        Job::Fetch { seq, entry } => Done::Fetch {
                            fetched: Box::new(fetcher::fetch(&client, plan, &entry)),
                            seq,
                            entry,
                        },
                        Job::Robots { host, url } => Done::Robots {
                            rules: robots::fetch(&client, &url, agent),
                            host,
                        },
                    };
                    if done_tx.send(done).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let result = run.drive(&job_tx, &done_rx, progress);
        drop(job_tx);
        result
    });
    result?;
    run.summary.seconds = run.started.elapsed().as_secs_f64();
    run.summary.total_pages = run.frontier.checkpoint.pages;
    run.summary.pending = run.frontier.pending()?;
    run.frontier.commit()?;
    run.summary.warc_files = run.warc.files().to_vec();
    Ok(run.summary)
}

/// Whether `dir` holds files a crawl writes.
fn holds_crawl_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name == LOG_NAME || (name.starts_with("crawl-") && name.ends_with(".warc.gz"))
        })
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The state of one run, owned by the calling thread.
struct Run<'a> {
    plan: &'a Plan,
    output: PathBuf,
    frontier: Frontier,
    warc: WarcWriter,
    log: CrawlLog,
    hosts: HashMap<String, Host>,
    summary: CrawlSummary,
    /// Jobs in flight.
    active: usize,
    /// Fetch jobs in flight (each may become a page).
    active_pages: u64,
    /// When the next delayed URL is due (Unix milliseconds).
    next_delayed: Option<u64>,
    started: Instant,
    errors: u64,
    settled: u64,
}

impl Run<'_> {
    fn drive(
        &mut self,
        jobs: &mpsc::Sender<Job>,
        done: &mpsc::Receiver<Done>,
        progress: &dyn Fn(&CrawlProgress),
    ) -> Result<(), CrawlError> {
        for host in self.frontier.queued_hosts()? {
            self.host(&host, None).queued = true;
        }
        let plan = self.plan;
        for seed in &plan.seeds {
            self.consider(seed.as_str(), 0, Kind::Page, Vec::new())?;
        }
        for sitemap in &plan.sitemaps {
            self.consider(sitemap.as_str(), 0, Kind::Sitemap, Vec::new())?;
        }
        self.next_delayed = self.frontier.release_due(0)?.1;
        let mut next_checkpoint = Instant::now() + CHECKPOINT_EVERY;
        loop {
            while let Ok(answer) = done.try_recv() {
                self.settle(answer)?;
            }
            if self.next_delayed.is_some_and(|at| at <= now_ms()) {
                let (hosts, next) = self.frontier.release_due(now_ms())?;
                for host in hosts {
                    self.host(&host, None).queued = true;
                }
                self.next_delayed = next;
            }
            let wake = self.dispatch(jobs)?;
            if Instant::now() >= next_checkpoint {
                self.checkpoint()?;
                progress(&self.progress()?);
                next_checkpoint = Instant::now() + CHECKPOINT_EVERY;
            }
            if self.active == 0 && (self.limit_reached() || wake.is_none()) {
                break;
            }
            let now = Instant::now();
            let mut until = next_checkpoint;
            if let Some(wake) = wake {
                until = until.min(wake);
            }
            if let Some(at) = self.next_delayed {
                let wait = Duration::from_millis(at.saturating_sub(now_ms()));
                until = until.min(now + wait);
            }
            match done.recv_timeout(until.saturating_duration_since(now)) {
                Ok(answer) => self.settle(answer)?,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        self.checkpoint()?;
        progress(&self.progress()?);
        Ok(())
    }

    fn progress(&mut self) -> Result<CrawlProgress, CrawlError> {
        Ok(CrawlProgress {
            pages: self.frontier.checkpoint.pages,
            bytes: self.frontier.checkpoint.bytes,
            errors: self.errors,
            settled: self.settled,
            pending: self.frontier.pending()?,
            elapsed: self.started.elapsed(),
        })
    }

    fn limit_reached(&self) -> bool {
        let checkpoint = &self.frontier.checkpoint;
        let config = &self.plan.config;
        config
            .max_pages
            .is_some_and(|max| checkpoint.pages + self.active_pages >= max)
            || config.max_bytes.is_some_and(|max| checkpoint.bytes >= max)
    }

    /// The state of `host`, made when first met (`url` gives its robots.txt URL).
    fn host(&mut self, host: &str, url: Option<&Url>) -> &mut Host {
        let delay = self.plan.delay;
        self.hosts.entry(host.to_string()).or_insert_with(|| Host {
            robots_url: url.map_or_else(
                || format!("http://{host}/robots.txt"),
                |u| format!("{}://{host}/robots.txt", u.scheme()),
            ),
            robots: RobotsState::Unknown,
            delay,
            active: 0,
            next_at: Instant::now(),
            queued: false,
        })
    }

    /// Hands out what the hosts allow now; gives when to look again (`None` when
    /// nothing is left to hand out but what is in flight or delayed).
    fn dispatch(&mut self, jobs: &mpsc::Sender<Job>) -> Result<Option<Instant>, CrawlError> {
        let config = &self.plan.config;
        let names: Vec<String> = self
            .hosts
            .iter()
            .filter(|(_, h)| h.queued)
            .map(|(n, _)| n.clone())
            .collect();
        let mut wake: Option<Instant> = None;
        let later = |at: Instant, wake: &mut Option<Instant>| {
            *wake = Some(wake.map_or(at, |w| w.min(at)));
        };
        for name in names {
            loop {
                let now = Instant::now();
                let limit = self.limit_reached();
                let host = self.hosts.get_mut(&name).expect("listed above");
                if !host.queued || limit {
                    break;
                }
                if self.active >= config.concurrency
                    || host.active >= config.max_connections_per_host
                {
                    // Woken by an answer.
                    later(now + CHECKPOINT_EVERY, &mut wake);
                    break;
                }
                match &host.robots {
                    RobotsState::Asking { .. } => {
                        later(now + CHECKPOINT_EVERY, &mut wake);
                        break;
                    }
                    RobotsState::Retry { at, .. } if *at > now => {
                        later(*at, &mut wake);
                        break;
                    }
                    RobotsState::Known(_) | RobotsState::Unavailable(_) => {}
                    RobotsState::Unknown | RobotsState::Retry { .. } => {
                        if host.next_at > now {
                            later(host.next_at, &mut wake);
                            break;
                        }
                        let attempts = match host.robots {
                            RobotsState::Retry { attempts, .. } => attempts,
                            _ => 0,
                        };
                        host.robots = RobotsState::Asking { attempts };
                        host.active += 1;
                        host.next_at = now + host.delay;
                        self.active += 1;
                        let url = host.robots_url.clone();
                        let _ = jobs.send(Job::Robots {
                            host: name.clone(),
                            url,
                        });
                        later(now + CHECKPOINT_EVERY, &mut wake);
                        break;
                    }
                }
                if host.next_at > now {
                    later(host.next_at, &mut wake);
                    break;
                }
                let Some((seq, entry)) = self.frontier.pop(&name)? else {
                    self.hosts.get_mut(&name).expect("listed").queued = false;
                    break;
                };
                let host = self.hosts.get_mut(&name).expect("listed above");
                let refused = match &host.robots {
                    RobotsState::Known(rules) if !rules.allowed(&entry.url) => {
                        Some("robots.txt".to_string())
                    }
                    RobotsState::Unavailable(why) => Some(format!("robots.txt unavailable: {why}")),
                    _ => None,
                };
                if let Some(reason) = refused {
                    self.frontier.settle(seq, None)?;
                    self.record(&entry, Outcome::RobotsDisallowed, Some(reason), |_| {})?;
                    continue;
                }
                host.active += 1;
                host.next_at = now + host.delay;
                self.active += 1;
                if entry.kind == Kind::Page {
                    self.active_pages += 1;
                }
                let _ = jobs.send(Job::Fetch { seq, entry });
            }
        }
        Ok(wake)
    }

    /// Logs `entry`'s outcome (`fill` adds to the line).
    fn record(
        &mut self,
        entry: &Entry,
        outcome: Outcome,
        reason: Option<String>,
        fill: impl FnOnce(&mut LogLine),
    ) -> Result<(), CrawlError> {
        let mut line = LogLine {
            url: entry.url.clone(),
            outcome,
            reason,
            status: None,
            depth: entry.depth,
            location: None,
            warc: None,
            offset: None,
            bytes: None,
            attempts: None,
            date: atelier_core::utc_now(),
        };
        fill(&mut line);
        self.log.append(&line)?;
        self.summary.count(&line);
        self.settled += 1;
        if outcome == Outcome::Error {
            self.errors += 1;
        }
        Ok(())
    }

    /// Takes in a worker's answer.
    fn settle(&mut self, done: Done) -> Result<(), CrawlError> {
        self.active -= 1;
        match done {
            Done::Robots { host, rules } => self.settle_robots(&host, rules),
            Done::Fetch {
                seq,
                entry,
                fetched,
            } => {
                if entry.kind == Kind::Page {
                    self.active_pages -= 1;
                }
                if let Some(host) = self.hosts.get_mut(&entry.host) {
                    host.active -= 1;
                }
                self.settle_fetch(seq, entry, *fetched)
            }
        }
    }

    fn settle_robots(
        &mut self,
        name: &str,
        rules: Result<Rules, String>,
    ) -> Result<(), CrawlError> {
        let plan = self.plan;
        let host = self.hosts.get_mut(name).expect("asked for a known host");
        host.active -= 1;
        let attempts = match host.robots {
            RobotsState::Asking { attempts } => attempts,
            _ => 0,
        };
        match rules {
            Ok(rules) => {
                if let Some(delay) = rules.delay() {
                    host.delay = host.delay.max(Duration::from_secs_f64(delay));
                }
                let sitemaps = if plan.config.robots_sitemaps {
                    rules.sitemaps().to_vec()
                } else {
                    Vec::new()
                };
                host.robots = RobotsState::Known(rules);
                for sitemap in sitemaps {
                    self.consider(&sitemap, 0, Kind::Sitemap, Vec::new())?;
                }
            }
            Err(_) if attempts < plan.config.retries => {
                let wait = plan
                    .backoff
                    .saturating_mul(1 << attempts.min(20))
                    .min(plan.max_backoff);
                host.robots = RobotsState::Retry {
                    at: Instant::now() + wait,
                    attempts: attempts + 1,
                };
            }
            Err(why) => host.robots = RobotsState::Unavailable(why),
        }
        Ok(())
    }

    fn settle_fetch(
        &mut self,
        seq: u64,
        mut entry: Entry,
        fetched: Fetched,
    ) -> Result<(), CrawlError> {
        let plan = self.plan;
        if let Some(wait) = fetched.retry_in {
            let at = now_ms() + wait.as_millis() as u64;
            entry.attempts += 1;
            self.frontier.settle(seq, Some((at, &entry)))?;
            self.next_delayed = Some(self.next_delayed.map_or(at, |n| n.min(at)));
            self.summary.retries += 1;
            return Ok(());
        }
        let written = if fetched.members.is_empty() {
            None
        } else {
            let written =
                self.warc
                    .write_member(&fetched.members)
                    .map_err(|error| CrawlError::Io {
                        path: self.output.join("crawl-*.warc.gz"),
                        error,
                    })?;
            let name = written
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            self.frontier.checkpoint.warc = Some((name.clone(), written.end));
            Some((name, written.offset))
        };
        self.frontier.settle(seq, None)?;
        let mut outcome = fetched.outcome;
        let mut reason = fetched.reason.clone();
        let mut follow = None;
        if let Some(target) = &fetched.redirect {
            let mut chain = entry.chain.clone();
            chain.push(entry.url.clone());
            if chain.contains(target) {
                outcome = Outcome::Error;
                reason = Some("redirect-loop".to_string());
            } else if chain.len() > plan.config.max_redirects as usize {
                outcome = Outcome::Error;
                reason = Some("too-many-redirects".to_string());
            } else {
                follow = Some((target.clone(), chain));
            }
        }
        if outcome == Outcome::Fetched {
            self.frontier.checkpoint.pages += 1;
            self.frontier.checkpoint.bytes += fetched.payload;
            self.summary.pages += 1;
            self.summary.bytes += fetched.payload;
        }
        let attempts = entry.attempts + 1;
        self.record(&entry, outcome, reason, |line| {
            line.status = fetched.status;
            line.location = fetched.redirect.clone();
            line.date = fetched.date.clone();
            if let Some((name, offset)) = written {
                line.warc = Some(name);
                line.offset = Some(offset);
                line.bytes = Some(fetched.payload);
            }
            if attempts > 1 {
                line.attempts = Some(attempts);
            }
        })?;
        if let Some((target, chain)) = follow {
            self.consider(&target, entry.depth, entry.kind, chain)?;
        }
        match entry.kind {
            Kind::Page => {
                for link in &fetched.links {
                    self.consider(link, entry.depth + 1, Kind::Page, Vec::new())?;
                }
            }
            Kind::Sitemap => {
                let kind = if fetched.reason.as_deref() == Some("index") {
                    Kind::Sitemap
                } else {
                    Kind::Page
                };
                for link in &fetched.links {
                    self.consider(link, entry.depth, kind, Vec::new())?;
                }
            }
        }
        Ok(())
    }

    /// A URL met (seed, link, sitemap entry, redirect target): queued, or logged as
    /// filtered; nothing when seen before.
    fn consider(
        &mut self,
        url: &str,
        depth: u32,
        kind: Kind,
        chain: Vec<String>,
    ) -> Result<(), CrawlError> {
        let Some(url) = urls::normalize(None, url) else {
            return Ok(());
        };
        if !self.frontier.see(url.as_str())? {
            return Ok(());
        }
        let plan = self.plan;
        let host = urls::host_key(&url);
        let entry = Entry {
            url: url.to_string(),
            host: host.clone(),
            depth,
            kind,
            attempts: 0,
            chain,
        };
        let text = url.as_str();
        let reason =
            if plan.config.same_host && !url.host_str().is_some_and(|h| plan.scope.contains(h)) {
                Some("scope")
            } else if !plan.include.is_empty() && !plan.include.iter().any(|r| r.is_match(text)) {
                Some("include")
            } else if plan.exclude.iter().any(|r| r.is_match(text)) {
                Some("exclude")
            } else if plan.config.max_depth.is_some_and(|max| depth > max) {
                Some("depth")
            } else {
                None
            };
        match reason {
            Some(reason) => {
                self.record(&entry, Outcome::Filtered, Some(reason.to_string()), |_| {})
            }
            None => {
                self.frontier.push(&entry)?;
                self.host(&host, Some(&url)).queued = true;
                Ok(())
            }
        }
    }

    /// Syncs the WARC file and the log, then commits the frontier with their lengths.
    fn checkpoint(&mut self) -> Result<(), CrawlError> {
        self.warc.sync().map_err(|error| CrawlError::Io {
            path: self.output.join("crawl-*.warc.gz"),
            error,
        })?;
        self.log.sync()?;
        self.frontier.checkpoint.log_len = self.log.len;
        self.frontier.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_needs_only_seeds_refuses_unknown_fields_and_round_trips() {
        let config: CrawlConfig =
            serde_json::from_str(r#"{"seeds": ["https://example.org/"]}"#).unwrap();
        assert_eq!(config.max_connections_per_host, 2);
        assert_eq!(config.delay_secs, 1.0);
        assert!(config.same_host);
        config.build().unwrap();
        let again: CrawlConfig =
            serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(again, config);
        let unknown = serde_json::from_str::<CrawlConfig>(r#"{"seeds": [], "sedes": []}"#);
        assert!(
            unknown
                .unwrap_err()
                .to_string()
                .contains("unknown field `sedes`")
        );
    }

    #[test]
    fn every_problem_of_a_config_is_reported_at_once() {
        let config = CrawlConfig {
            seeds: vec!["ftp://x.org/".to_string()],
            include: vec!["(".to_string()],
            concurrency: 0,
            timeout_secs: 0.0,
            ..CrawlConfig::default()
        };
        let CrawlError::Config { problems } = config.build().unwrap_err() else {
            panic!("not a config error")
        };
        assert_eq!(problems.len(), 4, "{problems:?}");
    }
}
