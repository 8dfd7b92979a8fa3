//! Serving a project's classifiers over HTTP, with continuity: new versions go live
//! under load without a failed request, and a broken version never does.
//!
//! A [`Server`] serves one model version of a project's store at a time (see
//! `atelier_store`): by default the version the `prod` alias names, else the newest model
//! version. Routes (all JSON but the page and the metrics):
//!
//! | route | what |
//! | --- | --- |
//! | `POST /v1/classify` | `{"text": "..."}` or `{"texts": [...]}`, optional `k` and `threshold`: labels (without fastText's `__label__` prefix) and probabilities, and the version that answered; texts are prepared as the version's training text was ([`Classifier::preprocess`]) |
//! | `GET /v1/models` | the model versions with their metrics and aliases, which is live, what a rollback would go back to |
//! | `GET /v1/models/{version}/bill` | the bill a model version carries (`bill.json`) |
//! | `POST /v1/admin/activate` | `{"version": "v7"}`: load, verify, warm, swap, move the alias |
//! | `POST /v1/admin/rollback` | back to the version live before |
//! | `GET /healthz`, `GET /readyz` | alive; ready (a warm model is live, not draining) |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /` | the page: versions, metrics, the live version's bill, a box to try the model |
//!
//! How a swap keeps service ([`models`]): the new version is loaded, checked against the
//! hash in its manifest and warmed up before one atomic pointer swap; requests in flight
//! keep the model they started with. A version that fails is refused and counted in
//! `atelier_serve_swap_failures_total`; the old one stays live. Activate and rollback
//! move the followed alias (`prod`) so that a restart serves the same version, and the
//! server follows the alias when something else (the trainer) moves it.
//!
//! Limits ([`Limits`]): body size, text length, texts per batch, a time limit per
//! request (which also cuts off clients that never finish their body), a concurrency
//! limit answering 503 with `Retry-After`. Admin routes need a bearer token and are
//! disabled without one. Requests name versions by id or alias only, never by path.
//! Graceful shutdown stops accepting, answers what is in flight, then exits.
//!
//! ```no_run
//! # async fn run() -> Result<(), atelier_serve::ServeError> {
//! let config = atelier_serve::Config::new("my-project");
//! let server = atelier_serve::Server::bind(config).await?;
//! println!("listening on http://{}", server.local_addr());
//! server.run(atelier_serve::shutdown_signal()).await;
//! # Ok(()) }
//! ```

mod api;
mod config;
pub mod metrics;
pub mod models;
mod openai;
mod server;
pub mod usage;

pub use config::{Config, Limits, LmSettings, MIN_TOKEN_BYTES, ModelChoice};
pub use metrics::Metrics;
pub use models::{Classifier, Engine, Loaded, ModelError, Models};

use atelier_store::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The project has no store.
    #[error(
        "{} has no versions yet: `atelier run` makes datasets and training makes models",
        .0.display()
    )]
    NoStore(PathBuf),
    /// The store could not be opened. Its message holds the store's, so it is not also
    /// the source (a chain prints each cause once).
    #[error("opening the store: {0}")]
    Store(atelier_store::StoreError),
    /// No model to start with, or the one asked for failed.
    #[error("{0}")]
    Model(String),
    /// The runtime could not start.
    #[error("starting the runtime: {0}")]
    Runtime(std::io::Error),
    /// The admin token is unusable.
    #[error("{0}")]
    Token(String),
    /// The address could not be bound. The OS error is in the message, so it is not
    /// also the error's `source` (an error chain would print it twice).
    #[error("listening on {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
}

impl From<atelier_store::StoreError> for ServeError {
    fn from(e: atelier_store::StoreError) -> Self {
        ServeError::Store(e)
    }
}

/// A server bound to its address with its first model loaded and warm, ready to
/// [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    listener: tokio::net::TcpListener,
    app: Arc<api::App>,
    drain_timeout: std::time::Duration,
    models: Arc<Models>,
}

impl Server {
    /// Opens the project's store, loads, verifies and warms the first model, and binds
    /// the address. Errors say what to do.
    pub async fn bind(config: Config) -> Result<Server, ServeError> {
        if !atelier_store::state_dir(&config.project)
            .join("versions")
            .is_dir()
        {
            return Err(ServeError::NoStore(config.project.clone()));
        }
        let admin = match &config.admin_token {
            Some(token) if token.len() < MIN_TOKEN_BYTES => {
                return Err(ServeError::Token(format!(
                    "the admin token is {} bytes; use at least {MIN_TOKEN_BYTES} random ones \
                     (for example `openssl rand -hex 32`)",
                    token.len()
                )));
            }
            Some(token) => Some(blake3::hash(token.as_bytes())),
            None => None,
        };
        let store = Store::open(&config.project)?;
        let choice = config.model.clone();
        let (store, first) = tokio::task::spawn_blocking(move || {
            let manifest = models::initial(&store, &choice)?;
            let loaded = models::load_manifest(&store, &choice, &manifest)
                .map_err(|e| ServeError::Model(e.to_string()))?;
            Ok::<_, ServeError>((store, loaded))
        })
        .await
        .map_err(|e| ServeError::Model(format!("loading the model: {e}")))??;
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|error| ServeError::Bind {
                addr: config.addr,
                error,
            })?;
        let metrics = Arc::new(Metrics::new(config.model.lm.gpu));
        if config.log {
            log(format_args!(
                "{} ({}) live: loaded, verified and warmed in {:.3} s",
                first.id, first.name, first.load_seconds
            ));
        }
        let models = Arc::new(Models::new(
            store,
            config.model.clone(),
            first,
            Arc::clone(&metrics),
            config.log,
        ));
        metrics.set_ready(true);
        let app = Arc::new(api::App {
            models: Arc::clone(&models),
            metrics,
            limits: config.limits.clone(),
            admin,
            generations: Arc::new(tokio::sync::Semaphore::new(
                config.limits.max_generations.max(1),
            )),
            draining: AtomicBool::new(false),
            log: config.log,
        });
        Ok(Server {
            listener,
            app,
            drain_timeout: config.drain_timeout,
            models,
        })
    }

    /// The address it listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Its counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.app.metrics)
    }

    /// Its models.
    pub fn models(&self) -> Arc<Models> {
        Arc::clone(&self.models)
    }

    /// Whether admin routes are enabled.
    pub fn admin_enabled(&self) -> bool {
        self.app.admin.is_some()
    }

    /// Serves until `shutdown` completes, then drains and returns. Follows the alias
    /// meanwhile.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let watcher = tokio::spawn(Arc::clone(&self.models).watch(stopped));
        server::serve(self.listener, self.app, self.drain_timeout, shutdown).await;
        let _ = stop.send(true);
        let _ = watcher.await;
    }
}

/// Runs a server on its own runtime of `threads` worker threads until SIGINT or
/// SIGTERM, then drains: the whole life of `atelier serve`. `ready` is called once the
/// server listens with its first model warm.
pub fn run_until_signal(
    config: Config,
    threads: usize,
    ready: impl FnOnce(&Server),
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        // Big batches, model loads and store reads: a few per core is plenty, and
        // bounds the threads a flood of big batches can start.
        .max_blocking_threads(4 * threads.max(1) + 4)
        .thread_name("atelier-serve")
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async {
        let server = Server::bind(config).await?;
        ready(&server);
        server.run(shutdown_signal()).await;
        Ok(())
    })
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    tokio::select! {
        _ = async { if let Some(s) = &mut term { s.recv().await; } else { std::future::pending::<()>().await } } => {}
        _ = async { if let Some(s) = &mut int { s.recv().await; } else { std::future::pending::<()>().await } } => {}
    }
}

/// Prints one log line on stderr, with the UTC time.
pub(crate) fn log(args: std::fmt::Arguments<'_>) {
    let now = std::time::UNIX_EPOCH.elapsed().unwrap_or_default();
    eprintln!(
        "{}.{:03}Z atelier serve: {args}",
        atelier_core::utc(now.as_secs()).trim_end_matches('Z'),
        now.subsec_millis()
    );
}
