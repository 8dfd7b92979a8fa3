//! The subcommands: their arguments (clap) and which module runs each.

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::{bill, classifier, fetch, lm, oneshot, recipe, run, serve, tokens, train, versions};

/// Every `atelier` subcommand.
#[derive(Subcommand)]
pub enum Command {
    /// Run a recipe: read its sources, apply its steps, write the dataset's shards.
    ///
    /// Tasks run on a pool of worker threads. A run that was killed resumes where it
    /// stopped when started again with the same recipe and inputs; records that cannot be
    /// read or processed go to the output's quarantine/ folder with the reason.
    Run(run::RunArgs),
    /// Show where a run stands: per stage, tasks done, running, queued (waiting in
    /// Slurm's queue), failed (with their logs) and not started (no marker, in no queue).
    Status {
        /// The recipe file.
        #[arg(default_value = "atelier.toml")]
        recipe: PathBuf,
    },
    /// Run one task of a planned run: the entry point of every job-array element
    /// (Slurm, Kubernetes indexed jobs, ...).
    Task {
        /// The recipe file.
        recipe: PathBuf,
        /// The stage (`map0`, ...: `atelier status` lists them).
        #[arg(long)]
        stage: String,
        /// The task's rank within the stage (for example `$SLURM_ARRAY_TASK_ID`).
        #[arg(long)]
        rank: usize,
    },
    /// Validate a recipe without running it; every problem is reported with its line.
    Check {
        /// The recipe file.
        #[arg(default_value = "atelier.toml")]
        recipe: PathBuf,
    },
    /// List every step a recipe can use, with its settings and their defaults.
    Steps {
        /// Print a recipe fragment with one `[[step]]` per step at its defaults.
        #[arg(long)]
        example: bool,
    },
    /// Extract the main text of HTML pages, WARC records or mail into one JSONL file.
    ///
    /// Inputs are files or folders in any format `atelier run` reads; HTML becomes its
    /// main text, other text passes as is. The output is compressed when its name ends in
    /// .gz or .zst.
    Extract(oneshot::ExtractArgs),
    /// The bill of the last run: per step documents, wall and CPU time, kWh, euros and
    /// gCO2 (measured energy where the machine allows, estimated and flagged where not),
    /// with the work reused from earlier runs and what it saved.
    Bill {
        /// The recipe file.
        #[arg(default_value = "atelier.toml")]
        recipe: PathBuf,
        /// Print the bill as JSON.
        #[arg(long)]
        json: bool,
        /// Also price the same work's carbon in another country (ISO code, or EU).
        #[arg(long)]
        country: Option<String>,
    },
    /// Price a planned training before anyone spends: FLOPs (6ND), GPU-hours, wall time,
    /// kWh, euros and CO2; or, from a budget, the largest compute-optimal model it buys.
    Estimate(bill::EstimateArgs),
    /// Write one self-contained HTML report of the last run (no network): the funnel of
    /// documents kept and dropped, languages, lengths and the bill, as SVG plots.
    Report {
        /// The recipe file.
        #[arg(default_value = "atelier.toml")]
        recipe: PathBuf,
        /// Where to write it (default: report.html in the output folder).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Train the recipe's `[train]` model on a dataset version (the newest by default),
    /// evaluate it on the held-out test documents, and keep it as a model version.
    /// `atelier run` does this after each successful run of a recipe with `[train]`.
    Train {
        /// The recipe file.
        #[arg(default_value = "atelier.toml")]
        recipe: PathBuf,
        /// The dataset version or alias to train on.
        #[arg(long)]
        dataset: Option<String>,
        /// Print the model version's manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the dataset versions of a project: every successful run is one, kept in
    /// `.atelier/versions/` beside the recipe.
    Versions(versions::VersionsArgs),
    /// Show one version: its recipe, sources and their hashes, steps and settings,
    /// shards and their hashes, and its counters.
    Show(versions::ShowArgs),
    /// What changed between two versions: documents added and removed (by id),
    /// sources, settings and counters.
    Diff(versions::DiffArgs),
    /// Remove from the project store what no version reaches (work cached by runs that
    /// made no version, versions dropped with --keep-last).
    Gc(versions::GcArgs),
    /// Point an alias (`prod`, ...) at a version, or remove it.
    Alias(versions::AliasArgs),
    /// Serve a model version over HTTP: classify, list versions, hot swap and roll back
    /// without a failed request, follow the `prod` alias, health, Prometheus metrics and
    /// a web page at `/`.
    Serve(serve::ServeArgs),
    /// Train, evaluate, predict with and quantize text classifiers that fastText reads
    /// and writes (`.bin`, `.ftz`), with fastText's options and output formats.
    ///
    /// fastText's command lines work as they are (`atelier classifier supervised -input
    /// train.txt -output model -wordNgrams 2`); `atelier classifier --help` lists the
    /// subcommands.
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Classifier(classifier::ClassifierArgs),
    /// Language models (GGUF, llama family): generate, tokenize, import into the
    /// project store, re-quantize, describe.
    #[command(subcommand)]
    Lm(lm::LmCommand),
    /// Chat with a language model in the terminal, its answers streamed as they come.
    Chat(lm::ChatArgs),
    /// Remove exact or near duplicates (MinHash-LSH, FineWeb defaults) from JSONL files
    /// into one JSONL file; the first copy in input order is kept.
    Dedup(oneshot::DedupArgs),
    /// Turn JSON-lines documents into token shards that trainers memory-map (datatrove,
    /// llm.c, Megatron layouts), with the tokenizer and an index beside them.
    Tokenize(tokens::TokenizeArgs),
    /// Train a byte-level BPE tokenizer, or export a GGUF model's as tokenizer.json.
    #[command(subcommand)]
    Tokenizer(tokens::TokenizerCommand),
    /// Fetch data: crawl sites into WARC files, or pull a domain from Common Crawl.
    #[command(subcommand)]
    Fetch(fetch::FetchCommand),
    /// Write a commented starter recipe, its folder layout and a small labelled sample
    /// that the recipe trains a model on.
    Init {
        /// The project folder to create or fill.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

/// Runs a subcommand.
pub fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Run(args) => run::run(&args),
        Command::Status { recipe } => run::status(&recipe),
        Command::Task {
            recipe,
            stage,
            rank,
        } => run::task(&recipe, &stage, rank),
        Command::Check { recipe } => recipe::check(&recipe),
        Command::Steps { example } => recipe::steps(example),
        Command::Init { dir } => recipe::init(&dir),
        Command::Extract(args) => oneshot::extract(&args),
        Command::Dedup(args) => oneshot::dedup(&args),
        Command::Bill {
            recipe,
            json,
            country,
        } => bill::bill(&recipe, json, country.as_deref()),
        Command::Estimate(args) => bill::estimate(&args),
        Command::Report { recipe, output } => bill::report(&recipe, output.as_deref()),
        Command::Train {
            recipe,
            dataset,
            json,
        } => train::command(&recipe, dataset.as_deref(), json),
        Command::Versions(args) => versions::list(&args),
        Command::Show(args) => versions::show(&args),
        Command::Diff(args) => versions::diff(&args),
        Command::Gc(args) => versions::gc(&args),
        Command::Alias(args) => versions::alias(&args),
        Command::Serve(args) => serve::serve(&args),
        Command::Classifier(args) => classifier::run(args),
        Command::Lm(command) => lm::run(command),
        Command::Chat(args) => lm::chat(&args),
        Command::Tokenize(args) => tokens::tokenize(&args),
        Command::Tokenizer(command) => tokens::tokenizer(&command),
        Command::Fetch(command) => fetch::run(command),
    }
}
