//! One URL fetched by a worker: the exchange, its WARC records (compressed here, off
//! the writing thread), its outcome and the URLs it leads to.

use super::frontier::{Entry, Kind};
use super::urls::{html_links, normalize, sitemap_locs};
use super::{Outcome, Plan};
use atelier_io::http::{Exchange, HttpClient, HttpError};
use atelier_io::{WarcRecord, gzip_records, new_record_id};
use std::collections::HashSet;
use std::io::Read;
use std::time::Duration;
use url::Url;

/// What fetching one URL gave.
#[derive(Debug)]
pub struct Fetched {
    /// Its outcome; with `retry_in`, the reason of a retry instead.
    pub outcome: Outcome,
    /// Why (a status, an error kind, a content type).
    pub reason: Option<String>,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// The WARC records (gzip members) to write; empty when nothing is kept.
    pub members: Vec<u8>,
    /// The size of the kept payload.
    pub payload: u64,
    /// Ask again after this wait.
    pub retry_in: Option<Duration>,
    /// Normalized links of a page, or locations of a sitemap.
    pub links: Vec<String>,
    /// The normalized target of a redirect.
    pub redirect: Option<String>,
    /// When the answer came (`YYYY-MM-DDThh:mm:ssZ`).
    pub date: String,
}

impl Fetched {
    fn new(outcome: Outcome, reason: Option<String>) -> Fetched {
        Fetched {
            outcome,
            reason,
            status: None,
            members: Vec::new(),
            payload: 0,
            retry_in: None,
            links: Vec::new(),
            redirect: None,
            date: atelier_core::utc_now(),
        }
    }
}

/// The wait before attempt `attempts + 1`: doubling from the first backoff, at least a
/// `Retry-After`; `None` when retries are spent or the server asks for too long.
fn retry_wait(plan: &Plan, attempts: u32, asked: Option<Duration>) -> Option<Duration> {
    if attempts >= plan.config.retries || asked.is_some_and(|a| a > plan.max_backoff) {
        return None;
    }
    let doubled = plan
        .backoff
        .saturating_mul(1u32 << attempts.min(20))
        .min(plan.max_backoff);
    Some(doubled.max(asked.unwrap_or_default()))
}

/// Fetches `entry` once.
pub fn fetch(client: &HttpClient, plan: &Plan, entry: &Entry) -> Fetched {
    let exchange = match client.get_once(&entry.url, &[]) {
        Ok(exchange) => exchange,
        Err(e) => {
            let kind = e.kind().to_string();
            if e.retryable()
                && let Some(wait) = retry_wait(plan, entry.attempts, None)
            {
                let mut retry = Fetched::new(Outcome::Error, Some(kind));
                retry.retry_in = Some(wait);
                return retry;
            }
            let reason = match e {
                HttpError::Transport { reason, .. } => format!("{kind}: {reason}"),
                HttpError::BadUrl { reason, .. } => format!("{kind}: {reason}"),
                _ => kind,
            };
            return Fetched::new(Outcome::Error, Some(reason));
        }
    };
    let date = atelier_core::utc_of(exchange.date);
    let status = exchange.status;
    let mut fetched = if exchange.retryable() {
        let reason = format!("http-{status}");
        match retry_wait(plan, entry.attempts, exchange.retry_after()) {
            Some(wait) => {
                let mut retry = Fetched::new(Outcome::Error, Some(reason));
                retry.retry_in = Some(wait);
                retry
            }
            None => Fetched::new(Outcome::Error, Some(reason)),
        }
    } else if (300..400).contains(&status) && exchange.header("location").is_some() {
        let base = Url::parse(&entry.url).ok();
        let location = exchange.header("location").unwrap_or_default();
        match normalize(base.as_ref(), location) {
            Some(target) => {
                let mut fetched = kept(&exchange, Outcome::Redirected, None);
                fetched.redirect = Some(target.to_string());
                fetched
            }
            None => Fetched::new(Outcome::Error, Some(format!("bad-location: {location}"))),
        }
    } else if !(200..300).contains(&status) {
        Fetched::new(Outcome::Error, Some(format!("http-{status}")))
    } else if entry.kind == Kind::Sitemap {
        let mut fetched = kept(&exchange, Outcome::Sitemap, None);
        let (index, locs) = sitemap_locs(&sitemap_text(&exchange.body));
        fetched.links = dedup(locs.iter().filter_map(|l| normalize(None, l)));
        if index {
            fetched.reason = Some("index".to_string());
        }
        fetched
    } else {
        let media = exchange.media_type();
        let keep = media
            .as_deref()
            .is_some_and(|m| plan.config.content_types.iter().any(|t| t == m));
        if keep {
            let mut fetched = kept(&exchange, Outcome::Fetched, None);
            if media
                .as_deref()
                .is_some_and(|m| m == "text/html" || m == "application/xhtml+xml")
            {
                let html = String::from_utf8_lossy(&exchange.body);
                let (base, links) = html_links(&html);
                let page = Url::parse(&entry.url).ok();
                let base = base.and_then(|b| normalize(page.as_ref(), &b)).or(page);
                fetched.links = dedup(links.iter().filter_map(|l| normalize(base.as_ref(), l)));
            }
            fetched
        } else {
            let media = media.unwrap_or_else(|| "none".to_string());
            Fetched::new(Outcome::Filtered, Some(format!("content-type {media}")))
        }
    };
    fetched.status = Some(status);
    fetched.date = date;
    fetched
}

/// The exchange as a response and a request record.
fn kept(exchange: &Exchange, outcome: Outcome, reason: Option<String>) -> Fetched {
    let date = atelier_core::utc_of(exchange.date);
    let mut block = Vec::with_capacity(exchange.response_head.len() + exchange.body.len());
    block.extend_from_slice(&exchange.response_head);
    block.extend_from_slice(&exchange.body);
    let response_id = new_record_id();
    let records = [
        WarcRecord {
            warc_type: "response",
            id: response_id.clone(),
            target_uri: Some(&exchange.url),
            date: &date,
            content_type: "application/http;msgtype=response",
            block: &block,
            payload_start: Some(exchange.response_head.len()),
            fields: Vec::new(),
        },
        WarcRecord {
            warc_type: "request",
            id: new_record_id(),
            target_uri: Some(&exchange.url),
            date: &date,
            content_type: "application/http;msgtype=request",
            block: &exchange.request_head,
            payload_start: None,
            fields: vec![("WARC-Concurrent-To", response_id)],
        },
    ];
    let mut fetched = Fetched::new(outcome, reason);
    match gzip_records(&records) {
        Ok(members) => {
            fetched.members = members;
            fetched.payload = exchange.body.len() as u64;
        }
        Err(e) => {
            fetched.outcome = Outcome::Error;
            fetched.reason = Some(format!("compress: {e}"));
        }
    }
    fetched
}

/// A sitemap's text, gunzipped when it is gzip.
fn sitemap_text(body: &[u8]) -> String {
    if body.starts_with(&[0x1f, 0x8b]) {
        let mut text = Vec::new();
        let limited = flate2::read::GzDecoder::new(body).take(64 << 20);
        let mut limited = limited;
        if limited.read_to_end(&mut text).is_ok() {
            return String::from_utf8_lossy(&text).into_owned();
        }
    }
    String::from_utf8_lossy(body).into_owned()
}

/// URLs as strings, each once, in order.
fn dedup(urls: impl Iterator<Item = Url>) -> Vec<String> {
    let mut seen = HashSet::new();
    urls.map(String::from)
        .filter(|u| seen.insert(u.clone()))
        .collect()
}
