//! Fetching data: the first step before refining it.
//!
//! - [`mod@crawl`]: crawl sites from seed URLs and sitemaps into WARC files, obeying
//!   robots.txt, polite per host, resumable after a kill.
//! - [`cc`]: pull a domain's records from Common Crawl (or any pywb-compatible CDX
//!   server) into WARC files of the original records.
//!
//! Both use [`atelier_io::http`] and [`atelier_io::WarcWriter`].

pub mod cc;
pub mod crawl;

pub use crawl::{CrawlConfig, CrawlError, CrawlProgress, CrawlSummary, crawl};
