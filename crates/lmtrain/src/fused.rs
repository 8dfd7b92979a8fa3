//! Operations fused on the CPU, each with its backward pass:
//!
//! - the loss: cross entropy of each row of the logits against its target, forward in
//!   one pass over the row (`logsumexp - logit[target]`), backward as one tensor
//!   (`(softmax - onehot) x grad`);
//! - attention's causal softmax: scale, mask and softmax in one pass per row, backward
//!   in one (`scale y (g - sum(g y))`);
//! - RMS norm, forward in one pass per row, backward in one for the input and one
//!   reduction for the weight.
//!
//! Composed from candle's elementary operations, each keeps several temporaries of its
//! input's size (the logits are rows x vocabulary: 400 MB for 2,048 positions of
//! SmolLM2's 49,152 tokens) and reads them again on the way back; on the CPU the time
//! went to allocating, zeroing and re-reading them. The model uses the composed forms on
//! a GPU.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Per-row cross entropy of `logits [n, vocab]` (f32) against `targets [n]` (u32).
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    logits
        .contiguous()?
        .apply_op2(&targets.contiguous()?, CrossEntropy)
}

/// The f32 values of a contiguous CPU tensor, in order; `what` names it in errors.
fn f32s<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    let (CpuStorage::F32(v), Some((start, end))) = (s, l.contiguous_offsets()) else {
        candle_core::bail!("{what} must be contiguous f32")
    };
    Ok(&v[start..end])
}

/// The u32 values of a contiguous CPU tensor, in order.
fn u32s<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [u32]> {
    let (CpuStorage::U32(v), Some((start, end))) = (s, l.contiguous_offsets()) else {
        candle_core::bail!("{what} must be contiguous u32")
    };
    Ok(&v[start..end])
}

/// The length of a tensor's rows (its last axis).
fn row_len(l: &Layout) -> usize {
    *l.dims().last().unwrap_or(&1)
}

/// `(max, log of the sum of exp(x - max))` of a row.
fn lse(row: &[f32]) -> (f32, f32) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = row.iter().map(|&x| (x - max).exp()).sum();
    (max, sum.ln())
}

struct CrossEntropy;

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (logits, vocab) = (f32s(s1, l1, "the logits")?, row_len(l1));
        let targets = u32s(s2, l2, "the targets")?;
        let out: Vec<f32> = logits
            .par_chunks(vocab)
            .zip(targets.par_iter())
            .map(|(row, &t)| {
                let (max, log_sum) = lse(row);
                max + log_sum - row[t as usize]
            })
            .collect();
        Ok((CpuStorage::F32(out), Shape::from(targets.len())))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let g = logits.apply_op3_no_bwd(targets, &grad.contiguous()?, &CrossEntropyGrad)?;
        Ok((Some(g), None))
    }
}

struct CrossEntropyGrad;

impl CustomOp3 for CrossEntropyGrad {
    fn name(&self) -> &'static str {
        "cross-entropy-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (logits, vocab) = (f32s(s1, l1, "the logits")?, row_len(l1));
        let targets = u32s(s2, l2, "the targets")?;
        let grad = f32s(s3, l3, "the gradient")?;
        let mut out = vec![0f32; logits.len()];
        out.par_chunks_mut(vocab)
            .zip(logits.par_chunks(vocab))
            .zip(targets.par_iter().zip(grad.par_iter()))
            .for_each(|((o, row), (&t, &g))| {
                if g == 0.0 {
                    return;
                }
                let (max, log_sum) = lse(row);
                for (o, &x) in o.iter_mut().zip(row) {
                    *o = (x - max - log_sum).exp() * g;
                }
                o[t as usize] -= g;
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Softmax over the last axis of attention scores `[.., rep * t, t]` times `scale`, with
/// the causal mask: row `r` of each matrix sees the columns up to `r % t` (the `rep`
/// query heads sharing a key/value head are stacked along the rows).
pub fn causal_softmax(scores: &Tensor, scale: f64) -> candle_core::Result<Tensor> {
    scores.contiguous()?.apply_op1(CausalSoftmax {
        scale: scale as f32,
    })
}

struct CausalSoftmax {
    scale: f32,
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "causal-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, t) = (f32s(s, l, "the scores")?, row_len(l));
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(t)
            .zip(x.par_chunks(t))
            .enumerate()
            .for_each(|(r, (y, row))| {
                let seen = r % t + 1;
                let max = row[..seen]
                    .iter()
                    .fold(f32::NEG_INFINITY, |m, &v| m.max(v * self.scale));
                let mut sum = 0.0;
                for (y, &v) in y[..seen].iter_mut().zip(row) {
                    *y = (v * self.scale - max).exp();
                    sum += *y;
                }
                y[..seen].iter_mut().for_each(|y| *y /= sum);
            });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let g = res.apply_op2_no_bwd(
            &grad.contiguous()?,
            &CausalSoftmaxGrad { scale: self.scale },
        )?;
        Ok(Some(g))
    }
}

struct CausalSoftmaxGrad {
    scale: f32,
}

impl CustomOp2 for CausalSoftmaxGrad {
    fn name(&self) -> &'static str {
        "causal-softmax-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (y, t) = (f32s(s1, l1, "the softmax")?, row_len(l1));
        let g = f32s(s2, l2, "the gradient")?;
        let mut out = vec![0f32; y.len()];
        out.par_chunks_mut(t)
            .zip(y.par_chunks(t).zip(g.par_chunks(t)))
            .for_each(|(o, (y, g))| {
                let dot: f32 = y.iter().zip(g).map(|(y, g)| y * g).sum();
                for ((o, &y), &g) in o.iter_mut().zip(y).zip(g) {
                    *o = self.scale * y * (g - dot);
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// RMS norm of the rows of `x [n, d]` (f32), scaled by `w [d]`:
/// `x / sqrt(mean(x²) + eps) * w`.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    x.contiguous()?
        .apply_op2(&w.contiguous()?, RmsNorm { eps: eps as f32 })
}

struct RmsNorm {
    eps: f32,
}

/// `1 / sqrt(mean(x²) + eps)` of a row.
fn inverse_rms(row: &[f32], eps: f32) -> f32 {
    let ms = row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32;
    1.0 / (ms + eps).sqrt()
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, "the input")?;
        let w = f32s(s2, l2, "the weight")?;
        let d = w.len();
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(d)
            .zip(x.par_chunks(d))
            .for_each(|(y, row)| {
                let r = inverse_rms(row, self.eps);
                for ((y, &v), &w) in y.iter_mut().zip(row).zip(w) {
                    *y = v * r * w;
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let eps = self.eps;
        let dx = x.apply_op3_no_bwd(w, &grad, &RmsNormGradX { eps })?;
        let dw = x.apply_op2_no_bwd(&grad, &RmsNormGradW { eps })?;
        Ok((Some(dx), Some(dw)))
    }
}

/// `dx = r (g w) - x r³ mean(g w x)` per row, `r` the row's inverse RMS.
struct RmsNormGradX {
    eps: f32,
}

impl CustomOp3 for RmsNormGradX {
    fn name(&self) -> &'static str {
        "rms-norm-grad-x"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, "the input")?;
        let w = f32s(s2, l2, "the weight")?;
        let g = f32s(s3, l3, "the gradient")?;
        let d = w.len();
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(d)
            .zip(x.par_chunks(d).zip(g.par_chunks(d)))
            .for_each(|(dx, (row, g))| {
                let r = inverse_rms(row, self.eps);
                let dot: f32 = row.iter().zip(g).zip(w).map(|((x, g), w)| x * g * w).sum();
                let k = r * r * r * dot / d as f32;
                for (((dx, &x), &g), &w) in dx.iter_mut().zip(row).zip(g).zip(w) {
                    *dx = r * g * w - x * k;
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `dw = sum over rows of g x r`.
struct RmsNormGradW {
    eps: f32,
}

impl CustomOp2 for RmsNormGradW {
    fn name(&self) -> &'static str {
        "rms-norm-grad-w"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, "the input")?;
        let g = f32s(s2, l2, "the gradient")?;
        let d = row_len(l1);
        // Partial sums over fixed blocks of rows, added in order: the same bits whatever
        // the threads (a resumed run must end where an uninterrupted one does).
        const BLOCK: usize = 64;
        let partials: Vec<Vec<f32>> = x
            .par_chunks(d * BLOCK)
            .zip(g.par_chunks(d * BLOCK))
            .map(|(rows, grads)| {
                let mut acc = vec![0f32; d];
                for (row, g) in rows.chunks(d).zip(grads.chunks(d)) {
                    let r = inverse_rms(row, self.eps);
                    for ((a, &x), &g) in acc.iter_mut().zip(row).zip(g) {
                        *a += g * x * r;
                    }
                }
                acc
            })
            .collect();
        let mut dw = vec![0f32; d];
        for p in partials {
            dw.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        Ok((CpuStorage::F32(dw), Shape::from(d)))
    }
}
