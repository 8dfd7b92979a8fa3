//! The input and output matrices: dense, or product-quantized as in `.ftz` files.

use crate::Error;
use crate::read::{Cursor, count};

/// Centroids per sub-quantizer (fastText's `ksub`, 2^8: one byte per code).
const KSUB: usize = 256;
/// No matrix larger than this many values is read (16 GiB of `f32`).
const MAX_VALUES: usize = 1 << 32;

/// A dense row-major `f32` matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseMatrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl DenseMatrix {
    /// A matrix from its rows, one after another.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), rows * cols, "data must hold rows * cols values");
        DenseMatrix { rows, cols, data }
    }

    fn read(cur: &mut Cursor<'_>) -> Result<Self, Error> {
        const PART: &str = "a dense matrix";
        let rows = count(cur.i64(PART)?, MAX_VALUES, "the row count")?;
        let cols = count(cur.i64(PART)?, MAX_VALUES, "the column count")?;
        let n = rows
            .checked_mul(cols)
            .filter(|&n| n <= MAX_VALUES)
            .ok_or_else(|| Error::Invalid(format!("a {rows} x {cols} matrix")))?;
        Ok(DenseMatrix {
            rows,
            cols,
            data: cur.f32s(n, PART)?,
        })
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// A product quantizer: each vector is cut into `nsubq` pieces, each coded by one byte
/// that picks one of 256 centroids.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductQuantizer {
    dim: usize,
    nsubq: usize,
    dsub: usize,
    lastdsub: usize,
    centroids: Vec<f32>,
}

impl ProductQuantizer {
    fn read(cur: &mut Cursor<'_>) -> Result<Self, Error> {
        const PART: &str = "a product quantizer";
        let dim = count(cur.i32(PART)?.into(), 1 << 20, "the quantizer dimension")?;
        let nsubq = count(cur.i32(PART)?.into(), dim, "the sub-quantizer count")?;
        let dsub = count(cur.i32(PART)?.into(), dim, "the sub-quantizer size")?;
        let lastdsub = count(cur.i32(PART)?.into(), dim, "the last sub-quantizer size")?;
        if nsubq == 0 || dsub * (nsubq - 1) + lastdsub != dim {
            return Err(Error::Invalid(format!(
                "{nsubq} sub-quantizers of {dsub} (last {lastdsub}) do not cover {dim}"
            )));
        }
        Ok(ProductQuantizer {
            dim,
            nsubq,
            dsub,
            lastdsub,
            centroids: cur.f32s(dim * KSUB, PART)?,
        })
    }

    /// The centroid that code `code` names in sub-quantizer `m`.
    #[inline]
    pub fn centroid(&self, m: usize, code: u8) -> &[f32] {
        let code = usize::from(code);
        if m == self.nsubq - 1 {
            let start = m * KSUB * self.dsub + code * self.lastdsub;
            &self.centroids[start..start + self.lastdsub]
        } else {
            let start = (m * KSUB + code) * self.dsub;
            &self.centroids[start..start + self.dsub]
        }
    }

    /// Number of sub-quantizers (bytes per coded vector).
    pub fn nsubq(&self) -> usize {
        self.nsubq
    }

    /// The dimension of the vectors it codes.
    pub fn dim(&self) -> usize {
        self.dim
    }
}

/// A product-quantized matrix, optionally with quantized row norms (`-qnorm`).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantMatrix {
    rows: usize,
    cols: usize,
    codes: Vec<u8>,
    pq: ProductQuantizer,
    /// One code per row into `npq`, whose one-dimensional centroids are the norms.
    norms: Option<(Vec<u8>, ProductQuantizer)>,
}

impl QuantMatrix {
    fn read(cur: &mut Cursor<'_>) -> Result<Self, Error> {
        const PART: &str = "a quantized matrix";
        let qnorm = cur.bool(PART)?;
        let rows = count(cur.i64(PART)?, MAX_VALUES, "the row count")?;
        let cols = count(cur.i64(PART)?, MAX_VALUES, "the column count")?;
        let code_size = count(cur.i32(PART)?.into(), cur.remaining(), "the code size")?;
        let codes = cur.take(code_size, PART)?.to_vec();
        let pq = ProductQuantizer::read(cur)?;
        if pq.dim != cols || code_size != rows * pq.nsubq {
            return Err(Error::Invalid(format!(
                "{code_size} codes for {rows} rows of {cols} with {} sub-quantizers of dimension {}",
                pq.nsubq, pq.dim
            )));
        }
        let norms = if qnorm {
            let norm_codes = cur.take(rows, PART)?.to_vec();
            let npq = ProductQuantizer::read(cur)?;
            if npq.dim != 1 {
                return Err(Error::Invalid(format!(
                    "norm quantizer of dimension {}",
                    npq.dim
                )));
            }
            Some((norm_codes, npq))
        } else {
            None
        };
        Ok(QuantMatrix {
            rows,
            cols,
            codes,
            pq,
            norms,
        })
    }

    #[inline]
    fn norm(&self, i: usize) -> f32 {
        match &self.norms {
            Some((codes, npq)) => npq.centroid(0, codes[i])[0],
            None => 1.0,
        }
    }

    /// The quantizer of the rows.
    pub fn quantizer(&self) -> &ProductQuantizer {
        &self.pq
    }

    /// Whether row norms are quantized separately.
    pub fn has_norms(&self) -> bool {
        self.norms.is_some()
    }
}

/// A matrix as a model file holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Matrix {
    /// Plain `f32` values.
    Dense(DenseMatrix),
    /// Product-quantized (`.ftz`).
    Quant(QuantMatrix),
}

impl Matrix {
    pub(crate) fn read(cur: &mut Cursor<'_>, quantized: bool) -> Result<Self, Error> {
        Ok(if quantized {
            Matrix::Quant(QuantMatrix::read(cur)?)
        } else {
            Matrix::Dense(DenseMatrix::read(cur)?)
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        match self {
            Matrix::Dense(m) => m.rows,
            Matrix::Quant(m) => m.rows,
        }
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        match self {
            Matrix::Dense(m) => m.cols,
            Matrix::Quant(m) => m.cols,
        }
    }

    /// `x += row i`, in fastText's order of operations (`addRowToVector`).
    #[inline]
    pub fn add_row_to(&self, x: &mut [f32], i: usize) {
        match self {
            Matrix::Dense(m) => {
                for (xj, &v) in x.iter_mut().zip(m.row(i)) {
                    *xj += v;
                }
            }
            Matrix::Quant(m) => {
                let alpha = m.norm(i);
                let pq = &m.pq;
                let code = &m.codes[i * pq.nsubq..(i + 1) * pq.nsubq];
                for (sub, &c) in code.iter().enumerate() {
                    let start = sub * pq.dsub;
                    let centroid = pq.centroid(sub, c);
                    for (xj, &v) in x[start..start + centroid.len()].iter_mut().zip(centroid) {
                        *xj += alpha * v;
                    }
                }
            }
        }
    }

    /// The dot product of row `i` with `x`, summed left to right in `f32` as fastText
    /// does (`dotRow`).
    #[inline]
    pub fn dot_row(&self, x: &[f32], i: usize) -> f32 {
        match self {
            Matrix::Dense(m) => {
                let mut d = 0.0f32;
                for (&a, &b) in m.row(i).iter().zip(x) {
                    d += a * b;
                }
                d
            }
            Matrix::Quant(m) => {
                let alpha = m.norm(i);
                let pq = &m.pq;
                let code = &m.codes[i * pq.nsubq..(i + 1) * pq.nsubq];
                let mut res = 0.0f32;
                for (sub, &c) in code.iter().enumerate() {
                    let start = sub * pq.dsub;
                    for (&a, &b) in x[start..].iter().zip(pq.centroid(sub, c)) {
                        res += a * b;
                    }
                }
                res * alpha
            }
        }
    }
}
