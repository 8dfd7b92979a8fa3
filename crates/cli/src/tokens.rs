//! `atelier tokenize` (JSON-lines files to token shards) and `atelier tokenizer`
//! (train one, or export a GGUF model's), on top of `atelier-tokens`.

use anyhow::{Context, Result, bail};
use atelier_bill::report::TokensSection;
use atelier_tokens::{
    Dtype, Index, Layout, Tokenize, TokenizeSettings, TokenizerFile, TooLong, TrainTokenizer,
};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `atelier tokenize`.
#[derive(Args)]
pub struct TokenizeArgs {
    /// JSON-lines files (`.jsonl`, `.gz`, `.zst`) or folders of them (a dataset's output
    /// folder, a version folder); each line's `text` is one document.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// A `tokenizer.json`, or a `.gguf` model whose tokenizer to use.
    #[arg(short, long)]
    tokenizer: PathBuf,
    /// The folder to write (`index.json`, `tokenizer.json`, `<layout>/<split>/part-*`).
    #[arg(short, long)]
    output: PathBuf,
    /// File layouts: datatrove, llmc, llmc-raw, megatron (repeat or separate by commas).
    #[arg(short, long, value_delimiter = ',', default_value = "datatrove")]
    layout: Vec<String>,
    /// The token after every document, by its text (default: the tokenizer's EOS).
    #[arg(long)]
    eos: Option<String>,
    /// A token before every document, by its text.
    #[arg(long)]
    bos: Option<String>,
    /// Longest document in tokens, BOS and EOS included.
    #[arg(long)]
    max_tokens: Option<u64>,
    /// Longer documents are cut into pieces (`split`) or left out (`drop`).
    #[arg(long, default_value = "split")]
    too_long: String,
    /// Share of documents held out for validation, by a stable hash of the id.
    #[arg(long, default_value_t = 0.0)]
    validation: f64,
    /// Shuffle each shard's documents with this seed.
    #[arg(long)]
    seed: Option<u64>,
    /// How ids are stored: uint16 or uint32 (default: the narrowest that holds them).
    #[arg(long)]
    dtype: Option<String>,
    /// Tasks: input file `i` goes to task `i % tasks`, each writes its own shard set.
    #[arg(long, default_value_t = 1)]
    tasks: usize,
    /// Worker threads (default: the number of CPUs).
    #[arg(short, long)]
    workers: Option<usize>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Print the index as JSON.
    #[arg(long)]
    json: bool,
}

/// `atelier tokenizer ...`.
#[derive(Subcommand)]
pub enum TokenizerCommand {
    /// Train a byte-level BPE tokenizer (GPT-2's scheme) on JSON-lines texts; Python
    /// `tokenizers` and `transformers` load the result unchanged.
    Train {
        /// JSON-lines files or folders; each line's `text` is trained on.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Tokens in the vocabulary, the 256 bytes and the special tokens included.
        #[arg(long)]
        vocab_size: usize,
        /// Pairs seen fewer times are not merged.
        #[arg(long, default_value_t = 2)]
        min_frequency: u64,
        /// Special tokens (first ids, in order), e.g. `<|endoftext|>`.
        #[arg(long)]
        special: Vec<String>,
        /// The `tokenizer.json` to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Write the tokenizer of a GGUF model (or a tokenizer.json, normalized) as a
    /// `tokenizer.json`, with the hash that names it in token shards.
    Export {
        /// A `.gguf` model or a `tokenizer.json`.
        model: PathBuf,
        /// The `tokenizer.json` to write.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Runs `atelier tokenize`.
pub fn tokenize(args: &TokenizeArgs) -> Result<ExitCode> {
    let workers = crate::workers::count(args.workers);
    let layouts = args
        .layout
        .iter()
        .map(|l| Layout::parse(l.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!(e))?;
    let too_long = match args.too_long.as_str() {
        "split" => TooLong::Split,
        "drop" => TooLong::Drop,
        other => bail!("--too-long is `split` or `drop`, not `{other}`"),
    };
    let settings = TokenizeSettings {
        tokenizer: args.tokenizer.clone(),
        eos: args.eos.clone(),
        bos: args.bos.clone(),
        max_tokens: args.max_tokens,
        too_long,
        validation: args.validation,
        seed: args.seed,
        layouts,
        dtype: match args.dtype.as_deref() {
            None => None,
            Some("uint16") => Some(Dtype::Uint16),
            Some("uint32") => Some(Dtype::Uint32),
            Some(other) => bail!("--dtype is `uint16` or `uint32`, not `{other}`"),
        },
    };
    let tokenize = Tokenize::new(settings)?;
    let inputs = json_lines(&args.inputs)?;
    if inputs.is_empty() {
        bail!(
            "no JSON-lines files (.jsonl, .jsonl.gz, .jsonl.zst) in {}",
            args.inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if args.output.join("index.json").exists() {
        std::fs::remove_dir_all(&args.output)
            .with_context(|| format!("replacing {}", args.output.display()))?;
    }
    let bar = bytes_bar(!args.quiet);
    let index = atelier_tokens::tokenize_files(
        &tokenize,
        &inputs,
        &args.output,
        args.tasks,
        workers,
        &|n| bar.inc(n),
    )?;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &index)?;
        writeln!(out)?;
    } else {
        print_index(&mut out, &index, &args.output)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What a token folder holds, for people.
pub fn print_index(out: &mut impl Write, index: &Index, root: &Path) -> std::io::Result<()> {
    let s = &index.stats;
    writeln!(
        out,
        "{} documents read: {} tokenized, {} dropped ({}), {} quarantined",
        s.documents_in,
        s.kept,
        s.dropped_total(),
        if s.dropped.is_empty() {
            "none".to_owned()
        } else {
            s.dropped
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
        s.quarantined
    )?;
    for (split, count) in &index.splits {
        writeln!(
            out,
            "{split:<10} {:>10} documents {:>14} tokens",
            count.documents, count.tokens
        )?;
    }
    let layouts: std::collections::BTreeSet<&str> =
        index.shards.iter().map(|s| s.layout.name()).collect();
    writeln!(
        out,
        "{:?} ids, tokenizer {}, layouts {} in {}",
        index.dtype,
        &index.tokenizer.hash[..12],
        layouts.into_iter().collect::<Vec<_>>().join(", "),
        root.display()
    )
}

/// The report's section on a token folder, when the output has one.
pub fn report_section(folder: &Path) -> Option<TokensSection> {
    let index = atelier_tokens::TokenShards::open(folder).ok()?.index;
    Some(TokensSection {
        tokenizer: index.tokenizer.hash,
        splits: index
            .splits
            .into_iter()
            .map(|(split, c)| (split, c.documents, c.tokens))
            .collect(),
        histogram: index.histogram,
        sources: index
            .sources
            .into_iter()
            .map(|(source, c)| (source, c.documents, c.tokens))
            .collect(),
    })
}

/// Runs `atelier tokenizer ...`.
pub fn tokenizer(command: &TokenizerCommand) -> Result<ExitCode> {
    match command {
        TokenizerCommand::Train {
            inputs,
            vocab_size,
            min_frequency,
            special,
            output,
        } => {
            let files = json_lines(inputs)?;
            if files.is_empty() {
                bail!("no JSON-lines files in the inputs");
            }
            let texts = atelier_tokens::texts(files);
            let json = atelier_tokens::train(
                &TrainTokenizer {
                    vocab_size: *vocab_size,
                    min_frequency: *min_frequency,
                    special: special.clone(),
                },
                texts,
            )?;
            write_file(output, json.as_bytes())?;
            let hash = atelier_store::Hash::of(json.as_bytes());
            println!("wrote {} (tokenizer {})", output.display(), hash.short());
        }
        TokenizerCommand::Export { model, output } => {
            let file = TokenizerFile::load(model)?;
            write_file(output, file.json.as_bytes())?;
            println!(
                "wrote {}: {} tokens, EOS {:?}, BOS {:?} (tokenizer {})",
                output.display(),
                file.tokenizer.vocab_size(),
                file.tokenizer.eos,
                file.tokenizer.bos,
                file.hash.short()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// The JSON-lines files of some files and folders, folders' in name order.
fn json_lines(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .with_context(|| format!("listing {}", input.display()))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().unwrap_or_default().to_string_lossy();
                    !name.starts_with('.')
                        && [".jsonl", ".jsonl.gz", ".jsonl.zst"]
                            .iter()
                            .any(|ext| name.ends_with(ext))
                })
                .collect();
            found.sort();
            files.extend(found);
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            bail!("{}: no such file or folder", input.display());
        }
    }
    Ok(files)
}

fn bytes_bar(enabled: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} tokenize [{elapsed_precise}] {binary_bytes} ({binary_bytes_per_sec})",
        )
        .expect("valid template"),
    );
    bar
}
