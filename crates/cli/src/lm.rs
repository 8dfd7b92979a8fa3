//! `atelier lm ...` and `atelier chat`: language models from the command line.

use anyhow::{Context, Result, bail};
use atelier_lm::{Lm, LoadOptions, Message, Requantize, Request, Sampling};
use atelier_store::{Kind, NewVersion, Store};
use clap::{Args, Subcommand};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `atelier lm` subcommands.
#[derive(Subcommand)]
pub enum LmCommand {
    /// Generate from prompts read one per line on stdin (a line starting with `"` is a
    /// JSON string, for prompts with newlines); one JSON object per prompt on stdout.
    Generate(GenerateArgs),
    /// Print the token ids of each input line as a JSON array (no BOS; control tokens
    /// written in the text are text).
    Tokenize(ModelArgs),
    /// Keep a GGUF model in the project store as a version (`kind = "lm"`), for
    /// aliases, `show`, `gc` and `serve`.
    Import(ImportArgs),
    /// Write a copy of a GGUF model with its weight matrices re-quantized.
    Requantize {
        /// The GGUF file to read.
        input: PathBuf,
        /// The type: q8_0, q4_k or f16.
        #[arg(long, value_parser = parse_requantize)]
        to: Requantize,
        /// The GGUF file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// What a model is: architecture, parameters, quantization, context, template.
    Info(ModelArgs),
    /// Train a small llama model on token shards: from scratch, or fine-tuning a base
    /// (GGUF or Hugging Face folder) fully or with LoRA; resumes from its checkpoints.
    Train(Box<crate::lmtrain::TrainArgs>),
}

fn parse_requantize(s: &str) -> Result<Requantize, String> {
    Requantize::parse(s)
}

/// Which model and how to load it.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// A GGUF file, or a version or alias of the project's store (`prod`, `v3`).
    #[arg(short, long)]
    model: String,
    /// The project whose store `--model` names a version of.
    #[arg(short, long, default_value = ".")]
    project: PathBuf,
    /// Re-quantize the weights as they load (q8_0 is candle's fastest CPU path; Q4_1
    /// has no SIMD path there).
    #[arg(long, value_parser = parse_requantize)]
    requantize: Option<Requantize>,
    /// Compute threads (default: the physical cores).
    #[arg(short, long)]
    threads: Option<usize>,
    /// Run on the first CUDA GPU (a build with the `cuda` feature).
    #[arg(long)]
    gpu: bool,
    /// A tokenizer.json to use instead of the model's own tokenizer.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
}

/// Sampling and limits.
#[derive(Args, Clone)]
pub struct SamplingArgs {
    /// Most tokens to generate per prompt.
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Nucleus sampling.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Keep the K most likely tokens (0: all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Drop tokens less likely than this times the most likely one.
    #[arg(long, default_value_t = 0.0)]
    min_p: f32,
    /// Penalize tokens seen in the last 64 (1: off).
    #[arg(long, default_value_t = 1.0)]
    repeat_penalty: f32,
    /// The random seed (same seed and settings: same text).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A text that ends the answer (repeatable, at most 4).
    #[arg(long)]
    stop: Vec<String>,
}

impl SamplingArgs {
    fn sampling(&self) -> Sampling {
        Sampling {
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            min_p: self.min_p,
            repetition_penalty: self.repeat_penalty,
            seed: self.seed,
        }
    }
}

/// `atelier lm generate` arguments.
#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Send each line as it is (control tokens such as `<|im_start|>` stand for
    /// themselves) instead of as a user message in the model's chat template.
    #[arg(long)]
    raw: bool,
    /// Report the chosen token's log-probability and the N most likely.
    #[arg(long, value_name = "N")]
    logprobs: Option<usize>,
    /// Report the log-probability of every prompt token (and the prompt's ids).
    #[arg(long)]
    prompt_logprobs: bool,
}

/// `atelier chat` arguments.
#[derive(Args)]
pub struct ChatArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// A system message to start the conversation with.
    #[arg(long)]
    system: Option<String>,
}

/// `atelier lm import` arguments.
#[derive(Args)]
pub struct ImportArgs {
    /// The GGUF file.
    file: PathBuf,
    /// The model's name in the project.
    #[arg(long)]
    name: String,
    /// The project.
    #[arg(short, long, default_value = ".")]
    project: PathBuf,
    /// Aliases to point at the new version (repeatable).
    #[arg(long)]
    alias: Vec<String>,
}

/// Runs an `atelier lm` subcommand.
pub fn run(command: LmCommand) -> Result<ExitCode> {
    match command {
        LmCommand::Generate(args) => generate(&args),
        LmCommand::Tokenize(args) => tokenize(&args),
        LmCommand::Import(args) => import(&args),
        LmCommand::Train(args) => crate::lmtrain::train(&args),
        LmCommand::Requantize { input, to, output } => requantize(&input, to, &output),
        LmCommand::Info(args) => {
            let lm = load(&args)?;
            println!("{}", serde_json::to_string_pretty(&lm.info)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The GGUF file of a `--model`: a file, or the file of a store version.
fn model_file(model: &str, project: &Path) -> Result<PathBuf> {
    let path = Path::new(model);
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let project = crate::project::project_dir(project);
    let store = Store::open(&project).with_context(|| {
        format!(
            "`{model}` is not a file, and {} has no project store to look it up in",
            project.display()
        )
    })?;
    let manifest = store
        .resolve(model)
        .with_context(|| format!("`{model}` is neither a file nor a version"))?;
    if manifest.kind != Kind::Lm {
        bail!(
            "{} ({}) is a {:?} version, not a language model",
            manifest.id,
            manifest.name,
            manifest.kind
        );
    }
    let shard = manifest
        .shards
        .first()
        .with_context(|| format!("{} has no model file", manifest.id))?;
    Ok(store.version_dir(&manifest.id).join(&shard.path))
}

fn load(args: &ModelArgs) -> Result<Lm> {
    atelier_lm::set_threads(args.threads);
    let path = model_file(&args.model, &args.project)?;
    let options = LoadOptions {
        requantize: args.requantize,
        gpu: args.gpu,
        tokenizer: args.tokenizer.clone(),
    };
    Ok(Lm::load(&path, &options)?)
}

/// Input lines: a line starting with `"` is a JSON string.
fn input_lines() -> impl Iterator<Item = Result<String>> {
    std::io::stdin()
        .lock()
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let line = line.context("reading stdin")?;
            if line.starts_with('"') {
                serde_json::from_str::<String>(&line)
                    .with_context(|| format!("stdin line {}: not a JSON string", i + 1))
            } else {
                Ok(line)
            }
        })
}

fn tokenize(args: &ModelArgs) -> Result<ExitCode> {
    let lm = load(args)?;
    let mut out = std::io::stdout().lock();
    for line in input_lines() {
        let ids = lm.tokenizer.encode(&line?)?;
        writeln!(out, "{}", serde_json::to_string(&ids)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn generate(args: &GenerateArgs) -> Result<ExitCode> {
    let lm = load(&args.model)?;
    let mut out = std::io::stdout().lock();
    for line in input_lines() {
        let line = line?;
        let prompt = if args.raw {
            lm.raw_prompt(&line)?
        } else {
            lm.chat_prompt(&[Message::new("user", line)])?
        };
        let request = Request {
            prompt: prompt.clone(),
            max_tokens: Some(args.sampling.max_tokens),
            sampling: args.sampling.sampling(),
            stop: args.sampling.stop.clone(),
            logprobs: args.logprobs,
            prompt_logprobs: args.prompt_logprobs,
        };
        let generated = lm.generate(&request, |_| true)?;
        let mut answer = serde_json::json!({
            "text": generated.text,
            "tokens": generated.tokens,
            "finish_reason": generated.finish.reason(),
            "usage": {
                "prompt_tokens": generated.prompt_tokens,
                "completion_tokens": generated.tokens.len(),
            },
            "timing": generated.timing,
        });
        if args.logprobs.is_some() {
            answer["logprobs"] = serde_json::to_value(&generated.logprobs)?;
        }
        if args.prompt_logprobs {
            answer["prompt_tokens"] = serde_json::to_value(&prompt)?;
            answer["prompt_logprobs"] = serde_json::to_value(&generated.prompt_logprobs)?;
        }
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `atelier chat`: a conversation in the terminal, the answer streamed as it comes.
pub fn chat(args: &ChatArgs) -> Result<ExitCode> {
    let lm = load(&args.model)?;
    let terminal = std::io::stdin().is_terminal();
    let mut messages: Vec<Message> = args
        .system
        .iter()
        .map(|s| Message::new("system", s.clone()))
        .collect();
    let start = messages.len();
    if terminal {
        eprintln!(
            "{} ({}, {} parameters, context {}): /reset forgets, /exit or Ctrl-D ends",
            lm.info.name.as_deref().unwrap_or("model"),
            lm.info.quantization,
            lm.info.parameters,
            lm.info.context
        );
    }
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        if terminal {
            eprint!("> ");
        }
        line.clear();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        let text = line.trim_end_matches(['\n', '\r']);
        match text.trim() {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                messages.truncate(start);
                continue;
            }
            _ => {}
        }
        messages.push(Message::new("user", text));
        let request = Request {
            prompt: lm.chat_prompt(&messages)?,
            max_tokens: Some(args.sampling.max_tokens),
            sampling: args.sampling.sampling(),
            stop: args.sampling.stop.clone(),
            ..Request::default()
        };
        let mut out = std::io::stdout().lock();
        let generated = match lm.generate(&request, |delta| {
            let _ = out.write_all(delta.text.as_bytes());
            let _ = out.flush();
            true
        }) {
            Ok(g) => g,
            Err(e @ atelier_lm::LmError::Context { .. }) => {
                eprintln!("\n{e}; /reset to start again");
                messages.pop();
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        writeln!(out)?;
        if terminal {
            let t = &generated.timing;
            eprintln!(
                "[{} tokens, {:.1} tokens/s]",
                generated.tokens.len(),
                generated.tokens.len() as f64 / t.decode_seconds.max(1e-9)
            );
        }
        messages.push(Message::new("assistant", generated.text));
    }
    Ok(ExitCode::SUCCESS)
}

fn requantize(input: &Path, to: Requantize, output: &Path) -> Result<ExitCode> {
    let gguf = atelier_lm::GgufFile::open(input)?;
    let mut reader = gguf.reader()?;
    let mut names: Vec<String> = gguf.tensors().map(|(n, _, _)| n.to_owned()).collect();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let t = reader.read(&name, Some(to))?;
        tensors.push((name, t));
    }
    let file_type = candle_core::quantized::gguf_file::Value::U32(match to {
        Requantize::Q8_0 => 7,
        Requantize::Q4K => 15,
        Requantize::F16 => 1,
    });
    atelier_lm::gguf::write(output, &gguf, &[("general.file_type", file_type)], &tensors)?;
    eprintln!(
        "wrote {} ({} tensors, {:?})",
        output.display(),
        tensors.len(),
        to
    );
    Ok(ExitCode::SUCCESS)
}

fn import(args: &ImportArgs) -> Result<ExitCode> {
    let lm = Lm::load(&args.file, &LoadOptions::default())
        .with_context(|| format!("{} is not a model this engine runs", args.file.display()))?;
    let project = crate::project::project_dir(&args.project);
    let store = Store::open(&project)?;
    let parent = store.newest(Kind::Lm, &args.name)?.map(|m| m.id);
    let mut aliases = vec![format!("{}-latest", args.name)];
    aliases.extend(args.alias.iter().cloned());
    let manifest = store.commit(NewVersion {
        kind: Kind::Lm,
        name: args.name.clone(),
        parent,
        settings: serde_json::json!({ "lm": lm.info, "imported_from": std::path::absolute(&args.file)? }),
        shards: vec![("model.gguf".to_owned(), args.file.clone())],
        aliases,
        ..NewVersion::default()
    })?;
    println!(
        "{} ({}): {} {} parameters, {}, context {}; file {}",
        manifest.id,
        manifest.name,
        lm.info.architecture,
        lm.info.parameters,
        lm.info.quantization,
        lm.info.context,
        manifest.shards[0].hash.short()
    );
    Ok(ExitCode::SUCCESS)
}
