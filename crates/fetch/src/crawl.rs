//! Crawling sites into WARC files.
