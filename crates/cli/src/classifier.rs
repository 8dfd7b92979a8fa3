//! `atelier classifier`: train, evaluate, predict with and quantize text classifiers
//! that fastText reads and writes, with fastText's options and output formats.
//!
//! | atelier | fastText |
//! | --- | --- |
//! | `classifier train --input F --output M.bin` | `supervised -input F -output M` |
//! | `classifier test M F [--k K]` | `test M F [K]` |
//! | `classifier test M F --per-label` | `test-label M F` |
//! | `classifier predict M F [--k K] [--prob]` | `predict[-prob] M F [K]` |
//! | `classifier quantize M.bin [--input F]` | `quantize -output M [-input F]` |

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use atelier_fasttext::{Autotune, Fixed, LossKind, Model, QuantizeArgs, TrainArgs};
use clap::{Args, Subcommand};

/// The `classifier` subcommands.
#[derive(Subcommand)]
pub enum ClassifierCommand {
    /// Train a classifier on lines of `__label__NAME text` (fastText's `supervised`) and
    /// write it as a fastText `.bin` model.
    ///
    /// Lines without a label and empty lines are left out and counted. Options keep
    /// fastText's names and defaults (`--wordNgrams` and the like are accepted too).
    Train(TrainCli),
    /// Evaluate a model on labelled lines: prints `N`, `P@K` and `R@K`, tab-separated,
    /// as `fasttext test` does.
    Test(TestCli),
    /// Predict the labels of every line of a file (`-` for standard input): one output
    /// line per input line, labels first (with `--prob`, each followed by its
    /// probability), as `fasttext predict` does.
    Predict(PredictCli),
    /// Quantize a model into a small `.ftz` model (fastText's `quantize`): product
    /// quantization of the input matrix, optionally after keeping only the `--cutoff`
    /// rows of largest norm and retraining them.
    Quantize(QuantizeCli),
}

/// `atelier classifier train`.
#[derive(Args)]
pub struct TrainCli {
    /// Training data: one example per line, `__label__NAME words...`.
    #[arg(long, short)]
    input: PathBuf,
    /// Where to write the model (fastText `.bin` format).
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
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

/// `atelier classifier test`.
#[derive(Args)]
pub struct TestCli {
    /// The model (`.bin` or `.ftz`).
    model: PathBuf,
    /// Labelled lines (`-` for standard input).
    file: PathBuf,
    /// Labels predicted per line (-1: all).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    k: i64,
    /// Only labels at least this probable are predicted.
    #[arg(long, default_value_t = 0.0)]
    threshold: f32,
    /// First print F1-score, precision and recall of every label (`fasttext
    /// test-label`).
    #[arg(long)]
    per_label: bool,
    /// Threads (default: the CPUs available).
    #[arg(long)]
    threads: Option<usize>,
}

/// `atelier classifier predict`.
#[derive(Args)]
pub struct PredictCli {
    /// The model (`.bin` or `.ftz`).
    model: PathBuf,
    /// Lines to classify (`-` for standard input).
    file: PathBuf,
    /// Labels predicted per line (-1: all).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    k: i64,
    /// Print each label's probability after it (`fasttext predict-prob`).
    #[arg(long)]
    prob: bool,
    /// Only labels at least this probable are printed.
    #[arg(long, default_value_t = 0.0)]
    threshold: f32,
    /// Threads (default: the CPUs available).
    #[arg(long)]
    threads: Option<usize>,
}

/// `atelier classifier quantize`.
#[derive(Args)]
pub struct QuantizeCli {
    /// The model to quantize (`.bin`).
    model: PathBuf,
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
}

fn parse_loss(name: &str) -> Result<LossKind, String> {
    LossKind::from_name(name)
        .ok_or_else(|| format!("unknown loss {name:?} (softmax, ns, hs, ova, one-vs-all)"))
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs one `classifier` subcommand.
pub fn run(command: ClassifierCommand) -> Result<ExitCode> {
    match command {
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

fn train(cli: &TrainCli) -> Result<ExitCode> {
    let d = TrainArgs::default();
    let mut args = TrainArgs {
        lr: cli.lr.unwrap_or(d.lr),
        dim: cli.dim.unwrap_or(d.dim),
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
        seed: cli.seed,
        pretrained: cli.pretrained.clone(),
        warm_start: cli.warm_start.clone(),
        ..d
    };
    let data = read_input(&cli.input)?;
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
                },
            };
            let tuned = atelier_fasttext::autotune(&args, &data, &valid, &tune)
                .with_context(|| format!("autotuning on {}", cli.input.display()))?;
            if !cli.quiet {
                let a = &tuned.args;
                eprintln!(
                    "Autotune: {} trials, best {} {:.6} with --epoch {} --lr {:.4} --dim {} \
                     --word-ngrams {} --minn {} --maxn {} --bucket {} --loss {}",
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
            }
            args = tuned.args;
            tuned.trained
        }
    };
    drop(data);
    let s = trained.stats;
    if !cli.quiet {
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
    trained
        .model
        .save(&cli.output)
        .with_context(|| format!("writing {}", cli.output.display()))?;
    Ok(ExitCode::SUCCESS)
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
    let k = top_k(cli.k)?;
    let model = load(&cli.model)?;
    let data = read_input(&cli.file)?;
    let meter = model.test(&data, k, cli.threshold, cli.threads.unwrap_or_else(cpus));
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
    writeln!(out, "N\t{}", meter.examples)?;
    writeln!(out, "P@{}\t{}", cli.k, format_g(meter.precision(), 3))?;
    writeln!(out, "R@{}\t{}", cli.k, format_g(meter.recall(), 3))?;
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
    let k = top_k(cli.k)?;
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
            vec![predict_lines(&model, pieces[0], k, cli.threshold, cli.prob)]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = pieces
                    .iter()
                    .map(|&p| s.spawn(|| predict_lines(&model, p, k, cli.threshold, cli.prob)))
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
    let model = load(&cli.model)?;
    let data = cli.input.as_deref().map(read_input).transpose()?;
    if cli.retrain && data.is_none() {
        bail!("--retrain needs the training data (--input)");
    }
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
    let quantized = model
        .quantize(&qargs, data.as_deref())
        .with_context(|| format!("quantizing {}", cli.model.display()))?;
    let output = cli
        .output
        .clone()
        .unwrap_or_else(|| cli.model.with_extension("ftz"));
    quantized
        .save(&output)
        .with_context(|| format!("writing {}", output.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// A number as C++ streams print it by default (`%g`): `precision` significant digits,
/// trailing zeros dropped, scientific notation below 1e-4 or from 10^precision.
fn format_g(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = sci.split_once('e').expect("an exponent");
    let exp: i32 = exp.parse().expect("a number");
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= p as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        trim(&format!("{:.*}", (p as i32 - 1 - exp) as usize, x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_cpp_streams_print_them() {
        assert_eq!(format_g(0.9834, 3), "0.983");
        assert_eq!(format_g(1.0, 3), "1");
        assert_eq!(format_g(0.5, 3), "0.5");
        assert_eq!(format_g(1.00001, 6), "1.00001");
        assert_eq!(format_g(1.0000100136, 6), "1.00001");
        assert_eq!(format_g(1e-5, 6), "1e-05");
        assert_eq!(format_g(0.000123456789, 6), "0.000123457");
        assert_eq!(format_g(1234567.0, 6), "1.23457e+06");
        assert_eq!(format_g(0.99995, 3), "1");
        assert_eq!(format_g(f64::NAN, 3), "nan");
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
