//! Supervised training, as fastText's `supervised` command trains.
//!
//! The model is fastText's: the hidden vector of a line is the mean of the input rows of
//! its words, of their character n-grams and of its word n-grams (n-grams hashed into
//! `bucket` rows); the output layer scores labels with a softmax, negative sampling, a
//! hierarchical softmax or one sigmoid per label. Training is stochastic gradient
//! descent over the lines, `epoch` times, with a learning rate that decays linearly to
//! zero over the tokens processed, on threads that share the matrices without locks
//! (Hogwild; the `hogwild` module says why it is written as it is).
//!
//! Where this differs from fastText, on purpose:
//!
//! - lines are encoded into rows once, not read and hashed again at every epoch;
//! - only the input rows that some training line uses are initialized at random; the
//!   rest stay zero, and a file gets them as holes. fastText fills a tenth of the
//!   matrix per thread (all of it from ten threads on: its `DenseMatrix::uniform`), so
//!   below ten threads it leaves most rows zero too; rows no line uses receive no
//!   gradient either way;
//! - random draws come from SplitMix64 rather than `minstd_rand`, so a seed gives the
//!   same model on one thread every time, but not fastText's model;
//! - lines without a label are counted and left out, and so is the learning rate's
//!   share of their tokens, where fastText reads them and skips them.
//!
//! # Warm start
//!
//! With [`TrainArgs::warm_start`], a new version of a model starts from the previous
//! one: the input row of every word both dictionaries hold, every n-gram bucket row
//! (when both have the same number of buckets and the old dictionary is not pruned by
//! quantization) and the output row of every label both know (softmax, one-vs-all and
//! negative sampling; the hierarchical softmax's tree depends on the label counts, so
//! its output starts from zero) are copied; new words and labels start as usual. The
//! dimensions must match. Training then runs its epochs as from scratch, so fewer
//! epochs usually suffice.
//!
//! ```
//! use atelier_fasttext::{TrainArgs, train};
//! let data = b"__label__pos good great fine\n__label__neg bad awful poor\n".repeat(50);
//! let args = TrainArgs { epoch: 20, lr: 0.5, dim: 10, threads: 1, ..TrainArgs::default() };
//! let trained = train(&args, &data)?;
//! assert_eq!(trained.model.predict("great fine", 1, 0.0)[0].0, "__label__pos");
//! # Ok::<(), atelier_fasttext::Error>(())
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Instant;

use crate::corpus::{Corpus, Counter, LineCounts};
use crate::dictionary::{Dictionary, LABEL_PREFIX, hash};
use crate::hogwild::SharedRows;
use crate::matrix::{DenseMatrix, Matrix, advise_huge_pages};
use crate::output::{huffman, sigmoid, sigmoid_table};
use crate::rng::Rng;
use crate::vectors::Vectors;
use crate::{Args, Error, LossKind, Model, ModelKind};

/// The arguments of a supervised training, with fastText's `supervised` defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainArgs {
    /// Learning rate at the start (`-lr`, 0.1).
    pub lr: f64,
    /// Size of the vectors (`-dim`, 100).
    pub dim: usize,
    /// Context window, kept in the file for word-vector models (`-ws`, 5).
    pub ws: usize,
    /// Passes over the data (`-epoch`, 5).
    pub epoch: usize,
    /// Words seen fewer times are left out of the dictionary (`-minCount`, 1).
    pub min_count: u64,
    /// Labels seen fewer times are left out (`-minCountLabel`, 0).
    pub min_count_label: u64,
    /// Negatives sampled per example with the `ns` loss (`-neg`, 5).
    pub neg: usize,
    /// Longest word n-gram (`-wordNgrams`, 1: words only).
    pub word_ngrams: usize,
    /// The loss (`-loss`, softmax).
    pub loss: LossKind,
    /// Hash buckets for word and character n-grams (`-bucket`, 2,000,000). Set to 0,
    /// as fastText does, when there are neither word nor character n-grams.
    pub bucket: usize,
    /// Shortest character n-gram (`-minn`, 0).
    pub minn: usize,
    /// Longest character n-gram (`-maxn`, 0: none).
    pub maxn: usize,
    /// Training threads (`-thread`; default here: the CPUs available).
    pub threads: usize,
    /// Tokens a thread processes between updates of the learning rate
    /// (`-lrUpdateRate`, 100).
    pub lr_update_rate: usize,
    /// Sampling threshold, kept in the file (`-t`, 1e-4).
    pub t: f64,
    /// What starts a label in the training data (`-label`, `__label__`). A model file
    /// does not keep it: its labels are marked as labels, whatever their prefix.
    pub label: String,
    /// Seed of the random draws (`-seed`, 0). One thread and one seed give one model.
    pub seed: u64,
    /// Pretrained word vectors in `.vec` format (`-pretrainedVectors`); their dimension
    /// must be `dim`.
    pub pretrained: Option<PathBuf>,
    /// A previous supervised model to start from instead of random rows (not a fastText
    /// option): the rows of the words both models know (and, where they match, of the
    /// n-gram buckets and labels) are copied, the rest start as usual; the dimensions
    /// must match.
    pub warm_start: Option<PathBuf>,
}

impl Default for TrainArgs {
    fn default() -> Self {
        TrainArgs {
            lr: 0.1,
            dim: 100,
            ws: 5,
            epoch: 5,
            min_count: 1,
            min_count_label: 0,
            neg: 5,
            word_ngrams: 1,
            loss: LossKind::Softmax,
            bucket: 2_000_000,
            minn: 0,
            maxn: 0,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            lr_update_rate: 100,
            t: 1e-4,
            label: LABEL_PREFIX.to_string(),
            seed: 0,
            pretrained: None,
            warm_start: None,
        }
    }
}

impl TrainArgs {
    /// Checks the arguments and gives the ones a model file keeps (with `bucket` 0 when
    /// no n-gram needs buckets).
    pub fn stored(&self) -> Result<Args, Error> {
        let mut problems = Vec::new();
        let int = |v: usize, name: &str, problems: &mut Vec<String>| {
            i32::try_from(v).unwrap_or_else(|_| {
                problems.push(format!("{name} {v} is too large"));
                0
            })
        };
        if !(self.lr.is_finite() && self.lr > 0.0) {
            problems.push(format!("lr must be positive, not {}", self.lr));
        }
        for (value, name) in [
            (self.dim, "dim"),
            (self.epoch, "epoch"),
            (self.word_ngrams, "word-ngrams"),
            (self.threads, "threads"),
        ] {
            if value == 0 {
                problems.push(format!("{name} must be at least 1"));
            }
        }
        if self.dim > crate::args::MAX_DIM as usize {
            problems.push(format!(
                "dim {} is above {}",
                self.dim,
                crate::args::MAX_DIM
            ));
        }
        if self.label.is_empty() {
            problems.push("the label prefix is empty".into());
        }
        if self
            .label
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b == 0)
        {
            problems.push(format!("the label prefix {:?} holds a space", self.label));
        }
        if self.maxn > 0 && self.minn > self.maxn {
            problems.push(format!("minn {} is above maxn {}", self.minn, self.maxn));
        }
        if self.maxn > 0 && self.minn == 0 {
            problems.push("minn must be at least 1 when maxn is set".into());
        }
        let bucket = if self.word_ngrams <= 1 && self.maxn == 0 {
            0
        } else {
            self.bucket
        };
        if bucket == 0 && (self.word_ngrams > 1 || self.maxn > 0) {
            problems.push("word or character n-grams need buckets (bucket 0)".into());
        }
        let args = Args {
            dim: int(self.dim, "dim", &mut problems),
            ws: int(self.ws, "ws", &mut problems),
            epoch: int(self.epoch, "epoch", &mut problems),
            min_count: int(self.min_count as usize, "min-count", &mut problems),
            neg: int(self.neg, "neg", &mut problems),
            word_ngrams: int(self.word_ngrams, "word-ngrams", &mut problems),
            loss: self.loss,
            model: ModelKind::Supervised,
            bucket: int(bucket, "bucket", &mut problems),
            minn: int(self.minn, "minn", &mut problems),
            maxn: int(self.maxn, "maxn", &mut problems),
            lr_update_rate: int(self.lr_update_rate, "lr-update-rate", &mut problems),
            t: self.t,
        };
        if problems.is_empty() {
            Ok(args)
        } else {
            Err(Error::Args(problems.join("; ")))
        }
    }
}

/// What a training read and did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainStats {
    /// The lines of the training data, and which of them were left out.
    pub lines: LineCounts,
    /// Words in the dictionary.
    pub words: usize,
    /// Labels in the dictionary.
    pub labels: usize,
    /// Tokens read (words, labels and line ends), as the model file records them.
    pub tokens: i64,
    /// The n-gram buckets some training line falls into, of the `bucket` the model
    /// holds (a model needs about ten times as many buckets as this, no more).
    pub buckets_used: usize,
    /// Gradient steps taken (examples seen, over all epochs and threads).
    pub steps: u64,
    /// Mean loss over the steps.
    pub loss: f32,
    /// Wall time, in seconds.
    pub seconds: f64,
}

/// A trained model and how its training went.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The model.
    pub model: Model,
    /// What the training read and did.
    pub stats: TrainStats,
}

/// Trains a supervised model on `data`, lines of text in fastText's format
/// (`__label__x words ...`), as `fasttext supervised` does.
pub fn train(args: &TrainArgs, data: &[u8]) -> Result<Trained, Error> {
    train_until(args, data, None, None)
}

/// Reports how far a training is, as the share of its tokens processed (0 to 1), a few
/// times a second from a thread of its own, and once more at the end.
pub type Progress<'a> = &'a (dyn Fn(f64) + Sync);

/// As [`train`], reporting its progress.
pub fn train_with_progress(
    args: &TrainArgs,
    data: &[u8],
    progress: Progress<'_>,
) -> Result<Trained, Error> {
    train_until(args, data, None, Some(progress))
}

/// As [`train`], giving up with [`Error::Train`] once `deadline` has passed.
pub(crate) fn train_until(
    args: &TrainArgs,
    data: &[u8],
    deadline: Option<Instant>,
    progress: Option<Progress<'_>>,
) -> Result<Trained, Error> {
    let start = Instant::now();
    let stored = args.stored()?;
    let threads = args.threads;
    let vectors = args.pretrained.as_ref().map(Vectors::load).transpose()?;
    let previous = args.warm_start.as_ref().map(Model::load).transpose()?;
    if let Some(p) = &previous {
        check_warm_start(p, args)?;
    }
    let counter = Counter::count(data, threads);
    let label = args.label.as_bytes();
    let mut entries = counter.entries(args.min_count as i64, args.min_count_label as i64, label);
    let mut ntokens = counter.ntokens();
    if let Some(v) = &vectors {
        if v.dim() != args.dim {
            return Err(Error::Pretrained(format!(
                "dimension of pretrained vectors ({}) does not match dim ({})",
                v.dim(),
                args.dim
            )));
        }
        // fastText adds every pretrained word to the dictionary once more and keeps all
        // words seen once; label-like words are left out here, not made labels.
        let mut merged = Counter::new();
        for &(word, count, _) in &entries {
            merged.add(word, hash(word), count);
        }
        for i in 0..v.len() {
            let word = v.word(i);
            if !word.starts_with(label) {
                merged.add(word, hash(word), 1);
                ntokens += 1;
            }
        }
        entries = merged.entries(1, 0, label);
    }
    let mut dict = Dictionary::from_entries(&entries, ntokens, None, &stored)?;
    dict.set_label_prefix(label);
    drop(entries);
    if dict.nlabels() == 0 {
        return Err(Error::Train(format!(
            "no labels: training lines start with {}NAME",
            args.label
        )));
    }
    let corpus = Corpus::encode(&dict, data, threads);
    if corpus.len() == 0 {
        return Err(Error::Train("no line has both a label and words".into()));
    }

    let dim = args.dim;
    let nwords = dict.nwords();
    let nrows = nwords + stored.bucket as usize;
    // Training works on the rows it uses only, numbered in row order: words first, then
    // the buckets some line falls into. They are a few percent of the buckets on small
    // data, and being close together they stay in cache.
    let mut used = vec![false; nrows];
    used[..nwords].fill(true);
    corpus.mark_rows(&mut used);
    let mut slots = vec![u32::MAX; nrows];
    let mut origin = Vec::new();
    for (row, _) in used.iter().enumerate().filter(|(_, u)| **u) {
        slots[row] = origin.len() as u32;
        origin.push(row);
    }
    drop(used);
    let mut corpus = corpus;
    corpus.remap_rows(&slots);
    let mut compact = vec![0.0f32; origin.len() * dim];
    advise_huge_pages(&mut compact);
    let a = (1.0 / dim as f64) as f32;
    for (values, &row) in compact.chunks_exact_mut(dim).zip(&origin) {
        let mut rng = Rng::stream(args.seed, row as u64);
        for v in values {
            *v = rng.symmetric(a);
        }
    }
    if let Some(v) = &vectors {
        for i in 0..v.len() {
            if let Some(id) = dict.id(v.word(i)).filter(|&id| id < nwords) {
                compact[id * dim..(id + 1) * dim].copy_from_slice(v.vector(i));
            }
        }
    }
    let mut output = DenseMatrix::zeros(dict.nlabels(), dim);
    if let Some(p) = &previous {
        warm_start(p, &dict, &slots, &mut compact, &mut output, args.loss);
    }
    let sgd = Sgd {
        lr: args.lr,
        epoch: args.epoch,
        threads,
        lr_update_rate: args.lr_update_rate as i64,
        seed: args.seed,
        loss: TrainLoss::new(args.loss, args.neg, dict.label_counts()),
        deadline,
    };
    let (loss, steps) = sgd.run(&corpus, &mut compact, output.values_mut(), dim, progress)?;
    let input = if origin.len() == nrows {
        DenseMatrix::new(nrows, dim, compact)
    } else {
        DenseMatrix::with_slots(nrows, dim, slots, compact)
    };
    let stats = TrainStats {
        lines: corpus.counts,
        words: dict.nwords(),
        labels: dict.nlabels(),
        tokens: dict.ntokens(),
        buckets_used: origin.len() - nwords,
        steps,
        loss,
        seconds: start.elapsed().as_secs_f64(),
    };
    let model = Model::from_parts(stored, dict, Matrix::Dense(input), Matrix::Dense(output))?;
    Ok(Trained { model, stats })
}

/// Refuses a previous model that cannot seed this training.
fn check_warm_start(previous: &Model, args: &TrainArgs) -> Result<(), Error> {
    let p = previous.args();
    if p.model != ModelKind::Supervised {
        return Err(Error::Train(
            "warm start needs a supervised model, not word vectors".into(),
        ));
    }
    if p.dim as usize != args.dim {
        return Err(Error::Train(format!(
            "warm start: the previous model has dim {}, this training dim {}",
            p.dim, args.dim
        )));
    }
    Ok(())
}

/// Copies into the new rows what the previous model learned (the module's "Warm
/// start").
fn warm_start(
    previous: &Model,
    dict: &Dictionary,
    slots: &[u32],
    compact: &mut [f32],
    output: &mut DenseMatrix,
    loss: LossKind,
) {
    let dim = output.cols();
    let old = previous.dictionary();
    let copy = |row: &mut [f32], from: &Matrix, i: usize| {
        row.fill(0.0);
        from.add_row_to(row, i);
    };
    for (id, &slot) in slots[..dict.nwords()].iter().enumerate() {
        if let Some(old_id) = old.id(dict.entry(id).word).filter(|&i| i < old.nwords()) {
            let slot = slot as usize;
            copy(
                &mut compact[slot * dim..(slot + 1) * dim],
                previous.input(),
                old_id,
            );
        }
    }
    let buckets = slots.len() - dict.nwords();
    if !old.is_pruned() && previous.args().bucket as usize == buckets {
        for (b, &slot) in slots[dict.nwords()..].iter().enumerate() {
            if slot != u32::MAX {
                let slot = slot as usize;
                let row = &mut compact[slot * dim..(slot + 1) * dim];
                copy(row, previous.input(), old.nwords() + b);
            }
        }
    }
    if loss != LossKind::HierarchicalSoftmax && previous.args().loss == loss {
        for label in 0..dict.nlabels() {
            let name = dict.entry(dict.nwords() + label).word;
            if let Some(old_label) = previous.labels().iter().position(|l| l.as_bytes() == name) {
                copy(output.row_mut(label), previous.output_matrix(), old_label);
            }
        }
    }
}

/// How many input rows ahead the row loops ask memory for.
const PREFETCH_AHEAD: usize = 4;

/// Sizes fastText's negative table: label `i` fills `ceil(sqrt(count_i) * 1e7 / z)`
/// slots. The cumulative sizes are kept instead of the 10-million-slot table.
const NEGATIVE_TABLE_SIZE: f64 = 10_000_000.0;

/// The loss being minimized, with what it needs precomputed.
#[derive(Debug, Clone)]
pub(crate) enum TrainLoss {
    Softmax,
    NegativeSampling {
        neg: usize,
        /// Cumulative slots of fastText's negative table, per label.
        cumulative: Vec<u64>,
    },
    Hierarchical {
        /// Per label, the internal nodes from the leaf to the root (as output rows),
        /// each with the branch taken (true: right).
        paths: Vec<Vec<(u32, bool)>>,
    },
    OneVsAll,
}

impl TrainLoss {
    pub(crate) fn new(kind: LossKind, neg: usize, counts: &[i64]) -> Self {
        match kind {
            LossKind::Softmax => TrainLoss::Softmax,
            LossKind::OneVsAll => TrainLoss::OneVsAll,
            LossKind::NegativeSampling => {
                let weights: Vec<f64> = counts.iter().map(|&c| (c.max(0) as f64).sqrt()).collect();
                let z: f64 = weights.iter().sum();
                let mut total = 0u64;
                let cumulative = weights
                    .iter()
                    .map(|w| {
                        total += (w * NEGATIVE_TABLE_SIZE / z).ceil() as u64;
                        total
                    })
                    .collect();
                TrainLoss::NegativeSampling { neg, cumulative }
            }
            LossKind::HierarchicalSoftmax => {
                let n = counts.len();
                let tree = huffman(counts);
                let mut parent = vec![usize::MAX; tree.len()];
                let mut right = vec![false; tree.len()];
                for (i, node) in tree.iter().enumerate().skip(n) {
                    parent[node.left as usize] = i;
                    parent[node.right as usize] = i;
                    right[node.right as usize] = true;
                }
                let paths = (0..n)
                    .map(|leaf| {
                        let mut path = Vec::new();
                        let mut j = leaf;
                        while parent[j] != usize::MAX {
                            path.push(((parent[j] - n) as u32, right[j]));
                            j = parent[j];
                        }
                        path
                    })
                    .collect();
                TrainLoss::Hierarchical { paths }
            }
        }
    }
}

/// fastText's table of `log(x)` on [0, 1], for the loss it reports.
struct Tables {
    sigmoid: Vec<f32>,
    log: Vec<f32>,
}

impl Tables {
    const LOG_SIZE: usize = 512;

    fn new() -> Self {
        Tables {
            sigmoid: sigmoid_table(),
            log: (0..=Self::LOG_SIZE)
                .map(|i| ((i as f32 + 1e-5) / Self::LOG_SIZE as f32).ln())
                .collect(),
        }
    }

    #[inline]
    fn log(&self, x: f32) -> f32 {
        if x > 1.0 {
            0.0
        } else {
            self.log[(x.max(0.0) * Self::LOG_SIZE as f32) as usize]
        }
    }
}

/// Reports `tokens / total` every 200 ms until `finished`, then once more. Parked, not
/// sleeping, so that the end of training wakes it at once.
fn watch(tokens: &AtomicI64, total: i64, finished: &AtomicBool, report: Progress<'_>) {
    let share = || (tokens.load(Ordering::Relaxed) as f64 / total.max(1) as f64).min(1.0);
    while !finished.load(Ordering::Acquire) {
        report(share());
        std::thread::park_timeout(std::time::Duration::from_millis(200));
    }
    report(share());
}

/// One thread's buffers.
struct State {
    hidden: Vec<f32>,
    grad: Vec<f32>,
    scores: Vec<f32>,
    rng: Rng,
    loss: f64,
    steps: u64,
}

/// Lock-free SGD over an encoded corpus.
pub(crate) struct Sgd {
    pub(crate) lr: f64,
    pub(crate) epoch: usize,
    pub(crate) threads: usize,
    pub(crate) lr_update_rate: i64,
    pub(crate) seed: u64,
    pub(crate) loss: TrainLoss,
    /// Stop, and fail, once this instant has passed.
    pub(crate) deadline: Option<Instant>,
}

impl Sgd {
    /// Trains `input` (rows the corpus names) and `output` (a row per label, or per
    /// internal node of the tree) in place; returns the mean loss and the steps taken.
    pub(crate) fn run(
        &self,
        corpus: &Corpus,
        input: &mut [f32],
        output: &mut [f32],
        dim: usize,
        progress: Option<Progress<'_>>,
    ) -> Result<(f32, u64), Error> {
        let wi = SharedRows::new(input, dim);
        let wo = SharedRows::new(output, dim);
        let total = (self.epoch as i64).saturating_mul(corpus.ntokens());
        let tokens = AtomicI64::new(0);
        let diverged = AtomicBool::new(false);
        let late = AtomicBool::new(false);
        let finished = AtomicBool::new(false);
        let tables = Tables::new();
        let threads = self.threads.max(1);
        let flags = [&diverged, &late];
        let results: Vec<(f64, u64)> = std::thread::scope(|s| {
            let watcher = progress.map(|report| {
                let (tokens, finished) = (&tokens, &finished);
                s.spawn(move || watch(tokens, total, finished, report))
            });
            let results = if threads == 1 {
                vec![self.worker(0, corpus, wi, wo, &tokens, total, flags, &tables)]
            } else {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let (tokens, tables) = (&tokens, &tables);
                        s.spawn(move || {
                            self.worker(t, corpus, wi, wo, tokens, total, flags, tables)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a training thread panicked"))
                    .collect()
            };
            if let Some(w) = watcher {
                finished.store(true, Ordering::Release);
                w.thread().unpark();
            }
            results
        });
        let (loss, steps) = results
            .iter()
            .fold((0.0, 0), |(l, n), &(tl, tn)| (l + tl, n + tn));
        if late.load(Ordering::Relaxed) {
            return Err(Error::Train("the time budget ran out".into()));
        }
        let finite = |values: &[f32]| values.iter().all(|v| v.is_finite());
        if diverged.load(Ordering::Relaxed) || !finite(input) || !finite(output) {
            return Err(Error::Train(
                "training diverged (the loss became NaN or infinite): lower the learning rate"
                    .into(),
            ));
        }
        Ok(((loss / steps.max(1) as f64) as f32, steps))
    }

    #[allow(clippy::too_many_arguments)]
    fn worker(
        &self,
        thread: usize,
        corpus: &Corpus,
        wi: SharedRows<'_>,
        wo: SharedRows<'_>,
        tokens: &AtomicI64,
        total: i64,
        [diverged, late]: [&AtomicBool; 2],
        tables: &Tables,
    ) -> (f64, u64) {
        let dim = wi.cols();
        let n = corpus.len();
        let mut state = State {
            hidden: vec![0.0; dim],
            grad: vec![0.0; dim],
            scores: vec![0.0; wo.rows()],
            rng: Rng::stream(self.seed, thread as u64),
            loss: 0.0,
            steps: 0,
        };
        // Each thread starts at its share of the tokens, as fastText's threads start at
        // their share of the file's bytes.
        let mut i =
            corpus.example_at_token(corpus.ntokens() * thread as i64 / self.threads.max(1) as i64);
        let mut local = 0i64;
        loop {
            let done = tokens.load(Ordering::Relaxed);
            if done >= total {
                break;
            }
            let progress = done as f64 / total as f64;
            let lr = (self.lr * (1.0 - progress)) as f32;
            let example = corpus.example(i);
            self.update(&mut state, wi, wo, example.rows, example.labels, lr, tables);
            local += i64::from(example.ntokens);
            if local > self.lr_update_rate {
                tokens.fetch_add(local, Ordering::Relaxed);
                local = 0;
                if !state
                    .hidden
                    .iter()
                    .chain(&state.grad)
                    .sum::<f32>()
                    .is_finite()
                {
                    diverged.store(true, Ordering::Relaxed);
                    tokens.fetch_add(total, Ordering::Relaxed);
                }
                if self.deadline.is_some_and(|d| Instant::now() > d) {
                    late.store(true, Ordering::Relaxed);
                    tokens.fetch_add(total, Ordering::Relaxed);
                }
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
        (state.loss, state.steps)
    }

    /// One gradient step on one example, as fastText's `Model::update`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn update(
        &self,
        st: &mut State,
        wi: SharedRows<'_>,
        wo: SharedRows<'_>,
        rows: &[i32],
        labels: &[i32],
        lr: f32,
        tables: &Tables,
    ) {
        let scale = (1.0 / rows.len() as f64) as f32;
        st.hidden.fill(0.0);
        // Rows are scattered over the matrix: asking for a row a few steps ahead hides
        // most of the wait for memory.
        for (j, &r) in rows.iter().enumerate() {
            if let Some(&ahead) = rows.get(j + PREFETCH_AHEAD) {
                wi.prefetch(ahead as usize);
            }
            wi.add_row_to(&mut st.hidden, r as usize);
        }
        for h in &mut st.hidden {
            *h *= scale;
        }
        st.grad.fill(0.0);
        let (hidden, grad) = (&st.hidden[..], &mut st.grad[..]);
        let loss = match &self.loss {
            TrainLoss::OneVsAll => (0..wo.rows())
                .map(|i| {
                    let positive = labels.contains(&(i as i32));
                    binary_logistic(hidden, grad, wo, i, positive, lr, tables)
                })
                .sum(),
            loss => {
                let target = match labels.len() {
                    1 => labels[0],
                    n => labels[st.rng.below(n)],
                } as usize;
                match loss {
                    TrainLoss::Softmax => {
                        let scores = &mut st.scores;
                        for (i, s) in scores.iter_mut().enumerate() {
                            *s = wo.dot(i, hidden);
                        }
                        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        let mut z = 0.0f32;
                        for s in scores.iter_mut() {
                            *s = (*s - max).exp();
                            z += *s;
                        }
                        for (i, s) in scores.iter_mut().enumerate() {
                            *s /= z;
                            let truth = if i == target { 1.0 } else { 0.0 };
                            let alpha = lr * (truth - *s);
                            wo.add_scaled_row_to(grad, i, alpha);
                            wo.add_to_row(i, hidden, alpha);
                        }
                        -tables.log(scores[target])
                    }
                    TrainLoss::NegativeSampling { neg, cumulative } => {
                        let mut loss = binary_logistic(hidden, grad, wo, target, true, lr, tables);
                        if cumulative.len() > 1 {
                            let slots = *cumulative.last().expect("labels");
                            for _ in 0..*neg {
                                let negative = loop {
                                    let slot = st.rng.below(slots as usize) as u64;
                                    let label = cumulative.partition_point(|&c| c <= slot);
                                    if label != target {
                                        break label;
                                    }
                                };
                                loss +=
                                    binary_logistic(hidden, grad, wo, negative, false, lr, tables);
                            }
                        }
                        loss
                    }
                    TrainLoss::Hierarchical { paths } => paths[target]
                        .iter()
                        .map(|&(node, right)| {
                            binary_logistic(hidden, grad, wo, node as usize, right, lr, tables)
                        })
                        .sum(),
                    TrainLoss::OneVsAll => unreachable!("handled above"),
                }
            }
        };
        st.loss += f64::from(loss);
        st.steps += 1;
        for g in &mut st.grad {
            *g *= scale;
        }
        for (j, &r) in rows.iter().enumerate() {
            if let Some(&ahead) = rows.get(j + PREFETCH_AHEAD) {
                wi.prefetch(ahead as usize);
            }
            wi.add_to_row(r as usize, &st.grad, 1.0);
        }
    }
}

/// fastText's `binaryLogistic`: one sigmoid output pushed towards `positive`.
#[inline]
fn binary_logistic(
    hidden: &[f32],
    grad: &mut [f32],
    wo: SharedRows<'_>,
    row: usize,
    positive: bool,
    lr: f32,
    tables: &Tables,
) -> f32 {
    let score = sigmoid(&tables.sigmoid, wo.dot(row, hidden));
    let alpha = lr * (f32::from(u8::from(positive)) - score);
    wo.add_scaled_row_to(grad, row, alpha);
    wo.add_to_row(row, hidden, alpha);
    if positive {
        -tables.log(score)
    } else {
        -tables.log(1.0 - score)
    }
}
