//! `atelier fetch crawl`: the flags mapped onto a [`CrawlConfig`].

use anyhow::Result;
use atelier_core::StepStats;
use atelier_fetch::crawl::{CrawlConfig, CrawlProgress, CrawlSummary, crawl};
use clap::Args;
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `atelier fetch crawl`.
#[derive(Args)]
pub struct CrawlArgs {
    /// URLs to start from.
    #[arg(value_name = "SEED")]
    seeds: Vec<String>,
    /// Folder of the WARC files, the log (crawl-log.jsonl) and the frontier; run again
    /// on the same folder to resume.
    #[arg(long, short)]
    output: PathBuf,
    /// Everything else (boxed: the command enum stays small).
    #[command(flatten)]
    options: Box<CrawlOptions>,
}

/// The settings of `atelier fetch crawl`, each optional.
#[derive(Args)]
struct CrawlOptions {
    /// A sitemap (or sitemap index) to start from; repeatable.
    #[arg(long = "sitemap", value_name = "URL")]
    sitemaps: Vec<String>,
    /// User-Agent, naming a contact (an URL or an address).
    #[arg(long)]
    user_agent: Option<String>,
    /// Requests in flight at once, all hosts together [default: 16].
    #[arg(long)]
    concurrency: Option<usize>,
    /// Requests in flight at once to one host [default: 2].
    #[arg(long)]
    connections_per_host: Option<usize>,
    /// Seconds between two requests to one host; a larger robots.txt Crawl-delay wins
    /// [default: 1].
    #[arg(long, value_name = "SECONDS")]
    delay: Option<f64>,
    /// Fetch only URLs matching this regex; repeatable (any one matches).
    #[arg(long, value_name = "REGEX")]
    include: Vec<String>,
    /// Skip URLs matching this regex; repeatable.
    #[arg(long, value_name = "REGEX")]
    exclude: Vec<String>,
    /// Follow links to any host, not only the seeds'.
    #[arg(long)]
    any_host: bool,
    /// Links followed from a seed, at most.
    #[arg(long)]
    max_depth: Option<u32>,
    /// Pages kept, at most (over all runs of the crawl).
    #[arg(long)]
    max_pages: Option<u64>,
    /// Payload bytes kept, at most (over all runs of the crawl).
    #[arg(long)]
    max_bytes: Option<u64>,
    /// Media type kept; repeatable [default: text/html, application/xhtml+xml,
    /// text/plain].
    #[arg(long = "content-type", value_name = "MEDIA")]
    content_types: Vec<String>,
    /// Largest response body in bytes; larger ones are logged as too-large
    /// [default: 10 MiB].
    #[arg(long)]
    max_response_bytes: Option<u64>,
    /// Seconds for one exchange [default: 30].
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Retries after a timeout, a broken connection, 429 or 5xx [default: 3].
    #[arg(long)]
    retries: Option<u32>,
    /// Size at which a new WARC file starts, in bytes [default: 1 GiB].
    #[arg(long)]
    warc_max_bytes: Option<u64>,
    /// Do not read the sitemaps robots.txt names.
    #[arg(long)]
    no_robots_sitemaps: bool,
}

impl CrawlArgs {
    fn config(self) -> CrawlConfig {
        let seeds = self.seeds;
        let o = *self.options;
        o.config(seeds)
    }
}

impl CrawlOptions {
    fn config(self, seeds: Vec<String>) -> CrawlConfig {
        let mut c = CrawlConfig {
            seeds,
            sitemaps: self.sitemaps,
            include: self.include,
            exclude: self.exclude,
            max_depth: self.max_depth,
            max_pages: self.max_pages,
            max_bytes: self.max_bytes,
            ..CrawlConfig::default()
        };
        c.same_host = !self.any_host;
        c.robots_sitemaps = !self.no_robots_sitemaps;
        if let Some(v) = self.user_agent {
            c.user_agent = v;
        }
        if let Some(v) = self.concurrency {
            c.concurrency = v;
        }
        if let Some(v) = self.connections_per_host {
            c.max_connections_per_host = v;
        }
        if let Some(v) = self.delay {
            c.delay_secs = v;
        }
        if !self.content_types.is_empty() {
            c.content_types = self.content_types;
        }
        if let Some(v) = self.max_response_bytes {
            c.max_response_bytes = v;
        }
        if let Some(v) = self.timeout {
            c.timeout_secs = v;
        }
        if let Some(v) = self.retries {
            c.retries = v;
        }
        if let Some(v) = self.warc_max_bytes {
            c.warc_max_bytes = v;
        }
        c
    }
}

/// Runs `atelier fetch crawl`.
pub fn run(args: CrawlArgs) -> Result<ExitCode> {
    let output = args.output.clone();
    let config = args.config();
    let summary = crawl_with_progress(&config, &output)?;
    print_summary(&mut std::io::stdout().lock(), &summary, &output)?;
    Ok(ExitCode::SUCCESS)
}

/// Crawls with a progress line on stderr when it is a terminal: `atelier fetch crawl`
/// and the crawls of a recipe's sources before `atelier run` reads them.
pub fn crawl_with_progress(config: &CrawlConfig, output: &Path) -> Result<CrawlSummary> {
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("crawl [{elapsed_precise}] {spinner} {msg}")
                .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let show = |p: &CrawlProgress| {
        let secs = p.elapsed.as_secs_f64().max(1e-3);
        bar.set_message(format!(
            "{} pages, {}, {} errors, {} waiting, {:.1} URLs/s",
            p.pages,
            HumanBytes(p.bytes),
            p.errors,
            p.pending,
            p.settled as f64 / secs
        ));
        bar.tick();
    };
    let summary = crawl(config, output, &show);
    bar.finish_and_clear();
    Ok(summary?)
}

/// A crawl as a step of a run's summary, for its funnel and bill: URLs settled in,
/// pages kept, the other outcomes dropped with their reasons, bytes fetched, its times.
pub fn step_stats(summary: &CrawlSummary, cpu_seconds: f64) -> StepStats {
    let mut step = StepStats::named("crawl");
    step.documents_in = summary.outcomes.values().sum();
    step.kept = summary.pages;
    for (reason, count) in &summary.reasons {
        if !reason.starts_with("fetched") {
            step.dropped
                .insert(reason.trim_end_matches(": ").to_string(), *count);
        }
    }
    step.dropped.retain(|_, n| *n > 0);
    step.bytes_in = summary.bytes;
    step.wall_seconds = summary.seconds;
    step.cpu_seconds = cpu_seconds.max(0.0);
    step
}

/// What a crawl did: pages and bytes, then each outcome with its reason.
pub fn print_summary(
    out: &mut impl Write,
    summary: &CrawlSummary,
    output: &Path,
) -> std::io::Result<()> {
    writeln!(
        out,
        "crawled {} pages ({}) in {:.1} s into {}; {} in all over every run",
        summary.pages,
        HumanBytes(summary.bytes),
        summary.seconds,
        output.display(),
        summary.total_pages
    )?;
    for (reason, count) in &summary.reasons {
        let reason = reason.trim_end_matches(": ");
        writeln!(out, "  {reason}: {count}")?;
    }
    if summary.retries > 0 {
        writeln!(out, "  retries: {}", summary.retries)?;
    }
    if summary.pending > 0 {
        writeln!(
            out,
            "  {} URLs left in the frontier (a limit was reached); run again with a higher limit to go on",
            summary.pending
        )?;
    }
    Ok(())
}
