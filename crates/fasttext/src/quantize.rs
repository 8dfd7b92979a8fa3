//! Quantization of a trained model into an `.ftz` model, as `fasttext quantize` does.
//!
//! Optionally, only the `cutoff` input rows of largest norm are kept (the `</s>` row
//! first), the dictionary is pruned to the words among them and the n-gram buckets are
//! remapped, and the model is retrained on those rows. Then each input row is cut into
//! pieces of `dsub` values, and each piece replaced by the nearest of 256 centroids
//! that k-means finds for that piece (product quantization, Jégou et al. 2011): one byte
//! per piece. With `qnorm`, rows are normalized first and their norms quantized
//! separately; with `qout`, the output matrix is quantized too (pieces of 2).
//!
//! k-means follows fastText's: at most 65,536 sampled rows, centroids started on random
//! rows, 25 iterations, empty clusters split from a populated one. Sub-quantizers are
//! trained in parallel, each with its own random stream, so a seed gives one result
//! whatever the thread count.

use crate::corpus::Corpus;
use crate::dictionary::{Dictionary, EOS, EntryKind};
use crate::matrix::{DenseMatrix, KSUB, Matrix, ProductQuantizer, QuantMatrix};
use crate::rng::Rng;
use crate::train::{Sgd, TrainLoss};
use crate::{Error, Model, ModelKind};

/// Most rows k-means samples (fastText's `max_points_`, 256 per centroid).
const MAX_POINTS: usize = 256 * KSUB;
/// k-means iterations (fastText's `niter_`).
const NITER: usize = 25;
/// The nudge that splits an empty cluster from a full one (fastText's `eps_`).
const EPS: f32 = 1e-7;

/// How to quantize, with `fasttext quantize`'s defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizeArgs {
    /// Keep only this many input rows, those of largest norm (`-cutoff`; 0 keeps all).
    pub cutoff: usize,
    /// Retrain the kept rows after a cutoff (`-retrain`); needs the training data.
    pub retrain: bool,
    /// Quantize row norms separately (`-qnorm`).
    pub qnorm: bool,
    /// Quantize the output matrix too (`-qout`; it needs 256 labels or more).
    pub qout: bool,
    /// Values per sub-vector (`-dsub`, 2).
    pub dsub: usize,
    /// Epochs of the retraining (`-epoch`, 5).
    pub epoch: usize,
    /// Learning rate of the retraining (`-lr`, 0.05).
    pub lr: f64,
    /// Threads for retraining and k-means.
    pub threads: usize,
    /// Seed of k-means and of the retraining.
    pub seed: u64,
}

impl Default for QuantizeArgs {
    fn default() -> Self {
        QuantizeArgs {
            cutoff: 0,
            retrain: false,
            qnorm: false,
            qout: false,
            dsub: 2,
            epoch: 5,
            lr: 0.05,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            seed: 0,
        }
    }
}

/// How far a quantization is, as [`Model::quantize_with_progress`] reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuantizeProgress {
    /// Share (0 to 1) of the retraining after a cutoff done.
    Retraining(f64),
    /// Share (0 to 1) of the input matrix's sub-quantizers trained (k-means).
    Quantizing(f64),
}

impl Model {
    /// The quantized (`.ftz`) form of this model. `train_data` is the training data in
    /// fastText's format, needed only to retrain after a cutoff.
    pub fn quantize(
        &self,
        qargs: &QuantizeArgs,
        train_data: Option<&[u8]>,
    ) -> Result<Model, Error> {
        self.quantize_with_progress(qargs, train_data, &|_| {})
    }

    /// As [`Model::quantize`], reporting how far it is: the retraining a few times a
    /// second, the k-means of the input matrix as each sub-quantizer is done.
    pub fn quantize_with_progress(
        &self,
        qargs: &QuantizeArgs,
        train_data: Option<&[u8]>,
        progress: &(dyn Fn(QuantizeProgress) + Sync),
    ) -> Result<Model, Error> {
        if self.args().model != ModelKind::Supervised {
            return Err(Error::Quantize(
                "only supervised models are quantized".into(),
            ));
        }
        let (Matrix::Dense(input), Matrix::Dense(output)) = (self.input(), self.output_matrix())
        else {
            return Err(Error::Quantize("the model is quantized already".into()));
        };
        if qargs.dsub == 0 || qargs.threads == 0 {
            return Err(Error::Args("dsub and threads must be at least 1".into()));
        }
        if qargs.retrain && !(qargs.lr.is_finite() && qargs.lr > 0.0 && qargs.epoch > 0) {
            return Err(Error::Args(
                "retraining needs a positive lr and epoch".into(),
            ));
        }
        let mut args = self.args().clone();
        let mut dict = self.dictionary().clone();
        let mut input = input.clone();
        let mut output = output.clone();
        if qargs.cutoff > 0 && qargs.cutoff < input.rows() {
            let keep = select_rows(&input, &dict, qargs.cutoff);
            let (pruned_dict, pruned_input) = prune(&dict, &input, &keep, &args)?;
            dict = pruned_dict;
            input = pruned_input;
            if qargs.retrain {
                let data = train_data
                    .ok_or_else(|| Error::Quantize("retraining needs the training data".into()))?;
                let corpus = Corpus::encode(&dict, data, qargs.threads);
                if corpus.len() == 0 {
                    return Err(Error::Train("no line has both a label and words".into()));
                }
                args.epoch = qargs.epoch as i32;
                let sgd = Sgd {
                    lr: qargs.lr,
                    epoch: qargs.epoch,
                    threads: qargs.threads,
                    lr_update_rate: i64::from(args.lr_update_rate),
                    seed: qargs.seed,
                    loss: TrainLoss::new(args.loss, args.neg as usize, dict.label_counts()),
                    deadline: None,
                };
                let dim = input.cols();
                let retraining = |share| progress(QuantizeProgress::Retraining(share));
                sgd.run(
                    &corpus,
                    input.values_mut(),
                    output.values_mut(),
                    dim,
                    Some(&retraining),
                )?;
            }
        }
        let quantizing = |share| progress(QuantizeProgress::Quantizing(share));
        let quant_input = quantize_matrix(&input, qargs.dsub, qargs.qnorm, qargs, &quantizing)?;
        let output = if qargs.qout {
            Matrix::Quant(quantize_matrix(&output, 2, qargs.qnorm, qargs, &|_| {})?)
        } else {
            Matrix::Dense(output)
        };
        Model::from_parts(args, dict, Matrix::Quant(quant_input), output)
    }
}

/// fastText's `selectEmbeddings`: the `cutoff` rows of largest norm, `</s>` first.
fn select_rows(input: &DenseMatrix, dict: &Dictionary, cutoff: usize) -> Vec<usize> {
    let norms: Vec<f32> = (0..input.rows()).map(|i| input.row_norm(i)).collect();
    let eos = dict.id(EOS.as_bytes());
    let mut idx: Vec<usize> = (0..input.rows()).collect();
    idx.sort_by(|&a, &b| {
        let key = |i: usize| (Some(i) != eos, std::cmp::Reverse(ordered(norms[i])));
        key(a).cmp(&key(b))
    });
    idx.truncate(cutoff);
    idx
}

/// A total order on norms (never NaN after a finished training).
fn ordered(x: f32) -> u32 {
    x.max(0.0).to_bits()
}

/// fastText's `Dictionary::prune` and the matching rows: the kept words in id order
/// (labels all kept), then the kept n-gram rows in the order given, remapped.
fn prune(
    dict: &Dictionary,
    input: &DenseMatrix,
    keep: &[usize],
    args: &crate::Args,
) -> Result<(Dictionary, DenseMatrix), Error> {
    let nwords = dict.nwords();
    let mut words: Vec<usize> = keep.iter().copied().filter(|&i| i < nwords).collect();
    words.sort_unstable();
    let ngrams: Vec<usize> = keep.iter().copied().filter(|&i| i >= nwords).collect();
    let pairs: Vec<(i32, i32)> = ngrams
        .iter()
        .enumerate()
        .map(|(j, &row)| ((row - nwords) as i32, j as i32))
        .collect();
    let mut entries: Vec<(&[u8], i64, EntryKind)> = words
        .iter()
        .map(|&i| {
            let e = dict.entry(i);
            (e.word, e.count, e.kind)
        })
        .collect();
    entries.extend((nwords..dict.len()).map(|i| {
        let e = dict.entry(i);
        (e.word, e.count, e.kind)
    }));
    let mut pruned = Dictionary::from_entries(&entries, dict.ntokens(), Some(pairs), args)?;
    pruned.set_label_prefix(dict.label_prefix());
    let mut rows = DenseMatrix::zeros(words.len() + ngrams.len(), input.cols());
    for (j, &i) in words.iter().chain(&ngrams).enumerate() {
        rows.row_mut(j).copy_from_slice(input.row(i));
    }
    Ok((pruned, rows))
}

/// fastText's `QuantMatrix` constructor: optional norm quantization, then product
/// quantization of the (normalized) rows.
fn quantize_matrix(
    m: &DenseMatrix,
    dsub: usize,
    qnorm: bool,
    qargs: &QuantizeArgs,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<QuantMatrix, Error> {
    if m.rows() < KSUB {
        return Err(Error::Quantize(format!(
            "a matrix of {} rows is too small: product quantization needs at least {KSUB}",
            m.rows()
        )));
    }
    let mut data = m.clone();
    let norms = if qnorm {
        let norms: Vec<f32> = (0..data.rows()).map(|i| data.row_norm(i)).collect();
        for (i, &n) in norms.iter().enumerate() {
            if n != 0.0 {
                for v in data.row_mut(i) {
                    *v /= n;
                }
            }
        }
        let norm_matrix = DenseMatrix::new(norms.len(), 1, norms);
        let npq = train_pq(&norm_matrix, 1, qargs.seed ^ 0x6e6f_726d, 1, &|_| {});
        let codes = encode(&npq, &norm_matrix);
        Some((codes, npq))
    } else {
        None
    };
    let pq = train_pq(&data, dsub, qargs.seed, qargs.threads, progress);
    let codes = encode(&pq, &data);
    Ok(QuantMatrix::from_parts(data.rows(), codes, pq, norms))
}

/// Trains the 256 centroids of every sub-quantizer, reporting the share done.
fn train_pq(
    m: &DenseMatrix,
    dsub: usize,
    seed: u64,
    threads: usize,
    progress: &(dyn Fn(f64) + Sync),
) -> ProductQuantizer {
    let dim = m.cols();
    let mut pq = ProductQuantizer::from_centroids(dim, dsub, vec![0.0; dim * KSUB]);
    let nsubq = pq.nsubq();
    let n = m.rows();
    let np = n.min(MAX_POINTS);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let trained: Vec<Vec<f32>> = {
        let work = |sub: usize| {
            let mut rng = Rng::stream(seed, sub as u64);
            let d = pq.sub_dim(sub);
            let start = sub * pq.dsub();
            let mut points = Vec::with_capacity(np * d);
            if np == n {
                for i in 0..n {
                    points.extend_from_slice(&m.row(i)[start..start + d]);
                }
            } else {
                let mut perm: Vec<usize> = (0..n).collect();
                // A partial shuffle draws the `np` sampled rows.
                for i in 0..np {
                    let j = i + rng.below(n - i);
                    perm.swap(i, j);
                    points.extend_from_slice(&m.row(perm[i])[start..start + d]);
                }
            }
            let centroids = kmeans(&points, d, &mut rng);
            let finished = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(finished as f64 / nsubq as f64);
            centroids
        };
        let threads = threads.clamp(1, nsubq);
        if threads == 1 {
            (0..nsubq).map(work).collect()
        } else {
            let next = std::sync::atomic::AtomicUsize::new(0);
            let mut results: Vec<(usize, Vec<f32>)> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|_| {
                        s.spawn(|| {
                            let mut done = Vec::new();
                            loop {
                                let sub = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                if sub >= nsubq {
                                    break done;
                                }
                                done.push((sub, work(sub)));
                            }
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().expect("a k-means thread panicked"))
                    .collect()
            });
            results.sort_by_key(|r| r.0);
            results.into_iter().map(|r| r.1).collect()
        }
    };
    for (sub, centroids) in trained.into_iter().enumerate() {
        pq.centroids_mut(sub).copy_from_slice(&centroids);
    }
    pq
}

/// k-means of `points` (`d` values each) into 256 centroids, as fastText's `kmeans`.
fn kmeans(points: &[f32], d: usize, rng: &mut Rng) -> Vec<f32> {
    let n = points.len() / d;
    let mut perm: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut perm);
    let mut centroids = vec![0.0f32; KSUB * d];
    for k in 0..KSUB {
        centroids[k * d..(k + 1) * d].copy_from_slice(&points[perm[k] * d..(perm[k] + 1) * d]);
    }
    let mut codes = vec![0u8; n];
    let mut transposed = vec![0.0f32; KSUB * d];
    let mut dist = vec![0.0f32; KSUB];
    for _ in 0..NITER {
        transpose(&centroids, d, &mut transposed);
        for (i, code) in codes.iter_mut().enumerate() {
            *code = nearest(&points[i * d..(i + 1) * d], &transposed, &mut dist);
        }
        m_step(points, d, &codes, &mut centroids, rng);
    }
    centroids
}

/// fastText's `MStep`: centroids become the means of their points; an empty cluster
/// takes half the points of a populated one, picked at random by size.
fn m_step(points: &[f32], d: usize, codes: &[u8], centroids: &mut [f32], rng: &mut Rng) {
    let n = codes.len();
    let mut nelts = vec![0usize; KSUB];
    centroids.fill(0.0);
    for (i, &c) in codes.iter().enumerate() {
        let c = usize::from(c);
        for j in 0..d {
            centroids[c * d + j] += points[i * d + j];
        }
        nelts[c] += 1;
    }
    for k in 0..KSUB {
        if nelts[k] > 0 {
            let z = nelts[k] as f32;
            for v in &mut centroids[k * d..(k + 1) * d] {
                *v /= z;
            }
        }
    }
    for k in 0..KSUB {
        if nelts[k] != 0 {
            continue;
        }
        let mut m = 0;
        while rng.unit() * (n as f64 - KSUB as f64) >= nelts[m] as f64 - 1.0 {
            m = (m + 1) % KSUB;
        }
        let (from, to) = (m * d, k * d);
        for j in 0..d {
            let sign = if j % 2 == 1 { 1.0 } else { -1.0 };
            centroids[to + j] = centroids[from + j] + sign * EPS;
            centroids[from + j] -= sign * EPS;
        }
        nelts[k] = nelts[m] / 2;
        nelts[m] -= nelts[k];
    }
}

/// Centroid-major to value-major, so that distances to all 256 centroids vectorize.
fn transpose(centroids: &[f32], d: usize, out: &mut [f32]) {
    for k in 0..KSUB {
        for j in 0..d {
            out[j * KSUB + k] = centroids[k * d + j];
        }
    }
}

/// The nearest centroid (the first of equals), centroids given value-major.
#[inline]
fn nearest(x: &[f32], transposed: &[f32], dist: &mut [f32]) -> u8 {
    dist.fill(0.0);
    for (j, &xj) in x.iter().enumerate() {
        let column = &transposed[j * KSUB..(j + 1) * KSUB];
        for (dk, &c) in dist.iter_mut().zip(column) {
            let t = xj - c;
            *dk += t * t;
        }
    }
    let mut best = 0;
    for k in 1..KSUB {
        if dist[k] < dist[best] {
            best = k;
        }
    }
    best as u8
}

/// The code of every row. Identical rows (the zero rows of unused buckets, mostly)
/// are looked up once.
fn encode(pq: &ProductQuantizer, m: &DenseMatrix) -> Vec<u8> {
    let nsubq = pq.nsubq();
    let transposed: Vec<Vec<f32>> = (0..nsubq)
        .map(|sub| {
            let d = pq.sub_dim(sub);
            let mut centroids = Vec::with_capacity(KSUB * d);
            for k in 0..KSUB {
                centroids.extend_from_slice(pq.centroid(sub, k as u8));
            }
            let mut t = vec![0.0; KSUB * d];
            transpose(&centroids, d, &mut t);
            t
        })
        .collect();
    let mut dist = vec![0.0f32; KSUB];
    let mut code_of = |row: &[f32], out: &mut [u8]| {
        for (sub, t) in transposed.iter().enumerate() {
            let start = sub * pq.dsub();
            out[sub] = nearest(&row[start..start + pq.sub_dim(sub)], t, &mut dist);
        }
    };
    let mut zero_code = vec![0u8; nsubq];
    code_of(&vec![0.0; m.cols()], &mut zero_code);
    let mut codes = vec![0u8; m.rows() * nsubq];
    for (i, out) in codes.chunks_exact_mut(nsubq).enumerate() {
        let row = m.row(i);
        if row.iter().all(|&v| v == 0.0) {
            out.copy_from_slice(&zero_code);
        } else {
            code_of(row, out);
        }
    }
    codes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmeans_spreads_its_centroids_over_the_points() {
        // 256 groups of 4 close points, 10 apart. A centroid per group leaves an error
        // near 0, two groups sharing one 25 each (Lloyd's iterations from random
        // starts leave some of those), one centroid for everything 546,000.
        let mut points = Vec::new();
        for g in 0..256 {
            for i in 0..4 {
                points.push(g as f32 * 10.0 + i as f32 * 0.01);
            }
        }
        let mut rng = Rng::new(3);
        let centroids = kmeans(&points, 1, &mut rng);
        let mut t = vec![0.0; KSUB];
        transpose(&centroids, 1, &mut t);
        let mut dist = vec![0.0; KSUB];
        let mse: f32 = points
            .iter()
            .map(|&x| {
                let c = centroids[usize::from(nearest(&[x], &t, &mut dist))];
                (x - c) * (x - c)
            })
            .sum::<f32>()
            / points.len() as f32;
        assert!(mse < 40.0, "mean squared error {mse}");
    }

    #[test]
    fn nearest_prefers_the_first_of_equals() {
        let centroids = vec![1.0f32; KSUB];
        let mut t = vec![0.0; KSUB];
        transpose(&centroids, 1, &mut t);
        assert_eq!(nearest(&[1.0], &t, &mut vec![0.0; KSUB]), 0);
    }
}
