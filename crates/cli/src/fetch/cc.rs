//! `atelier fetch cc`: the records of a URL pattern from a Common Crawl index (or any
//! pywb-compatible CDX server), fetched by byte range, verified, written unchanged.

use anyhow::{Context, Result, bail};
use atelier_fetch::cc::{self, CcOptions, CcStats, Event, HttpOptions};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `atelier fetch cc`.
#[derive(Args)]
pub struct CcArgs {
    /// The Common Crawl index to query, e.g. CC-MAIN-2024-10.
    #[arg(long, required_unless_present = "cdx")]
    index: Option<String>,
    /// Another CDX endpoint instead, e.g. a pywb collection's http://host:port/coll/cdx.
    #[arg(long, conflicts_with = "index")]
    cdx: Option<String>,
    /// The URL or pattern to pull, e.g. 'example.com/*'.
    #[arg(long)]
    url: String,
    /// CDX matchType: exact, prefix, host or domain.
    #[arg(long)]
    match_type: Option<String>,
    /// A CDX filter passed through, e.g. status:200 or mime:text/html (repeatable).
    #[arg(long)]
    filter: Vec<String>,
    /// Only the first N rows of the index (those written by an earlier run included).
    #[arg(long)]
    limit: Option<u64>,
    /// Base URL of the data server the rows' file names are relative to.
    #[arg(long, default_value = cc::COMMON_CRAWL_DATA)]
    data: String,
    /// The output folder (WARC files, cc-state.jsonl, cc-log.jsonl); a pull there resumes.
    #[arg(short, long)]
    output: PathBuf,
    /// Close a WARC file once it holds this many bytes.
    #[arg(long, default_value_t = 1_000_000_000)]
    max_file_bytes: u64,
    /// Connections to the data server at once.
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// Milliseconds each connection waits between two requests.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// User-Agent sent; name a contact in it.
    #[arg(long)]
    user_agent: Option<String>,
    /// Attempts after the first for timeouts, broken connections, 429 and 5xx.
    #[arg(long, default_value_t = 5)]
    retries: u32,
    /// Seconds a request to the data server may take.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Largest record (compressed, and once decompressed), in bytes.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    max_record_bytes: u64,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `atelier fetch cc`.
pub fn run(args: CcArgs) -> Result<ExitCode> {
    let cdx = match (&args.cdx, &args.index) {
        (Some(cdx), _) => cdx.clone(),
        (None, Some(index)) => cc::common_crawl_index(index),
        (None, None) => bail!("give --index CC-MAIN-YYYY-WW or --cdx URL"),
    };
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    let mut options = CcOptions::new(&cdx, &args.data, &args.url, &args.output);
    options.match_type = args.match_type.clone();
    options.filters = args.filter.clone();
    options.limit = args.limit;
    options.max_file_bytes = args.max_file_bytes;
    options.connections = args.connections;
    options.delay = Duration::from_millis(args.delay_ms);
    options.max_record_bytes = args.max_record_bytes;
    let defaults = HttpOptions::default();
    options.http = HttpOptions {
        user_agent: args
            .user_agent
            .clone()
            .unwrap_or(defaults.user_agent.clone()),
        retries: args.retries,
        timeout: Duration::from_secs(args.timeout),
        ..defaults
    };

    let bar = bar(!args.quiet && std::io::stderr().is_terminal());
    let started = Instant::now();
    let mut on_event = |event: &Event<'_>, stats: &CcStats| match event {
        Event::Index { pages } => {
            if let Some(pages) = pages {
                bar.println(format!("the index answers in {pages} page(s)"));
            }
        }
        Event::Failed { row, reason } => {
            let line = format!(
                "failed, skipped: {} ({} at {}): {reason}",
                row.url, row.filename, row.offset
            );
            if bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
        }
        Event::Written { .. } => {}
        Event::Progress => bar.set_message(counts(stats)),
    };
    let summary = cc::run(&options, &mut on_event)
        .with_context(|| format!("fetch cc {} from {cdx}", args.url))?;
    bar.finish_and_clear();
    let stats = summary.stats;
    println!(
        "{} record(s) written ({}) into {} in {:.1} s; {} already there or listed twice; {} failed{}",
        stats.written,
        human_bytes(stats.bytes),
        args.output.display(),
        started.elapsed().as_secs_f64(),
        stats.skipped,
        stats.failed,
        if stats.failed > 0 {
            format!(
                " (reasons in {}; a rerun tries them again)",
                args.output.join(cc::LOG_FILE).display()
            )
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// The counts on the bar.
fn counts(stats: &CcStats) -> String {
    format!(
        "{} listed, {} written ({}), {} skipped, {} failed",
        stats.listed,
        stats.written,
        human_bytes(stats.bytes),
        stats.skipped,
        stats.failed
    )
}

/// A spinner with the counts (hidden when not `shown`).
fn bar(shown: bool) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("fetch cc [{elapsed_precise}] {spinner} {msg}")
            .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// `12.3 MB`.
fn human_bytes(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}
