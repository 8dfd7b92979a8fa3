//! The `atelier` command line. It only parses arguments and calls the library crates.
//!
//! `commands` lists the subcommands and sends each to the module that runs it;
//! `project` reads a recipe once, every section validated, for the commands that take
//! one.

mod bill;
mod classifier;
mod commands;
#[cfg(test)]
mod error_chains;
mod fetch;
mod funnel;
mod lm;
mod lmtrain;
mod oneshot;
mod progress;
mod project;
mod recipe;
mod registry;
mod run;
mod serve;
mod tokens;
mod train;
mod versions;
mod workers;

use clap::Parser;
use std::process::ExitCode;

/// atelier: refine raw data (web archives, HTML, mail, text) into a clean, versioned
/// dataset, and see what every step kept, dropped and cost.
#[derive(Parser)]
#[command(name = "atelier", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::dispatch(cli.command) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether an error is a closed stdout (`atelier steps | head`), which is not a failure.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
