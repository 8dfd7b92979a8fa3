//! Automatic hyperparameter search on a validation file within a time budget, as
//! fastText's `-autotune-validation` does it.
//!
//! The first trial trains with the arguments given; each later trial starts from the
//! best arguments so far and draws new values around them: `epoch`, `lr`, `dim` and
//! `bucket` multiplied by `2^N(0, σ)`, `wordNgrams` and the character n-gram range
//! moved by `N(0, σ)` steps, σ shrinking as the budget runs out (fastText's
//! `AutotuneStrategy`, its ranges and its σ). Arguments named in [`Autotune::fixed`] are
//! never changed. Every trial is scored on the validation lines (F1-score over all
//! labels, or of one label); the best arguments train the final model.
//!
//! With a model size ([`Autotune::model_size`], fastText's `-autotune-modelsize`),
//! every trial is quantized as fastText's autotune quantizes it, and scored quantized:
//! norms apart (`qnorm`), the output matrix too from 256 labels on, only as many input
//! rows as the size allows (fastText's estimate of the file size per row), retrained
//! after that cutoff; `dsub` is searched too (2, 4, 8 or 16). A trial whose cutoff
//! would fall to 256 rows does not fit and is left out. The final model is quantized
//! the same way: an `.ftz` model.

use std::time::{Duration, Instant};

use crate::rng::Rng;
use crate::train::train_until;
use crate::{Error, LossKind, Meter, Model, QuantizeArgs, TrainArgs, Trained, train};

/// The fewest input rows a quantized trial keeps (fastText's `kCutoffLimit`); a model
/// size that leaves no more does not fit. Also the label count from which the output
/// matrix is quantized too.
const CUTOFF_LIMIT: usize = 256;

/// The arguments autotuning may change; `true` keeps the given value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fixed {
    /// Keep `epoch`.
    pub epoch: bool,
    /// Keep `lr`.
    pub lr: bool,
    /// Keep `dim`.
    pub dim: bool,
    /// Keep `word_ngrams`.
    pub word_ngrams: bool,
    /// Keep `minn` and `maxn`.
    pub char_ngrams: bool,
    /// Keep `bucket`.
    pub bucket: bool,
    /// Keep `loss` (else softmax, as fastText).
    pub loss: bool,
    /// Keep [`Autotune::dsub`] (with a model size).
    pub dsub: bool,
}

/// How to autotune.
#[derive(Debug, Clone, PartialEq)]
pub struct Autotune {
    /// The time budget (`-autotune-duration`, 300 s). The final training comes after.
    pub duration: Duration,
    /// Score F1 of this label only (`-autotune-metric f1:LABEL`), else F1 over all.
    pub label: Option<String>,
    /// Labels predicted per validation line (`-autotune-predictions`, 1).
    pub k: usize,
    /// Arguments not to change.
    pub fixed: Fixed,
    /// The largest model file wanted, in bytes (`-autotune-modelsize`): every trial
    /// is quantized to fit it (see the module's doc). `None`: nothing is quantized.
    pub model_size: Option<u64>,
    /// Values per sub-vector of the quantization to start from (`-dsub`, 2), with a
    /// model size.
    pub dsub: usize,
}

impl Default for Autotune {
    fn default() -> Self {
        Autotune {
            duration: Duration::from_secs(300),
            label: None,
            k: 1,
            fixed: Fixed::default(),
            model_size: None,
            dsub: 2,
        }
    }
}

/// The result of [`autotune`].
#[derive(Debug, Clone)]
pub struct Tuned {
    /// The model trained with the best arguments, and how that training went.
    pub trained: Trained,
    /// The best arguments.
    pub args: TrainArgs,
    /// Their validation score.
    pub score: f64,
    /// Trials run.
    pub trials: usize,
    /// How the model was quantized to fit [`Autotune::model_size`] (`None` without one).
    pub quantized: Option<QuantizeArgs>,
    /// Trials left out because their model could not fit the model size.
    pub too_large: usize,
}

/// Searches arguments for `data` that score best on `validation` (both in fastText's
/// line format), starting from `args`, for `tune.duration`; then trains with the best.
pub fn autotune(
    args: &TrainArgs,
    data: &[u8],
    validation: &[u8],
    tune: &Autotune,
) -> Result<Tuned, Error> {
    if tune.k == 0 {
        return Err(Error::Args(
            "autotune predictions must be at least 1".into(),
        ));
    }
    if tune.model_size.is_some() && !(1..=16).contains(&tune.dsub) {
        return Err(Error::Args(format!(
            "dsub {} is out of range (1 to 16)",
            tune.dsub
        )));
    }
    let start = Instant::now();
    let mut rng = Rng::stream(args.seed, 0x6175_746f);
    let mut best: Option<(f64, TrainArgs, usize)> = None;
    let mut trials = 0;
    let mut too_large = 0;
    let mut last_error = None;
    while start.elapsed() < tune.duration {
        let t = (start.elapsed().as_secs_f64() / tune.duration.as_secs_f64()).min(1.0);
        let (trial, dsub) = match &best {
            None => (args.clone(), tune.dsub),
            Some((_, b, dsub)) => {
                let trial = propose(b, &tune.fixed, t, &mut rng);
                let dsub = match tune.model_size {
                    Some(_) if !tune.fixed.dsub => propose_dsub(*dsub, t, &mut rng),
                    _ => *dsub,
                };
                (trial, dsub)
            }
        };
        trials += 1;
        let trained = match train_until(&trial, data, Some(start + tune.duration), None) {
            Ok(t) => t,
            // A diverging draw (too high a learning rate) is skipped, as fastText does; a
            // trial the budget cuts short ends the search.
            Err(e @ Error::Train(_)) => {
                last_error = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let model = match tune.model_size {
            None => trained.model,
            Some(size) => match fit(&trained.model, &trial, dsub, size, data) {
                Ok(Some((model, _))) => model,
                Ok(None) => {
                    too_large += 1;
                    continue;
                }
                // Too few rows to quantize: this draw cannot make an `.ftz` model.
                Err(e @ Error::Quantize(_)) => {
                    last_error = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        let meter = model.test(validation, tune.k, 0.0, trial.threads);
        let score = score(&model, &meter, tune.label.as_deref())?;
        if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
            best = Some((score, trial, dsub));
        }
    }
    let Some((score, best, dsub)) = best else {
        return Err(match last_error {
            _ if too_large > 0 => Error::Args(format!(
                "no trial fitted the model size ({too_large} of {trials} too large): \
                 increase the autotune model size"
            )),
            Some(e) => e,
            None => Error::Args("no trial finished: increase the autotune duration".into()),
        });
    };
    let mut trained = train(&best, data)?;
    let mut quantized = None;
    if let Some(size) = tune.model_size {
        let (model, qargs) = fit(&trained.model, &best, dsub, size, data)?
            .ok_or_else(|| Error::Args("the best trial no longer fits the model size".into()))?;
        trained.model = model;
        quantized = Some(qargs);
    }
    Ok(Tuned {
        trained,
        args: best,
        score,
        trials,
        quantized,
        too_large,
    })
}

/// fastText's `getCutoffForFileSize`: how many input rows a quantized `model` keeps to
/// make a file of about `size` bytes, from its estimate of the bytes per row; at least
/// [`CUTOFF_LIMIT`].
fn cutoff_for_size(model: &Model, qout: bool, qnorm: bool, dsub: usize, size: u64) -> usize {
    let out_m = model.output_matrix().rows() as i64;
    let out_n = model.output_matrix().cols() as i64;
    let out_size = if qout {
        let out_pq = 16 + 4 * (out_n * 256);
        21 + out_m * ((out_n + 1) / 2) + out_pq + if qnorm { out_m } else { 0 }
    } else {
        16 + 4 * out_m * out_n
    };
    let dim = model.input().cols() as i64;
    let dsub = dsub as i64;
    let target = i64::try_from(size).unwrap_or(i64::MAX) - 107 - 4 * 256 * dim - out_size;
    let cutoff = target / ((dim + dsub - 1) / dsub + i64::from(qnorm) + 10);
    cutoff.max(CUTOFF_LIMIT as i64) as usize
}

/// Quantizes a trial's model as fastText's autotune does to fit `size` bytes; `None`
/// when the size leaves too few rows.
fn fit(
    model: &Model,
    args: &TrainArgs,
    dsub: usize,
    size: u64,
    data: &[u8],
) -> Result<Option<(Model, QuantizeArgs)>, Error> {
    let qout = model.output_matrix().rows() >= CUTOFF_LIMIT;
    let cutoff = cutoff_for_size(model, qout, true, dsub, size);
    if cutoff == CUTOFF_LIMIT {
        return Ok(None);
    }
    let qargs = QuantizeArgs {
        cutoff,
        retrain: true,
        qnorm: true,
        qout,
        dsub,
        epoch: args.epoch,
        lr: args.lr,
        threads: args.threads,
        seed: args.seed,
    };
    let quantized = model.quantize(&qargs, Some(data))?;
    Ok(Some((quantized, qargs)))
}

/// The F1-score to maximize (0 where fastText's would be NaN).
fn score(model: &Model, meter: &Meter, label: Option<&str>) -> Result<f64, Error> {
    let f1 = match label {
        None => {
            let (p, r) = (meter.precision(), meter.recall());
            2.0 * p * r / (p + r)
        }
        Some(name) => {
            let prefix = String::from_utf8_lossy(model.dictionary().label_prefix());
            let full = format!("{prefix}{name}");
            let i = model
                .labels()
                .iter()
                .position(|l| *l == full || l == name)
                .ok_or_else(|| Error::Args(format!("unknown autotune metric label {name}")))?;
            meter.labels[i].f1()
        }
    };
    Ok(if f1.is_finite() { f1 } else { 0.0 })
}

/// fastText's `getArgGauss`: σ from `start` to `end` over the middle half of the budget.
fn sigma(start: f64, end: f64, t: f64) -> f64 {
    start - (start - end) / 0.5 * (t - 0.25).clamp(0.0, 0.5)
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut Rng) -> f64 {
    let u = rng.unit().max(f64::MIN_POSITIVE);
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * rng.unit()).cos()
}

fn scaled(v: f64, lo: f64, hi: f64, s: f64, rng: &mut Rng) -> f64 {
    (v * 2f64.powf(normal(rng) * s)).clamp(lo, hi)
}

fn shifted(v: f64, lo: f64, hi: f64, s: f64, rng: &mut Rng) -> f64 {
    (v + normal(rng) * s).clamp(lo, hi)
}

/// The next trial's `dsub`, drawn around the best so far: 2 to the power of 1 to 4.
fn propose_dsub(best: usize, t: f64, rng: &mut Rng) -> usize {
    let exponent = f64::from(best.max(1).ilog2());
    1 << (shifted(exponent, 1.0, 4.0, sigma(2.0, 1.0, t), rng) as u32)
}

/// The next trial's arguments, drawn around the best so far (fastText's `ask`).
fn propose(best: &TrainArgs, fixed: &Fixed, t: f64, rng: &mut Rng) -> TrainArgs {
    let mut a = best.clone();
    if !fixed.epoch {
        a.epoch = scaled(a.epoch as f64, 1.0, 100.0, sigma(2.8, 2.5, t), rng) as usize;
    }
    if !fixed.lr {
        a.lr = scaled(a.lr, 0.01, 5.0, sigma(1.9, 1.0, t), rng);
    }
    if !fixed.dim {
        a.dim = scaled(a.dim as f64, 1.0, 1000.0, sigma(1.4, 0.3, t), rng) as usize;
    }
    if !fixed.word_ngrams {
        a.word_ngrams = shifted(a.word_ngrams as f64, 1.0, 5.0, sigma(4.3, 2.4, t), rng) as usize;
    }
    if !fixed.char_ngrams {
        const MINN: [usize; 3] = [0, 2, 3];
        let index = MINN.iter().position(|&m| m == a.minn).unwrap_or(0) as f64;
        let i = shifted(index, 0.0, 2.0, sigma(4.0, 1.4, t), rng) as usize;
        a.minn = MINN[i];
        a.maxn = if a.minn == 0 { 0 } else { a.minn + 3 };
    }
    if !fixed.bucket {
        let from = if best.bucket == 0 {
            2_000_000
        } else {
            best.bucket
        };
        a.bucket = scaled(from as f64, 10_000.0, 10_000_000.0, sigma(2.0, 1.5, t), rng) as usize;
    }
    if !fixed.loss {
        a.loss = LossKind::Softmax;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_shrinks_over_the_middle_of_the_budget() {
        assert_eq!(sigma(2.0, 1.0, 0.0), 2.0);
        assert_eq!(sigma(2.0, 1.0, 0.25), 2.0);
        assert!((sigma(2.0, 1.0, 0.5) - 1.5).abs() < 1e-12);
        assert_eq!(sigma(2.0, 1.0, 0.75), 1.0);
        assert_eq!(sigma(2.0, 1.0, 1.0), 1.0);
    }

    #[test]
    fn proposals_stay_in_range_and_keep_what_is_fixed() {
        let mut rng = Rng::new(1);
        let base = TrainArgs::default();
        let fixed = Fixed {
            lr: true,
            ..Fixed::default()
        };
        let mut changed_epoch = false;
        for i in 0..200 {
            let a = propose(&base, &fixed, i as f64 / 200.0, &mut rng);
            assert_eq!(a.lr, base.lr);
            assert!((1..=100).contains(&a.epoch));
            assert!((1..=1000).contains(&a.dim));
            assert!((1..=5).contains(&a.word_ngrams));
            assert!([0, 2, 3].contains(&a.minn));
            assert_eq!(a.maxn, if a.minn == 0 { 0 } else { a.minn + 3 });
            assert!((10_000..=10_000_000).contains(&a.bucket));
            changed_epoch |= a.epoch != base.epoch;
        }
        assert!(changed_epoch);
    }

    #[test]
    fn normal_draws_have_mean_zero_and_unit_spread() {
        let mut rng = Rng::new(9);
        let draws: Vec<f64> = (0..20_000).map(|_| normal(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!(mean.abs() < 0.03, "{mean}");
        assert!((var - 1.0).abs() < 0.05, "{var}");
    }
}
