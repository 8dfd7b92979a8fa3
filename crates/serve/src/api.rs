//! The routes: classification, the model list, bills, admin, probes, metrics and the page.
//!
//! Every error is JSON, `{"error": {"code": "...", "message": "..."}}`, with a status
//! that says whose fault it is: 400 for a body that is not JSON (or not UTF-8), 422 for
//! JSON of the wrong shape or values, 413 for anything over a limit, 401 for a missing or
//! wrong admin token, 403 when admin routes are disabled, 404 for an unknown version, 409
//! when there is nothing to roll back to, 503 when the server is overloaded or draining.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::metrics::Metrics;
use crate::models::{Loaded, ModelError, Models, Swapped, check_name};
use crate::{Limits, log};

/// Bodies larger than this are parsed and predicted on the blocking pool, so that a
/// big batch does not hold up the small requests sharing its thread.
const INLINE_BODY_BYTES: usize = 32 * 1024;

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct App {
    pub models: Arc<Models>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    /// BLAKE3 of the admin token: comparing two hashes is constant-time
    /// (`blake3::Hash`'s equality is), and hashing first hides the token's length too.
    pub admin: Option<blake3::Hash>,
    /// Slots for language-model generations (`Limits::max_generations`).
    pub generations: Arc<tokio::sync::Semaphore>,
    pub draining: AtomicBool,
    pub log: bool,
}

/// The client's address, put in each request's extensions by the connection loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub SocketAddr);

/// The router of every route.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/v1/classify", post(classify))
        .route(
            "/v1/chat/completions",
            post(crate::openai::chat_completions),
        )
        .route("/v1/completions", post(crate::openai::completions))
        .route("/v1/models", get(models))
        .route("/v1/models/{version}/bill", get(bill))
        .route("/v1/admin/activate", post(activate))
        .route("/v1/admin/rollback", post(rollback))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

/// An error answer: a status, a machine-readable code and a message, sent in OpenAI's
/// shape, `{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    code: &'static str,
    message: String,
    /// The request field at fault, if one is.
    pub(crate) param: Option<&'static str>,
    /// A `WWW-Authenticate` challenge, for 401.
    challenge: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl std::fmt::Display,
    ) -> Self {
        ApiError {
            status,
            code,
            message: message.to_string(),
            param: None,
            challenge: None,
        }
    }

    /// The same error, naming the request field at fault.
    pub(crate) fn param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    /// OpenAI's error type for the status.
    fn kind(&self) -> &'static str {
        match self.status.as_u16() {
            401 | 403 => "authentication_error",
            429 | 503 => "overloaded_error",
            s if s >= 500 => "server_error",
            _ => "invalid_request_error",
        }
    }

    /// The error as JSON text (also sent inside a stream).
    pub(crate) fn body(&self) -> String {
        serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind(),
                "param": self.param,
                "code": self.code,
            }
        })
        .to_string()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json_bytes(self.status, self.body().into_bytes());
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// A JSON error answer.
pub(crate) fn error(
    status: StatusCode,
    code: &'static str,
    message: impl std::fmt::Display,
) -> Response {
    ApiError::new(status, code, message).into_response()
}

pub(crate) fn json(status: StatusCode, value: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(value).expect("answers serialize");
    json_bytes(status, bytes)
}

pub(crate) fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// Reads a body up to `limit` bytes: 413 above it (at once when `Content-Length` says
/// so, without reading), 400 when the client breaks off.
pub(crate) async fn read_body(request: Request, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is over the limit of {limit} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "body_unreadable",
            format!("the body could not be read: {e}"),
        )),
    }
}

/// Parses a JSON body: 400 when it is not JSON (or not UTF-8), 422 when it is JSON of
/// the wrong shape.
fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", e)
        }
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not JSON in UTF-8: {e}"),
        ),
    })
}

/// `POST /v1/classify` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassifyRequest<'a> {
    /// One text.
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    /// Or several.
    #[serde(borrow, default)]
    texts: Option<Vec<Cow<'a, str>>>,
    /// Labels per text, most probable first (default 1; more than the model has
    /// means all of them).
    #[serde(default)]
    k: Option<usize>,
    /// Leave out labels below this probability (default 0).
    #[serde(default)]
    threshold: Option<f32>,
}

#[derive(Serialize)]
struct Labelled<'a> {
    label: &'a str,
    prob: f32,
}

#[derive(Serialize)]
struct One<'a> {
    model: &'a str,
    version: &'a str,
    predictions: Vec<Labelled<'a>>,
}

#[derive(Serialize)]
struct Predictions<'a> {
    predictions: Vec<Labelled<'a>>,
}

#[derive(Serialize)]
struct Many<'a> {
    model: &'a str,
    version: &'a str,
    results: Vec<Predictions<'a>>,
}

async fn classify(State(app): State<Arc<App>>, request: Request) -> Result<Response, ApiError> {
    let bytes = read_body(request, app.limits.max_body_bytes).await?;
    // The model answering this request, whatever swaps happen meanwhile.
    let live = app.models.live();
    let limits = app.limits.clone();
    let (response, texts) = if bytes.len() <= INLINE_BODY_BYTES {
        classify_bytes(&live, &limits, &bytes)
    } else {
        match tokio::task::spawn_blocking(move || classify_bytes(&live, &limits, &bytes)).await {
            Ok(done) => done,
            Err(e) => (error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e), 0),
        }
    };
    app.metrics.add_texts(texts);
    Ok(response)
}

/// Parses, checks and answers one classify body; also returns the texts classified.
fn classify_bytes(live: &Loaded, limits: &Limits, bytes: &[u8]) -> (Response, u64) {
    let request: ClassifyRequest<'_> = match parse(bytes) {
        Ok(r) => r,
        Err(e) => return (e.into_response(), 0),
    };
    let invalid = |message: String| {
        (
            error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message),
            0,
        )
    };
    let Some(classifier) = live.classifier() else {
        return (
            error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "wrong_model_kind",
                format!(
                    "{} ({}) is a language model: use POST /v1/chat/completions or \
                     /v1/completions",
                    live.name, live.id
                ),
            ),
            0,
        );
    };
    let k = request.k.unwrap_or(1);
    if k == 0 {
        return invalid("`k` must be at least 1".into());
    }
    let threshold = request.threshold.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&threshold) {
        return invalid("`threshold` must be between 0 and 1".into());
    }
    let (texts, single) = match (&request.text, &request.texts) {
        (Some(text), None) => (std::slice::from_ref(text), true),
        (None, Some(texts)) => (texts.as_slice(), false),
        _ => return invalid("give exactly one of `text` (a string) or `texts` (a list)".into()),
    };
    if texts.len() > limits.max_texts {
        return (
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_texts",
                format!(
                    "{} texts in one request; the limit is {}",
                    texts.len(),
                    limits.max_texts
                ),
            ),
            0,
        );
    }
    // How an error names a text of the request.
    let which = |i: usize| {
        if single {
            "the text".to_owned()
        } else {
            format!("text {i}")
        }
    };
    if let Some((i, text)) = texts
        .iter()
        .enumerate()
        .find(|(_, t)| t.len() > limits.max_text_bytes)
    {
        let which = which(i);
        return (
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text_too_long",
                format!(
                    "{which} is {} bytes; the limit is {}",
                    text.len(),
                    limits.max_text_bytes
                ),
            ),
            0,
        );
    }
    // A text without a word would get the model's prior as if it were an answer.
    if let Some(i) = texts.iter().position(|t| t.trim().is_empty()) {
        let which = which(i);
        return (
            error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "empty_text",
                format!("{which} is empty: there is nothing to classify"),
            ),
            0,
        );
    }
    let mut predictor = classifier.model.predictor();
    let mut results = Vec::with_capacity(texts.len());
    let mut line = String::new();
    for text in texts {
        // The text as the trainer prepared the training text: one line (fastText would
        // stop at a newline), lowercased and punctuation set apart if the model's were.
        classifier.preprocess.line_into(text, &mut line);
        let predictions = predictor
            .predict(&line, k, threshold)
            .iter()
            .map(|p| Labelled {
                label: &classifier.labels[p.label],
                prob: p.prob,
            })
            .collect();
        results.push(Predictions { predictions });
    }
    let n = results.len() as u64;
    let body = if single {
        let predictions = results.pop().map(|p| p.predictions).unwrap_or_default();
        serde_json::to_vec(&One {
            model: &live.name,
            version: &live.id,
            predictions,
        })
    } else {
        serde_json::to_vec(&Many {
            model: &live.name,
            version: &live.id,
            results,
        })
    };
    (
        json_bytes(StatusCode::OK, body.expect("answers serialize")),
        n,
    )
}

/// One model version in `GET /v1/models`.
#[derive(Serialize)]
struct VersionInfo {
    version: String,
    name: String,
    created: String,
    trained_on: Vec<String>,
    aliases: Vec<String>,
    live: bool,
    file: Option<FileInfo>,
    has_bill: bool,
    metrics: serde_json::Value,
}

#[derive(Serialize)]
struct FileInfo {
    path: String,
    bytes: u64,
}

#[derive(Serialize)]
struct LiveInfo<'a> {
    version: &'a str,
    name: &'a str,
    /// `classifier` or `lm`.
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preprocess: Option<PreprocessInfo>,
    /// A language model's architecture, size, quantization and context.
    #[serde(skip_serializing_if = "Option::is_none")]
    lm: Option<&'a atelier_lm::ModelInfo>,
    loaded_unix: f64,
    load_seconds: f64,
}

/// One entry of OpenAI's model list: the name clients put in `model`.
#[derive(Serialize)]
struct OpenAiModel<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

#[derive(Serialize)]
struct PreprocessInfo {
    lowercase: bool,
    split_punctuation: bool,
}

#[derive(Serialize)]
struct ModelsAnswer<'a> {
    /// OpenAI's list shape (`object`, `data`), for clients' `models.list()`.
    object: &'static str,
    data: Vec<OpenAiModel<'a>>,
    live: LiveInfo<'a>,
    previous: Option<String>,
    alias: Option<&'a str>,
    admin: bool,
    models: Vec<VersionInfo>,
}

async fn models(State(app): State<Arc<App>>) -> Response {
    let live = app.models.live();
    let models = Arc::clone(&app.models);
    let live_id = live.id.clone();
    let listed = tokio::task::spawn_blocking(move || -> Result<Vec<VersionInfo>, String> {
        let store = models.store();
        let versions = store.versions().map_err(|e| e.to_string())?;
        let aliases = store.aliases().map_err(|e| e.to_string())?;
        Ok(versions
            .into_iter()
            .rev()
            .filter(|m| models.serves(m))
            .map(|m| VersionInfo {
                aliases: aliases
                    .iter()
                    .filter(|(_, v)| **v == m.id)
                    .map(|(a, _)| a.clone())
                    .collect(),
                live: m.id == live_id,
                file: m.shards.first().map(|f| FileInfo {
                    path: f.path.clone(),
                    bytes: f.bytes,
                }),
                has_bill: m.files.iter().any(|f| f.path == "bill.json"),
                version: m.id,
                name: m.name,
                created: m.created,
                trained_on: m.trained_on,
                metrics: m.metrics,
            })
            .collect())
    })
    .await;
    let listed = match listed {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, "store_error", e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e),
    };
    let classifier = live.classifier();
    json(
        StatusCode::OK,
        &ModelsAnswer {
            object: "list",
            data: vec![OpenAiModel {
                id: &live.name,
                object: "model",
                created: live.loaded_unix as u64,
                owned_by: "atelier",
            }],
            live: LiveInfo {
                version: &live.id,
                name: &live.name,
                kind: live.kind(),
                labels: classifier.map(|c| c.labels.as_slice()),
                preprocess: classifier.map(|c| PreprocessInfo {
                    lowercase: c.preprocess.lowercase,
                    split_punctuation: c.preprocess.split_punctuation,
                }),
                lm: live.lm().map(|lm| &lm.info),
                loaded_unix: live.loaded_unix,
                load_seconds: live.load_seconds,
            },
            previous: app.models.previous().await,
            alias: app.models.choice().alias.as_deref(),
            admin: app.admin.is_some(),
            models: listed,
        },
    )
}

/// `GET /v1/models/{version}/bill`: the bill (`bill.json`) a model version carries.
async fn bill(
    State(app): State<Arc<App>>,
    Path(version): Path<String>,
) -> Result<Response, ApiError> {
    check_name(&version).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code(), e))?;
    let models = Arc::clone(&app.models);
    let metrics = Arc::clone(&app.metrics);
    let found = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let store = models.store();
        let manifest = store
            .resolve(&version)
            .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "unknown_version", e))?;
        if !models.serves(&manifest) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_a_model",
                format!("{} is not a model this server serves", manifest.id),
            ));
        }
        if manifest.kind == atelier_store::Kind::Lm {
            // A language model's bill: its training bill if it has one, and what serving
            // it here has cost so far.
            let training = manifest
                .files
                .iter()
                .find(|f| f.path == "bill.json")
                .and_then(|f| std::fs::read(store.version_dir(&manifest.id).join(&f.path)).ok())
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            let answer = serde_json::json!({
                "version": manifest.id,
                "name": manifest.name,
                "kind": "lm",
                "training": training,
                "serving": metrics.usage().report(&manifest.id),
            });
            return Ok(answer.to_string().into_bytes());
        }
        let no_bill = || {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_bill",
                format!("{} carries no bill.json", manifest.id),
            )
        };
        let entry = manifest
            .files
            .iter()
            .find(|f| f.path == "bill.json")
            .ok_or_else(no_bill)?;
        let path = store.version_dir(&manifest.id).join(&entry.path);
        let bytes = std::fs::read(&path).map_err(|_| no_bill())?;
        // Checked as JSON, so that the page never receives anything else.
        serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "bad_bill",
                format!("{}'s bill.json is not JSON: {e}", manifest.id),
            )
        })?;
        Ok(bytes)
    })
    .await;
    match found {
        Ok(found) => found.map(|bytes| json_bytes(StatusCode::OK, bytes)),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e,
        )),
    }
}

/// Checks the admin bearer token.
fn authorize(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = app.admin else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "admin routes are disabled: start the server with ATELIER_ADMIN_TOKEN set or \
             --admin-token-file",
        ));
    };
    let unauthorized = |code: &'static str, message: &str, challenge: &'static str| ApiError {
        challenge: Some(challenge),
        ..ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let Some(given) = given else {
        return Err(unauthorized(
            "missing_token",
            "admin routes need `Authorization: Bearer <token>`",
            "Bearer realm=\"atelier\"",
        ));
    };
    // Constant-time: `blake3::Hash`'s `==` compares in constant time.
    if blake3::hash(given.as_bytes()) == expected {
        Ok(())
    } else {
        Err(unauthorized(
            "bad_token",
            "the admin token is wrong",
            "Bearer realm=\"atelier\", error=\"invalid_token\"",
        ))
    }
}

fn peer_of(request: &Request) -> String {
    request
        .extensions()
        .get::<Peer>()
        .map_or_else(|| "?".to_owned(), |p| p.0.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateRequest {
    /// A version id (`v7`) or alias.
    version: String,
}

#[derive(Serialize)]
struct SwapAnswer<'a> {
    live: &'a str,
    previous: &'a str,
    changed: bool,
}

fn model_error(e: &ModelError) -> ApiError {
    let status = match e {
        ModelError::Unknown(_) => StatusCode::NOT_FOUND,
        ModelError::BadName(_) => StatusCode::BAD_REQUEST,
        ModelError::NotAModel { .. } | ModelError::Load { .. } | ModelError::Warm { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        ModelError::NoPrevious => StatusCode::CONFLICT,
        ModelError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.code(), e)
}

async fn activate(State(app): State<Arc<App>>, request: Request) -> Result<Response, ApiError> {
    authorize(&app, request.headers())?;
    let peer = peer_of(&request);
    let bytes = read_body(request, app.limits.max_body_bytes).await?;
    let body: ActivateRequest = parse(&bytes)?;
    if app.log {
        log(format_args!(
            "admin: activate {} (from {peer})",
            body.version
        ));
    }
    app.models
        .activate(body.version)
        .await
        .map(|s| swap_answer(&s))
        .map_err(|e| model_error(&e))
}

fn swap_answer(s: &Swapped) -> Response {
    json(
        StatusCode::OK,
        &SwapAnswer {
            live: &s.to,
            previous: &s.from,
            changed: s.changed,
        },
    )
}

async fn rollback(State(app): State<Arc<App>>, request: Request) -> Result<Response, ApiError> {
    authorize(&app, request.headers())?;
    if app.log {
        log(format_args!("admin: rollback (from {})", peer_of(&request)));
    }
    app.models
        .rollback()
        .await
        .map(|s| swap_answer(&s))
        .map_err(|e| model_error(&e))
}

async fn healthz() -> Response {
    json(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

/// Ready while a model that answered its warm-up is live and the server is not
/// draining (a server only starts listening once its first model is warm).
async fn readyz(State(app): State<Arc<App>>) -> Response {
    let live = app.models.live();
    if app.draining.load(Relaxed) {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"ready": false, "reason": "draining", "version": live.id}),
        );
    }
    json(
        StatusCode::OK,
        &serde_json::json!({"ready": true, "version": live.id, "name": live.name}),
    )
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

/// The page: one file, embedded in the binary; no CDN, no external request.
const PAGE: &str = include_str!("page.html");

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
                 frame-ancestors 'none'",
            ),
        ],
        PAGE,
    )
        .into_response()
}
