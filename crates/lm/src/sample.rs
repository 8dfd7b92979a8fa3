//! Choosing the next token: greedy, or sampled with temperature, top-k, top-p and min-p,
//! after a repetition penalty; and the log-probabilities reported with it.

use serde::{Deserialize, Serialize};

/// How the next token is chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sampling {
    /// 0 is greedy (always the most likely token); higher flattens the distribution.
    pub temperature: f32,
    /// Keep the smallest set of tokens whose probabilities add up to this (1 = all).
    pub top_p: f32,
    /// Keep the `top_k` most likely tokens (0 = all).
    pub top_k: usize,
    /// Drop tokens less likely than `min_p` times the most likely one (0 = none).
    pub min_p: f32,
    /// Divides the logits of tokens seen in the last [`PENALTY_WINDOW`] tokens (or
    /// multiplies negative ones), as llama.cpp and `transformers` do (1 = off).
    pub repetition_penalty: f32,
    /// The random seed: same seed, settings and prompt give the same text.
    pub seed: u64,
}

/// How many recent tokens the repetition penalty looks at.
pub const PENALTY_WINDOW: usize = 64;

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            seed: 0,
        }
    }
}

impl Sampling {
    /// Checks the values, naming the first one out of range.
    pub fn check(&self) -> Result<(), String> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(format!(
                "temperature must be 0 or more, not {}",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!(
                "top_p must be above 0 and at most 1, not {}",
                self.top_p
            ));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(format!("min_p must be between 0 and 1, not {}", self.min_p));
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return Err(format!(
                "repetition_penalty must be above 0, not {}",
                self.repetition_penalty
            ));
        }
        Ok(())
    }
}

/// SplitMix64: a tiny generator whose stream is fixed by its definition, so that a seed
/// gives the same text in every release (crates' default generators do not promise a
/// stable stream).
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A sampler: settings and the random state of one generation.
#[derive(Debug, Clone)]
pub struct Sampler {
    settings: Sampling,
    rng: SplitMix64,
    /// Scratch: (token, logit) candidates.
    candidates: Vec<(u32, f32)>,
}

impl Sampler {
    /// A sampler seeded from the settings.
    pub fn new(settings: Sampling) -> Sampler {
        let rng = SplitMix64(settings.seed);
        Sampler {
            settings,
            rng,
            candidates: Vec::new(),
        }
    }

    /// Chooses the next token from the logits, given the tokens so far.
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> u32 {
        let s = &self.settings;
        let mut penalized: Option<Vec<f32>> = None;
        if s.repetition_penalty != 1.0 {
            let mut l = logits.to_vec();
            let mut recent: Vec<u32> = history.iter().rev().take(PENALTY_WINDOW).copied().collect();
            recent.sort_unstable();
            recent.dedup();
            for t in recent {
                if let Some(x) = l.get_mut(t as usize) {
                    *x = if *x > 0.0 {
                        *x / s.repetition_penalty
                    } else {
                        *x * s.repetition_penalty
                    };
                }
            }
            penalized = Some(l);
        }
        let logits = penalized.as_deref().unwrap_or(logits);
        if s.temperature <= 0.0 {
            return argmax(logits);
        }
        let c = &mut self.candidates;
        c.clear();
        c.extend(logits.iter().enumerate().map(|(i, &l)| (i as u32, l)));
        // Most likely first; ties by id, so that the order is deterministic.
        let by_logit = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if s.top_k > 0 && s.top_k < c.len() {
            c.select_nth_unstable_by(s.top_k - 1, by_logit);
            c.truncate(s.top_k);
        }
        c.sort_unstable_by(by_logit);
        let max = c[0].1;
        let t = f64::from(s.temperature);
        let mut probs: Vec<f64> = c
            .iter()
            .map(|&(_, l)| (f64::from(l - max) / t).exp())
            .collect();
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        let mut keep = probs.len();
        if s.min_p > 0.0 {
            let floor = probs[0] * f64::from(s.min_p);
            keep = probs.iter().take_while(|&&p| p >= floor).count().max(1);
        }
        if s.top_p < 1.0 {
            let mut sum = 0.0;
            let mut n = 0;
            for &p in &probs[..keep] {
                sum += p;
                n += 1;
                if sum >= f64::from(s.top_p) {
                    break;
                }
            }
            keep = n.max(1);
        }
        let kept: f64 = probs[..keep].iter().sum();
        let mut r = self.rng.next_f64() * kept;
        for (i, &p) in probs[..keep].iter().enumerate() {
            if r < p {
                return c[i].0;
            }
            r -= p;
        }
        c[keep - 1].0
    }
}

/// The most likely token (the lowest id among equals).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// A token with its log-probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenLogprob {
    /// The token.
    pub token: u32,
    /// Its log-probability under the model (before penalty and temperature).
    pub logprob: f32,
}

/// The `n` most likely tokens of a row of log-probabilities.
pub fn top_logprobs(logprobs: &[f32], n: usize) -> Vec<TokenLogprob> {
    let mut idx: Vec<u32> = (0..logprobs.len() as u32).collect();
    let n = n.min(idx.len());
    if n == 0 {
        return Vec::new();
    }
    let by = |a: &u32, b: &u32| {
        logprobs[*b as usize]
            .total_cmp(&logprobs[*a as usize])
            .then(a.cmp(b))
    };
    idx.select_nth_unstable_by(n - 1, by);
    idx.truncate(n);
    idx.sort_unstable_by(by);
    idx.into_iter()
        .map(|t| TokenLogprob {
            token: t,
            logprob: logprobs[t as usize],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hot(n: usize, at: usize) -> Vec<f32> {
        let mut l = vec![0.0; n];
        l[at] = 10.0;
        l
    }

    #[test]
    fn greedy_takes_the_most_likely_and_the_lowest_id_on_ties() {
        let mut s = Sampler::new(Sampling::default());
        assert_eq!(s.sample(&hot(5, 3), &[]), 3);
        assert_eq!(s.sample(&[1.0, 2.0, 2.0], &[]), 1);
    }

    #[test]
    fn the_same_seed_gives_the_same_tokens_and_another_seed_others() {
        let logits: Vec<f32> = (0..50).map(|i| (i % 7) as f32 * 0.3).collect();
        let draw = |seed| {
            let mut s = Sampler::new(Sampling {
                temperature: 1.0,
                seed,
                ..Sampling::default()
            });
            (0..40).map(|_| s.sample(&logits, &[])).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn top_k_top_p_and_min_p_cut_the_tail() {
        let logits = [5.0, 4.9, 0.0, -1.0, -2.0];
        for settings in [
            Sampling {
                top_k: 2,
                ..Sampling::default()
            },
            Sampling {
                top_p: 0.9,
                ..Sampling::default()
            },
            Sampling {
                min_p: 0.5,
                ..Sampling::default()
            },
        ] {
            let mut s = Sampler::new(Sampling {
                temperature: 1.5,
                seed: 3,
                ..settings.clone()
            });
            for _ in 0..200 {
                let t = s.sample(&logits, &[]);
                assert!(t < 2, "{settings:?} drew {t}");
            }
        }
    }

    #[test]
    fn the_repetition_penalty_steers_greedy_away_from_seen_tokens() {
        let mut s = Sampler::new(Sampling {
            repetition_penalty: 2.0,
            ..Sampling::default()
        });
        assert_eq!(s.sample(&[3.0, 2.0, -1.0], &[0]), 1);
        assert_eq!(s.sample(&[3.0, 2.0, -1.0], &[5]), 0);
    }

    #[test]
    fn settings_out_of_range_are_named() {
        let bad = Sampling {
            temperature: -0.5,
            ..Sampling::default()
        };
        assert!(bad.check().unwrap_err().contains("temperature"));
        let bad = Sampling {
            top_p: 0.0,
            ..Sampling::default()
        };
        assert!(bad.check().unwrap_err().contains("top_p"));
    }

    #[test]
    fn top_logprobs_are_ordered() {
        let top = top_logprobs(&[-3.0, -0.1, -2.0, -0.1], 3);
        let ids: Vec<u32> = top.iter().map(|t| t.token).collect();
        assert_eq!(ids, [1, 3, 2]);
    }
}
