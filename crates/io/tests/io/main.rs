//! atelier-io's tests: every input format read, damaged, split and written.

mod common;
mod jsonl;
mod list_write;
mod mail;
mod remote;
mod robustness;
mod warc;
mod whole;
