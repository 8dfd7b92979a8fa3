//! `atelier lm train`: trains a small language model on token shards (from scratch, or
//! fine-tuning a base fully or with LoRA), with progress, spending and budgets, then
//! exports it and, if asked, keeps it as a version of the project's store.

use anyhow::{Context, Result, bail};
use atelier_bill::hardware::GPUS;
use atelier_bill::{BillSettings, Cost, EnergyRecord, Estimate, Hardware, Ledger, TaskMeter, plan};
use atelier_lmtrain::{Event, Job, LmSettings, LoraSettings, Meter, Outcome, Source, Spent, Stop};
use atelier_store::{Kind, NewVersion, Store};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::project::Project;

/// `atelier lm train` arguments.
#[derive(Args)]
pub struct TrainArgs {
    /// A recipe whose `[lm]` section holds the settings (and `[bill]` the prices); the
    /// flags below override it. Its output's `tokens` folder is trained on by default.
    #[arg(long, conflicts_with = "settings")]
    recipe: Option<PathBuf>,
    /// A TOML file of `[lm]` settings alone (the keys of the section, at the top).
    #[arg(long)]
    settings: Option<PathBuf>,
    /// The token folder to train on (`atelier tokenize`'s output, or `<output>/tokens`
    /// of a run with a `[tokenize]` section).
    #[arg(long, conflicts_with = "chat")]
    tokens: Option<PathBuf>,
    /// Conversation files to instruction-tune on (JSON lines of OpenAI `messages`,
    /// rendered with the base's chat template; only the assistant's turns are learned).
    #[arg(long, num_args = 1..)]
    chat: Vec<PathBuf>,
    /// The base model: a GGUF file or a Hugging Face folder. Without one, a model of
    /// the `[lm.shape]` is trained from scratch.
    #[arg(long)]
    base: Option<PathBuf>,
    /// Start from the newest version of `--name` in the project's store, when there is
    /// one, instead of the base (`[lm]`'s `warm_start`).
    #[arg(long)]
    warm_start: bool,
    /// The tokenizer of a model trained from scratch (the one the shards were made
    /// with).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Where checkpoints, exports and `outcome.json` go; a rerun resumes from the last
    /// checkpoint there.
    #[arg(short, long)]
    output: PathBuf,
    /// Optimizer steps.
    #[arg(long)]
    steps: Option<usize>,
    /// Passes over the training windows (when --steps is not given).
    #[arg(long)]
    epochs: Option<f64>,
    /// Windows per micro-batch.
    #[arg(long)]
    batch: Option<usize>,
    /// Micro-batches per step.
    #[arg(long)]
    accumulate: Option<usize>,
    /// Tokens per window.
    #[arg(long)]
    context: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Train LoRA adapters of this rank instead of every weight.
    #[arg(long)]
    lora_rank: Option<usize>,
    /// LoRA's alpha (default: twice the rank).
    #[arg(long)]
    lora_alpha: Option<f64>,
    /// Stop (with a checkpoint) after this many hours.
    #[arg(long)]
    max_hours: Option<f64>,
    /// Stop after this much energy (kWh).
    #[arg(long)]
    max_kwh: Option<f64>,
    /// Stop after this much money (EUR, at the bill's prices).
    #[arg(long)]
    max_eur: Option<f64>,
    /// Seed of the data order and fresh weights.
    #[arg(long)]
    seed: Option<u64>,
    /// Compute threads (default: every core).
    #[arg(short, long)]
    threads: Option<usize>,
    /// Train on the first CUDA GPU (a build with the `cuda` feature).
    #[arg(long)]
    gpu: bool,
    /// The GPU, as `atelier estimate --gpu` names it (h100-sxm, h200, l4...), to price
    /// the run before it starts (default: recognized from the driver's name for it).
    #[arg(long)]
    gpu_model: Option<String>,
    /// Keep the trained model as a version of the project's store under this name.
    #[arg(long)]
    name: Option<String>,
    /// The project whose store keeps the version.
    #[arg(short, long, default_value = ".")]
    project: PathBuf,
    /// Move this alias to the new version when its validation perplexity is lower
    /// than the alias's current version's.
    #[arg(long)]
    promote: Option<String>,
}

/// What the run has spent, from the bill's meter and prices.
struct BillMeter {
    meter: TaskMeter,
    bill: BillSettings,
}

impl Meter for BillMeter {
    fn spent(&self) -> Spent {
        let record = self.meter.so_far();
        Cost::of(&record, &self.bill).map_or(Spent::default(), |c| Spent {
            kwh: c.kwh,
            eur: c.eur,
        })
    }
}

/// What a training is given: its settings, the bill's prices, the token folder and the
/// dataset it belongs to (from a recipe).
struct TrainInputs {
    settings: LmSettings,
    bill: BillSettings,
    tokens: Option<PathBuf>,
    dataset: Option<String>,
}

/// The inputs: the recipe's `[lm]` (paths in it relative to the recipe) and `[bill]`,
/// or a settings file, then flags.
fn inputs(args: &TrainArgs) -> Result<TrainInputs> {
    let mut inputs = match (&args.recipe, &args.settings) {
        (Some(path), _) => {
            let project = Project::load(path)?;
            TrainInputs {
                tokens: Some(project.recipe.output.path.join(atelier_tokens::FOLDER)),
                dataset: Some(project.recipe.name()),
                settings: project.lm,
                bill: project.bill,
            }
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut settings: LmSettings = toml::from_str(&text)
                .with_context(|| format!("{}: not [lm] settings", path.display()))?;
            let dir = path.parent().unwrap_or(Path::new("."));
            settings.base = settings.base.map(|b| dir.join(b));
            TrainInputs {
                settings,
                bill: BillSettings::default(),
                tokens: None,
                dataset: None,
            }
        }
        (None, None) => TrainInputs {
            settings: LmSettings::default(),
            bill: BillSettings::default(),
            tokens: None,
            dataset: None,
        },
    };
    let settings = &mut inputs.settings;
    let set = |slot: &mut Option<f64>, v: Option<f64>| {
        if v.is_some() {
            *slot = v;
        }
    };
    if args.base.is_some() {
        settings.base = args.base.clone();
    }
    settings.warm_start |= args.warm_start;
    if args.steps.is_some() {
        settings.steps = args.steps;
    }
    if let Some(e) = args.epochs {
        (settings.epochs, settings.steps) = (e, None);
    }
    settings.batch = args.batch.unwrap_or(settings.batch);
    settings.accumulate = args.accumulate.unwrap_or(settings.accumulate);
    if args.context.is_some() {
        settings.context = args.context;
    }
    settings.lr = args.lr.unwrap_or(settings.lr);
    if let Some(rank) = args.lora_rank {
        settings.lora = Some(LoraSettings {
            rank,
            alpha: args.lora_alpha.unwrap_or(2.0 * rank as f64),
            ..settings.lora.take().unwrap_or_default()
        });
    }
    set(&mut settings.max_hours, args.max_hours);
    set(&mut settings.max_kwh, args.max_kwh);
    set(&mut settings.max_eur, args.max_eur);
    settings.seed = args.seed.unwrap_or(settings.seed);
    if args.tokens.is_some() {
        inputs.tokens.clone_from(&args.tokens);
    }
    Ok(inputs)
}

/// Runs `atelier lm train`.
pub fn train(args: &TrainArgs) -> Result<ExitCode> {
    let threads = atelier_lm::set_threads(args.threads);
    let TrainInputs {
        mut settings,
        bill,
        tokens,
        dataset,
    } = inputs(args)?;
    let warm_from = if settings.warm_start {
        warm_start(args, &mut settings)?
    } else {
        None
    };
    let source = if args.chat.is_empty() {
        Source::Shards(tokens.context("give the token folder to train on with --tokens")?)
    } else {
        Source::Chats(args.chat.clone())
    };
    let device = atelier_lm::device(args.gpu)?;
    let mut job = Job::new(settings, &source, args.tokenizer.as_deref(), &device)
        .context("cannot start the training")?;
    describe(&job, threads, args.gpu);
    for s in job.data.skipped.iter().take(5) {
        eprintln!("skipped: {s}");
    }
    if job.data.skipped.len() > 5 {
        eprintln!(
            "… {} lines skipped in all (outcome.json lists them)",
            job.data.skipped.len()
        );
    }

    let estimate = estimate(&job, args, &bill);
    if let Some(e) = &estimate {
        eprintln!(
            "estimate: {:.0} tokens/s, {:.3} GPU-hours, {:.4} kWh, {:.4} EUR on {} at {:.0}% MFU",
            e.tokens / (e.wall_hours * 3600.0),
            e.gpu_hours,
            e.kwh,
            e.eur,
            e.gpu,
            e.mfu * 100.0
        );
    }
    let ledger = Ledger::on_gpu(&bill, args.gpu);
    let meter = BillMeter {
        meter: TaskMeter::start_process(&ledger),
        bill: bill.clone(),
    };
    let bar = Bar::new(job.total_steps());
    let outcome = job.run(&args.output, &meter, &mut |e| bar.event(e))?;
    drop(bar);
    let exports = job.export(&args.output.join("model"))?;
    let record = meter.meter.stop();
    let cost = Cost::of(&record, &bill)?;
    let report = serde_json::json!({
        "outcome": outcome,
        "settings": job.settings,
        "data": match &source {
            Source::Shards(dir) => serde_json::json!({ "tokens": dir }),
            Source::Chats(files) => serde_json::json!({ "chats": files }),
        },
        "skipped": job.data.skipped,
        "base": job.base.as_ref().map(|b| serde_json::json!({
            "path": b.path, "stored_as": b.stored_as,
        })),
        "warm_start_from": warm_from,
        "device": if args.gpu { "cuda" } else { "cpu" },
        "threads": threads,
        "energy": record,
        "cost_this_attempt": cost,
        "estimate": estimate,
        "exports": exports,
    });
    let path = args.output.join("outcome.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    summary(&outcome, &cost, &exports);
    if let Some(e) = &estimate {
        side_by_side(e, &outcome, &record, &cost);
    }
    if let Some(name) = &args.name {
        keep(
            args,
            name,
            dataset.as_deref(),
            &job,
            &outcome,
            &exports,
            &path,
        )?;
    }
    Ok(match outcome.stopped {
        Stop::Diverged { .. } => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}

/// Points the base at the newest version of `--name` in the project's store, and returns
/// its id; with no such version yet, the base stays and a note says so.
fn warm_start(args: &TrainArgs, settings: &mut LmSettings) -> Result<Option<String>> {
    let name = args
        .name
        .as_deref()
        .context("a warm start needs --name: the model whose newest version to start from")?;
    let project = crate::project::project_dir(&args.project);
    let store = Store::open(&project)?;
    let Some(m) = store.newest(Kind::Lm, name)? else {
        eprintln!("warm start: no version of `{name}` yet; starting from the base");
        return Ok(None);
    };
    let gguf = m
        .shards
        .iter()
        .find(|f| f.path.ends_with(".gguf"))
        .with_context(|| format!("{} ({name}) has no GGUF model to start from", m.id))?;
    let path = store.version_dir(&m.id).join(&gguf.path);
    eprintln!("warm start: from {} ({name}), {}", m.id, path.display());
    settings.base = Some(path);
    Ok(Some(m.id))
}

/// The run priced before it starts, as `atelier estimate` prices a training: GPU runs
/// only (its table is of GPUs).
fn estimate(job: &Job, args: &TrainArgs, bill: &BillSettings) -> Option<Estimate> {
    if !args.gpu {
        return None;
    }
    let id = args.gpu_model.clone().or_else(|| {
        let names = atelier_bill::energy::Nvml::open()?.names().to_vec();
        let name = names.first()?.to_ascii_lowercase();
        GPUS.iter()
            .find(|g| name.contains(g.id.split('-').next().unwrap_or(g.id)))
            .map(|g| g.id.to_owned())
    })?;
    let s = &job.settings;
    let tokens = (job.total_steps() * s.batch * s.accumulate * job.context) as f64;
    let parameters = job.model.config.parameters() as f64;
    match plan(parameters, tokens, &Hardware::from_settings(&id, bill)) {
        Ok(e) => Some(e),
        Err(e) => {
            eprintln!("no estimate: {e}");
            None
        }
    }
}

/// The estimate beside what the run measured.
fn side_by_side(e: &Estimate, o: &Outcome, record: &EnergyRecord, cost: &Cost) {
    let rows = [
        (
            "tokens/s",
            e.tokens / (e.wall_hours * 3600.0),
            o.step_tokens_per_s.unwrap_or(o.tokens_per_s),
        ),
        ("GPU-hours", e.gpu_hours, record.gpu_seconds / 3600.0),
        ("kWh", e.kwh, cost.kwh),
        ("EUR", e.eur, cost.eur),
    ];
    println!("{:<10} {:>12} {:>12}", "", "estimated", "measured");
    for (what, estimated, measured) in rows {
        println!("{what:<10} {estimated:>12.4} {measured:>12.4}");
    }
}

/// Says what is about to be trained.
fn describe(job: &Job, threads: usize, gpu: bool) {
    let c = &job.model.config;
    let what = match (&job.base, &job.settings.lora) {
        (Some(b), Some(l)) => format!(
            "LoRA (rank {}, alpha {}) on {}",
            l.rank,
            l.alpha,
            b.path.display()
        ),
        (Some(b), None) => format!("full fine-tuning of {}", b.path.display()),
        (None, _) => "a model from scratch".to_owned(),
    };
    eprintln!(
        "training {what}: {} parameters ({} trained), {} layers x {}; {} training windows \
         of {} tokens, {} steps of {} windows; on {}",
        c.parameters(),
        job.model.trainable_parameters(),
        c.num_hidden_layers,
        c.hidden_size,
        job.data.train.windows(job.context),
        job.context,
        job.total_steps(),
        job.settings.batch * job.settings.accumulate,
        if gpu {
            "the GPU".to_owned()
        } else {
            format!("{threads} CPU threads")
        }
    );
    if let Some(b) = &job.base
        && !matches!(b.stored_as.as_str(), "F32" | "F16" | "BF16")
    {
        eprintln!(
            "note: the base is stored as {}; training starts from its dequantized weights, \
             which carry that quantization's error",
            b.stored_as
        );
    }
}

/// Progress on standard error: a bar on a terminal, else a line per evaluation.
struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    fn new(total: usize) -> Bar {
        if !std::io::stderr().is_terminal() {
            return Bar { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
                .expect("valid template"),
        );
        Bar { bar: Some(bar) }
    }

    fn say(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn event(&self, e: Event<'_>) {
        match e {
            Event::Step(r) => {
                if let Some(bar) = &self.bar {
                    bar.set_position(r.step as u64);
                    bar.set_message(format!(
                        "loss {:.3}, {:.0} tok/s, eta {}, {:.4} kWh, {:.4} EUR",
                        r.loss,
                        r.tokens_per_s,
                        duration(r.eta_s),
                        r.spent.kwh,
                        r.spent.eur
                    ));
                }
            }
            Event::Eval(step, e) => self.say(format!(
                "step {step}: validation loss {:.4}, perplexity {:.2} ({} tokens)",
                e.loss, e.perplexity, e.tokens
            )),
            Event::Checkpoint(step, path) => {
                if self.bar.is_none() {
                    eprintln!("step {step}: checkpoint {}", path.display());
                }
            }
            Event::Note(n) => self.say(n),
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn summary(o: &Outcome, cost: &Cost, exports: &[PathBuf]) {
    let stopped = match &o.stopped {
        Stop::Done => "done".to_owned(),
        Stop::Budget { what } => format!("stopped by {what}"),
        Stop::Diverged { step, loss } => format!(
            "diverged at step {step} (loss {loss}); the model is the last good checkpoint's"
        ),
    };
    println!(
        "{stopped}: {} of {} steps, {} tokens in {}, {:.0} tokens/s ({} in the steps alone)",
        o.steps,
        o.total_steps,
        o.tokens,
        duration(o.seconds),
        o.tokens_per_s,
        o.step_tokens_per_s
            .map_or("-".to_owned(), |t| format!("{t:.0}"))
    );
    if let Some(v) = &o.validation {
        match &o.base {
            Some(b) => println!(
                "validation perplexity {:.2} -> {:.2} ({:+.1}%)",
                b.perplexity,
                v.perplexity,
                (v.perplexity / b.perplexity - 1.0) * 100.0
            ),
            None => println!("validation perplexity {:.2}", v.perplexity),
        }
    }
    println!(
        "spent: {:.4} kWh, {:.4} EUR, {:.1} gCO2 (this attempt, exports included)",
        cost.kwh, cost.eur, cost.gco2
    );
    if o.resumed_from.is_some() {
        println!(
            "spent over every attempt, to the last step: {:.4} kWh, {:.4} EUR",
            o.spent.kwh, o.spent.eur
        );
    }
    for e in exports {
        println!("export: {}", e.display());
    }
}

/// Commits the model as a version (`kind = "lm"`), its GGUF served by `atelier serve`.
/// The dataset version it was trained on is the newest of the recipe's dataset in the
/// same store, when trained from a recipe.
fn keep(
    args: &TrainArgs,
    name: &str,
    dataset: Option<&str>,
    job: &Job,
    outcome: &Outcome,
    exports: &[PathBuf],
    report: &Path,
) -> Result<()> {
    let Some(gguf) = exports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "gguf"))
    else {
        bail!("a version needs a GGUF export (train from a GGUF base)");
    };
    let project = crate::project::project_dir(&args.project);
    let store = Store::open(&project)?;
    // One pass over the versions (each manifest reads its lists) for both.
    let versions = store.versions()?;
    let newest = |kind: Kind, name: &str| {
        versions
            .iter()
            .rev()
            .find(|m| m.kind == kind && m.name == name)
            .map(|m| m.id.clone())
    };
    let parent = newest(Kind::Lm, name);
    let trained_on: Vec<String> = dataset
        .and_then(|d| newest(Kind::Dataset, d))
        .into_iter()
        .collect();
    let perplexity = outcome.validation.map(|v| v.perplexity);
    let mut aliases = vec![format!("{name}-latest")];
    let mut not_promoted = None;
    if let Some(alias) = &args.promote {
        let current = store
            .resolve(alias)
            .ok()
            .and_then(|m| m.metrics["validation"]["perplexity"].as_f64());
        match (perplexity, current) {
            (Some(new), Some(old)) if new >= old => {
                not_promoted = Some(format!(
                    "`{alias}` not moved: validation perplexity {new:.3} is not below its \
                     current {old:.3}"
                ))
            }
            (None, _) => not_promoted = Some(format!("`{alias}` not moved: no validation split")),
            _ => aliases.push(alias.clone()),
        }
    }
    let manifest = store.commit(NewVersion {
        kind: Kind::Lm,
        name: name.to_owned(),
        parent,
        trained_on,
        settings: serde_json::to_value(&job.settings)?,
        shards: vec![("model.gguf".to_owned(), gguf.clone())],
        files: vec![("outcome.json".to_owned(), report.to_path_buf())],
        metrics: serde_json::to_value(outcome)?,
        aliases,
        ..NewVersion::default()
    })?;
    println!("kept as {} ({})", manifest.id, manifest.name);
    if let Some(why) = not_promoted {
        println!("{why}");
    }
    Ok(())
}
