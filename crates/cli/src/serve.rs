//! `atelier serve`: arguments to a server configuration; the server is `atelier-serve`.

use anyhow::{Context, Result, bail};
use atelier_serve::{Config, Limits};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `atelier serve` arguments.
#[derive(Args)]
pub struct ServeArgs {
    /// The project: its folder, or its recipe file.
    #[arg(short, long, default_value = ".")]
    project: PathBuf,
    /// The model: NAME, NAME@VERSION or @VERSION (an id like v7, or an alias). Default:
    /// the version the followed alias names if it is a model, else the newest model
    /// version (of NAME).
    #[arg(short, long, value_name = "NAME[@VERSION]")]
    model: Option<String>,
    /// The address to listen on; the default answers this machine only.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The store alias to follow: when it moves to another model version the server
    /// swaps to it, and activate and rollback move it (so a restart serves the same
    /// version).
    #[arg(long, default_value = "prod", value_name = "ALIAS")]
    follow: String,
    /// Follow no alias: only the admin routes swap, and they move no alias.
    #[arg(long, conflicts_with = "follow")]
    no_follow: bool,
    /// A file holding the admin routes' bearer token (else the ATELIER_ADMIN_TOKEN
    /// environment variable; with neither, the admin routes are disabled).
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    max_body: usize,
    /// Longest text, in bytes.
    #[arg(long, default_value_t = Limits::default().max_text_bytes)]
    max_text: usize,
    /// Most texts in one batch.
    #[arg(long, default_value_t = Limits::default().max_texts)]
    max_texts: usize,
    /// Seconds a request may take, its body included (slower clients get 408).
    #[arg(long, default_value_t = Limits::default().request_timeout.as_secs_f64())]
    timeout: f64,
    /// Requests handled at once; more get 503 with Retry-After.
    #[arg(long, default_value_t = Limits::default().max_in_flight)]
    max_in_flight: usize,
    /// Client connections open at once; more wait to be accepted.
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Worker threads (default: the number of CPUs).
    #[arg(short, long)]
    workers: Option<usize>,
    /// Language models: re-quantize weights as they load (q8_0: candle's fastest CPU
    /// path; q4_k; f16).
    #[arg(long, value_parser = atelier_lm::Requantize::parse)]
    requantize: Option<atelier_lm::Requantize>,
    /// Language models: compute threads shared by all generations (default: the
    /// physical cores).
    #[arg(short, long)]
    threads: Option<usize>,
    /// Language models: run on the first CUDA GPU (a build with the `cuda` feature).
    #[arg(long)]
    gpu: bool,
    /// Language models: generations at once, each with its own KV cache (503 above).
    #[arg(long, default_value_t = Limits::default().max_generations)]
    max_generations: usize,
    /// Language models: most tokens a prompt may have.
    #[arg(long, default_value_t = Limits::default().max_prompt_tokens)]
    max_prompt_tokens: usize,
    /// Language models: most tokens one request may generate.
    #[arg(long, default_value_t = Limits::default().max_new_tokens)]
    max_new_tokens: usize,
    /// Language models: seconds one generation may run.
    #[arg(long, default_value_t = Limits::default().generation_timeout.as_secs_f64())]
    generation_timeout: f64,
}

/// Where the token comes from: the file, else the environment.
fn admin_token(args: &ServeArgs) -> Result<Option<String>> {
    let token = match &args.admin_token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the admin token from {}", path.display()))?;
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                eprintln!(
                    "warning: {} can be read by other users (mode {:o}); chmod 600 it",
                    path.display(),
                    mode & 0o777
                );
            }
            Some(text.trim().to_owned())
        }
        None => std::env::var("ATELIER_ADMIN_TOKEN")
            .ok()
            .map(|t| t.trim().to_owned()),
    };
    Ok(token.filter(|t| !t.is_empty()))
}

/// Runs `atelier serve` until SIGINT or SIGTERM.
pub fn serve(args: &ServeArgs) -> Result<ExitCode> {
    let project = crate::project::project_dir(&args.project);
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!("--timeout must be a positive number of seconds");
    }
    if !(args.generation_timeout.is_finite() && args.generation_timeout > 0.0) {
        bail!("--generation-timeout must be a positive number of seconds");
    }
    atelier_lm::set_threads(args.threads);
    let mut config = Config::new(project);
    config.addr = args.addr;
    if let Some(model) = &args.model {
        config.model.parse_model(model);
    }
    config.model.alias = (!args.no_follow).then(|| args.follow.clone());
    config.model.lm = atelier_serve::LmSettings {
        requantize: args.requantize,
        gpu: args.gpu,
    };
    config.admin_token = admin_token(args)?;
    config.limits = Limits {
        max_body_bytes: args.max_body,
        max_text_bytes: args.max_text,
        max_texts: args.max_texts,
        request_timeout: Duration::from_secs_f64(args.timeout),
        max_in_flight: args.max_in_flight.max(1),
        max_connections: args.max_connections.max(1),
        max_prompt_tokens: args.max_prompt_tokens.max(1),
        max_new_tokens: args.max_new_tokens.max(1),
        max_generations: args.max_generations.max(1),
        generation_timeout: Duration::from_secs_f64(args.generation_timeout),
    };
    let threads = crate::workers::count(args.workers);
    atelier_serve::run_until_signal(config, threads, |server| {
        let addr = server.local_addr();
        eprintln!("atelier serve: listening on http://{addr}/ with {threads} worker thread(s)");
        if !addr.ip().is_loopback() {
            eprintln!(
                "atelier serve: warning: {} is reachable from other machines; there is no TLS \
                 (put a proxy in front)",
                addr.ip()
            );
        }
        if !server.admin_enabled() {
            eprintln!(
                "atelier serve: admin routes disabled (set ATELIER_ADMIN_TOKEN or \
                 --admin-token-file to enable activate and rollback)"
            );
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
