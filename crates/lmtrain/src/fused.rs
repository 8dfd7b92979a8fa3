//! Operations fused on the CPU, each with its backward pass:
//!
//! - the loss: cross entropy of each row of the logits against its target, forward in
//!   one pass over the row (`logsumexp - logit[target]`), backward as one tensor
//!   (`(softmax - onehot) x grad`);
//! - attention's causal softmax: scale, mask and softmax in one pass per row, backward
//!   in one (`scale y (g - sum(g y))`).
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

fn rows<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<(&'a [f32], usize, usize)> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("cross entropy: the logits must be f32")
    };
    let (n, vocab) = l.shape().dims2()?;
    let Some((start, end)) = l.contiguous_offsets() else {
        candle_core::bail!("cross entropy: the logits must be contiguous")
    };
    Ok((&v[start..end], n, vocab))
}

fn ids<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [u32]> {
    let CpuStorage::U32(v) = s else {
        candle_core::bail!("cross entropy: the targets must be u32")
    };
    let Some((start, end)) = l.contiguous_offsets() else {
        candle_core::bail!("cross entropy: the targets must be contiguous")
    };
    Ok(&v[start..end])
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
        let (logits, n, vocab) = rows(s1, l1)?;
        let targets = ids(s2, l2)?;
        let out: Vec<f32> = logits
            .par_chunks(vocab)
            .zip(targets.par_iter())
            .map(|(row, &t)| {
                let (max, log_sum) = lse(row);
                max + log_sum - row[t as usize]
            })
            .collect();
        Ok((CpuStorage::F32(out), Shape::from(n)))
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
        let (logits, n, vocab) = rows(s1, l1)?;
        let targets = ids(s2, l2)?;
        let CpuStorage::F32(grad) = s3 else {
            candle_core::bail!("cross entropy: the gradient must be f32")
        };
        let grad = &grad[l3.start_offset()..];
        let mut out = vec![0f32; n * vocab];
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
        Ok((CpuStorage::F32(out), Shape::from((n, vocab))))
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

fn matrix_rows<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<(&'a [f32], usize)> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("causal softmax: the scores must be f32")
    };
    let Some((start, end)) = l.contiguous_offsets() else {
        candle_core::bail!("causal softmax: the scores must be contiguous")
    };
    let t = *l.dims().last().unwrap_or(&1);
    Ok((&v[start..end], t))
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "causal-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, t) = matrix_rows(s, l)?;
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
        let (y, t) = matrix_rows(s1, l1)?;
        let (g, _) = matrix_rows(s2, l2)?;
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
