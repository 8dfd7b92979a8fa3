//! The recipe's `[train]` section: a fastText classifier trained on the dataset version a
//! run just made, evaluated on held-out documents, and kept as a model version.
//!
//! 1. The documents of the dataset version become fastText lines: the class from a
//!    metadata field (through an optional pattern), the text prepared as the model will
//!    see it when served ([`atelier_fasttext::Preprocess`], recorded in the version), and
//!    a train / validation / test split by a hash of the id alone, so a document stays
//!    on its side in every later version of the dataset.
//! 2. Training (optionally autotuned on the validation split, optionally warm-started
//!    from the previous version of the model), then evaluation on the test split:
//!    accuracy, per-class precision, recall and F1, confusion matrix.
//! 3. A model version in the project store: the model file, its metrics, the dataset
//!    version it came from, and its bill (the dataset's steps plus the training) as
//!    `bill.json`. The alias `model` moves to it, and `promote` (say `prod`) too when the
//!    test accuracy reaches `min_accuracy`.
//!
//! Training the same settings on the same dataset again makes no new version: the
//! existing one is reported, with the training it saved.

mod evaluate;
mod examples;
mod settings;

pub use atelier_core::{Split, split_of};
pub use evaluate::{ClassScores, Evaluation, evaluate};
pub use examples::{ExampleCounts, Examples, examples, line_text};
pub use settings::TrainSettings;

use atelier_bill::energy::peak_rss_bytes;
use atelier_bill::{Bill, BillError, BillSettings, Ledger, Summary, TaskMeter, render_bill};
use atelier_core::{Recipe, StepStats, TaskStats};
use atelier_fasttext::{Autotune, Progress, QuantizeArgs, train_with_progress};
use atelier_store::{Hash, Kind, Manifest, NewVersion, RecipeInfo, Store, StoreError};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The alias that names the newest model version.
pub const MODEL_ALIAS: &str = "model";

/// Why a model could not be trained.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The `[train]` settings are wrong.
    #[error("[train]: {}", .0.join("; "))]
    Settings(Vec<String>),
    /// A document of the dataset could not be read.
    #[error("reading the dataset: {0}")]
    Read(String),
    /// Nothing to train on.
    #[error("{0}")]
    NoExamples(String),
    /// fastText refused.
    #[error(transparent)]
    FastText(#[from] atelier_fasttext::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bill could not be made.
    #[error(transparent)]
    Bill(#[from] BillError),
    /// A file could not be written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
}

/// What to train on and where to keep it.
pub struct TrainRequest<'a> {
    /// The recipe (its folder anchors relative paths; its text goes in the manifest).
    pub recipe: &'a Recipe,
    /// Its `[train]` section.
    pub settings: &'a TrainSettings,
    /// Its `[bill]` section.
    pub bill: &'a BillSettings,
    /// The project store.
    pub store: &'a Store,
    /// The dataset version to train on.
    pub dataset: &'a Manifest,
    /// Told how far the training is (not the autotune search), when given.
    pub progress: Option<Progress<'a>>,
}

/// What a training made.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The model version (new, or the one that was already up to date).
    pub model: Manifest,
    /// Whether `model` was already there and nothing was trained.
    pub reused: bool,
    /// Scores on the test split.
    pub evaluation: Evaluation,
    /// How the documents were used.
    pub counts: ExampleCounts,
    /// The alias `promote` moved to the version, when it did.
    pub promoted: Option<String>,
    /// Why `promote` was not applied, when it was asked for and was not.
    pub not_promoted: Option<String>,
    /// The bill of the dataset and the training.
    pub bill: Bill,
}

/// Trains, evaluates and commits a model version (or finds the one these settings and
/// this dataset already made).
pub fn train_model(req: &TrainRequest<'_>) -> Result<TrainOutcome, TrainError> {
    let settings = req.settings;
    settings.validate().map_err(TrainError::Settings)?;
    let base = recipe_dir(&req.recipe.path);
    let mut args = settings
        .args(&base)
        .map_err(|e| TrainError::Settings(vec![e]))?;
    let name = settings.model_name(&req.dataset.name);
    let models: Vec<Manifest> = req
        .store
        .versions()?
        .into_iter()
        .filter(|m| m.kind == Kind::Model && m.name == name)
        .collect();
    let previous = models.last();
    let warm_from = previous.filter(|_| settings.warm_start);
    let key = training_key(req.dataset, settings, warm_from);
    if let Some(done) = models
        .iter()
        .rev()
        .find(|m| m.settings.get("key").and_then(|k| k.as_str()) == Some(&key.hex()))
    {
        return reused(req, done);
    }

    let ledger = Ledger::new(req.bill);
    let meter = TaskMeter::start_process(&ledger);
    let started = Instant::now();
    let dataset_dir = req.store.version_dir(&req.dataset.id);
    let shards: Vec<PathBuf> = req
        .dataset
        .shards
        .iter()
        .map(|s| dataset_dir.join(&s.path))
        .collect();
    let ex = examples(&shards, settings)?;
    let c = &ex.counts;
    if c.train == 0 || c.classes.is_empty() {
        return Err(TrainError::NoExamples(format!(
            "no document of {} has a class to train on: {} documents, {} without `{}`{}, {} \
             with no text, {} held out",
            req.dataset.id,
            c.documents,
            c.unlabelled,
            settings.label,
            settings
                .label_pattern
                .as_deref()
                .map(|p| format!(" matching `{p}`"))
                .unwrap_or_default(),
            c.empty,
            c.validation + c.test
        )));
    }
    args.warm_start = warm_from.and_then(|m| full_model_file(req.store, m));
    let (trained, tuned) = match settings.autotune_seconds {
        None => match req.progress {
            Some(report) => (train_with_progress(&args, &ex.train, report)?, None),
            None => (atelier_fasttext::train(&args, &ex.train)?, None),
        },
        Some(seconds) => {
            let tune = Autotune {
                duration: Duration::from_secs(seconds),
                ..Autotune::default()
            };
            let t = atelier_fasttext::autotune(&args, &ex.train, &ex.validation, &tune)?;
            let found = json!({
                "trials": t.trials,
                "validation_f1": t.score,
                "lr": t.args.lr, "epoch": t.args.epoch, "dim": t.args.dim,
                "word_ngrams": t.args.word_ngrams, "minn": t.args.minn, "maxn": t.args.maxn,
                "bucket": t.args.bucket, "loss": t.args.loss.name(),
            });
            (t.trained, Some(found))
        }
    };
    let mut model = trained.model;
    let evaluation = evaluate(&model, &ex.test, args.threads);

    let out_dir = match &settings.output {
        Some(p) => base.join(p),
        None => req
            .recipe
            .output
            .path
            .parent()
            .map_or_else(|| base.join("model"), |p| p.join("model")),
    };
    std::fs::create_dir_all(&out_dir).map_err(|error| TrainError::Io {
        path: out_dir.clone(),
        error,
    })?;
    let bin = out_dir.join("model.bin");
    model.save(&bin)?;
    let mut served = ("model.bin".to_owned(), bin.clone());
    let mut files = Vec::new();
    let mut quantized = None;
    if settings.quantize {
        let q = QuantizeArgs {
            cutoff: 100_000,
            retrain: true,
            qnorm: true,
            epoch: 1,
            threads: args.threads,
            seed: args.seed,
            ..QuantizeArgs::default()
        };
        model = model.quantize(&q, Some(&ex.train))?;
        let ftz = out_dir.join("model.ftz");
        model.save(&ftz)?;
        quantized = Some(evaluate(&model, &ex.test, args.threads));
        files.push(served);
        served = ("model.ftz".to_owned(), ftz);
    }
    let evaluation = quantized.unwrap_or(evaluation);
    let energy = meter.stop();

    let mut step = StepStats::named("train");
    step.documents_in = c.documents;
    step.kept = c.train + c.validation + c.test;
    for (reason, n) in [("unlabelled", c.unlabelled), ("empty", c.empty)] {
        if n > 0 {
            step.dropped.insert(reason.to_owned(), n);
        }
    }
    step.bytes_in = (ex.train.len() + ex.validation.len() + ex.test.len()) as u64;
    step.wall_seconds = energy.wall_seconds;
    step.cpu_seconds = energy.cpu_seconds;
    let stats = TaskStats {
        tasks: 1,
        files: shards.len() as u64,
        steps: vec![step.clone()],
        wall_seconds: energy.wall_seconds,
        cpu_seconds: energy.cpu_seconds,
        peak_rss_bytes: peak_rss_bytes(),
    };

    // The dataset's bill, then the training's, each with the energy of its own run.
    let training = Summary {
        dataset: req.dataset.name.clone(),
        tasks: 1,
        tasks_resumed: 0,
        shards: vec![served.1.clone()],
        stats,
        energy: Some(energy.clone()),
        reused: None,
        fetched: Vec::new(),
    };
    let mut bill =
        render_bill(&run_summary(req), req.bill)?.then(render_bill(&training, req.bill)?);
    bill.model = Some(name.clone());
    let bill_file = out_dir.join("bill.json");
    write(&bill_file, bill.to_json().as_bytes())?;
    files.push(("bill.json".to_owned(), bill_file));

    let accuracy = evaluation.accuracy;
    let (promoted, not_promoted) = match &settings.promote {
        None => (None, None),
        Some(alias) if accuracy >= settings.min_accuracy => (Some(alias.clone()), None),
        Some(alias) => (
            None,
            Some(format!(
                "`{alias}` not moved: test accuracy {accuracy:.4} is below min_accuracy {}",
                settings.min_accuracy
            )),
        ),
    };
    let mut aliases = vec![MODEL_ALIAS.to_owned()];
    aliases.extend(promoted.clone());
    let metrics = json!({
        "test": evaluation,
        "examples": c,
        "training": {
            "seconds": trained.stats.seconds,
            "wall_seconds": started.elapsed().as_secs_f64(),
            "cpu_seconds": energy.cpu_seconds,
            "threads": args.threads,
            "loss": trained.stats.loss,
            "words": trained.stats.words,
            "labels": trained.stats.labels,
            "tokens": trained.stats.tokens,
            "warm_start_from": warm_from.map(|m| m.id.clone()),
            "autotune": tuned,
        },
        "model_bytes": std::fs::metadata(&served.1).map_or(0, |m| m.len()),
        "quantized": settings.quantize,
    });
    atelier_core::fault::crash_at("train");
    let version = req.store.commit(NewVersion {
        kind: Kind::Model,
        name,
        parent: previous.map(|m| m.id.clone()),
        trained_on: vec![req.dataset.id.clone()],
        recipe: Some(RecipeInfo::new(&req.recipe.path, &req.recipe.text)),
        settings: json!({
            "train": settings,
            "preprocess": {
                "lowercase": settings.lowercase,
                "split_punctuation": settings.split_punctuation,
            },
            "key": key.hex(),
        }),
        shards: vec![served],
        files,
        documents: c.train,
        stats: training.stats,
        metrics,
        aliases,
        ..NewVersion::default()
    })?;
    Ok(TrainOutcome {
        model: version,
        reused: false,
        evaluation,
        counts: ex.counts,
        promoted,
        not_promoted,
        bill,
    })
}

/// What makes a training the same as an earlier one: the dataset's shards, the
/// settings, and the model it starts from.
fn training_key(dataset: &Manifest, settings: &TrainSettings, warm: Option<&Manifest>) -> Hash {
    let mut key = Hash::key("atelier-train/1");
    for shard in &dataset.shards {
        key = key.hash(&shard.hash);
    }
    let settings = serde_json::to_string(settings).unwrap_or_default();
    key.text(&settings)
        .text(warm.map_or("", |m| m.id.as_str()))
        .finish()
}

/// The outcome for a model version these settings already made.
fn reused(req: &TrainRequest<'_>, done: &Manifest) -> Result<TrainOutcome, TrainError> {
    let corrupt = |what: &str| {
        TrainError::Store(StoreError::Corrupt {
            path: req.store.version_dir(&done.id).join("manifest.json"),
            what: what.to_owned(),
        })
    };
    let evaluation: Evaluation = serde_json::from_value(done.metrics["test"].clone())
        .map_err(|e| corrupt(&format!("metrics.test: {e}")))?;
    let counts: ExampleCounts = serde_json::from_value(done.metrics["examples"].clone())
        .map_err(|e| corrupt(&format!("metrics.examples: {e}")))?;
    let bill_path = req.store.version_dir(&done.id).join("bill.json");
    let made: Bill = std::fs::read(&bill_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| corrupt("bill.json is missing or unreadable"))?;
    // This run's bill: its dataset's, then the training found done, all of it reused.
    let train_line = made
        .steps
        .iter()
        .rev()
        .find(|s| s.name == "train")
        .cloned()
        .ok_or_else(|| corrupt("bill.json has no `train` step"))?
        .all_reused();
    let model_files: Vec<PathBuf> = done
        .shards
        .iter()
        .map(|f| req.store.version_dir(&done.id).join(&f.path))
        .collect();
    let mut training = render_bill(
        &Summary {
            dataset: req.dataset.name.clone(),
            tasks: 1,
            tasks_resumed: 1,
            shards: model_files,
            ..Summary::default()
        },
        req.bill,
    )?;
    training.energy_basis = made.energy_basis.clone();
    training.total += train_line.total;
    training.reused += train_line.total;
    training.steps = vec![train_line];
    let mut bill = render_bill(&run_summary(req), req.bill)?.then(training);
    bill.model = Some(done.name.clone());
    let promoted = req.settings.promote.clone().filter(|alias| {
        evaluation.accuracy >= req.settings.min_accuracy
            && req.store.alias(alias).ok().flatten().as_deref() == Some(done.id.as_str())
    });
    Ok(TrainOutcome {
        model: done.clone(),
        reused: true,
        evaluation,
        counts,
        promoted,
        not_promoted: None,
        bill,
    })
}

/// The summary of the run that made (or found) the dataset: the output folder's
/// `summary.json` when it describes this version (same shards), else the version's.
fn run_summary(req: &TrainRequest<'_>) -> Summary {
    let path = req.recipe.output.path.join("summary.json");
    match Summary::load(&path) {
        Ok(s) if same_shards(&s, req.dataset) => s,
        _ => dataset_summary(req.store, req.dataset),
    }
}

/// Whether a run's shards are a version's (by size, then by hash).
fn same_shards(summary: &Summary, dataset: &Manifest) -> bool {
    summary.shards.len() == dataset.shards.len()
        && summary
            .shards
            .iter()
            .zip(&dataset.shards)
            .all(|(path, entry)| {
                std::fs::metadata(path).is_ok_and(|m| m.len() == entry.bytes)
                    && Hash::of_file(path).is_ok_and(|h| h == entry.hash)
            })
}

/// The dataset run's summary as the bill reads it: the version's `summary.json`, else
/// its counters.
fn dataset_summary(store: &Store, dataset: &Manifest) -> Summary {
    Summary::load(&store.version_dir(&dataset.id).join("summary.json")).unwrap_or_else(|_| {
        Summary {
            dataset: dataset.name.clone(),
            tasks: dataset.stats.tasks,
            stats: dataset.stats.clone(),
            ..Summary::default()
        }
    })
}

/// The unquantized model file of a model version, to warm-start from.
fn full_model_file(store: &Store, m: &Manifest) -> Option<PathBuf> {
    m.shards
        .iter()
        .chain(&m.files)
        .find(|f| f.path.ends_with(".bin"))
        .map(|f| store.version_dir(&m.id).join(&f.path))
}

fn recipe_dir(recipe: &Path) -> PathBuf {
    match recipe.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    std::fs::write(path, bytes).map_err(|error| TrainError::Io {
        path: path.to_path_buf(),
        error,
    })
}
