//! `atelier fetch cc`.

use anyhow::{Result, bail};
use clap::Args;
use std::process::ExitCode;

/// `atelier fetch cc`.
#[derive(Args)]
pub struct CcArgs {}

/// Runs `atelier fetch cc`.
pub fn run(_args: CcArgs) -> Result<ExitCode> {
    bail!("atelier fetch cc is being built")
}
