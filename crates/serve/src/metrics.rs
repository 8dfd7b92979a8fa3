//! The server's counters and their Prometheus text exposition.
//!
//! Written by hand rather than with a metrics crate: the label sets are known in
//! advance (a fixed list of routes, statuses and latency buckets), so every counter is a
//! plain atomic in a fixed array and recording a request is a handful of relaxed atomic
//! adds, with no map lookup, lock or allocation on the request path. The exposition is
//! the text format 0.0.4 that every Prometheus scraper reads; a test checks its shape.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::usage::Usage;

/// The routes requests are counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /`: the web page.
    Page,
    /// `POST /v1/classify`.
    Classify,
    /// `POST /v1/chat/completions`.
    ChatCompletions,
    /// `POST /v1/completions`.
    Completions,
    /// `GET /v1/models`.
    Models,
    /// `GET /v1/models/{version}/bill`.
    Bill,
    /// `POST /v1/admin/activate`.
    Activate,
    /// `POST /v1/admin/rollback`.
    Rollback,
    /// `GET /healthz`.
    Healthz,
    /// `GET /readyz`.
    Readyz,
    /// `GET /metrics`.
    Metrics,
    /// Anything else (answered 404 or 405).
    Other,
}

impl Route {
    const ALL: [Route; 12] = [
        Route::Page,
        Route::Classify,
        Route::ChatCompletions,
        Route::Completions,
        Route::Models,
        Route::Bill,
        Route::Activate,
        Route::Rollback,
        Route::Healthz,
        Route::Readyz,
        Route::Metrics,
        Route::Other,
    ];

    /// The route a request path belongs to.
    pub fn of(path: &str) -> Route {
        match path {
            "/" => Route::Page,
            "/v1/classify" => Route::Classify,
            "/v1/chat/completions" => Route::ChatCompletions,
            "/v1/completions" => Route::Completions,
            "/v1/models" => Route::Models,
            "/v1/admin/activate" => Route::Activate,
            "/v1/admin/rollback" => Route::Rollback,
            "/healthz" => Route::Healthz,
            "/readyz" => Route::Readyz,
            "/metrics" => Route::Metrics,
            p if p.starts_with("/v1/models/") && p.ends_with("/bill") => Route::Bill,
            _ => Route::Other,
        }
    }

    /// Its label in the metrics.
    pub fn label(self) -> &'static str {
        match self {
            Route::Page => "/",
            Route::Classify => "/v1/classify",
            Route::ChatCompletions => "/v1/chat/completions",
            Route::Completions => "/v1/completions",
            Route::Models => "/v1/models",
            Route::Bill => "/v1/models/{version}/bill",
            Route::Activate => "/v1/admin/activate",
            Route::Rollback => "/v1/admin/rollback",
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::Metrics => "/metrics",
            Route::Other => "other",
        }
    }

    /// Whether the concurrency limit applies: probes and metrics stay answerable under
    /// overload, so that an overloaded server can still be seen.
    pub fn is_limited(self) -> bool {
        !matches!(self, Route::Healthz | Route::Readyz | Route::Metrics)
    }

    /// Whether the route generates text: its time limit is the generation limit.
    pub fn generates(self) -> bool {
        matches!(self, Route::ChatCompletions | Route::Completions)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The statuses the server answers with; anything else is counted as `other`.
const STATUSES: [u16; 16] = [
    200, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 431, 500, 503, 504,
];
const N_STATUS: usize = STATUSES.len() + 1;
const N_ROUTE: usize = Route::ALL.len();

/// Upper bounds of the latency histogram's buckets, in seconds (the last, +Inf, is
/// implicit).
const BUCKETS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0,
];
const N_BUCKET: usize = BUCKETS.len() + 1;

/// Buckets of the time to first token, in seconds.
const TTFT_BUCKETS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
];
/// Buckets of the time per output token, in seconds.
const TPOT_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A histogram with fixed buckets.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn observe(&self, seconds: f64) {
        let b = self
            .bounds
            .iter()
            .position(|&le| seconds <= le)
            .unwrap_or(self.bounds.len());
        self.counts[b].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add((seconds * 1e9) as u64, Relaxed);
    }

    fn render(&self, o: &mut String, name: &str, help: &str) {
        head(o, name, "histogram", help);
        let mut cumulative = 0;
        for (i, n) in self.counts.iter().enumerate() {
            cumulative += n.load(Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or("+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(o, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum_nanos.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(o, "{name}_sum {sum}");
        let _ = writeln!(o, "{name}_count {cumulative}");
    }
}

fn status_index(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|&s| s == status)
        .unwrap_or(STATUSES.len())
}

/// Why a swap was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapFailure {
    /// The version is not a model (or not of the served name).
    NotAModel,
    /// Its file is missing, does not match its hash, or is not a model fastText reads.
    Load,
    /// It loaded but did not answer the warm-up prediction.
    Warm,
    /// The alias could not be moved in the store.
    Store,
}

impl SwapFailure {
    const ALL: [SwapFailure; 4] = [
        SwapFailure::NotAModel,
        SwapFailure::Load,
        SwapFailure::Warm,
        SwapFailure::Store,
    ];

    /// Its label in the metrics.
    pub fn label(self) -> &'static str {
        match self {
            SwapFailure::NotAModel => "not_a_model",
            SwapFailure::Load => "load",
            SwapFailure::Warm => "warm",
            SwapFailure::Store => "store",
        }
    }
}

/// What triggered a swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `POST /v1/admin/activate`.
    Activate,
    /// `POST /v1/admin/rollback`.
    Rollback,
    /// The watched alias moved.
    Alias,
}

impl Trigger {
    const ALL: [Trigger; 3] = [Trigger::Activate, Trigger::Rollback, Trigger::Alias];

    /// Its label in the metrics.
    pub fn label(self) -> &'static str {
        match self {
            Trigger::Activate => "activate",
            Trigger::Rollback => "rollback",
            Trigger::Alias => "alias",
        }
    }
}

/// The live model, as the metrics show it.
#[derive(Debug, Clone, Default)]
struct LiveInfo {
    name: String,
    version: String,
    loaded_unix: f64,
}

/// Every counter of the server.
#[derive(Debug)]
pub struct Metrics {
    requests: [[AtomicU64; N_STATUS]; N_ROUTE],
    latency_buckets: [[AtomicU64; N_BUCKET]; N_ROUTE],
    latency_sum_nanos: [AtomicU64; N_ROUTE],
    texts: AtomicU64,
    in_flight: AtomicU64,
    connections: AtomicU64,
    connections_total: AtomicU64,
    swaps: [AtomicU64; 3],
    swap_failures: [AtomicU64; 4],
    alias_polls: AtomicU64,
    live: Mutex<LiveInfo>,
    ready: AtomicU64,
    start_unix: f64,
    generations: AtomicU64,
    prompt_tokens: AtomicU64,
    generated_tokens: AtomicU64,
    time_to_first_token: Histogram,
    time_per_output_token: Histogram,
    usage: Usage,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(false)
    }
}

pub(crate) fn unix_now() -> f64 {
    std::time::UNIX_EPOCH
        .elapsed()
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Metrics {
    /// Counters at zero; `gpus` when the models run on the GPU (see [`Usage::new`]).
    pub fn new(gpus: bool) -> Metrics {
        Metrics {
            requests: Default::default(),
            latency_buckets: Default::default(),
            latency_sum_nanos: Default::default(),
            texts: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            swaps: Default::default(),
            swap_failures: Default::default(),
            alias_polls: AtomicU64::new(0),
            live: Mutex::new(LiveInfo::default()),
            ready: AtomicU64::new(0),
            start_unix: unix_now(),
            generations: AtomicU64::new(0),
            prompt_tokens: AtomicU64::new(0),
            generated_tokens: AtomicU64::new(0),
            time_to_first_token: Histogram::new(&TTFT_BUCKETS),
            time_per_output_token: Histogram::new(&TPOT_BUCKETS),
            usage: Usage::new(gpus),
        }
    }

    /// Counts one answered request.
    pub fn observe(&self, route: Route, status: u16, elapsed: Duration) {
        let r = route.index();
        self.requests[r][status_index(status)].fetch_add(1, Relaxed);
        let secs = elapsed.as_secs_f64();
        let b = BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS.len());
        self.latency_buckets[r][b].fetch_add(1, Relaxed);
        self.latency_sum_nanos[r].fetch_add(elapsed.as_nanos() as u64, Relaxed);
    }

    /// Requests answered so far on a route with a status.
    pub fn requests(&self, route: Route, status: u16) -> u64 {
        self.requests[route.index()][status_index(status)].load(Relaxed)
    }

    /// Counts texts classified.
    pub fn add_texts(&self, n: u64) {
        self.texts.fetch_add(n, Relaxed);
    }

    /// The in-flight gauge (requests under the concurrency limit).
    pub(crate) fn in_flight(&self) -> &AtomicU64 {
        &self.in_flight
    }

    /// Requests being handled under the concurrency limit now.
    pub fn in_flight_now(&self) -> u64 {
        self.in_flight.load(Relaxed)
    }

    /// A connection opened.
    pub(crate) fn connection_opened(&self) {
        self.connections.fetch_add(1, Relaxed);
        self.connections_total.fetch_add(1, Relaxed);
    }

    /// A connection closed.
    pub(crate) fn connection_closed(&self) {
        self.connections.fetch_sub(1, Relaxed);
    }

    /// Connections open now.
    pub fn connections_now(&self) -> u64 {
        self.connections.load(Relaxed)
    }

    /// Counts a swap that went live.
    pub(crate) fn swapped(&self, trigger: Trigger, name: &str, version: &str) {
        self.swaps[trigger as usize].fetch_add(1, Relaxed);
        self.set_live(name, version);
    }

    /// A generation started.
    pub(crate) fn generation_started(&self) {
        self.generations.fetch_add(1, Relaxed);
    }

    /// A generation ended (finished, failed or cancelled).
    pub(crate) fn generation_ended(&self) {
        self.generations.fetch_sub(1, Relaxed);
    }

    /// Generations running now.
    pub fn generations_now(&self) -> u64 {
        self.generations.load(Relaxed)
    }

    /// Counts a finished generation's tokens and timings.
    pub(crate) fn generated(
        &self,
        prompt_tokens: u64,
        tokens: u64,
        first_token_seconds: Option<f64>,
        per_token_seconds: Option<f64>,
    ) {
        self.prompt_tokens.fetch_add(prompt_tokens, Relaxed);
        self.generated_tokens.fetch_add(tokens, Relaxed);
        if let Some(t) = first_token_seconds {
            self.time_to_first_token.observe(t);
        }
        if let Some(t) = per_token_seconds {
            self.time_per_output_token.observe(t);
        }
    }

    /// Tokens generated so far.
    pub fn generated_tokens(&self) -> u64 {
        self.generated_tokens.load(Relaxed)
    }

    /// What serving each version cost.
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// Records the live model (at start and after each swap).
    pub(crate) fn set_live(&self, name: &str, version: &str) {
        self.usage.live(version);
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        *live = LiveInfo {
            name: name.to_owned(),
            version: version.to_owned(),
            loaded_unix: unix_now(),
        };
    }

    /// Counts a refused swap.
    pub(crate) fn swap_failed(&self, why: SwapFailure) {
        self.swap_failures[why as usize].fetch_add(1, Relaxed);
    }

    /// Swaps that went live so far, all triggers.
    pub fn swaps(&self) -> u64 {
        self.swaps.iter().map(|a| a.load(Relaxed)).sum()
    }

    /// Swaps refused so far, all reasons.
    pub fn swap_failures(&self) -> u64 {
        self.swap_failures.iter().map(|a| a.load(Relaxed)).sum()
    }

    /// Counts one read of the followed alias.
    pub(crate) fn alias_polled(&self) {
        self.alias_polls.fetch_add(1, Relaxed);
    }

    /// Reads of the followed alias so far.
    pub fn alias_polls(&self) -> u64 {
        self.alias_polls.load(Relaxed)
    }

    /// Sets the readiness gauge.
    pub(crate) fn set_ready(&self, ready: bool) {
        self.ready.store(u64::from(ready), Relaxed);
    }

    /// The exposition, in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let o = &mut out;
        head(
            o,
            "atelier_serve_requests_total",
            "counter",
            "Requests answered, by route and status.",
        );
        for route in Route::ALL {
            for (i, counter) in self.requests[route.index()].iter().enumerate() {
                let n = counter.load(Relaxed);
                if n > 0 {
                    let status = status_label(i);
                    let _ = writeln!(
                        o,
                        "atelier_serve_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                        route.label()
                    );
                }
            }
        }
        head(
            o,
            "atelier_serve_request_errors_total",
            "counter",
            "Requests answered with a 4xx or 5xx status, by route and status.",
        );
        for route in Route::ALL {
            for (i, counter) in self.requests[route.index()].iter().enumerate() {
                let n = counter.load(Relaxed);
                let error = STATUSES.get(i).is_none_or(|&s| s >= 400);
                if n > 0 && error {
                    let status = status_label(i);
                    let _ = writeln!(
                        o,
                        "atelier_serve_request_errors_total{{route=\"{}\",status=\"{status}\"}} {n}",
                        route.label()
                    );
                }
            }
        }
        head(
            o,
            "atelier_serve_request_duration_seconds",
            "histogram",
            "Time from a request's head to its answer, by route.",
        );
        for route in Route::ALL {
            let r = route.index();
            let counts: Vec<u64> = self.latency_buckets[r]
                .iter()
                .map(|a| a.load(Relaxed))
                .collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let label = route.label();
            let mut cumulative = 0;
            for (i, n) in counts.iter().enumerate() {
                cumulative += n;
                let le = BUCKETS.get(i).map_or("+Inf".to_owned(), |b| b.to_string());
                let _ = writeln!(
                    o,
                    "atelier_serve_request_duration_seconds_bucket{{route=\"{label}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let sum = self.latency_sum_nanos[r].load(Relaxed) as f64 / 1e9;
            let _ = writeln!(
                o,
                "atelier_serve_request_duration_seconds_sum{{route=\"{label}\"}} {sum}"
            );
            let _ = writeln!(
                o,
                "atelier_serve_request_duration_seconds_count{{route=\"{label}\"}} {total}"
            );
        }
        head(
            o,
            "atelier_serve_texts_classified_total",
            "counter",
            "Texts classified (a batch counts each of its texts).",
        );
        let _ = writeln!(
            o,
            "atelier_serve_texts_classified_total {}",
            self.texts.load(Relaxed)
        );
        head(
            o,
            "atelier_serve_generations_in_flight",
            "gauge",
            "Language-model generations running (streams included).",
        );
        let _ = writeln!(
            o,
            "atelier_serve_generations_in_flight {}",
            self.generations.load(Relaxed)
        );
        head(
            o,
            "atelier_serve_prompt_tokens_total",
            "counter",
            "Prompt tokens read by finished generations.",
        );
        let _ = writeln!(
            o,
            "atelier_serve_prompt_tokens_total {}",
            self.prompt_tokens.load(Relaxed)
        );
        head(
            o,
            "atelier_serve_generated_tokens_total",
            "counter",
            "Tokens generated by finished generations.",
        );
        let _ = writeln!(
            o,
            "atelier_serve_generated_tokens_total {}",
            self.generated_tokens.load(Relaxed)
        );
        self.time_to_first_token.render(
            o,
            "atelier_serve_time_to_first_token_seconds",
            "From a generation's start to its first token (the prompt's reading).",
        );
        self.time_per_output_token.render(
            o,
            "atelier_serve_time_per_output_token_seconds",
            "Mean time per generated token after the first, one sample per generation.",
        );
        head(
            o,
            "atelier_serve_in_flight_requests",
            "gauge",
            "Requests being handled under the concurrency limit.",
        );
        let _ = writeln!(
            o,
            "atelier_serve_in_flight_requests {}",
            self.in_flight.load(Relaxed)
        );
        head(
            o,
            "atelier_serve_open_connections",
            "gauge",
            "Client connections open.",
        );
        let _ = writeln!(
            o,
            "atelier_serve_open_connections {}",
            self.connections.load(Relaxed)
        );
        head(
            o,
            "atelier_serve_connections_total",
            "counter",
            "Client connections accepted.",
        );
        let _ = writeln!(
            o,
            "atelier_serve_connections_total {}",
            self.connections_total.load(Relaxed)
        );
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner()).clone();
        head(
            o,
            "atelier_serve_model_info",
            "gauge",
            "The live model: 1 for its name and version.",
        );
        if !live.version.is_empty() {
            let _ = writeln!(
                o,
                "atelier_serve_model_info{{name=\"{}\",version=\"{}\"}} 1",
                escape(&live.name),
                escape(&live.version)
            );
        }
        head(
            o,
            "atelier_serve_model_loaded_timestamp_seconds",
            "gauge",
            "When the live model went live, seconds since 1970.",
        );
        let _ = writeln!(
            o,
            "atelier_serve_model_loaded_timestamp_seconds {:.3}",
            live.loaded_unix
        );
        counters(
            o,
            "atelier_serve_swaps_total",
            "Model swaps that went live, by what triggered them.",
            "trigger",
            Trigger::ALL.map(|t| (t.label(), self.swaps[t as usize].load(Relaxed))),
        );
        counters(
            o,
            "atelier_serve_swap_failures_total",
            "Model swaps refused (the old model stayed live), by reason.",
            "reason",
            SwapFailure::ALL.map(|f| (f.label(), self.swap_failures[f as usize].load(Relaxed))),
        );
        head(
            o,
            "atelier_serve_alias_polls_total",
            "counter",
            "Reads of the followed store alias (the watcher is alive while this grows).",
        );
        let _ = writeln!(
            o,
            "atelier_serve_alias_polls_total {}",
            self.alias_polls.load(Relaxed)
        );
        head(
            o,
            "atelier_serve_ready",
            "gauge",
            "1 while the server takes traffic (a model answered its warm-up; not draining).",
        );
        let _ = writeln!(o, "atelier_serve_ready {}", self.ready.load(Relaxed));
        head(
            o,
            "process_start_time_seconds",
            "gauge",
            "When the process started, seconds since 1970.",
        );
        let _ = writeln!(o, "process_start_time_seconds {:.3}", self.start_unix);
        // Unreadable (0) outside Linux: the gauge is left out then.
        let rss = atelier_bill::energy::rss_bytes();
        if rss > 0 {
            head(
                o,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory of the process.",
            );
            let _ = writeln!(o, "process_resident_memory_bytes {rss}");
        }
        out
    }
}

fn head(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} {kind}");
}

/// A counter family with one label.
fn counters<'a>(
    o: &mut String,
    name: &str,
    help: &str,
    key: &str,
    values: impl IntoIterator<Item = (&'a str, u64)>,
) {
    head(o, name, "counter", help);
    for (label, value) in values {
        let _ = writeln!(o, "{name}{{{key}=\"{label}\"}} {value}");
    }
}

fn status_label(i: usize) -> String {
    STATUSES
        .get(i)
        .map_or_else(|| "other".to_owned(), |s| s.to_string())
}

/// Escapes a label value (backslash, quote and newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classified_by_path() {
        assert_eq!(Route::of("/v1/classify"), Route::Classify);
        assert_eq!(Route::of("/v1/models/v3/bill"), Route::Bill);
        assert_eq!(Route::of("/v1/models/v3"), Route::Other);
        assert_eq!(Route::of("/etc/passwd"), Route::Other);
        assert!(!Route::Healthz.is_limited() && Route::Classify.is_limited());
    }

    #[test]
    fn the_exposition_is_well_formed() {
        let m = Metrics::default();
        m.observe(Route::Classify, 200, Duration::from_micros(30));
        m.observe(Route::Classify, 200, Duration::from_millis(3));
        m.observe(Route::Classify, 413, Duration::from_millis(3));
        m.observe(Route::Other, 418, Duration::from_secs(20));
        m.set_live("spam \"x\"", "v2");
        m.swapped(Trigger::Alias, "spam", "v3");
        m.swap_failed(SwapFailure::Load);
        let text = m.render();
        let mut types = std::collections::HashMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            // name{labels} value, value a number.
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            let name = series.split('{').next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| types.contains_key(*f)))
                .unwrap_or(name);
            assert!(types.contains_key(family), "no TYPE before {line}");
            if let Some(labels) = series.strip_prefix(name) {
                assert!(
                    labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                    "{line}"
                );
            }
        }
        assert!(
            text.contains("atelier_serve_requests_total{route=\"/v1/classify\",status=\"200\"} 2")
        );
        assert!(text.contains(
            "atelier_serve_request_errors_total{route=\"/v1/classify\",status=\"413\"} 1"
        ));
        assert!(text.contains("atelier_serve_requests_total{route=\"other\",status=\"other\"} 1"));
        assert!(text.contains(
            "atelier_serve_request_duration_seconds_bucket{route=\"/v1/classify\",le=\"0.00005\"} 1"
        ));
        assert!(text.contains(
            "atelier_serve_request_duration_seconds_bucket{route=\"/v1/classify\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("atelier_serve_model_info{name=\"spam\",version=\"v3\"} 1"));
        assert!(text.contains("atelier_serve_swaps_total{trigger=\"alias\"} 1"));
        assert!(text.contains("atelier_serve_swap_failures_total{reason=\"load\"} 1"));
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
