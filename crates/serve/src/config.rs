//! What a server is told: where to listen, which project and model, its limits. The
//! defaults live here and nowhere else.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The shortest admin token accepted: anything shorter is guessable.
pub const MIN_TOKEN_BYTES: usize = 16;

/// The limits every request is held to.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest request body, in bytes (413 above). Default 1 MiB.
    pub max_body_bytes: usize,
    /// Longest text, in bytes of UTF-8 (413 above). Default 100,000.
    pub max_text_bytes: usize,
    /// Most texts in one `texts` batch (413 above). Default 1,000.
    pub max_texts: usize,
    /// Time a request may take from its head to its answer, body included (408
    /// after; admin requests, which may load a large model, get at least 5 minutes). A
    /// connection that sends no complete request head in this time (idle keep-alive
    /// connections included), or does not read its answers for this long, is closed.
    /// Default 10 s.
    pub request_timeout: Duration,
    /// Requests handled at once, probes and metrics excepted (503 with `Retry-After`
    /// above). Default 1,024.
    pub max_in_flight: usize,
    /// Client connections open at once; more wait in the kernel's accept queue.
    /// Default 4,096.
    pub max_connections: usize,
    /// Language models: most tokens in a prompt (400 above; the model's context is a
    /// limit too). Default 8,192.
    pub max_prompt_tokens: usize,
    /// Language models: most tokens one request may generate (400 above; the default
    /// when a request names none). Default 1,024.
    pub max_new_tokens: usize,
    /// Language models: generations running at once, each with its own KV cache (503
    /// with `Retry-After` above). Default 16.
    pub max_generations: usize,
    /// Language models: how long one generation may run; a longer one ends with
    /// `finish_reason` `length`. Default 300 s.
    pub generation_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_text_bytes: 100_000,
            max_texts: 1_000,
            request_timeout: Duration::from_secs(10),
            max_in_flight: 1_024,
            max_connections: 4_096,
            max_prompt_tokens: 8_192,
            max_new_tokens: 1_024,
            max_generations: 16,
            generation_timeout: Duration::from_secs(300),
        }
    }
}

/// How language-model versions are loaded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LmSettings {
    /// Re-quantize weight matrices as they load (`q8_0`: candle's fastest CPU path).
    pub requantize: Option<atelier_lm::Requantize>,
    /// Run on the first CUDA GPU.
    pub gpu: bool,
}

/// Which model to serve and how to follow the store.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelChoice {
    /// Serve only model versions of this name (any model version when `None`).
    pub name: Option<String>,
    /// Start on this version (id or alias) instead of the default: the watched alias
    /// if it names a model version, else the newest model version.
    pub version: Option<String>,
    /// The store alias to follow: when it moves to another model version, the server
    /// swaps to it; activate and rollback move it. `None`: follow nothing and keep
    /// swaps in this process.
    pub alias: Option<String>,
    /// How often the alias is read.
    pub poll: Duration,
    /// How language models load.
    pub lm: LmSettings,
}

impl Default for ModelChoice {
    fn default() -> Self {
        ModelChoice {
            name: None,
            version: None,
            alias: Some("prod".to_owned()),
            poll: Duration::from_millis(250),
            lm: LmSettings::default(),
        }
    }
}

impl ModelChoice {
    /// Parses `NAME`, `NAME@VERSION` or `@VERSION` (the command line's `--model`).
    pub fn parse_model(&mut self, spec: &str) {
        let (name, version) = match spec.split_once('@') {
            Some((name, version)) => (name, Some(version)),
            None => (spec, None),
        };
        self.name = (!name.is_empty()).then(|| name.to_owned());
        self.version = version.filter(|v| !v.is_empty()).map(str::to_owned);
    }
}

/// Everything a server needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The project folder (the one holding `.atelier/`).
    pub project: PathBuf,
    /// Where to listen. Default `127.0.0.1:8080`: only this machine.
    pub addr: SocketAddr,
    /// The model.
    pub model: ModelChoice,
    /// The bearer token of the admin routes; `None` disables them.
    pub admin_token: Option<String>,
    /// The limits.
    pub limits: Limits,
    /// How long a shutdown waits for requests in flight before closing connections.
    /// Default 10 s.
    pub drain_timeout: Duration,
    /// Print a line for each swap, refusal, admin action, start and stop (stderr).
    pub log: bool,
}

impl Config {
    /// A configuration with every default, serving the project in `project`.
    pub fn new(project: impl Into<PathBuf>) -> Config {
        Config {
            project: project.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            model: ModelChoice::default(),
            admin_token: None,
            limits: Limits::default(),
            drain_timeout: Duration::from_secs(10),
            log: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_specs_parse() {
        let mut m = ModelChoice::default();
        m.parse_model("spam@v7");
        assert_eq!(
            (m.name.as_deref(), m.version.as_deref()),
            (Some("spam"), Some("v7"))
        );
        m.parse_model("spam");
        assert_eq!(
            (m.name.as_deref(), m.version.as_deref()),
            (Some("spam"), None)
        );
        m.parse_model("@prod");
        assert_eq!(
            (m.name.as_deref(), m.version.as_deref()),
            (None, Some("prod"))
        );
    }
}
