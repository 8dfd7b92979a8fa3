//! Q8_0 weights for the CPU's decoding step: one activation row times a weight matrix.
//!
//! Written by hand because decoding is this product and nothing else: candle's kernel
//! for it converts each 32-weight block's f16 scale through a function call and decodes
//! at about half of llama.cpp's speed on the same file. Here the weights are split once
//! at load into their int8 values and f32 scales (the same bytes plus an eighth), the
//! activation row is quantized to int8 blocks as llama.cpp does, and each block's dot
//! product is four AVX2 instructions (chosen at run time; a portable loop elsewhere).
//! Rows are shared among candle's CPU threads.

use candle_core::quantized::{GgmlDType, QTensor};

/// Weights per block.
const BLOCK: usize = 32;
/// Bytes of one Q8_0 block: an f16 scale and 32 int8 values.
const BLOCK_BYTES: usize = 34;
/// How far ahead of the block it multiplies the kernel asks for the weights: one 4 KiB
/// page. The hardware's prefetchers stop at page boundaries, so without it each page of
/// the stream starts with a wait on memory; with it decoding is 1.3x to 1.4x faster
/// (`bench/lm/RESULTS.md`). A prefetch never faults, so past the end is harmless.
const PREFETCH_BYTES: usize = 4096;

/// A Q8_0 weight matrix of `rows` × `cols`, its values and scales apart.
#[derive(Debug)]
pub struct Q8Matrix {
    rows: usize,
    cols: usize,
    values: Vec<i8>,
    scales: Vec<f32>,
}

/// An activation row quantized to int8 blocks.
struct Quantized {
    values: Vec<i8>,
    scales: Vec<f32>,
}

fn quantize_row(x: &[f32]) -> Quantized {
    let mut values = vec![0i8; x.len()];
    let mut scales = Vec::with_capacity(x.len() / BLOCK);
    for (block, out) in x.chunks_exact(BLOCK).zip(values.chunks_exact_mut(BLOCK)) {
        let max = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = max / 127.0;
        let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
        for (q, &v) in out.iter_mut().zip(block) {
            *q = (v * inv).round() as i8;
        }
        scales.push(d);
    }
    Quantized { values, scales }
}

impl Q8Matrix {
    /// Splits a Q8_0 tensor of shape `(rows, cols)`; `None` for other types or shapes.
    pub fn from_qtensor(t: &QTensor) -> Option<Q8Matrix> {
        if t.dtype() != GgmlDType::Q8_0 {
            return None;
        }
        let (rows, cols) = t.shape().dims2().ok()?;
        if cols % BLOCK != 0 {
            return None;
        }
        let data = t.data().ok()?;
        if data.len() != rows * cols / BLOCK * BLOCK_BYTES {
            return None;
        }
        let mut values = Vec::with_capacity(rows * cols);
        let mut scales = Vec::with_capacity(rows * cols / BLOCK);
        for block in data.chunks_exact(BLOCK_BYTES) {
            let d = u16::from_le_bytes([block[0], block[1]]);
            scales.push(half::f16::from_bits(d).to_f32());
            values.extend(block[2..].iter().map(|&b| b as i8));
        }
        Some(Q8Matrix {
            rows,
            cols,
            values,
            scales,
        })
    }

    /// Rows (outputs).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (inputs).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// One row of the matrix, dequantized, into `out`.
    pub fn row_into(&self, row: usize, out: &mut [f32]) {
        let blocks = self.cols / BLOCK;
        let values = &self.values[row * self.cols..(row + 1) * self.cols];
        let scales = &self.scales[row * blocks..(row + 1) * blocks];
        for ((o, v), &d) in out
            .chunks_exact_mut(BLOCK)
            .zip(values.chunks_exact(BLOCK))
            .zip(scales)
        {
            for (o, &v) in o.iter_mut().zip(v) {
                *o = f32::from(v) * d;
            }
        }
    }

    /// `out = W x` for one activation row `x` (`cols` long; `out` is `rows` long).
    pub fn gemv(&self, x: &[f32], out: &mut [f32]) {
        assert_eq!((x.len(), out.len()), (self.cols, self.rows));
        let q = quantize_row(x);
        let out_ptr = SendPtr(out.as_mut_ptr());
        let work = |range: std::ops::Range<usize>| {
            let ptr = &out_ptr;
            // SAFETY: each row index is given to exactly one range, so the writes do not
            // overlap, and `out` outlives the pool call.
            let out =
                unsafe { std::slice::from_raw_parts_mut(ptr.0.add(range.start), range.len()) };
            self.rows_dot(range.start, &q, out);
        };
        // Chunks of rows across candle's CPU pool (the same threads as its kernels).
        candle_core::utils::barrier_pool().execute_chunked(self.rows, work);
    }

    fn rows_dot(&self, first: usize, q: &Quantized, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were detected; slices are checked by the caller.
            unsafe { self.rows_dot_avx2(first, q, out) };
            return;
        }
        let blocks = self.cols / BLOCK;
        for (i, o) in out.iter_mut().enumerate() {
            let row = first + i;
            let values = &self.values[row * self.cols..(row + 1) * self.cols];
            let scales = &self.scales[row * blocks..(row + 1) * blocks];
            let mut sum = 0f32;
            for b in 0..blocks {
                let dot: i32 = values[b * BLOCK..(b + 1) * BLOCK]
                    .iter()
                    .zip(&q.values[b * BLOCK..(b + 1) * BLOCK])
                    .map(|(&w, &x)| i32::from(w) * i32::from(x))
                    .sum();
                sum += dot as f32 * scales[b] * q.scales[b];
            }
            *o = sum;
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn rows_dot_avx2(&self, first: usize, q: &Quantized, out: &mut [f32]) {
        use std::arch::x86_64::*;
        let blocks = self.cols / BLOCK;
        let ones = _mm256_set1_epi16(1);
        for (i, o) in out.iter_mut().enumerate() {
            let row = first + i;
            let w = self.values[row * self.cols..(row + 1) * self.cols].as_ptr();
            let ws = &self.scales[row * blocks..(row + 1) * blocks];
            let mut acc = [_mm256_setzero_ps(); 2];
            for (b, (&s, &xs)) in ws.iter().zip(&q.scales).enumerate() {
                _mm_prefetch::<_MM_HINT_T0>(w.wrapping_add(b * BLOCK + PREFETCH_BYTES).cast());
                // SAFETY: block `b` of the row and of `q` lie inside their slices.
                let (wv, xv) = unsafe {
                    (
                        _mm256_loadu_si256(w.add(b * BLOCK).cast()),
                        _mm256_loadu_si256(q.values.as_ptr().add(b * BLOCK).cast()),
                    )
                };
                // |w| times x with w's sign: unsigned times signed bytes, as maddubs wants.
                let products =
                    _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv));
                let sums = _mm256_madd_epi16(products, ones);
                acc[b & 1] =
                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(s * xs), acc[b & 1]);
            }
            *o = hsum_avx(_mm256_add_ps(acc[0], acc[1]));
        }
    }
}

/// The sum of the eight lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn hsum_avx(acc: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    let quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
    _mm_cvtss_f32(_mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)))
}

/// A raw pointer the pool's threads may share (each writes its own rows).
struct SendPtr(*mut f32);
// SAFETY: see `Q8Matrix::gemv`: writes through it never overlap.
unsafe impl Sync for SendPtr {}
unsafe impl Send for SendPtr {}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn the_product_matches_dequantized_weights() {
        let (rows, cols) = (37, 96);
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919) % 201) as f32 / 100.0 - 1.0)
            .collect();
        let x: Vec<f32> = (0..cols)
            .map(|i| ((i * 31) % 17) as f32 / 8.0 - 1.0)
            .collect();
        let t = Tensor::from_vec(w, (rows, cols), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&t, GgmlDType::Q8_0).unwrap();
        let m = Q8Matrix::from_qtensor(&q).unwrap();
        let dense = q
            .dequantize(&Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let mut out = vec![0f32; rows];
        m.gemv(&x, &mut out);
        let mut row = vec![0f32; cols];
        for r in 0..rows {
            m.row_into(r, &mut row);
            assert_eq!(row, dense[r]);
            let exact: f32 = dense[r].iter().zip(&x).map(|(a, b)| a * b).sum();
            assert!(
                (out[r] - exact).abs() < 0.05,
                "row {r}: {} vs {exact}",
                out[r]
            );
        }
        let f32_tensor = QTensor::quantize(&t, GgmlDType::F32).unwrap();
        assert!(Q8Matrix::from_qtensor(&f32_tensor).is_none());
    }
}
