//! The live model and how it changes: loading and warming a version, swapping it in,
//! rolling back, and following the store's alias.
//!
//! The live model is an `Arc<Loaded>` in an [`ArcSwap`]: a request takes its own `Arc`
//! when it starts and predicts with it to the end, so a swap never changes the model
//! under a request in flight, and the old model is freed when its last request ends.
//! A new version is loaded, checked against the hash in its manifest and warmed up
//! (predictions on a few texts must come back well formed) before it is swapped in; a
//! version that fails any of that is refused, counted and logged, and the old model
//! stays live. Swaps are serialized by one lock and run in their own task, so a client
//! that hangs up mid-swap cannot leave one half done.

use arc_swap::ArcSwap;
use atelier_fasttext::{LABEL_PREFIX, Model, Preprocess};
use atelier_lm::{Lm, LoadOptions};
use atelier_store::{Hash, Kind, Manifest, Store, StoreError};
use std::path::{Component, Path};
use std::sync::Arc;
use std::time::Instant;

use crate::log;
use crate::metrics::{Metrics, SwapFailure, Trigger, unix_now};
use crate::{ModelChoice, ServeError};

/// The previous versions remembered for rollback.
const HISTORY: usize = 64;

/// A classifier: a fastText model and how its texts are prepared.
#[derive(Debug)]
pub struct Classifier {
    /// The model.
    pub model: Model,
    /// Its labels without fastText's `__label__` prefix, in the model's order.
    pub labels: Vec<String>,
    /// How a request's text becomes the line the model reads: what the trainer did to
    /// the training text, as the manifest records it (`settings.preprocess`). Versions
    /// that record none get their whitespace joined into one line and nothing else.
    pub preprocess: Preprocess,
}

/// What a loaded version runs.
#[derive(Debug)]
pub enum Engine {
    /// A text classifier (`kind = "model"` versions).
    Classifier(Box<Classifier>),
    /// A language model (`kind = "lm"` versions).
    Lm(Box<Lm>),
}

/// A model version loaded, verified and warmed up.
#[derive(Debug)]
pub struct Loaded {
    /// Its version id (`v7`).
    pub id: String,
    /// The model's name.
    pub name: String,
    /// The model.
    pub engine: Engine,
    /// When it went live, seconds since 1970.
    pub loaded_unix: f64,
    /// How long loading, verifying and warming took, in seconds.
    pub load_seconds: f64,
}

impl Loaded {
    /// The classifier, if this version is one.
    pub fn classifier(&self) -> Option<&Classifier> {
        match &self.engine {
            Engine::Classifier(c) => Some(c),
            Engine::Lm(_) => None,
        }
    }

    /// The language model, if this version is one.
    pub fn lm(&self) -> Option<&Lm> {
        match &self.engine {
            Engine::Lm(lm) => Some(lm),
            Engine::Classifier(_) => None,
        }
    }

    /// `classifier` or `lm`.
    pub fn kind(&self) -> &'static str {
        match &self.engine {
            Engine::Classifier(_) => "classifier",
            Engine::Lm(_) => "lm",
        }
    }
}

/// Why a version could not be made live.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No version or alias by that name.
    #[error("{0}")]
    Unknown(String),
    /// The name is not a version id or an alias.
    #[error("`{0}` is not a version or alias name (letters, digits, `.`, `-`, `_`)")]
    BadName(String),
    /// The version is not a model this server serves.
    #[error("{version}: {what}")]
    NotAModel {
        /// The version.
        version: String,
        /// What it is instead.
        what: String,
    },
    /// The model file is missing, altered, or not a model.
    #[error("{version} failed to load: {message}")]
    Load {
        /// The version.
        version: String,
        /// Why.
        message: String,
    },
    /// The model loaded but its warm-up predictions failed.
    #[error("{version} failed its warm-up: {message}")]
    Warm {
        /// The version.
        version: String,
        /// Why.
        message: String,
    },
    /// The store could not be read or the alias moved.
    #[error("the store: {0}")]
    Store(String),
    /// Rollback with nothing to go back to.
    #[error("nothing to roll back to: no earlier model version was live or exists")]
    NoPrevious,
}

impl ModelError {
    /// The swap failure this error counts as, if it is one.
    fn failure(&self) -> Option<SwapFailure> {
        match self {
            ModelError::NotAModel { .. } => Some(SwapFailure::NotAModel),
            ModelError::Load { .. } => Some(SwapFailure::Load),
            ModelError::Warm { .. } => Some(SwapFailure::Warm),
            ModelError::Store(_) => Some(SwapFailure::Store),
            _ => None,
        }
    }

    /// A short machine-readable code for API errors.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::Unknown(_) => "unknown_version",
            ModelError::BadName(_) => "bad_version_name",
            ModelError::NotAModel { .. } => "not_a_model",
            ModelError::Load { .. } => "model_load_failed",
            ModelError::Warm { .. } => "model_warmup_failed",
            ModelError::Store(_) => "store_error",
            ModelError::NoPrevious => "no_previous_version",
        }
    }
}

fn store_error(e: StoreError) -> ModelError {
    match e {
        StoreError::Unknown { .. } => ModelError::Unknown(e.to_string()),
        e => ModelError::Store(e.to_string()),
    }
}

/// Checks a version name from a request: an id or an alias, never a path.
pub(crate) fn check_name(name: &str) -> Result<(), ModelError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(ModelError::BadName(name.chars().take(64).collect()))
    }
}

/// Whether a manifest is a model this server may serve.
fn check_model(manifest: &Manifest, choice: &ModelChoice) -> Result<(), ModelError> {
    if manifest.kind == Kind::Dataset {
        return Err(ModelError::NotAModel {
            version: manifest.id.clone(),
            what: format!("is dataset `{}`, not a model", manifest.name),
        });
    }
    if let Some(name) = &choice.name
        && manifest.name != *name
    {
        return Err(ModelError::NotAModel {
            version: manifest.id.clone(),
            what: format!("is model `{}`; this server serves `{name}`", manifest.name),
        });
    }
    Ok(())
}

/// Texts the warm-up predicts: empty, plain, and non-ASCII with every kind of
/// whitespace fastText splits on.
const WARM_UP: [&str; 3] = [
    "",
    "warm up",
    "Démarrage à chaud: 日本語のテキスト\tand\u{b}some\u{c}more words 1234",
];

/// Loads a model version from the store, checks it against its hash and warms it up.
/// Blocking.
pub(crate) fn load_manifest(
    store: &Store,
    choice: &ModelChoice,
    manifest: &Manifest,
) -> Result<Loaded, ModelError> {
    check_model(manifest, choice)?;
    let started = Instant::now();
    let id = manifest.id.clone();
    let load_err = |message: String| ModelError::Load {
        version: id.clone(),
        message,
    };
    let shard = manifest
        .shards
        .first()
        .ok_or_else(|| load_err("the version has no model file".into()))?;
    let plain = Path::new(&shard.path)
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if !plain || shard.path.is_empty() {
        return Err(load_err(format!(
            "`{}` is not a file inside the version",
            shard.path
        )));
    }
    let path = store.version_dir(&manifest.id).join(&shard.path);
    let hash = Hash::of_file(&path).map_err(|e| load_err(format!("{}: {e}", shard.path)))?;
    if hash != shard.hash {
        return Err(load_err(format!(
            "{} has content hash {} but its manifest says {}",
            shard.path,
            hash.short(),
            shard.hash.short()
        )));
    }
    let warm_err = |message| ModelError::Warm {
        version: id.clone(),
        message,
    };
    let engine = if manifest.kind == Kind::Lm {
        let options = LoadOptions {
            requantize: choice.lm.requantize,
            gpu: choice.lm.gpu,
            tokenizer: None,
        };
        let lm = catch(|| Lm::load(&path, &options))
            .map_err(|panic| load_err(format!("the model reader failed: {panic}")))?
            .map_err(|e| load_err(e.to_string()))?;
        catch(|| warm_up_lm(&lm))
            .unwrap_or_else(|panic| Err(format!("generation failed: {panic}")))
            .map_err(warm_err)?;
        Engine::Lm(Box::new(lm))
    } else {
        let model = catch(|| Model::load(&path))
            .map_err(|panic| load_err(format!("the model reader failed: {panic}")))?
            .map_err(|e| load_err(e.to_string()))?;
        let labels = labels_of(&model);
        let preprocess = preprocess_of(manifest);
        catch(|| warm_up(&model, &preprocess))
            .unwrap_or_else(|panic| Err(format!("prediction failed: {panic}")))
            .map_err(warm_err)?;
        Engine::Classifier(Box::new(Classifier {
            model,
            labels,
            preprocess,
        }))
    };
    Ok(Loaded {
        id,
        name: manifest.name.clone(),
        engine,
        loaded_unix: unix_now(),
        load_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Reads a short prompt as requests are read; the next-token logits must be finite.
fn warm_up_lm(lm: &Lm) -> Result<(), String> {
    let prompt = lm
        .chat_prompt(&[atelier_lm::Message::new("user", "Hello")])
        .map_err(|e| e.to_string())?;
    let mut session = lm.session();
    let logits = session.feed(&prompt, false).map_err(|e| e.to_string())?;
    let row = atelier_lm::model::rows(&logits)
        .map_err(|e| e.to_string())?
        .pop()
        .unwrap_or_default();
    if row.len() != lm.info.vocab {
        return Err(format!(
            "{} logits for a vocabulary of {}",
            row.len(),
            lm.info.vocab
        ));
    }
    if let Some(bad) = row.iter().find(|x| !x.is_finite()) {
        return Err(format!("the next-token logits are not finite ({bad})"));
    }
    Ok(())
}

/// The model's labels without fastText's `__label__` prefix (a model file does not
/// record the prefix it was trained with; labels without this one are kept whole).
fn labels_of(model: &Model) -> Vec<String> {
    model
        .labels()
        .iter()
        .map(|l| l.strip_prefix(LABEL_PREFIX).unwrap_or(l).to_owned())
        .collect()
}

/// The preprocessing a model version's manifest records (`settings.preprocess`, written
/// by the trainer), or none.
fn preprocess_of(manifest: &Manifest) -> Preprocess {
    let recorded = &manifest.settings["preprocess"];
    let flag = |name: &str| recorded[name].as_bool().unwrap_or(false);
    Preprocess {
        lowercase: flag("lowercase"),
        split_punctuation: flag("split_punctuation"),
    }
}

/// Predicts the warm-up texts as requests are predicted; every one must give one
/// well-formed answer per label.
fn warm_up(model: &Model, preprocess: &Preprocess) -> Result<(), String> {
    let n = model.labels().len();
    if n == 0 {
        return Err("the model has no labels (not a classifier)".into());
    }
    let mut predictor = model.predictor();
    for text in WARM_UP {
        let predictions = predictor.predict(&preprocess.line(text), n, 0.0);
        if predictions.len() != n {
            return Err(format!(
                "asked for {n} labels of {text:?}, got {}",
                predictions.len()
            ));
        }
        if let Some(p) = predictions
            .iter()
            .find(|p| !(p.prob.is_finite() && (0.0..=1.0001).contains(&p.prob)) || p.label >= n)
        {
            return Err(format!(
                "label {} has probability {} for {text:?}",
                p.label, p.prob
            ));
        }
    }
    Ok(())
}

/// Runs `f`, turning a panic into its message.
fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_owned())
    })
}

/// The version a server starts on: the one asked for, else the followed alias if it
/// names a model version, else the newest model version (of the name asked for).
pub(crate) fn initial(store: &Store, choice: &ModelChoice) -> Result<Manifest, ServeError> {
    if let Some(name) = &choice.name {
        let versions = store
            .versions()
            .map_err(|e| ServeError::Model(e.to_string()))?;
        let mut names: Vec<&str> = versions
            .iter()
            .filter(|m| m.kind != Kind::Dataset)
            .map(|m| m.name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        if !names.contains(&name.as_str()) {
            return Err(ServeError::Model(format!(
                "no model named `{name}` in {}; {}",
                store.project().display(),
                if names.is_empty() {
                    "it has no model version yet: train one first".to_owned()
                } else {
                    format!("its models: {}", names.join(", "))
                }
            )));
        }
    }
    if let Some(version) = &choice.version {
        check_name(version).map_err(|e| ServeError::Model(e.to_string()))?;
        let manifest = store
            .resolve(version)
            .map_err(|e| ServeError::Model(e.to_string()))?;
        check_model(&manifest, choice).map_err(|e| ServeError::Model(e.to_string()))?;
        return Ok(manifest);
    }
    if let Some(alias) = &choice.alias
        && store.alias(alias).ok().flatten().is_some()
        && let Ok(manifest) = store.resolve(alias)
        && check_model(&manifest, choice).is_ok()
    {
        return Ok(manifest);
    }
    let versions = store
        .versions()
        .map_err(|e| ServeError::Model(e.to_string()))?;
    versions
        .into_iter()
        .rev()
        .find(|m| check_model(m, choice).is_ok())
        .ok_or_else(|| {
            ServeError::Model(format!(
                "{} has no model version{}: train one first",
                store.project().display(),
                choice
                    .name
                    .as_ref()
                    .map(|n| format!(" named `{n}`"))
                    .unwrap_or_default()
            ))
        })
}

/// What the swap lock guards.
#[derive(Debug, Default)]
struct SwapState {
    /// The alias target the watcher last acted on (or the server set).
    seen: Option<String>,
    /// Versions that were live before, most recent last.
    history: Vec<String>,
}

/// The live model, the store, and the swaps between versions.
#[derive(Debug)]
pub struct Models {
    store: Store,
    choice: ModelChoice,
    live: ArcSwap<Loaded>,
    swap: tokio::sync::Mutex<SwapState>,
    metrics: Arc<Metrics>,
    log: bool,
}

/// The outcome of a successful activation or rollback.
#[derive(Debug, Clone)]
pub struct Swapped {
    /// The version live before.
    pub from: String,
    /// The version live now.
    pub to: String,
    /// Whether anything changed (activating the live version does nothing).
    pub changed: bool,
}

impl Models {
    /// Starts with `first` live; the followed alias's current target counts as seen.
    pub(crate) fn new(
        store: Store,
        choice: ModelChoice,
        first: Loaded,
        metrics: Arc<Metrics>,
        log: bool,
    ) -> Models {
        let seen = choice
            .alias
            .as_ref()
            .and_then(|a| store.alias(a).ok().flatten());
        metrics.set_live(&first.name, &first.id);
        Models {
            store,
            choice,
            live: ArcSwap::from_pointee(first),
            swap: tokio::sync::Mutex::new(SwapState {
                seen,
                history: Vec::new(),
            }),
            metrics,
            log,
        }
    }

    /// The live model; the caller keeps it for the whole request.
    pub fn live(&self) -> Arc<Loaded> {
        self.live.load_full()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Which model versions this server may serve.
    pub fn choice(&self) -> &ModelChoice {
        &self.choice
    }

    /// The version a rollback would go back to now, if known without reading the store.
    pub async fn previous(&self) -> Option<String> {
        self.swap.lock().await.history.last().cloned()
    }

    /// Whether a manifest is a model this server may serve.
    pub fn serves(&self, manifest: &Manifest) -> bool {
        check_model(manifest, &self.choice).is_ok()
    }

    /// Loads, warms and swaps in a version (id or alias), and points the followed alias
    /// at it. Runs in its own task: dropping the returned future does not stop it.
    pub async fn activate(self: &Arc<Self>, name: String) -> Result<Swapped, ModelError> {
        let this = Arc::clone(self);
        spawn(async move {
            let mut state = this.swap.lock().await;
            this.activate_locked(&mut state, &name, Trigger::Activate)
                .await
        })
        .await
    }

    /// Goes back to the version live before this one (or, when this process has seen
    /// no other, to the newest model version older than the live one), and points the
    /// followed alias at it.
    pub async fn rollback(self: &Arc<Self>) -> Result<Swapped, ModelError> {
        let this = Arc::clone(self);
        spawn(async move {
            let mut state = this.swap.lock().await;
            let from_history = state.history.pop();
            let target = match from_history.clone() {
                Some(v) => v,
                None => this.older_version().await?,
            };
            let result = this
                .activate_locked(&mut state, &target, Trigger::Rollback)
                .await;
            if result.is_err()
                && let Some(v) = from_history
            {
                state.history.push(v);
            }
            result
        })
        .await
    }

    /// The newest model version older than the live one.
    async fn older_version(&self) -> Result<String, ModelError> {
        let live = self.live();
        let live_n = number(&live.id);
        let store = self.store.clone();
        let choice = ModelChoice {
            name: Some(live.name.clone()),
            ..self.choice.clone()
        };
        blocking(move || {
            let versions = store.versions().map_err(store_error)?;
            versions
                .into_iter()
                .rev()
                .find(|m| number(&m.id) < live_n && check_model(m, &choice).is_ok())
                .map(|m| m.id)
                .ok_or(ModelError::NoPrevious)
        })
        .await
    }

    async fn activate_locked(
        &self,
        state: &mut SwapState,
        name: &str,
        trigger: Trigger,
    ) -> Result<Swapped, ModelError> {
        let result = self.try_activate(state, name, trigger).await;
        if let Err(e) = &result {
            if let Some(failure) = e.failure() {
                self.metrics.swap_failed(failure);
            }
            if self.log {
                log(format_args!(
                    "swap to `{name}` ({}) refused, {} stays live: {e}",
                    trigger.label(),
                    self.live().id
                ));
            }
        }
        result
    }

    async fn try_activate(
        &self,
        state: &mut SwapState,
        name: &str,
        trigger: Trigger,
    ) -> Result<Swapped, ModelError> {
        check_name(name)?;
        let live = self.live();
        let store = self.store.clone();
        let choice = self.choice.clone();
        let wanted = name.to_owned();
        let manifest = blocking(move || store.resolve(&wanted).map_err(store_error)).await?;
        if manifest.id == live.id {
            check_model(&manifest, &self.choice)?;
            self.move_alias(state, &manifest.id, trigger).await?;
            return Ok(Swapped {
                from: live.id.clone(),
                to: live.id.clone(),
                changed: false,
            });
        }
        let store = self.store.clone();
        let loaded = blocking(move || load_manifest(&store, &choice, &manifest)).await?;
        self.move_alias(state, &loaded.id, trigger).await?;
        let loaded = Arc::new(loaded);
        let old = self.live.swap(Arc::clone(&loaded));
        if trigger != Trigger::Rollback {
            state.history.push(old.id.clone());
            if state.history.len() > HISTORY {
                state.history.remove(0);
            }
        }
        self.metrics.swapped(trigger, &loaded.name, &loaded.id);
        if self.log {
            log(format_args!(
                "{} -> {} ({}; loaded, verified and warmed in {:.3} s)",
                old.id,
                loaded.id,
                trigger.label(),
                loaded.load_seconds
            ));
        }
        Ok(Swapped {
            from: old.id.clone(),
            to: loaded.id.clone(),
            changed: true,
        })
    }

    /// Points the followed alias at `id` (activate and rollback only: the watcher
    /// follows the alias, it does not move it).
    async fn move_alias(
        &self,
        state: &mut SwapState,
        id: &str,
        trigger: Trigger,
    ) -> Result<(), ModelError> {
        let Some(alias) = self.choice.alias.clone() else {
            return Ok(());
        };
        if trigger != Trigger::Alias {
            let store = self.store.clone();
            let target = id.to_owned();
            blocking(move || {
                store
                    .set_alias(&alias, &target)
                    .map_err(|e| ModelError::Store(e.to_string()))
            })
            .await?;
        }
        state.seen = Some(id.to_owned());
        Ok(())
    }

    /// Reads the followed alias every `poll` until `stop` fires, and swaps to its
    /// target when it moves. A target that fails is refused once and not retried until
    /// the alias moves again.
    ///
    /// Polling rather than inotify: reading one symbolic link costs microseconds, so
    /// four reads a second are free; it needs no extra dependency or file descriptor
    /// budget; and it sees moves made by other machines on a network file system (a
    /// trainer on a Slurm node writing to a shared project), which inotify does not.
    pub(crate) async fn watch(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let Some(alias) = self.choice.alias.clone() else {
            return;
        };
        let mut tick = tokio::time::interval(self.choice.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let this = Arc::clone(&self);
            let alias = alias.clone();
            // Its own task, so that a shutdown mid-swap finishes the swap. The alias is
            // read under the swap lock: a read taken before an activation moved it would
            // otherwise look like a move back.
            spawn(async move {
                let mut state = this.swap.lock().await;
                let store = this.store.clone();
                let name = alias.clone();
                let target = blocking(move || store.alias(&name).map_err(store_error)).await;
                this.metrics.alias_polled();
                let target = match target {
                    Ok(t) => t,
                    Err(e) => {
                        if this.log {
                            log(format_args!("reading alias `{alias}`: {e}"));
                        }
                        return Ok(());
                    }
                };
                if target == state.seen {
                    return Ok(());
                }
                state.seen.clone_from(&target);
                let Some(id) = target else {
                    if this.log {
                        log(format_args!(
                            "alias `{alias}` was removed; {} stays live",
                            this.live().id
                        ));
                    }
                    return Ok(());
                };
                if id == this.live().id {
                    return Ok(());
                }
                this.activate_locked(&mut state, &id, Trigger::Alias)
                    .await
                    .map(|_| ())
            })
            .await
            .ok();
        }
    }
}

/// The number of a version id (`v12` is 12).
fn number(id: &str) -> u64 {
    id.trim_start_matches('v').parse().unwrap_or(0)
}

/// Runs blocking store or model work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ModelError> + Send + 'static,
) -> Result<T, ModelError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(ModelError::Store(format!("a worker failed: {e}"))))
}

/// Runs a swap in its own task.
async fn spawn<T: Send + 'static>(
    f: impl Future<Output = Result<T, ModelError>> + Send + 'static,
) -> Result<T, ModelError> {
    tokio::spawn(f)
        .await
        .unwrap_or_else(|e| Err(ModelError::Store(format!("a swap failed: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_names_cannot_be_paths() {
        for bad in [
            "",
            "../v1",
            "/etc/passwd",
            "v1/../../x",
            ".hidden",
            "a b",
            "v1\0",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["v1", "12", "prod", "model-2.1_a"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }
}
