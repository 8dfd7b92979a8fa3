//! Common Crawl by domain: a CDX query, then each record by a byte-range request.
