//! A training run: the model (a base or fresh weights, with adapters if asked), the
//! data, the loop (micro-batches, clipping, AdamW, evaluation, checkpoints, budgets,
//! divergence), resuming from the last checkpoint, and the exports.

use atelier_tokens::{TokenShards, TokenizerFile};
use candle_core::{DType, Device};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::LmTrainError;
use crate::chat;
use crate::checkpoint::{self, State};
use crate::data::{Loader, Stream};
use crate::export;
use crate::model::Llama;
use crate::optim::{AdamW, Grads, accumulate};
use crate::settings::LmSettings;
use crate::weights::Base;

/// Energy and money spent so far, as the caller measures them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spent {
    /// kWh.
    pub kwh: f64,
    /// EUR.
    pub eur: f64,
}

/// Measures what the run has spent in this process.
pub trait Meter {
    /// Spending since the run started in this process.
    fn spent(&self) -> Spent;
}

/// A meter that measures nothing (tests, or no bill asked).
pub struct NoMeter;

impl Meter for NoMeter {
    fn spent(&self) -> Spent {
        Spent::default()
    }
}

/// Validation loss and perplexity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Eval {
    /// Mean cross entropy per predicted token (nats).
    pub loss: f64,
    /// `exp(loss)`.
    pub perplexity: f64,
    /// Tokens evaluated.
    pub tokens: usize,
}

/// One optimizer step, as reported while training.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Steps done (1 after the first).
    pub step: usize,
    /// Steps planned.
    pub total: usize,
    /// Mean training loss of the step.
    pub loss: f64,
    /// Learning rate of the step.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Tokens trained on so far.
    pub tokens: u64,
    /// Training tokens per second in this process.
    pub tokens_per_s: f64,
    /// Seconds left at this pace.
    pub eta_s: f64,
    /// Wall seconds so far, over every attempt.
    pub seconds: f64,
    /// Spent so far, over every attempt.
    pub spent: Spent,
}

/// What the loop tells its observer.
#[derive(Debug)]
pub enum Event<'a> {
    /// A step was done.
    Step(&'a StepReport),
    /// The validation split was evaluated after `step` steps.
    Eval(usize, Eval),
    /// A checkpoint was written.
    Checkpoint(usize, &'a Path),
    /// Something the user should know (an unusable checkpoint, a resume).
    Note(String),
}

/// Why the loop stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Stop {
    /// Every planned step was done.
    Done,
    /// A budget was reached.
    Budget {
        /// Which (`max_hours`, `max_kwh`, `max_eur`).
        what: String,
    },
    /// The loss or the gradient became NaN, infinite or exploded; the model is the last
    /// checkpoint's.
    Diverged {
        /// The step that diverged.
        step: usize,
        /// Its loss.
        loss: f64,
    },
}

/// What a run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// Steps done.
    pub steps: usize,
    /// Steps planned.
    pub total_steps: usize,
    /// Tokens trained on.
    pub tokens: u64,
    /// Wall seconds over every attempt.
    pub seconds: f64,
    /// Tokens per second of the last attempt, evaluations and checkpoints included.
    pub tokens_per_s: f64,
    /// Tokens per second of the training steps alone (forward, backward, update),
    /// from the third step of the last attempt: the speed to compare with other
    /// trainers.
    pub step_tokens_per_s: Option<f64>,
    /// The last step's training loss.
    pub loss: f64,
    /// The starting model on the validation split.
    pub base: Option<Eval>,
    /// The trained model on the validation split.
    pub validation: Option<Eval>,
    /// Why it stopped.
    pub stopped: Stop,
    /// The last checkpoint.
    pub checkpoint: Option<PathBuf>,
    /// The step a resumed run started from.
    pub resumed_from: Option<usize>,
    /// Parameters of the model.
    pub parameters: usize,
    /// Parameters trained.
    pub trainable_parameters: usize,
    /// Tokens per window.
    pub context: usize,
    /// Energy and money spent over every attempt.
    pub spent: Spent,
}

/// What a run trains on.
#[derive(Debug, Clone)]
pub enum Source {
    /// A token folder (`atelier tokenize`'s output, or a dataset's `tokens/`).
    Shards(PathBuf),
    /// Conversation files (JSON lines of OpenAI `messages`): instruction tuning.
    Chats(Vec<PathBuf>),
}

/// The data of a run, in memory.
pub struct Data {
    /// The training split.
    pub train: Stream,
    /// The validation split, if it has a window.
    pub validation: Option<Stream>,
    /// Inputs skipped, each with its file, line and reason.
    pub skipped: Vec<String>,
}

impl Data {
    /// BLAKE3 of every token of both splits, in order: part of a run's identity.
    fn hash(&self) -> blake3::Hash {
        let mut h = blake3::Hasher::new();
        for stream in std::iter::once(&self.train).chain(&self.validation) {
            for t in &stream.tokens {
                h.update(&t.to_le_bytes());
            }
            h.update(stream.mask.as_deref().unwrap_or_default());
            h.update(b"|");
        }
        h.finalize()
    }
}

impl Data {
    /// Reads a token folder made with `tokenizer` (refusing one made with another).
    pub fn from_shards(dir: &Path, tokenizer: &TokenizerFile) -> Result<Data, LmTrainError> {
        let shards = TokenShards::open(dir)?;
        shards.expect_tokenizer(&tokenizer.hash.hex())?;
        let layout = shards
            .index
            .shards
            .first()
            .map(|s| s.layout)
            .ok_or_else(|| LmTrainError::Data(format!("{}: no shards", dir.display())))?;
        let train = Stream::from_documents(shards.documents("train", layout)?);
        let validation = Stream::from_documents(shards.documents("validation", layout)?);
        Ok(Data::new(train, validation, vec![]))
    }

    fn new(train: Stream, validation: Stream, skipped: Vec<String>) -> Data {
        Data {
            train,
            validation: (!validation.tokens.is_empty()).then_some(validation),
            skipped,
        }
    }
}

/// A run ready to start: the model and its tokenizer, the data, the settings.
pub struct Job {
    /// The model.
    pub model: Llama,
    /// Its tokenizer.
    pub tokenizer: TokenizerFile,
    /// The base model, without its weights (they are in the model).
    pub base: Option<Base>,
    /// The data.
    pub data: Data,
    /// The settings.
    pub settings: LmSettings,
    /// Tokens per window.
    pub context: usize,
    /// Identifies the run: settings (budgets aside), base, tokenizer and data.
    pub fingerprint: String,
}

impl Job {
    /// Loads the base (or makes fresh weights), checks the data's tokenizer and the
    /// context, adds adapters.
    pub fn new(
        settings: LmSettings,
        source: &Source,
        tokenizer: Option<&Path>,
        device: &Device,
    ) -> Result<Job, LmTrainError> {
        settings.check().map_err(LmTrainError::Settings)?;
        let compute = if device.is_cuda() && settings.bf16 {
            DType::BF16
        } else {
            DType::F32
        };
        let mut fp = blake3::Hasher::new();
        let (mut model, tokenizer, base) = match &settings.base {
            Some(path) => {
                let mut base = Base::load(path)?;
                hash_path(&mut fp, path)?;
                let weights = std::mem::take(&mut base.weights);
                let model = Llama::new(base.config.clone(), weights, device, compute)?;
                (model, base.tokenizer.clone(), Some(base))
            }
            None => {
                let path = tokenizer.ok_or_else(|| {
                    LmTrainError::Settings(
                        "a model trained from scratch needs a tokenizer (the one the \
                         shards were made with)"
                            .into(),
                    )
                })?;
                let tokenizer = TokenizerFile::load(path)?;
                let config = settings.shape.config(tokenizer.tokenizer.vocab_size());
                config.check().map_err(LmTrainError::Settings)?;
                let model = Llama::init(config, settings.seed, device, compute)?;
                (model, tokenizer, None)
            }
        };
        let data = match source {
            Source::Shards(dir) => Data::from_shards(dir, &tokenizer)?,
            Source::Chats(files) => {
                let Some(base) = &base else {
                    return Err(LmTrainError::Settings(
                        "instruction tuning needs a base model (its chat template)".into(),
                    ));
                };
                let template =
                    chat::template_of(&base.path, base.gguf.as_ref(), &tokenizer.tokenizer)?;
                let chats =
                    chat::read(files, &template, &tokenizer.tokenizer, settings.validation)?;
                Data::new(chats.train, chats.validation, chats.skipped)
            }
        };
        let model_context = model.config.max_position_embeddings;
        let context = settings.context.unwrap_or(model_context.min(512));
        if context > model_context {
            return Err(LmTrainError::Settings(format!(
                "a context of {context} tokens is longer than the model's {model_context}"
            )));
        }
        if let Some(lora) = &settings.lora {
            model.add_lora(lora, settings.seed)?;
        }
        let mut fingerprinted = settings.clone();
        (
            fingerprinted.max_hours,
            fingerprinted.max_kwh,
            fingerprinted.max_eur,
        ) = (None, None, None);
        fingerprinted.gguf.clear();
        fp.update(
            serde_json::to_string(&fingerprinted)
                .unwrap_or_default()
                .as_bytes(),
        );
        fp.update(tokenizer.hash.hex().as_bytes());
        fp.update(data.hash().as_bytes());
        Ok(Job {
            model,
            tokenizer,
            base,
            data,
            settings,
            context,
            fingerprint: fp.finalize().to_hex().to_string(),
        })
    }

    /// Steps the run is planned for.
    pub fn total_steps(&self) -> usize {
        let s = &self.settings;
        s.steps.unwrap_or_else(|| {
            let per_step = s.batch * s.accumulate;
            let windows = self.data.train.windows(self.context) as f64 * s.epochs;
            (windows / per_step as f64).ceil().max(1.0) as usize
        })
    }

    /// Trains, writing checkpoints under `dir/checkpoints` and resuming from the
    /// newest valid one there.
    pub fn run(
        &mut self,
        dir: &Path,
        meter: &dyn Meter,
        observe: &mut dyn FnMut(Event<'_>),
    ) -> Result<Outcome, LmTrainError> {
        let s = self.settings.clone();
        let device = self.model.device().clone();
        let total = self.total_steps();
        let ck_root = dir.join("checkpoints");
        std::fs::create_dir_all(&ck_root).map_err(|e| LmTrainError::io(&ck_root, e))?;
        let vars = self.model.trainable();
        let mut optim = AdamW::new(vars.clone(), s.optim())?;
        let mut loader = Loader::new(self.data.train.clone(), self.context, s.batch, s.seed)?;
        let mut state = State {
            step: 0,
            total_steps: total,
            position: 0,
            tokens: 0,
            seconds: 0.0,
            kwh: 0.0,
            eur: 0.0,
            loss: f64::NAN,
            base_loss: None,
            fingerprint: self.fingerprint.clone(),
            files: Default::default(),
        };
        let checkpoint::Latest {
            checkpoint: found,
            warnings,
        } = checkpoint::latest(&ck_root)?;
        for w in warnings {
            observe(Event::Note(w));
        }
        let mut last_checkpoint = None;
        let mut resumed_from = None;
        if let Some(ck) = found {
            if ck.state.fingerprint != self.fingerprint {
                return Err(LmTrainError::Settings(format!(
                    "the checkpoints in {} belong to another run (its settings, base, \
                     tokenizer or data differ); remove them or train into another folder",
                    ck_root.display()
                )));
            }
            restore(&vars, &ck.weights)?;
            optim.restore(&ck.optimizer, ck.state.step)?;
            loader.seek(ck.state.position);
            observe(Event::Note(format!(
                "resuming from {} (step {} of {})",
                ck.dir.display(),
                ck.state.step,
                ck.state.total_steps
            )));
            resumed_from = Some(ck.state.step);
            state = ck.state;
            state.total_steps = total;
            state.files.clear();
            last_checkpoint = Some(ck.dir);
        }
        let evaluate = |model: &Llama| -> Result<Option<Eval>, LmTrainError> {
            match &self.data.validation {
                Some(v) => evaluate(model, v, self.context, s.eval_windows, s.batch).map(Some),
                None => Ok(None),
            }
        };
        let base_eval = if resumed_from.is_none() {
            let e = evaluate(&self.model)?;
            if let Some(e) = e {
                observe(Event::Eval(0, e));
            }
            state.base_loss = e.map(|e| e.loss);
            e
        } else {
            state.base_loss.map(|loss| Eval {
                loss,
                perplexity: loss.exp(),
                tokens: 0,
            })
        };
        let started = Instant::now();
        let (prior_seconds, prior_spent) = (
            state.seconds,
            Spent {
                kwh: state.kwh,
                eur: state.eur,
            },
        );
        let tokens_before = state.tokens;
        let mut recent: Vec<f64> = Vec::new();
        let mut validation = None;
        let mut stopped = Stop::Done;
        let (mut step_seconds, mut step_tokens) = (0.0, 0u64);
        while state.step < total {
            let step = state.step;
            let step_started = Instant::now();
            let lr = s.optim().lr_at(step, total);
            let batches = (0..s.accumulate)
                .map(|_| loader.next_batch(&device))
                .collect::<Result<Vec<_>, _>>()?;
            let counted: usize = batches.iter().map(|b| b.counted).sum();
            let mut grads = Grads::new();
            let mut loss = 0.0;
            for (i, batch) in batches.iter().enumerate() {
                let dropout = s
                    .lora
                    .as_ref()
                    .filter(|l| l.dropout > 0.0)
                    .map(|_| s.seed ^ ((step * s.accumulate + i) as u64).wrapping_mul(0x9E37));
                let l = (self.model.loss(batch, dropout)? / counted.max(1) as f64)?;
                loss += f64::from(l.to_scalar::<f32>()?);
                accumulate(&mut grads, &l.backward()?, &vars)?;
            }
            let floor = recent.iter().copied().fold(f64::INFINITY, f64::min);
            let norm = AdamW::norm(&grads)?;
            if !loss.is_finite() || !norm.is_finite() || loss > s.explode * floor {
                stopped = Stop::Diverged {
                    step: step + 1,
                    loss,
                };
                if let Some(dir) = &last_checkpoint {
                    let latest = checkpoint::latest(dir.parent().unwrap_or(dir))?;
                    if let Some(ck) = latest.checkpoint {
                        restore(&vars, &ck.weights)?;
                    }
                }
                break;
            }
            optim.step(&grads, lr, norm)?;
            if state.step >= resumed_from.unwrap_or(0) + 2 {
                // The update is queued on a GPU; reading a value waits for it.
                vars[0]
                    .1
                    .as_tensor()
                    .flatten_all()?
                    .get(0)?
                    .to_scalar::<f32>()?;
                step_seconds += step_started.elapsed().as_secs_f64();
                step_tokens += counted as u64;
            }
            recent.push(loss);
            if recent.len() > 100 {
                recent.remove(0);
            }
            state.step += 1;
            state.position = loader.position;
            state.tokens += counted as u64;
            state.loss = loss;
            let now = meter.spent();
            state.kwh = prior_spent.kwh + now.kwh;
            state.eur = prior_spent.eur + now.eur;
            let elapsed = started.elapsed().as_secs_f64();
            state.seconds = prior_seconds + elapsed;
            let tokens_per_s = (state.tokens - tokens_before) as f64 / elapsed.max(1e-9);
            let report = StepReport {
                step: state.step,
                total,
                loss,
                lr,
                grad_norm: norm,
                tokens: state.tokens,
                tokens_per_s,
                eta_s: elapsed / (state.step - resumed_from.unwrap_or(0)) as f64
                    * (total - state.step) as f64,
                seconds: state.seconds,
                spent: Spent {
                    kwh: state.kwh,
                    eur: state.eur,
                },
            };
            observe(Event::Step(&report));
            let over = budget(&s, &state);
            let last = state.step == total || over.is_some();
            if state.step.is_multiple_of(s.eval_every) || last {
                validation = evaluate(&self.model)?;
                if let Some(e) = validation {
                    observe(Event::Eval(state.step, e));
                }
            }
            if state.step.is_multiple_of(s.checkpoint_every) || last {
                let weights = vars
                    .iter()
                    .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
                    .collect();
                let path = checkpoint::save(
                    &ck_root,
                    &state,
                    &weights,
                    &optim.state(),
                    s.keep_checkpoints,
                )?;
                observe(Event::Checkpoint(state.step, &path));
                last_checkpoint = Some(path);
            }
            if let Some(what) = over {
                stopped = Stop::Budget { what };
                break;
            }
        }
        if validation.is_none() && !matches!(stopped, Stop::Done) {
            validation = evaluate(&self.model)?;
        }
        let elapsed = started.elapsed().as_secs_f64();
        Ok(Outcome {
            steps: state.step,
            total_steps: total,
            tokens: state.tokens,
            seconds: state.seconds,
            tokens_per_s: (state.tokens - tokens_before) as f64 / elapsed.max(1e-9),
            step_tokens_per_s: (step_seconds > 0.0).then(|| step_tokens as f64 / step_seconds),
            loss: state.loss,
            base: base_eval,
            validation,
            stopped,
            checkpoint: last_checkpoint,
            resumed_from,
            parameters: self.model.config.parameters(),
            trainable_parameters: self.model.trainable_parameters(),
            context: self.context,
            spent: Spent {
                kwh: state.kwh,
                eur: state.eur,
            },
        })
    }

    /// Writes the trained model (adapters merged): a Hugging Face folder `dir/hf` and,
    /// from a GGUF base, `dir/model-<type>.gguf` for each asked type. Returns the files.
    pub fn export(&self, dir: &Path) -> Result<Vec<PathBuf>, LmTrainError> {
        let weights = self.model.merged()?;
        let tokenizer = &self.tokenizer.tokenizer;
        let eos = tokenizer.eos;
        let bos = tokenizer.bos;
        let hf = dir.join("hf");
        export::write_hf(
            &hf,
            &self.model.config,
            &weights,
            &self.tokenizer.json,
            (bos, eos),
        )?;
        let mut files = vec![hf];
        if let Some(gguf) = self.base.as_ref().and_then(|b| b.gguf.as_ref()) {
            for &ty in &self.settings.gguf {
                let path = dir.join(format!("model-{}.gguf", ty.name()));
                export::write_gguf(&path, &self.model.config, &weights, gguf, ty)?;
                files.push(path);
            }
        }
        Ok(files)
    }
}

/// The budget reached, if any.
fn budget(s: &LmSettings, state: &State) -> Option<String> {
    let over = |limit: Option<f64>, value: f64| limit.is_some_and(|l| value >= l);
    if over(s.max_hours, state.seconds / 3600.0) {
        Some("max_hours".into())
    } else if over(s.max_kwh, state.kwh) {
        Some("max_kwh".into())
    } else if over(s.max_eur, state.eur) {
        Some("max_eur".into())
    } else {
        None
    }
}

/// Sets the trained variables to a checkpoint's values.
fn restore(
    vars: &[(String, candle_core::Var)],
    values: &std::collections::BTreeMap<String, candle_core::Tensor>,
) -> Result<(), LmTrainError> {
    for (name, var) in vars {
        let t = values.get(name).ok_or_else(|| {
            LmTrainError::Weights(format!("the checkpoint has no variable `{name}`"))
        })?;
        var.set(&t.to_device(var.device())?)?;
    }
    Ok(())
}

/// Mean loss and perplexity on the first `windows` windows of `stream`.
pub fn evaluate(
    model: &Llama,
    stream: &Stream,
    context: usize,
    windows: usize,
    batch: usize,
) -> Result<Eval, LmTrainError> {
    let n = windows.min(stream.windows(context));
    if n == 0 {
        return Err(LmTrainError::Data(format!(
            "{} validation tokens do not fill one window of {} tokens",
            stream.tokens.len(),
            context + 1
        )));
    }
    let (mut sum, mut tokens) = (0.0, 0usize);
    let all: Vec<usize> = (0..n).collect();
    for chunk in all.chunks(batch) {
        let b = stream.batch(chunk, context, model.device())?;
        sum += f64::from(model.loss(&b, None)?.to_scalar::<f32>()?);
        tokens += b.counted;
    }
    let loss = sum / tokens.max(1) as f64;
    Ok(Eval {
        loss,
        perplexity: loss.exp(),
        tokens,
    })
}

/// Adds a base model's bytes (a file, or a folder's files) to a fingerprint.
fn hash_path(fp: &mut blake3::Hasher, path: &Path) -> Result<(), LmTrainError> {
    let mut files = if path.is_dir() {
        std::fs::read_dir(path)
            .map_err(|e| LmTrainError::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    files.sort();
    for f in files {
        let bytes = std::fs::read(&f).map_err(|e| LmTrainError::io(&f, e))?;
        fp.update(&bytes);
    }
    Ok(())
}
