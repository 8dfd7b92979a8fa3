//! `atelier fetch`: crawl sites into WARC files, or pull a domain from Common Crawl.

mod cc;
pub mod crawl;

use anyhow::Result;
use clap::Subcommand;
use std::process::ExitCode;

/// `atelier fetch`.
#[derive(Subcommand)]
pub enum FetchCommand {
    /// Crawl sites from seed URLs and sitemaps into WARC files.
    Crawl(crawl::CrawlArgs),
    /// Pull the records of a URL pattern from a Common Crawl index into WARC files.
    Cc(Box<cc::CcArgs>),
}

/// Runs `atelier fetch ...`.
pub fn run(command: FetchCommand) -> Result<ExitCode> {
    match command {
        FetchCommand::Crawl(args) => crawl::run(args),
        FetchCommand::Cc(args) => cc::run(*args),
    }
}
