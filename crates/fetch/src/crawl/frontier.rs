//! The frontier and the seen-set, on disk in one `redb` database, so that memory stays
//! bounded for millions of URLs and a killed crawl resumes.
//!
//! Tables: `seen` (every normalized URL ever considered), `queue` (URLs to fetch, keyed
//! by host then arrival, so each host's queue is a range), `delayed` (URLs to retry,
//! keyed by the time they may go again), `inflight` (URLs handed to a worker and not yet
//! settled) and `meta` (counters and where the WARC and log files were last synced).
//!
//! All changes go into one write transaction that [`Frontier::commit`] makes durable;
//! the crawl commits only after syncing the WARC and log files, and records their
//! lengths in the same commit. After a kill, the database is as of the last commit: the
//! files are cut back to the lengths it names and its `inflight` URLs go back to the
//! queue, so nothing is lost and nothing is written twice.

use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const SEEN: TableDefinition<&str, u8> = TableDefinition::new("seen");
const QUEUE: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("queue");
const DELAYED: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("delayed");
const INFLIGHT: TableDefinition<u64, &[u8]> = TableDefinition::new("inflight");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// What a URL is fetched as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A page: kept when its type is, links followed when HTML.
    Page,
    /// A sitemap (or sitemap index): its locations are queued.
    Sitemap,
}

/// A URL waiting in the frontier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The normalized URL.
    pub url: String,
    /// The host it counts against (see [`super::urls::host_key`]).
    pub host: String,
    /// Links followed from a seed to reach it.
    pub depth: u32,
    /// Page or sitemap.
    pub kind: Kind,
    /// Attempts already made (retries after `429`, `5xx`, timeouts).
    #[serde(default)]
    pub attempts: u32,
    /// The URLs that redirected here, first first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
}

/// Where the crawl's files stood at the last commit, and its counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The WARC file written last (a file name in the output folder) and its synced
    /// length.
    pub warc: Option<(String, u64)>,
    /// The synced length of the log.
    pub log_len: u64,
    /// Pages kept so far.
    pub pages: u64,
    /// Payload bytes kept so far.
    pub bytes: u64,
    /// The next sequence number of the queue.
    pub seq: u64,
}

/// A failure of the database.
#[derive(Debug, thiserror::Error)]
#[error("{path}: frontier database: {error}")]
pub struct FrontierError {
    /// The database file.
    pub path: PathBuf,
    /// What failed.
    pub error: redb::Error,
}

/// The frontier and seen-set of one crawl.
pub struct Frontier {
    path: PathBuf,
    db: Database,
    txn: Option<WriteTransaction>,
    /// The counters and file positions, committed with each commit.
    pub checkpoint: Checkpoint,
}

impl Frontier {
    /// Opens (or creates) the database at `path`, with a page cache of `cache_bytes`.
    /// URLs left in flight by a killed run go back to the queue.
    pub fn open(path: &Path, cache_bytes: usize) -> Result<Frontier, FrontierError> {
        let fail = |error: redb::Error| FrontierError {
            path: path.to_path_buf(),
            error,
        };
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| fail(e.into()))?;
        let mut frontier = Frontier {
            path: path.to_path_buf(),
            db,
            txn: None,
            checkpoint: Checkpoint::default(),
        };
        let checkpoint = frontier.read_checkpoint()?;
        frontier.checkpoint = checkpoint;
        frontier.recover()?;
        Ok(frontier)
    }

    fn fail(&self, error: impl Into<redb::Error>) -> FrontierError {
        FrontierError {
            path: self.path.clone(),
            error: error.into(),
        }
    }

    fn read_checkpoint(&self) -> Result<Checkpoint, FrontierError> {
        let read = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = match read.open_table(META) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Checkpoint::default()),
            Err(e) => return Err(self.fail(e)),
        };
        let value = table.get("checkpoint").map_err(|e| self.fail(e))?;
        Ok(value
            .and_then(|v| serde_json::from_slice(v.value()).ok())
            .unwrap_or_default())
    }

    fn txn(&mut self) -> Result<&WriteTransaction, FrontierError> {
        if self.txn.is_none() {
            let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
            self.txn = Some(txn);
        }
        Ok(self.txn.as_ref().expect("opened above"))
    }

    /// Moves every in-flight URL back to the head of its host's queue.
    fn recover(&mut self) -> Result<(), FrontierError> {
        let txn = self.txn()?;
        let result = (|| -> Result<(), redb::Error> {
            let mut inflight = txn.open_table(INFLIGHT)?;
            let mut queue = txn.open_table(QUEUE)?;
            while let Some((seq, value)) = inflight.pop_first()? {
                let seq = seq.value();
                let bytes = value.value().to_vec();
                if let Ok(entry) = serde_json::from_slice::<Entry>(&bytes) {
                    queue.insert((entry.host.as_str(), seq), bytes.as_slice())?;
                }
            }
            // Make the other tables exist, so readers never miss them.
            txn.open_table(SEEN)?;
            txn.open_table(DELAYED)?;
            txn.open_table(META)?;
            Ok(())
        })();
        result.map_err(|e| self.fail(e))
    }

    /// Marks `url` seen; `false` when it was already.
    pub fn see(&mut self, url: &str) -> Result<bool, FrontierError> {
        let txn = self.txn()?;
        let result = (|| -> Result<bool, redb::Error> {
            let mut seen = txn.open_table(SEEN)?;
            Ok(seen.insert(url, 1)?.is_none())
        })();
        result.map_err(|e| self.fail(e))
    }

    /// Whether `url` was seen.
    pub fn seen(&mut self, url: &str) -> Result<bool, FrontierError> {
        let txn = self.txn()?;
        let result =
            (|| -> Result<bool, redb::Error> { Ok(txn.open_table(SEEN)?.get(url)?.is_some()) })();
        result.map_err(|e| self.fail(e))
    }

    /// Appends `entry` to its host's queue (the caller marked it seen).
    pub fn push(&mut self, entry: &Entry) -> Result<(), FrontierError> {
        let seq = self.checkpoint.seq;
        self.checkpoint.seq += 1;
        let bytes = serde_json::to_vec(entry).expect("entries serialize");
        let txn = self.txn()?;
        let result = (|| -> Result<(), redb::Error> {
            txn.open_table(QUEUE)?
                .insert((entry.host.as_str(), seq), bytes.as_slice())?;
            Ok(())
        })();
        result.map_err(|e| self.fail(e))
    }

    /// Takes the first URL of `host`'s queue and records it in flight.
    pub fn pop(&mut self, host: &str) -> Result<Option<(u64, Entry)>, FrontierError> {
        let txn = self.txn()?;
        let result = (|| -> Result<Option<(u64, Vec<u8>)>, redb::Error> {
            let mut queue = txn.open_table(QUEUE)?;
            let first = queue
                .range((host, 0u64)..=(host, u64::MAX))?
                .next()
                .transpose()?
                .map(|(k, v)| (k.value().1, v.value().to_vec()));
            let Some((seq, bytes)) = first else {
                return Ok(None);
            };
            queue.remove((host, seq))?;
            txn.open_table(INFLIGHT)?.insert(seq, bytes.as_slice())?;
            Ok(Some((seq, bytes)))
        })();
        let popped = result.map_err(|e| self.fail(e))?;
        Ok(popped.and_then(|(seq, bytes)| {
            serde_json::from_slice(&bytes)
                .ok()
                .map(|entry| (seq, entry))
        }))
    }

    /// Settles an in-flight URL: done, or (with `retry_at`, Unix milliseconds) back in
    /// the frontier then, as `entry`.
    pub fn settle(
        &mut self,
        seq: u64,
        retry_at: Option<(u64, &Entry)>,
    ) -> Result<(), FrontierError> {
        let txn = self.txn()?;
        let result = (|| -> Result<(), redb::Error> {
            txn.open_table(INFLIGHT)?.remove(seq)?;
            if let Some((at, entry)) = retry_at {
                let bytes = serde_json::to_vec(entry).expect("entries serialize");
                txn.open_table(DELAYED)?
                    .insert((at, seq), bytes.as_slice())?;
            }
            Ok(())
        })();
        result.map_err(|e| self.fail(e))
    }

    /// Moves the delayed URLs due at `now_ms` back to their queues; gives their hosts
    /// and the time the next delayed URL is due.
    pub fn release_due(
        &mut self,
        now_ms: u64,
    ) -> Result<(Vec<String>, Option<u64>), FrontierError> {
        let txn = self.txn()?;
        let result = (|| -> Result<(Vec<String>, Option<u64>), redb::Error> {
            let mut delayed = txn.open_table(DELAYED)?;
            let mut queue = txn.open_table(QUEUE)?;
            let mut hosts = Vec::new();
            loop {
                let first = delayed
                    .first()?
                    .map(|(k, v)| (k.value(), v.value().to_vec()));
                match first {
                    Some(((at, seq), bytes)) if at <= now_ms => {
                        delayed.remove((at, seq))?;
                        if let Ok(entry) = serde_json::from_slice::<Entry>(&bytes) {
                            queue.insert((entry.host.as_str(), seq), bytes.as_slice())?;
                            hosts.push(entry.host);
                        }
                    }
                    Some(((at, _), _)) => return Ok((hosts, Some(at))),
                    None => return Ok((hosts, None)),
                }
            }
        })();
        result.map_err(|e| self.fail(e))
    }

    /// The hosts with URLs queued.
    pub fn queued_hosts(&mut self) -> Result<Vec<String>, FrontierError> {
        let txn = self.txn()?;
        let result = (|| -> Result<Vec<String>, redb::Error> {
            let queue = txn.open_table(QUEUE)?;
            let mut hosts: Vec<String> = Vec::new();
            loop {
                let next = match hosts.last() {
                    None => queue.first()?.map(|(k, _)| k.value().0.to_string()),
                    Some(last) => queue.range((last.as_str(), u64::MAX)..)?.find_map(|item| {
                        item.ok()
                            .map(|(k, _)| k.value().0.to_string())
                            .filter(|h| h != last)
                    }),
                };
                match next {
                    Some(host) => hosts.push(host),
                    None => return Ok(hosts),
                }
            }
        })();
        result.map_err(|e| self.fail(e))
    }

    /// URLs queued, in flight and delayed.
    pub fn pending(&mut self) -> Result<u64, FrontierError> {
        let txn = self.txn()?;
        let result = (|| -> Result<u64, redb::Error> {
            Ok(txn.open_table(QUEUE)?.len()?
                + txn.open_table(INFLIGHT)?.len()?
                + txn.open_table(DELAYED)?.len()?)
        })();
        result.map_err(|e| self.fail(e))
    }

    /// Makes every change since the last commit durable, with [`Frontier::checkpoint`].
    pub fn commit(&mut self) -> Result<(), FrontierError> {
        let checkpoint = serde_json::to_vec(&self.checkpoint).expect("checkpoints serialize");
        let txn = self.txn()?;
        let result = (|| -> Result<(), redb::Error> {
            txn.open_table(META)?
                .insert("checkpoint", checkpoint.as_slice())?;
            Ok(())
        })();
        result.map_err(|e| self.fail(e))?;
        let txn = self.txn.take().expect("opened above");
        txn.commit().map_err(|e| self.fail(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(url: &str, host: &str) -> Entry {
        Entry {
            url: url.to_string(),
            host: host.to_string(),
            depth: 0,
            kind: Kind::Page,
            attempts: 0,
            chain: Vec::new(),
        }
    }

    #[test]
    fn queues_by_host_in_order_and_recovers_in_flight_urls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.redb");
        {
            let mut f = Frontier::open(&path, 1 << 20).unwrap();
            for (url, host) in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("c1", "c")] {
                assert!(f.see(url).unwrap());
                f.push(&entry(url, host)).unwrap();
            }
            assert!(!f.see("a1").unwrap());
            assert_eq!(f.queued_hosts().unwrap(), ["a", "b", "c"]);
            let (seq, first) = f.pop("a").unwrap().unwrap();
            assert_eq!(first.url, "a1");
            let mut retry = first.clone();
            retry.attempts = 1;
            f.settle(seq, Some((1000, &retry))).unwrap();
            assert_eq!(f.pop("a").unwrap().unwrap().1.url, "a2");
            assert_eq!(f.pop("a").unwrap(), None);
            assert_eq!(f.release_due(999).unwrap(), (vec![], Some(1000)));
            assert_eq!(f.release_due(1000).unwrap(), (vec!["a".to_string()], None));
            f.checkpoint.pages = 7;
            f.commit().unwrap();
            // Taken but never settled nor committed: as if killed here.
            f.pop("b").unwrap().unwrap();
        }
        let mut f = Frontier::open(&path, 1 << 20).unwrap();
        assert_eq!(f.checkpoint.pages, 7);
        // a2 was in flight at the commit: back in the queue, after the retried a1.
        let (_, a) = f.pop("a").unwrap().unwrap();
        assert_eq!((a.url.as_str(), a.attempts), ("a1", 1));
        assert_eq!(f.pop("a").unwrap().unwrap().1.url, "a2");
        assert_eq!(f.pop("b").unwrap().unwrap().1.url, "b1");
        assert!(f.seen("c1").unwrap());
        assert_eq!(f.pending().unwrap(), 4);
    }
}
