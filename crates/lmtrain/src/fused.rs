//! The loss as one operation on the CPU: cross entropy of each row of the logits against
//! its target, forward in one pass over the row (`logsumexp - logit[target]`), backward
//! as one tensor (`(softmax - onehot) x grad`).
//!
//! Composed from candle's elementary operations, log-softmax keeps several temporaries
//! the size of the logits (rows x vocabulary: 400 MB for 2,048 positions of SmolLM2's
//! 49,152 tokens) and reads them again on the way back; on the CPU the time went to
//! allocating and zeroing those pages. A GPU build uses the composed form.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
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
