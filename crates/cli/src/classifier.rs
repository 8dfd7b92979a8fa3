//! `atelier classifier`: train, evaluate, predict with and quantize text classifiers
//! that fastText reads and writes, with fastText's commands, options and output formats.
//!
//! fastText's own command lines work as they are: `atelier classifier` followed by
//! what follows `fasttext`.
//!
//! | fastText | atelier's own spelling |
//! | --- | --- |
//! | `supervised -input F -output M` (writes `M.bin`, `M.vec`) | `train --input F --output M.bin` (writes `M.bin`) |
//! | `test M F [K] [TH]` | `test M F [--k K] [--threshold TH]` |
//! | `test-label M F [K] [TH]` | `test M F --per-label` |
//! | `predict[-prob] M F [K] [TH]` | `predict M F [--k K] [--prob]` |
//! | `quantize -output M [-input F]` (reads `M.bin`, writes `M.ftz`) | `quantize M.bin [--input F] [--output M.ftz]` |
//!
//! clap takes long options after two dashes only, so [`fasttext_spelling`] rewrites the
//! arguments before clap reads them: fastText's single-dash options become the long
//! options they name ([`FASTTEXT_OPTIONS`] is the table), `test-label` becomes `test
//! --per-label` and `predict-prob` `predict --prob`. A single-dash word that is not
//! one of fastText's options is refused, with the options it could have meant.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use atelier_fasttext::{
    Autotune, Fixed, LossKind, Model, QuantizeArgs, QuantizeProgress, TrainArgs, format_g,
};
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};
use indicatif::HumanBytes;

/// `atelier classifier`'s arguments as given: they are parsed by [`run`], once
/// fastText's spellings are rewritten, so this takes them all, `--help` included.
#[derive(Args)]
pub struct ClassifierArgs {
    /// A subcommand and its arguments, in atelier's or in fastText's spelling.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 0..,
        value_name = "ARGS"
    )]
    args: Vec<OsString>,
}

/// The `classifier` command line, once rewritten.
#[derive(Parser)]
#[command(
    name = "atelier classifier",
    version,
    about = "Train, evaluate, predict with and quantize text classifiers that fastText \
             reads and writes (.bin, .ftz), with fastText's options and output formats.",
    long_about = "Train, evaluate, predict with and quantize text classifiers that fastText \
                  reads and writes (.bin, .ftz), with fastText's options and output formats.\n\n\
                  fastText's command lines work as they are (`atelier classifier supervised \
                  -input train.txt -output model -wordNgrams 2`, `atelier classifier \
                  predict-prob model.bin - 1`): single-dash options are read as the long \
                  options they name, `test-label` as `test --per-label`, `predict-prob` as \
                  `predict --prob`.",
    arg_required_else_help = true
)]
struct ClassifierCli {
    #[command(subcommand)]
    command: ClassifierCommand,
}

/// The `classifier` subcommands.
#[derive(Subcommand)]
enum ClassifierCommand {
    /// Train a classifier on lines of `__label__NAME text` (fastText's `supervised`) and
    /// write it as a fastText `.bin` model.
    ///
    /// Lines without a label and empty lines are left out and counted. Options keep
    /// fastText's names and defaults: `-wordNgrams 2` (fastText's spelling), or
    /// `--word-ngrams 2`. An `--output` that ends in `.bin` (or `.ftz`) is the model
    /// file; any other is a prefix, as fastText's `-output`: PREFIX.bin and the word
    /// vectors PREFIX.vec are written.
    #[command(visible_alias = "supervised")]
    Train(Box<TrainCli>),
    /// Evaluate a model on labelled lines: prints `N`, `P@K` and `R@K`, tab-separated,
    /// as `fasttext test` does (`test-label`: `test --per-label`).
    #[command(visible_alias = "test-label")]
    Test(TestCli),
    /// Predict the labels of every line of a file (`-` for standard input): one output
    /// line per input line, labels first (with `--prob`, each followed by its
    /// probability), as `fasttext predict` does (`predict-prob`: `predict --prob`).
    #[command(visible_alias = "predict-prob")]
    Predict(PredictCli),
    /// Quantize a model into a small `.ftz` model (fastText's `quantize`): product
    /// quantization of the input matrix, optionally after keeping only the `--cutoff`
    /// rows of largest norm and retraining them.
    ///
    /// `quantize M.bin` writes M.ftz; `quantize -output M`, as fastText, reads M.bin and
    /// writes M.ftz.
    Quantize(QuantizeCli),
}

/// `atelier classifier train`.
#[derive(Args)]
struct TrainCli {
    /// Training data: one example per line, `__label__NAME words...` (`-` for standard
    /// input).
    #[arg(long, short)]
    input: PathBuf,
    /// The model file (`.bin`), or a prefix as fastText's `-output`: PREFIX.bin and
    /// PREFIX.vec (PREFIX.ftz with `--autotune-modelsize`).
    #[arg(long, short)]
    output: PathBuf,
    /// Learning rate at the start; it decays linearly to zero [default: 0.1].
    #[arg(long)]
    lr: Option<f64>,
    /// Passes over the training data [default: 5].
    #[arg(long)]
    epoch: Option<usize>,
    /// Longest word n-gram (1: words only) [default: 1].
    #[arg(long, alias = "wordNgrams")]
    word_ngrams: Option<usize>,
    /// Size of the vectors [default: 100].
    #[arg(long)]
    dim: Option<usize>,
    /// Loss: softmax, ns (negative sampling), hs (hierarchical softmax), ova
    /// (one-vs-all, for several labels per line) [default: softmax].
    #[arg(long, value_parser = parse_loss)]
    loss: Option<LossKind>,
    /// Hash buckets for word and character n-grams (0 when there are none)
    /// [default: 2000000].
    #[arg(long)]
    bucket: Option<usize>,
    /// Shortest character n-gram [default: 0].
    #[arg(long)]
    minn: Option<usize>,
    /// Longest character n-gram (0: none) [default: 0].
    #[arg(long)]
    maxn: Option<usize>,
    /// Training threads (default: the CPUs available).
    #[arg(long, alias = "thread")]
    threads: Option<usize>,
    /// Seed of the random draws: one thread and one seed give one model.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Pretrained word vectors (`.vec` text format) to start from; their dimension must
    /// be `--dim`.
    #[arg(long, alias = "pretrainedVectors")]
    pretrained: Option<PathBuf>,
    /// A previous supervised model (`.bin`) to start from: rows of the words, n-grams
    /// and labels it knows are copied before training; its dimension must be `--dim`.
    #[arg(long)]
    warm_start: Option<PathBuf>,
    /// Words seen fewer times are left out.
    #[arg(long, default_value_t = 1, alias = "minCount")]
    min_count: u64,
    /// Labels seen fewer times are left out.
    #[arg(long, default_value_t = 0, alias = "minCountLabel")]
    min_count_label: u64,
    /// Negatives sampled per example (loss ns).
    #[arg(long, default_value_t = 5)]
    neg: usize,
    /// Tokens between updates of the learning rate.
    #[arg(long, default_value_t = 100, alias = "lrUpdateRate")]
    lr_update_rate: usize,
    /// What starts a label in the training data.
    #[arg(long, default_value = atelier_fasttext::LABEL_PREFIX)]
    label: String,
    /// Context window, kept in the model file (used by word-vector models only).
    #[arg(long, default_value_t = 5)]
    ws: usize,
    /// Sampling threshold, kept in the model file (fastText's `-t`; used by
    /// word-vector models only).
    #[arg(long, default_value_t = 1e-4)]
    sampling_threshold: f64,
    /// Also write the output vectors, one per label, to PREFIX.output.
    #[arg(long, alias = "saveOutput")]
    save_output: bool,
    /// Autotune: search the arguments that score best on this validation file (lines
    /// as in `--input`); arguments given on the command line are kept as given.
    #[arg(long, alias = "autotune-validation-file")]
    autotune_validation: Option<PathBuf>,
    /// Autotune's time budget in seconds.
    #[arg(long, default_value_t = 300)]
    autotune_duration: u64,
    /// Autotune's score: `f1` over all labels, or `f1:LABEL` for one label.
    #[arg(long, default_value = "f1")]
    autotune_metric: String,
    /// Labels predicted per validation line when autotuning.
    #[arg(long, default_value_t = 1)]
    autotune_predictions: usize,
    /// Autotune for a quantized model of at most this size (`2M`: 2,000,000 bytes;
    /// units k, m, g): every trial is quantized to fit it, and the model is written as
    /// `.ftz`.
    #[arg(long, value_parser = parse_model_size)]
    autotune_modelsize: Option<u64>,
    /// Values per sub-vector of the quantization, with `--autotune-modelsize` (searched
    /// unless given) [default: 2].
    #[arg(long)]
    dsub: Option<usize>,
    /// 0 prints nothing but errors; 1 or more the summary [default: 2].
    #[arg(long)]
    verbose: Option<u8>,
    /// Print nothing but errors (`--verbose 0`).
    #[arg(long, short)]
    quiet: bool,
}

/// `atelier classifier test`.
#[derive(Args)]
struct TestCli {
    /// The model (`.bin` or `.ftz`).
    model: PathBuf,
    /// Labelled lines (`-` for standard input).
    file: PathBuf,
    /// Labels predicted per line, as fastText's third argument (-1: all) [default: 1].
    #[arg(value_name = "K", allow_negative_numbers = true)]
    k_positional: Option<i64>,
    /// Only labels at least this probable are predicted, as fastText's fourth argument
    /// [default: 0].
    #[arg(value_name = "THRESHOLD", requires = "k_positional")]
    threshold_positional: Option<f32>,
    /// Labels predicted per line (-1: all) [default: 1].
    #[arg(long, allow_negative_numbers = true, conflicts_with = "k_positional")]
    k: Option<i64>,
    /// Only labels at least this probable are predicted [default: 0].
    #[arg(long, conflicts_with = "threshold_positional")]
    threshold: Option<f32>,
    /// First print F1-score, precision and recall of every label (`fasttext
    /// test-label`).
    #[arg(long)]
    per_label: bool,
    /// Threads (default: the CPUs available).
    #[arg(long, alias = "thread")]
    threads: Option<usize>,
}

/// `atelier classifier predict`.
#[derive(Args)]
struct PredictCli {
    /// The model (`.bin` or `.ftz`).
    model: PathBuf,
    /// Lines to classify (`-` for standard input).
    file: PathBuf,
    /// Labels predicted per line, as fastText's third argument (-1: all) [default: 1].
    #[arg(value_name = "K", allow_negative_numbers = true)]
    k_positional: Option<i64>,
    /// Only labels at least this probable are printed, as fastText's fourth argument
    /// [default: 0].
    #[arg(value_name = "THRESHOLD", requires = "k_positional")]
    threshold_positional: Option<f32>,
    /// Labels predicted per line (-1: all) [default: 1].
    #[arg(long, allow_negative_numbers = true, conflicts_with = "k_positional")]
    k: Option<i64>,
    /// Print each label's probability after it (`fasttext predict-prob`).
    #[arg(long)]
    prob: bool,
    /// Only labels at least this probable are printed [default: 0].
    #[arg(long, conflicts_with = "threshold_positional")]
    threshold: Option<f32>,
    /// Threads (default: the CPUs available).
    #[arg(long, alias = "thread")]
    threads: Option<usize>,
}

/// `atelier classifier quantize`.
#[derive(Args)]
struct QuantizeCli {
    /// The model to quantize (`.bin`); without it, `--output` is fastText's prefix:
    /// PREFIX.bin is read and PREFIX.ftz written.
    model: Option<PathBuf>,
    /// Where to write the quantized model (default: the model's name with `.ftz`).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// The training data, needed with `--retrain`.
    #[arg(long, short)]
    input: Option<PathBuf>,
    /// Keep only this many input rows, those of largest norm (0: all).
    #[arg(long, default_value_t = 0)]
    cutoff: usize,
    /// Retrain after the cutoff (needs `--input`).
    #[arg(long)]
    retrain: bool,
    /// Quantize the norms of the rows separately.
    #[arg(long)]
    qnorm: bool,
    /// Quantize the output matrix too (needs 256 labels or more).
    #[arg(long)]
    qout: bool,
    /// Values per sub-vector.
    #[arg(long, default_value_t = 2)]
    dsub: usize,
    /// Epochs of the retraining.
    #[arg(long, default_value_t = 5)]
    epoch: usize,
    /// Learning rate of the retraining.
    #[arg(long, default_value_t = 0.05)]
    lr: f64,
    /// Threads (default: the CPUs available).
    #[arg(long, alias = "thread")]
    threads: Option<usize>,
    /// Seed of k-means and of the retraining.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// 0 prints nothing but errors [default: 2].
    #[arg(long)]
    verbose: Option<u8>,
    /// Print nothing but errors (`--verbose 0`).
    #[arg(long, short)]
    quiet: bool,
}

/// Which subcommands take a fastText option.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// `supervised` (`train`).
    Train,
    /// `quantize`.
    Quantize,
    /// Both.
    Both,
    /// Every subcommand.
    All,
}

/// One of fastText's options: its name after the dash, the long option it is here,
/// whether a value follows it, and the subcommands that take it.
struct Spelling {
    fasttext: &'static str,
    ours: &'static str,
    value: bool,
    takes: Takes,
}

const fn spelling(
    fasttext: &'static str,
    ours: &'static str,
    value: bool,
    takes: Takes,
) -> Spelling {
    Spelling {
        fasttext,
        ours,
        value,
        takes,
    }
}

/// fastText's options (`fasttext supervised` and `fasttext quantize`, which print them
/// all) and the long options they are here.
const FASTTEXT_OPTIONS: &[Spelling] = &[
    spelling("input", "--input", true, Takes::Both),
    spelling("output", "--output", true, Takes::Both),
    spelling("verbose", "--verbose", true, Takes::Both),
    spelling("minCount", "--min-count", true, Takes::Train),
    spelling("minCountLabel", "--min-count-label", true, Takes::Train),
    spelling("wordNgrams", "--word-ngrams", true, Takes::Train),
    spelling("bucket", "--bucket", true, Takes::Train),
    spelling("minn", "--minn", true, Takes::Train),
    spelling("maxn", "--maxn", true, Takes::Train),
    spelling("t", "--sampling-threshold", true, Takes::Train),
    spelling("label", "--label", true, Takes::Train),
    spelling("lr", "--lr", true, Takes::Both),
    spelling("lrUpdateRate", "--lr-update-rate", true, Takes::Train),
    spelling("dim", "--dim", true, Takes::Train),
    spelling("ws", "--ws", true, Takes::Train),
    spelling("epoch", "--epoch", true, Takes::Both),
    spelling("neg", "--neg", true, Takes::Train),
    spelling("loss", "--loss", true, Takes::Train),
    spelling("thread", "--threads", true, Takes::All),
    spelling("pretrainedVectors", "--pretrained", true, Takes::Train),
    spelling("saveOutput", "--save-output", false, Takes::Train),
    spelling("seed", "--seed", true, Takes::Both),
    spelling(
        "autotune-validation",
        "--autotune-validation",
        true,
        Takes::Train,
    ),
    spelling("autotune-metric", "--autotune-metric", true, Takes::Train),
    spelling(
        "autotune-predictions",
        "--autotune-predictions",
        true,
        Takes::Train,
    ),
    spelling(
        "autotune-duration",
        "--autotune-duration",
        true,
        Takes::Train,
    ),
    spelling(
        "autotune-modelsize",
        "--autotune-modelsize",
        true,
        Takes::Train,
    ),
    spelling("cutoff", "--cutoff", true, Takes::Quantize),
    spelling("retrain", "--retrain", false, Takes::Quantize),
    spelling("qnorm", "--qnorm", false, Takes::Quantize),
    spelling("qout", "--qout", false, Takes::Quantize),
    spelling("dsub", "--dsub", true, Takes::Both),
];

impl Takes {
    fn includes(self, subcommand: &str) -> bool {
        match self {
            Takes::All => true,
            Takes::Both => matches!(subcommand, "train" | "quantize"),
            Takes::Train => subcommand == "train",
            Takes::Quantize => subcommand == "quantize",
        }
    }
}

/// A command line as clap reads it: fastText's spellings rewritten (see the module's
/// doc), or the error to report. `args` is what follows `atelier classifier`.
fn fasttext_spelling(args: &[OsString]) -> Result<Vec<OsString>, clap::Error> {
    let command = ClassifierCli::command();
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut rest = args.iter();
    // Options before the subcommand (`--help`, `--version`) are clap's.
    let subcommand = loop {
        let Some(arg) = rest.next() else {
            return Ok(out);
        };
        match arg.to_str() {
            Some("test-label") => {
                out.extend(["test".into(), "--per-label".into()]);
                break "test";
            }
            Some("predict-prob") => {
                out.extend(["predict".into(), "--prob".into()]);
                break "predict";
            }
            Some(name) if !name.starts_with('-') => {
                out.push(arg.clone());
                match command.find_subcommand(name) {
                    Some(sub) => break sub.get_name(),
                    // clap reports the unknown subcommand.
                    None => {
                        out.extend(rest.cloned());
                        return Ok(out);
                    }
                }
            }
            _ => out.push(arg.clone()),
        }
    };
    let sub = command
        .find_subcommand(subcommand)
        .expect("a known subcommand");
    // Whether an option of ours, `--name` or `-c`, takes the next argument as its value.
    let takes_value = |arg: &str| {
        let found = if let Some(long) = arg.strip_prefix("--") {
            sub.get_arguments().find(|a| {
                a.get_long() == Some(long)
                    || a.get_all_aliases().is_some_and(|all| all.contains(&long))
            })
        } else {
            let short = arg.chars().nth(1);
            sub.get_arguments().find(|a| a.get_short() == short)
        };
        found.is_some_and(|a| a.get_action().takes_values())
    };
    while let Some(arg) = rest.next() {
        let Some(text) = arg.to_str() else {
            out.push(arg.clone());
            continue;
        };
        if text == "--" {
            out.push(arg.clone());
            out.extend(rest.cloned());
            break;
        }
        let single_dash_word = text.starts_with('-')
            && !text.starts_with("--")
            && text.len() > 1
            && text.parse::<f64>().is_err();
        if !single_dash_word {
            out.push(arg.clone());
            if text.starts_with("--") && !text.contains('=') && takes_value(text) {
                out.extend(rest.next().cloned());
            }
            continue;
        }
        let name = &text[1..];
        match FASTTEXT_OPTIONS.iter().find(|o| o.fasttext == name) {
            Some(o) if o.takes.includes(subcommand) => {
                out.push(o.ours.into());
                if o.value {
                    out.extend(rest.next().cloned());
                }
            }
            Some(o) => {
                let which = match o.takes {
                    Takes::Train => "train (supervised)",
                    Takes::Quantize => "quantize",
                    Takes::Both | Takes::All => "train (supervised) and quantize",
                };
                return Err(spelling_error(format!(
                    "fastText's -{name} is an option of `atelier classifier {which}`, \
                     not of `{subcommand}`"
                )));
            }
            // `-i`, `-o`, `-q`, `-h`: clap's short options.
            None if name.chars().count() == 1 => {
                out.push(arg.clone());
                if takes_value(text) {
                    out.extend(rest.next().cloned());
                }
            }
            None => {
                let known: Vec<String> = FASTTEXT_OPTIONS
                    .iter()
                    .filter(|o| o.takes.includes(subcommand))
                    .map(|o| format!("-{}", o.fasttext))
                    .collect();
                let hint = if known.is_empty() {
                    format!("`{subcommand}` takes none of fastText's options")
                } else {
                    format!("fastText's options of `{subcommand}`: {}", known.join(" "))
                };
                // fastText's names are case-sensitive: `-wordngrams` means `-wordNgrams`.
                let meant = FASTTEXT_OPTIONS
                    .iter()
                    .find(|o| o.fasttext.eq_ignore_ascii_case(name))
                    .map_or(String::new(), |o| {
                        format!("; did you mean -{}?", o.fasttext)
                    });
                return Err(spelling_error(format!(
                    "unknown option -{name}{meant} ({hint}; atelier's own are spelled \
                     --name, see --help)"
                )));
            }
        }
    }
    Ok(out)
}

fn spelling_error(message: String) -> clap::Error {
    ClassifierCli::command().error(ErrorKind::UnknownArgument, message)
}

fn parse_loss(name: &str) -> Result<LossKind, String> {
    LossKind::from_name(name)
        .ok_or_else(|| format!("unknown loss {name:?} (softmax, ns, hs, ova, one-vs-all)"))
}

/// A model size as fastText's `-autotune-modelsize` reads it: bytes, or a number
/// followed by k, m or g (thousands, millions, billions; either case).
fn parse_model_size(text: &str) -> Result<u64, String> {
    let (number, unit) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 1_000),
        Some((i, 'm' | 'M')) => (&text[..i], 1_000_000),
        Some((i, 'g' | 'G')) => (&text[..i], 1_000_000_000),
        _ => (text, 1),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{text:?} is not a model size (bytes, or a number and k, m or g)"))
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `atelier classifier`: fastText's spellings rewritten, parsed, and run.
pub fn run(args: ClassifierArgs) -> Result<ExitCode> {
    let argv = fasttext_spelling(&args.args).unwrap_or_else(|e| e.exit());
    let program = OsString::from("atelier classifier");
    let cli = ClassifierCli::try_parse_from(std::iter::once(program).chain(argv))
        .unwrap_or_else(|e| e.exit());
    match cli.command {
        ClassifierCommand::Train(cli) => train(&cli),
        ClassifierCommand::Test(cli) => test(&cli),
        ClassifierCommand::Predict(cli) => predict(&cli),
        ClassifierCommand::Quantize(cli) => quantize(&cli),
    }
}

fn read_input(path: &Path) -> Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut data = Vec::new();
        io::stdin()
            .lock()
            .read_to_end(&mut data)
            .context("reading standard input")?;
        Ok(data)
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    }
}

fn load(path: &Path) -> Result<Model> {
    Model::load(path).map_err(|e| {
        // A file error names the file already.
        let what = match e {
            atelier_fasttext::Error::Io { .. } => "loading a model".to_owned(),
            _ => format!("loading model {}", path.display()),
        };
        anyhow::Error::new(e).context(what)
    })
}

/// `path` with `extension` appended (`m` and `bin` give `m.bin`; `m.v2` gives
/// `m.v2.bin`), as fastText appends to its `-output` prefix.
fn with_suffix(path: &Path, extension: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

/// Whether a path names a model file (`.bin` or `.ftz`) rather than a fastText prefix.
fn is_model_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == OsStr::new("bin") || e == OsStr::new("ftz"))
}

/// The files a training writes.
#[derive(Debug, PartialEq)]
struct TrainOutputs {
    /// The model.
    model: PathBuf,
    /// The word vectors (`.vec`), with a fastText prefix.
    vectors: Option<PathBuf>,
    /// The output vectors (`.output`), with `--save-output`.
    output_vectors: Option<PathBuf>,
}

/// Where a training writes, from `--output`: a `.bin` (or `.ftz`) file is the model
/// alone, as atelier always wrote it; anything else is fastText's prefix, PREFIX.bin
/// (PREFIX.ftz when `quantized`) and PREFIX.vec. `--save-output` adds PREFIX.output (or
/// the model's name with `.output`).
fn train_outputs(output: &Path, quantized: bool, save_output: bool) -> Result<TrainOutputs> {
    if save_output && quantized {
        bail!(
            "--save-output cannot go with --autotune-modelsize: a quantized model has no output vectors to save"
        );
    }
    if is_model_file(output) {
        if quantized && output.extension() == Some(OsStr::new("bin")) {
            bail!(
                "--autotune-modelsize makes a quantized model: name it .ftz, not {}",
                output.display()
            );
        }
        return Ok(TrainOutputs {
            model: output.to_path_buf(),
            vectors: None,
            output_vectors: save_output.then(|| output.with_extension("output")),
        });
    }
    Ok(TrainOutputs {
        model: with_suffix(output, if quantized { "ftz" } else { "bin" }),
        vectors: Some(with_suffix(output, "vec")),
        output_vectors: save_output.then(|| with_suffix(output, "output")),
    })
}

fn train(cli: &TrainCli) -> Result<ExitCode> {
    let quiet = cli.quiet || cli.verbose == Some(0);
    let outputs = train_outputs(
        &cli.output,
        cli.autotune_modelsize.is_some(),
        cli.save_output,
    )?;
    if cli.autotune_modelsize.is_some() && cli.autotune_validation.is_none() {
        bail!("--autotune-modelsize needs --autotune-validation (fastText's -autotune-validation)");
    }
    // Refuse an output folder that does not exist before training, not after.
    if let Some(dir) = outputs
        .model
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.is_dir())
    {
        bail!(
            "cannot write {}: no folder {}",
            outputs.model.display(),
            dir.display()
        );
    }
    let d = TrainArgs::default();
    let mut args = TrainArgs {
        lr: cli.lr.unwrap_or(d.lr),
        dim: cli.dim.unwrap_or(d.dim),
        ws: cli.ws,
        epoch: cli.epoch.unwrap_or(d.epoch),
        min_count: cli.min_count,
        min_count_label: cli.min_count_label,
        neg: cli.neg,
        word_ngrams: cli.word_ngrams.unwrap_or(d.word_ngrams),
        loss: cli.loss.unwrap_or(d.loss),
        bucket: cli.bucket.unwrap_or(d.bucket),
        minn: cli.minn.unwrap_or(d.minn),
        maxn: cli.maxn.unwrap_or(d.maxn),
        threads: cli.threads.unwrap_or_else(cpus),
        lr_update_rate: cli.lr_update_rate,
        t: cli.sampling_threshold,
        label: cli.label.clone(),
        seed: cli.seed,
        pretrained: cli.pretrained.clone(),
        warm_start: cli.warm_start.clone(),
    };
    let data = read_input(&cli.input)?;
    let data_len = data.len() as u64;
    let trained = match &cli.autotune_validation {
        None => {
            let bar = crate::progress::TrainingBar::new("training");
            atelier_fasttext::train_with_progress(&args, &data, &|p| bar.report(p))
                .with_context(|| format!("training on {}", cli.input.display()))?
        }
        Some(valid_path) => {
            let valid = read_input(valid_path)?;
            let label = match cli.autotune_metric.as_str() {
                "f1" => None,
                m => Some(
                    m.strip_prefix("f1:")
                        .with_context(|| format!("unknown autotune metric {m:?} (f1, f1:LABEL)"))?
                        .to_string(),
                ),
            };
            let tune = Autotune {
                duration: Duration::from_secs(cli.autotune_duration),
                label,
                k: cli.autotune_predictions,
                fixed: Fixed {
                    epoch: cli.epoch.is_some(),
                    lr: cli.lr.is_some(),
                    dim: cli.dim.is_some(),
                    word_ngrams: cli.word_ngrams.is_some(),
                    char_ngrams: cli.minn.is_some() || cli.maxn.is_some(),
                    bucket: cli.bucket.is_some(),
                    loss: cli.loss.is_some(),
                    dsub: cli.dsub.is_some(),
                },
                model_size: cli.autotune_modelsize,
                dsub: cli.dsub.unwrap_or(2),
            };
            let tuned = atelier_fasttext::autotune(&args, &data, &valid, &tune)
                .with_context(|| format!("autotuning on {}", cli.input.display()))?;
            if !quiet {
                let a = &tuned.args;
                let quantized = match &tuned.quantized {
                    Some(q) => format!(" --dsub {} (cutoff {})", q.dsub, q.cutoff),
                    None => String::new(),
                };
                eprintln!(
                    "Autotune: {} trials, best {} {:.6} with --epoch {} --lr {:.4} --dim {} \
                     --word-ngrams {} --minn {} --maxn {} --bucket {} --loss {}{quantized}",
                    tuned.trials,
                    cli.autotune_metric,
                    tuned.score,
                    a.epoch,
                    a.lr,
                    a.dim,
                    a.word_ngrams,
                    a.minn,
                    a.maxn,
                    a.bucket,
                    a.loss.name()
                );
                if tuned.too_large > 0 {
                    eprintln!(
                        "Autotune: {} trials left out, their model too large for {} bytes",
                        tuned.too_large,
                        cli.autotune_modelsize.unwrap_or(0)
                    );
                }
            }
            args = tuned.args;
            tuned.trained
        }
    };
    drop(data);
    let s = trained.stats;
    if !quiet {
        eprintln!("Read {}M words", s.tokens / 1_000_000);
        eprintln!("Number of words:  {}", s.words);
        eprintln!("Number of labels: {}", s.labels);
        eprintln!(
            "Lines: {} ({} trained on, {} without a label, {} empty)",
            s.lines.lines, s.lines.examples, s.lines.unlabeled, s.lines.empty
        );
        let per_thread = (s.tokens as f64 * args.epoch as f64) / s.seconds / args.threads as f64;
        eprintln!(
            "Trained in {:.2}s: {} epochs, {} threads, {:.0} words/sec/thread, avg.loss {:.6}",
            s.seconds, args.epoch, args.threads, per_thread, s.loss
        );
    }
    let model = &trained.model;
    model
        .save(&outputs.model)
        .with_context(|| format!("writing {}", outputs.model.display()))?;
    let mut written = vec![outputs.model.display().to_string()];
    if let Some(path) = &outputs.vectors {
        model
            .save_vectors(path)
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path.display().to_string());
    }
    if let Some(path) = &outputs.output_vectors {
        model
            .save_output_vectors(path)
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path.display().to_string());
    }
    if !quiet {
        let size = std::fs::metadata(&outputs.model).map_or(0, |m| m.len());
        eprintln!("Wrote {} ({})", written.join(", "), HumanBytes(size));
        let explicit_bucket = cli.bucket.is_some() || cli.autotune_validation.is_some();
        if let Some(note) = bucket_note(&args, s.buckets_used, data_len, size, explicit_bucket) {
            eprintln!("{note}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A note for a model whose default 2M n-gram buckets make it far larger than its
/// training data needs: the buckets' matrix over ten times the data, of which training
/// used few. It suggests a `-bucket` about ten times the buckets used (so that n-grams
/// rarely share one), rounded up to one significant digit.
fn bucket_note(
    args: &TrainArgs,
    used: usize,
    data_len: u64,
    model_size: u64,
    explicit_bucket: bool,
) -> Option<String> {
    let ngrams = args.word_ngrams > 1 || args.maxn > 0;
    let matrix = args.bucket as u64 * args.dim as u64 * 4;
    if explicit_bucket || !ngrams || matrix <= data_len.saturating_mul(10) {
        return None;
    }
    let suggested = round_up(used.saturating_mul(10).max(10_000) as u64);
    if suggested * 2 > args.bucket as u64 {
        return None;
    }
    let smaller = model_size.saturating_sub((args.bucket as u64 - suggested) * args.dim as u64 * 4);
    Some(format!(
        "note: {} n-gram buckets make a {} model for {} of training data, which uses \
         {used} of them: -bucket {suggested} would make it {} and faster to load",
        args.bucket,
        HumanBytes(model_size),
        HumanBytes(data_len),
        HumanBytes(smaller),
    ))
}

/// `n` rounded up to one significant digit (41234 gives 50000).
fn round_up(n: u64) -> u64 {
    let mut unit = 1;
    while n / unit >= 10 {
        unit *= 10;
    }
    n.div_ceil(unit) * unit
}

/// `k` as fastText takes it: -1 (or any negative) for all labels, else at least 1.
fn top_k(k: i64) -> Result<usize> {
    match k {
        0 => bail!("k needs to be 1 or higher (or -1 for all labels)"),
        k if k < 0 => Ok(usize::MAX),
        k => Ok(k as usize),
    }
}

fn test(cli: &TestCli) -> Result<ExitCode> {
    let k_given = cli.k.or(cli.k_positional).unwrap_or(1);
    let threshold = cli.threshold.or(cli.threshold_positional).unwrap_or(0.0);
    let k = top_k(k_given)?;
    let model = load(&cli.model)?;
    let data = read_input(&cli.file)?;
    let meter = model.test(&data, k, threshold, cli.threads.unwrap_or_else(cpus));
    let mut out = io::stdout().lock();
    if cli.per_label {
        let metric = |v: f64| {
            if v.is_finite() {
                format!("{v:.6}")
            } else {
                "--------".to_string()
            }
        };
        for (label, counts) in model.labels().iter().zip(&meter.labels) {
            writeln!(
                out,
                "F1-Score : {}  Precision : {}  Recall : {}   {label}",
                metric(counts.f1()),
                metric(counts.precision()),
                metric(counts.recall())
            )?;
        }
    }
    // fastText prints the per-label scores in fixed notation, and its stream stays so:
    // after them, precision and recall come with three decimals (`0.930`).
    let general = |v: f64| match cli.per_label && v.is_finite() {
        true => format!("{v:.3}"),
        false => format_g(v, 3),
    };
    writeln!(out, "N\t{}", meter.examples)?;
    writeln!(out, "P@{k_given}\t{}", general(meter.precision()))?;
    writeln!(out, "R@{k_given}\t{}", general(meter.recall()))?;
    out.flush()?;
    if meter.unknown_labels > 0 || meter.unlabeled > 0 {
        eprintln!(
            "left out: {} lines whose labels the model does not know, {} lines without a label",
            meter.unknown_labels, meter.unlabeled
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn predict(cli: &PredictCli) -> Result<ExitCode> {
    let k = top_k(cli.k.or(cli.k_positional).unwrap_or(1))?;
    let threshold = cli.threshold.or(cli.threshold_positional).unwrap_or(0.0);
    let model = load(&cli.model)?;
    let threads = cli.threads.unwrap_or_else(cpus).max(1);
    let input: Box<dyn Read> = if cli.file.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(&cli.file).with_context(|| format!("opening {}", cli.file.display()))?)
    };
    let mut input = BufReader::with_capacity(1 << 20, input);
    let mut out = io::BufWriter::with_capacity(1 << 20, io::stdout().lock());
    // Lines are read in blocks of about 4 MiB (whole lines, so a longer line makes a
    // longer block), predicted in parallel, and printed in order.
    const BLOCK: usize = 4 << 20;
    let mut block = Vec::with_capacity(BLOCK + 4096);
    loop {
        block.clear();
        while block.len() < BLOCK {
            if input.read_until(b'\n', &mut block)? == 0 {
                break;
            }
        }
        if block.is_empty() {
            break;
        }
        let pieces = split_at_lines(&block, threads);
        let outputs: Vec<Vec<u8>> = if pieces.len() == 1 {
            vec![predict_lines(&model, pieces[0], k, threshold, cli.prob)]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = pieces
                    .iter()
                    .map(|&p| s.spawn(|| predict_lines(&model, p, k, threshold, cli.prob)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a prediction thread panicked"))
                    .collect()
            })
        };
        for o in outputs {
            out.write_all(&o)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Splits `data` into at most `parts` pieces of whole lines.
fn split_at_lines(data: &[u8], parts: usize) -> Vec<&[u8]> {
    let mut pieces = Vec::with_capacity(parts);
    let mut start = 0;
    for part in 1..=parts {
        let mut end = (data.len() * part / parts).max(start);
        while end < data.len() && data[end - 1] != b'\n' {
            end += 1;
        }
        if end > start {
            pieces.push(&data[start..end]);
        }
        start = end;
    }
    if pieces.is_empty() {
        pieces.push(data);
    }
    pieces
}

/// One output line per input line of `lines`.
fn predict_lines(model: &Model, lines: &[u8], k: usize, threshold: f32, prob: bool) -> Vec<u8> {
    let mut predictor = model.predictor();
    let mut out = Vec::with_capacity(lines.len() / 4);
    let lines = lines.strip_suffix(b"\n").unwrap_or(lines);
    for line in lines.split(|&b| b == b'\n') {
        let mut first = true;
        for p in predictor.predict_bytes(line, k, threshold) {
            if !first {
                out.push(b' ');
            }
            first = false;
            out.extend_from_slice(model.label(p.label).as_bytes());
            if prob {
                out.push(b' ');
                out.extend_from_slice(format_g(f64::from(p.prob), 6).as_bytes());
            }
        }
        out.push(b'\n');
    }
    out
}

fn quantize(cli: &QuantizeCli) -> Result<ExitCode> {
    let quiet = cli.quiet || cli.verbose == Some(0);
    // `quantize M.bin [--output F]`, or fastText's `quantize -output M`: M.bin to M.ftz.
    let (model_path, output) = match (&cli.model, &cli.output) {
        (Some(model), output) => (
            model.clone(),
            output
                .clone()
                .unwrap_or_else(|| model.with_extension("ftz")),
        ),
        (None, Some(prefix)) => (with_suffix(prefix, "bin"), with_suffix(prefix, "ftz")),
        (None, None) => bail!("quantize needs the model: `quantize MODEL.bin` or `-output PREFIX`"),
    };
    if cli.retrain && cli.input.is_none() {
        bail!("--retrain needs the training data (--input)");
    }
    let start = Instant::now();
    let before = std::fs::metadata(&model_path).map_or(0, |m| m.len());
    let model = load(&model_path)?;
    let data = cli.input.as_deref().map(read_input).transpose()?;
    let qargs = QuantizeArgs {
        cutoff: cli.cutoff,
        retrain: cli.retrain,
        qnorm: cli.qnorm,
        qout: cli.qout,
        dsub: cli.dsub,
        epoch: cli.epoch,
        lr: cli.lr,
        threads: cli.threads.unwrap_or_else(cpus),
        seed: cli.seed,
    };
    let rows = model.input().rows();
    let dim = model.args().dim as usize;
    if !quiet {
        eprintln!(
            "Quantizing {} ({}): {rows} input rows of {dim} values, {} labels",
            model_path.display(),
            HumanBytes(before),
            model.labels().len()
        );
        if qargs.cutoff > 0 && qargs.cutoff < rows {
            let retrain = if qargs.retrain {
                format!(
                    ", then retraining them ({} epochs, lr {})",
                    qargs.epoch, qargs.lr
                )
            } else {
                String::new()
            };
            eprintln!("Keeping the {} rows of largest norm{retrain}", qargs.cutoff);
        }
        eprintln!(
            "Product quantization: {} sub-vectors of {} values per row, 256 centroids each{}{}",
            dim.div_ceil(qargs.dsub.max(1)),
            qargs.dsub,
            if qargs.qnorm { ", norms apart" } else { "" },
            if qargs.qout {
                ", output matrix too"
            } else {
                ""
            },
        );
    }
    let retraining = crate::progress::TrainingBar::new("retraining");
    let quantizing = crate::progress::TrainingBar::new("k-means   ");
    let quantized = model
        .quantize_with_progress(&qargs, data.as_deref(), &|p| match p {
            QuantizeProgress::Retraining(share) => retraining.report(share),
            QuantizeProgress::Quantizing(share) => quantizing.report(share),
        })
        .with_context(|| format!("quantizing {}", model_path.display()))?;
    drop((retraining, quantizing));
    quantized
        .save(&output)
        .with_context(|| format!("writing {}", output.display()))?;
    if !quiet {
        let after = std::fs::metadata(&output).map_or(0, |m| m.len());
        eprintln!(
            "Wrote {}: {} ({} before, {:.1}x smaller) in {:.2}s",
            output.display(),
            HumanBytes(after),
            HumanBytes(before),
            before as f64 / after.max(1) as f64,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(args: &str) -> Result<String, String> {
        let args: Vec<OsString> = args.split(' ').map(OsString::from).collect();
        fasttext_spelling(&args)
            .map(|out| {
                out.iter()
                    .map(|a| a.to_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn fasttext_options_become_long_options() {
        assert_eq!(
            rewrite(
                "supervised -input t.txt -output m -wordNgrams 2 -thread 1 -saveOutput -t 1e-3"
            )
            .unwrap(),
            "supervised --input t.txt --output m --word-ngrams 2 --threads 1 --save-output \
             --sampling-threshold 1e-3"
        );
        // A value that looks like an option is a value, after theirs and after ours.
        assert_eq!(
            rewrite("train -label -x- --label -y- -o -m -q").unwrap(),
            "train --label -x- --label -y- -o -m -q"
        );
        assert_eq!(
            rewrite("test-label m.bin t.txt -1 0.5").unwrap(),
            "test --per-label m.bin t.txt -1 0.5"
        );
        assert_eq!(
            rewrite("predict-prob m.bin - 1").unwrap(),
            "predict --prob m.bin - 1"
        );
        assert_eq!(
            rewrite("quantize -output m -input t.txt -qnorm -retrain -cutoff 10").unwrap(),
            "quantize --output m --input t.txt --qnorm --retrain --cutoff 10"
        );
        assert_eq!(rewrite("--help").unwrap(), "--help");
        assert_eq!(rewrite("train -- -input").unwrap(), "train -- -input");
    }

    #[test]
    fn unknown_or_misplaced_fasttext_options_are_refused() {
        let err = rewrite("supervised -input t.txt -wordngrams 2").unwrap_err();
        assert!(
            err.contains("unknown option -wordngrams; did you mean -wordNgrams?"),
            "{err}"
        );
        let err = rewrite("quantize -output m -wordNgrams 2").unwrap_err();
        assert!(
            err.contains("-wordNgrams is an option of `atelier classifier train"),
            "{err}"
        );
        let err = rewrite("test m.bin t.txt -cutoff 1").unwrap_err();
        assert!(err.contains("-cutoff"), "{err}");
    }

    #[test]
    fn every_fasttext_option_names_an_option_here() {
        for o in FASTTEXT_OPTIONS {
            for sub in ["train", "quantize", "test", "predict"] {
                if !o.takes.includes(sub) {
                    continue;
                }
                let command = ClassifierCli::command();
                let sub = command.find_subcommand(sub).unwrap();
                let long = o.ours.trim_start_matches("--");
                let arg = sub
                    .get_arguments()
                    .find(|a| a.get_long() == Some(long))
                    .unwrap_or_else(|| panic!("{} has no {}", sub.get_name(), o.ours));
                assert_eq!(arg.get_action().takes_values(), o.value, "{}", o.ours);
            }
        }
    }

    #[test]
    fn output_names_follow_fasttext_for_a_prefix() {
        let o = train_outputs(Path::new("m"), false, false).unwrap();
        assert_eq!(o.model, Path::new("m.bin"));
        assert_eq!(o.vectors.as_deref(), Some(Path::new("m.vec")));
        let o = train_outputs(Path::new("dir/m.v2"), true, false).unwrap();
        assert_eq!(o.model, Path::new("dir/m.v2.ftz"));
        let o = train_outputs(Path::new("model.bin"), false, true).unwrap();
        assert_eq!(o.model, Path::new("model.bin"));
        assert_eq!(o.vectors, None);
        assert_eq!(o.output_vectors.as_deref(), Some(Path::new("model.output")));
        assert!(train_outputs(Path::new("model.bin"), true, false).is_err());
    }

    #[test]
    fn model_sizes_read_as_fasttext_reads_them() {
        assert_eq!(parse_model_size("2M"), Ok(2_000_000));
        assert_eq!(parse_model_size("300k"), Ok(300_000));
        assert_eq!(parse_model_size("1g"), Ok(1_000_000_000));
        assert_eq!(parse_model_size("12345"), Ok(12_345));
        assert!(parse_model_size("2MB").is_err());
        assert!(parse_model_size("0").is_err());
    }

    #[test]
    fn the_bucket_note_suggests_ten_times_the_buckets_used() {
        assert_eq!(round_up(41_234), 50_000);
        assert_eq!(round_up(10_000), 10_000);
        assert_eq!(round_up(7), 7);
        let args = TrainArgs {
            word_ngrams: 2,
            ..TrainArgs::default()
        };
        let note = bucket_note(&args, 41_234, 400_000, 800_000_000, false).unwrap();
        assert!(note.contains("-bucket 500000"), "{note}");
        assert!(bucket_note(&args, 41_234, 400_000, 800_000_000, true).is_none());
        // Data as large as the matrix, or no n-grams: no note.
        assert!(bucket_note(&args, 41_234, 80_000_000, 800_000_000, false).is_none());
        let words = TrainArgs::default();
        assert!(bucket_note(&words, 0, 400_000, 800_000_000, false).is_none());
    }

    #[test]
    fn blocks_split_into_whole_lines() {
        let data = b"a\nbb\nccc\nd";
        for parts in 1..6 {
            let pieces = split_at_lines(data, parts);
            assert_eq!(pieces.concat(), data);
            for p in &pieces[..pieces.len() - 1] {
                assert!(p.ends_with(b"\n"));
            }
        }
    }
}
