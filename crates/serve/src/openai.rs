//! OpenAI's API for language-model versions: `POST /v1/chat/completions` and
//! `POST /v1/completions`, answered whole or streamed as server-sent events.
//!
//! Each generation runs on a blocking thread with the `Arc` of the version it started
//! on, so a swap never changes the model under a running stream. Streamed tokens go
//! through a small channel to the response body; when the client goes away the body is
//! dropped, the next send fails and the generation stops at once, giving back its slot.
//! The limits are checked before anything is generated: prompt tokens, new tokens, the
//! context (400 naming both counts) and the generations in flight (503).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::Frame;
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Instant;

use atelier_lm::{Choice, Delta, Finish, Generated, LmError, Message, Request as LmRequest};

use crate::api::{ApiError, App, json_bytes, read_body};
use crate::models::Loaded;

/// Chunks buffered between a generation and its client.
const STREAM_BUFFER: usize = 16;

/// A message's content: a string, or OpenAI's list of parts (text parts are joined).
#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

/// `stop`: one string or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

/// A completion's prompt: one string, or a list of exactly one.
#[derive(Deserialize)]
#[serde(untagged)]
enum Prompt {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// The fields both routes share. Unknown fields are ignored, as OpenAI's clients send
/// many.
#[derive(Deserialize)]
struct Common {
    model: String,
    #[serde(default)]
    max_tokens: Option<i64>,
    #[serde(default)]
    max_completion_tokens: Option<i64>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    top_p: Option<f32>,
    #[serde(default)]
    top_k: Option<i64>,
    #[serde(default)]
    min_p: Option<f32>,
    #[serde(default)]
    repetition_penalty: Option<f32>,
    #[serde(default)]
    seed: Option<i64>,
    #[serde(default)]
    stop: Option<Stop>,
    #[serde(default)]
    n: Option<i64>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct ChatBody {
    #[serde(flatten)]
    common: Common,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    logprobs: Option<bool>,
    #[serde(default)]
    top_logprobs: Option<i64>,
}

#[derive(Deserialize)]
struct CompletionBody {
    #[serde(flatten)]
    common: Common,
    prompt: Prompt,
    /// The legacy API's logprobs: how many alternatives per token.
    #[serde(default)]
    logprobs: Option<i64>,
}

/// Which of the two routes.
#[derive(Clone, Copy, PartialEq)]
enum Api {
    Chat,
    Completion,
}

fn bad(message: impl std::fmt::Display, param: &'static str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_value", message).param(param)
}

/// Parses a body: 400 for anything but the right JSON, as OpenAI answers.
fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the body is not a valid request: {e}"),
        )
    })
}

/// A request checked against the limits, ready to generate.
struct Prepared {
    live: Arc<Loaded>,
    request: LmRequest,
    stream: bool,
    include_usage: bool,
    api: Api,
}

/// Whether `model` names the live version: its name, id, `name@id`, or an alias to it.
fn names_live(app: &App, live: &Loaded, model: &str) -> bool {
    if model == live.name || model == live.id || model == format!("{}@{}", live.name, live.id) {
        return true;
    }
    crate::models::check_name(model).is_ok()
        && app
            .models
            .store()
            .alias(model)
            .ok()
            .flatten()
            .is_some_and(|id| id == live.id)
}

fn prepare(
    app: &App,
    api: Api,
    common: &Common,
    prompt: impl FnOnce(&atelier_lm::Lm) -> Result<Vec<u32>, ApiError>,
    logprobs: Option<usize>,
) -> Result<Prepared, ApiError> {
    let live = app.models.live();
    let Some(lm) = live.lm() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!(
                "this server serves the classifier `{}` ({}); use POST /v1/classify",
                live.name, live.id
            ),
        )
        .param("model"));
    };
    if !names_live(app, &live, &common.model) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!(
                "the model `{}` is not served here; this server serves `{}` (live version {})",
                common.model, live.name, live.id
            ),
        )
        .param("model"));
    }
    if let Some(n) = common.n
        && n != 1
    {
        return Err(bad(format!("n must be 1, not {n}"), "n"));
    }
    let asked = match (common.max_completion_tokens, common.max_tokens) {
        (Some(n), _) => Some((n, "max_completion_tokens")),
        (None, Some(n)) => Some((n, "max_tokens")),
        (None, None) => None,
    };
    let max_tokens = match asked {
        Some((n, param)) if n < 1 => {
            return Err(bad(format!("{param} must be at least 1, not {n}"), param));
        }
        Some((n, param)) if n as u64 > app.limits.max_new_tokens as u64 => {
            return Err(bad(
                format!(
                    "{param} is {n}; this server generates at most {} tokens per request",
                    app.limits.max_new_tokens
                ),
                param,
            ));
        }
        Some((n, _)) => Some(n as usize),
        None => None,
    };
    let stop = match &common.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s.clone()],
        Some(Stop::Many(v)) => v.clone(),
    };
    if stop.len() > atelier_lm::MAX_STOPS {
        return Err(bad(
            format!(
                "{} stop sequences; at most {}",
                stop.len(),
                atelier_lm::MAX_STOPS
            ),
            "stop",
        ));
    }
    let top_k = match common.top_k {
        Some(k) if k < 0 => return Err(bad(format!("top_k must be 0 or more, not {k}"), "top_k")),
        Some(k) => k as usize,
        None => 0,
    };
    let sampling = atelier_lm::Sampling {
        // OpenAI's default temperature is 1.
        temperature: common.temperature.unwrap_or(1.0),
        top_p: common.top_p.unwrap_or(1.0),
        top_k,
        min_p: common.min_p.unwrap_or(0.0),
        repetition_penalty: common.repetition_penalty.unwrap_or(1.0),
        seed: common.seed.map_or_else(random_seed, |s| s as u64),
    };
    sampling.check().map_err(|m| {
        let param = ["temperature", "top_p", "min_p", "repetition_penalty"]
            .into_iter()
            .find(|p| m.starts_with(p))
            .unwrap_or("temperature");
        bad(m, param)
    })?;
    let prompt = prompt(lm)?;
    if prompt.len() > app.limits.max_prompt_tokens {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "context_length_exceeded",
            format!(
                "the prompt is {} tokens; this server takes at most {}",
                prompt.len(),
                app.limits.max_prompt_tokens
            ),
        )
        .param("messages"));
    }
    let context = lm.info.context;
    let max_tokens = max_tokens.or_else(|| {
        Some(
            app.limits
                .max_new_tokens
                .min(context.saturating_sub(prompt.len()).max(1)),
        )
    });
    if prompt.len() + max_tokens.unwrap_or(0) > context {
        let e = LmError::Context {
            prompt: prompt.len(),
            max_tokens,
            context,
        };
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "context_length_exceeded", e).param(
                if api == Api::Chat {
                    "messages"
                } else {
                    "prompt"
                },
            ),
        );
    }
    let stream = common.stream;
    let include_usage = common
        .stream_options
        .as_ref()
        .is_some_and(|o| o.include_usage);
    let request = LmRequest {
        prompt,
        max_tokens,
        sampling,
        stop,
        logprobs,
        prompt_logprobs: false,
    };
    Ok(Prepared {
        live,
        request,
        stream,
        include_usage,
        api,
    })
}

fn random_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::UNIX_EPOCH
        .elapsed()
        .map_or(0, |d| d.as_nanos() as u64);
    let n = COUNTER.fetch_add(1, Relaxed);
    let hash = blake3::hash(&[now.to_le_bytes(), n.to_le_bytes()].concat());
    u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// A fresh response id.
fn response_id(api: Api) -> String {
    let seed = random_seed();
    match api {
        Api::Chat => format!("chatcmpl-{seed:016x}"),
        Api::Completion => format!("cmpl-{seed:016x}"),
    }
}

fn unix_seconds() -> u64 {
    std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_secs())
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(State(app): State<Arc<App>>, request: Request) -> Response {
    let parsed: ChatBody = match read(&app, request).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let mut messages = Vec::with_capacity(parsed.messages.len());
    for m in &parsed.messages {
        let content = match &m.content {
            None => String::new(),
            Some(Content::Text(t)) => t.clone(),
            Some(Content::Parts(parts)) => {
                if let Some(p) = parts.iter().find(|p| p.kind != "text") {
                    return bad(
                        format!("content parts of type `{}` are not supported", p.kind),
                        "messages",
                    )
                    .into_response();
                }
                parts.iter().filter_map(|p| p.text.as_deref()).collect()
            }
        };
        messages.push(Message::new(m.role.clone(), content));
    }
    if messages.is_empty() {
        return bad("messages must not be empty", "messages").into_response();
    }
    let logprobs = match (parsed.logprobs, parsed.top_logprobs) {
        (_, Some(n)) if !(0..=20).contains(&n) => {
            return bad(
                format!("top_logprobs must be between 0 and 20, not {n}"),
                "top_logprobs",
            )
            .into_response();
        }
        (Some(true), n) => Some(n.unwrap_or(0) as usize),
        _ => None,
    };
    let prepared = prepare(
        &app,
        Api::Chat,
        &parsed.common,
        |lm| lm.chat_prompt(&messages).map_err(|e| bad(e, "messages")),
        logprobs,
    );
    match prepared {
        Ok(p) => run(app, p).await,
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/completions`.
pub(crate) async fn completions(State(app): State<Arc<App>>, request: Request) -> Response {
    let parsed: CompletionBody = match read(&app, request).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let text = match &parsed.prompt {
        Prompt::One(t) => t.clone(),
        Prompt::Many(v) if v.len() == 1 => v[0].clone(),
        Prompt::Many(v) => {
            return bad(
                format!("prompt must be one string, not a list of {}", v.len()),
                "prompt",
            )
            .into_response();
        }
    };
    let logprobs = match parsed.logprobs {
        Some(n) if !(0..=5).contains(&n) => {
            return bad(
                format!("logprobs must be between 0 and 5, not {n}"),
                "logprobs",
            )
            .into_response();
        }
        n => n.map(|n| n as usize),
    };
    // OpenAI's default for the legacy route is 16 tokens.
    let mut common = parsed.common;
    if common.max_tokens.is_none() && common.max_completion_tokens.is_none() {
        common.max_tokens = Some(16);
    }
    let prepared = prepare(
        &app,
        Api::Completion,
        &common,
        |lm| lm.raw_prompt(&text).map_err(|e| bad(e, "prompt")),
        logprobs,
    );
    match prepared {
        Ok(p) => run(app, p).await,
        Err(e) => e.into_response(),
    }
}

/// Reads and parses a body within the request time limit (the route's own limit is the
/// longer generation limit).
async fn read<T: for<'de> Deserialize<'de>>(app: &App, request: Request) -> Result<T, ApiError> {
    match tokio::time::timeout(
        app.limits.request_timeout,
        read_body(request, app.limits.max_body_bytes),
    )
    .await
    {
        Ok(read) => parse(&read?),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the body was not complete within {:?}",
                app.limits.request_timeout
            ),
        )),
    }
}

/// Counts a generation in flight while it lives.
struct InFlight(Arc<crate::Metrics>);

impl InFlight {
    fn new(metrics: &Arc<crate::Metrics>) -> InFlight {
        metrics.generation_started();
        InFlight(Arc::clone(metrics))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.generation_ended();
    }
}

/// A generation's slot under `--max-generations` and its in-flight count, given back
/// when dropped: as soon as the generation ends, before its last chunks are sent.
struct Slot(
    #[allow(dead_code)] tokio::sync::OwnedSemaphorePermit,
    #[allow(dead_code)] InFlight,
);

/// Runs a generation on a thread of its own. Not on tokio's blocking pool: a generation
/// holds its thread for its whole life, and that pool (a few threads per core) is also
/// what model loads, store reads and the model list wait for.
fn generation_thread(f: impl FnOnce() + Send + 'static) -> Result<(), String> {
    std::thread::Builder::new()
        .name("atelier-generate".into())
        .spawn(f)
        .map(|_| ())
        .map_err(|e| format!("no thread for the generation: {e}"))
}

/// Sets a flag when dropped: a handler future dropped with its connection stops its
/// generation.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

/// Takes a generation slot and runs the generation, whole or streamed.
async fn run(app: Arc<App>, p: Prepared) -> Response {
    let Ok(permit) = Arc::clone(&app.generations).try_acquire_owned() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!(
                "{} generations are running, the limit; try again shortly",
                app.limits.max_generations
            ),
        )
        .into_response();
    };
    let in_flight = InFlight::new(&app.metrics);
    let id = response_id(p.api);
    let created = unix_seconds();
    let deadline = Instant::now() + app.limits.generation_timeout;
    let slot = Slot(permit, in_flight);
    if p.stream {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(STREAM_BUFFER);
        let app2 = Arc::clone(&app);
        let started =
            generation_thread(move || stream(&app2, &p, &id, created, deadline, slot, &tx));
        if let Err(e) = started {
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", e).into_response();
        }
        let mut response = Response::new(Body::new(SseBody { rx }));
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return response;
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(Arc::clone(&cancel));
    let app2 = Arc::clone(&app);
    let (done, answer) = tokio::sync::oneshot::channel();
    let started = generation_thread(move || {
        let mut timed_out = false;
        let result = p.live.lm().expect("checked").generate(&p.request, |_| {
            timed_out = Instant::now() >= deadline;
            !timed_out && !cancel.load(Relaxed)
        });
        drop(slot);
        if let Ok(g) = &result {
            record(&app2, &p.live, g);
        }
        let _ = done.send((p, result, timed_out));
    });
    if let Err(e) = started {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", e).into_response();
    }
    let Ok((p, result, timed_out)) = answer.await else {
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the generation thread ended without an answer",
        )
        .into_response();
    };
    let generated = match result {
        Ok(g) => g,
        Err(e) => return lm_error(e).into_response(),
    };
    let lm = p.live.lm().expect("checked");
    let finish = finish_reason(generated.finish, timed_out);
    let usage = usage(&generated);
    let body = match p.api {
        Api::Chat => json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": p.live.name,
            "system_fingerprint": p.live.id,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": generated.text},
                "logprobs": p.request.logprobs.map(|_| chat_logprobs(lm, &generated.logprobs)),
                "finish_reason": finish,
            }],
            "usage": usage,
        }),
        Api::Completion => json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": p.live.name,
            "system_fingerprint": p.live.id,
            "choices": [{
                "index": 0,
                "text": generated.text,
                "logprobs": p.request.logprobs.map(|_| completion_logprobs(lm, &generated.logprobs)),
                "finish_reason": finish,
            }],
            "usage": usage,
        }),
    };
    json_bytes(StatusCode::OK, body.to_string().into_bytes())
}

fn finish_reason(finish: Finish, timed_out: bool) -> &'static str {
    if timed_out { "length" } else { finish.reason() }
}

fn usage(g: &Generated) -> Value {
    json!({
        "prompt_tokens": g.prompt_tokens,
        "completion_tokens": g.tokens.len(),
        "total_tokens": g.prompt_tokens + g.tokens.len(),
    })
}

fn lm_error(e: LmError) -> ApiError {
    match e {
        LmError::Context { .. } => {
            ApiError::new(StatusCode::BAD_REQUEST, "context_length_exceeded", e)
        }
        LmError::Input(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_value", e),
        e => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "generation_failed", e),
    }
}

/// Counts a finished generation in the metrics and the version's usage.
fn record(app: &App, live: &Loaded, g: &Generated) {
    let n = g.tokens.len();
    let tpot = (n > 1).then(|| g.timing.decode_seconds / (n - 1) as f64);
    app.metrics.generated(
        g.prompt_tokens as u64,
        n as u64,
        (n > 0).then_some(g.timing.first_token_seconds),
        tpot,
    );
    app.metrics
        .usage()
        .count(&live.id, g.prompt_tokens as u64, n as u64);
}

fn token_json(lm: &atelier_lm::Lm, token: u32, logprob: f32) -> Value {
    let bytes = lm.tokenizer.piece(token);
    json!({
        "token": String::from_utf8_lossy(bytes),
        "logprob": logprob,
        "bytes": bytes,
    })
}

/// Chat `logprobs`: `{"content": [{token, logprob, bytes, top_logprobs}]}`.
fn chat_logprobs(lm: &atelier_lm::Lm, choices: &[Choice]) -> Value {
    let content: Vec<Value> = choices
        .iter()
        .map(|c| {
            let mut v = token_json(lm, c.chosen.token, c.chosen.logprob);
            v["top_logprobs"] = c
                .top
                .iter()
                .map(|t| token_json(lm, t.token, t.logprob))
                .collect();
            v
        })
        .collect();
    json!({ "content": content })
}

/// The legacy route's `logprobs`: parallel lists of tokens, log-probabilities and
/// the top alternatives.
fn completion_logprobs(lm: &atelier_lm::Lm, choices: &[Choice]) -> Value {
    let text = |t: u32| String::from_utf8_lossy(lm.tokenizer.piece(t)).into_owned();
    let tokens: Vec<String> = choices.iter().map(|c| text(c.chosen.token)).collect();
    let logprobs: Vec<f32> = choices.iter().map(|c| c.chosen.logprob).collect();
    let top: Vec<serde_json::Map<String, Value>> = choices
        .iter()
        .map(|c| {
            c.top
                .iter()
                .map(|t| (text(t.token), json!(t.logprob)))
                .collect()
        })
        .collect();
    json!({ "tokens": tokens, "token_logprobs": logprobs, "top_logprobs": top })
}

/// One server-sent event.
fn event(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// Generates a streamed answer, sending its chunks; stops when the client is gone.
fn stream(
    app: &App,
    p: &Prepared,
    id: &str,
    created: u64,
    deadline: Instant,
    slot: Slot,
    tx: &tokio::sync::mpsc::Sender<Bytes>,
) {
    let lm = p.live.lm().expect("checked");
    let usage_field = p.include_usage.then_some(Value::Null);
    let chunk = |choice: Value| {
        let mut v = match p.api {
            Api::Chat => json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": p.live.name,
                "system_fingerprint": p.live.id,
                "choices": [choice],
            }),
            Api::Completion => json!({
                "id": id,
                "object": "text_completion",
                "created": created,
                "model": p.live.name,
                "system_fingerprint": p.live.id,
                "choices": [choice],
            }),
        };
        if let Some(u) = &usage_field {
            v["usage"] = u.clone();
        }
        v
    };
    let send = |bytes: Bytes| tx.blocking_send(bytes).is_ok();
    if p.api == Api::Chat
        && !send(event(&chunk(json!({
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": null,
            "finish_reason": null,
        }))))
    {
        return;
    }
    let mut timed_out = false;
    let result = lm.generate(&p.request, |delta: Delta<'_>| {
        if Instant::now() >= deadline {
            timed_out = true;
            return false;
        }
        if delta.text.is_empty() && delta.logprobs.is_none() {
            return true;
        }
        let logprobs = delta.logprobs.map(|c| match p.api {
            Api::Chat => chat_logprobs(lm, std::slice::from_ref(c)),
            Api::Completion => completion_logprobs(lm, std::slice::from_ref(c)),
        });
        let choice = match p.api {
            Api::Chat => json!({
                "index": 0,
                "delta": {"content": delta.text},
                "logprobs": logprobs,
                "finish_reason": null,
            }),
            Api::Completion => json!({
                "index": 0,
                "text": delta.text,
                "logprobs": logprobs,
                "finish_reason": null,
            }),
        };
        send(event(&chunk(choice)))
    });
    drop(slot);
    let generated = match result {
        Ok(g) => g,
        Err(e) => {
            let e = lm_error(e);
            send(Bytes::from(format!("data: {}\n\n", e.body())));
            send(Bytes::from_static(b"data: [DONE]\n\n"));
            return;
        }
    };
    record(app, &p.live, &generated);
    if generated.finish == Finish::Cancelled && !timed_out {
        // The client went away.
        return;
    }
    let finish = finish_reason(generated.finish, timed_out);
    let last = match p.api {
        Api::Chat => json!({"index": 0, "delta": {}, "logprobs": null, "finish_reason": finish}),
        Api::Completion => {
            json!({"index": 0, "text": "", "logprobs": null, "finish_reason": finish})
        }
    };
    if !send(event(&chunk(last))) {
        return;
    }
    if p.include_usage {
        let mut u = chunk(Value::Null);
        u["choices"] = json!([]);
        u["usage"] = usage(&generated);
        if !send(event(&u)) {
            return;
        }
    }
    send(Bytes::from_static(b"data: [DONE]\n\n"));
}

/// A response body fed by a channel: dropping it (the client went away) closes the
/// channel, which stops the generation.
struct SseBody {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}
