//! `atelier fetch crawl`.

use anyhow::{Result, bail};
use clap::Args;
use std::process::ExitCode;

/// `atelier fetch crawl`.
#[derive(Args)]
pub struct CrawlArgs {}

/// Runs `atelier fetch crawl`.
pub fn run(_args: CrawlArgs) -> Result<ExitCode> {
    bail!("atelier fetch crawl is being built")
}
