//! The input and output matrices: dense, or product-quantized as in `.ftz` files.

use std::io;

use crate::Error;
use crate::read::{Cursor, count};
use crate::write::Sink;

/// Centroids per sub-quantizer (fastText's `ksub`, 2^8: one byte per code).
pub(crate) const KSUB: usize = 256;
/// No matrix larger than this many values is read (16 GiB of `f32`).
const MAX_VALUES: usize = 1 << 32;

/// A dense row-major `f32` matrix.
///
/// A matrix fresh from training stores only the rows that training used: the others
/// (hash buckets no training line fell into) are zero, and a table maps rows to the
/// stored ones. Read, written and compared, it is the same matrix as if every row were
/// stored.
#[derive(Debug, Clone)]
pub struct DenseMatrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
    /// When only some rows are stored: the slot of each row in `data`, `u32::MAX` for
    /// a zero row.
    slots: Option<Vec<u32>>,
    /// A row of zeros, for the rows not stored.
    zero: Vec<f32>,
}

impl PartialEq for DenseMatrix {
    fn eq(&self, other: &Self) -> bool {
        self.rows == other.rows
            && self.cols == other.cols
            && (0..self.rows).all(|i| self.row(i) == other.row(i))
    }
}

/// Marks a row that is not stored.
const ABSENT: u32 = u32::MAX;

impl DenseMatrix {
    /// A matrix from its rows, one after another.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), rows * cols, "data must hold rows * cols values");
        DenseMatrix {
            rows,
            cols,
            data,
            slots: None,
            zero: vec![0.0; cols],
        }
    }

    /// A matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        DenseMatrix::new(rows, cols, vec![0.0; rows * cols])
    }

    /// A matrix that stores only some rows: `slots[i]` is the index of row `i` among
    /// the `cols`-wide rows of `stored`, or `u32::MAX` for a zero row.
    pub(crate) fn with_slots(rows: usize, cols: usize, slots: Vec<u32>, stored: Vec<f32>) -> Self {
        assert_eq!(slots.len(), rows, "a slot per row");
        assert_eq!(stored.len() % cols, 0, "whole rows");
        let n = (stored.len() / cols) as u32;
        assert!(
            slots.iter().all(|&s| s == ABSENT || s < n),
            "slots in range"
        );
        DenseMatrix {
            rows,
            cols,
            data: stored,
            slots: Some(slots),
            zero: vec![0.0; cols],
        }
    }

    fn read(cur: &mut Cursor<'_>) -> Result<Self, Error> {
        let (rows, cols) = Self::read_shape(cur)?;
        Ok(DenseMatrix::new(
            rows,
            cols,
            cur.f32s(rows * cols, "a dense matrix")?,
        ))
    }

    /// Reads a dense matrix's row and column counts, checked to make at most
    /// [`MAX_VALUES`] values.
    pub(crate) fn read_shape(cur: &mut Cursor<'_>) -> Result<(usize, usize), Error> {
        const PART: &str = "a dense matrix";
        let rows = count(cur.i64(PART)?, MAX_VALUES, "the row count")?;
        let cols = count(
            cur.i64(PART)?,
            crate::args::MAX_DIM as usize,
            "the column count",
        )?;
        rows.checked_mul(cols)
            .filter(|&n| n <= MAX_VALUES)
            .ok_or_else(|| Error::Invalid(format!("a {rows} x {cols} matrix")))?;
        Ok((rows, cols))
    }

    /// Row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        let slot = match &self.slots {
            None => i,
            Some(slots) => match slots[i] {
                ABSENT => return &self.zero,
                s => s as usize,
            },
        };
        &self.data[slot * self.cols..(slot + 1) * self.cols]
    }

    /// Row `i`, to change.
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        let slot = match &mut self.slots {
            None => i,
            Some(slots) => {
                if slots[i] == ABSENT {
                    slots[i] = (self.data.len() / self.cols) as u32;
                    self.data.resize(self.data.len() + self.cols, 0.0);
                }
                slots[i] as usize
            }
        };
        &mut self.data[slot * self.cols..(slot + 1) * self.cols]
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of rows actually stored (all of them, except fresh from training).
    pub fn stored_rows(&self) -> usize {
        self.data.len() / self.cols.max(1)
    }

    /// All values, row after row, of a matrix that stores every row.
    pub(crate) fn values_mut(&mut self) -> &mut [f32] {
        assert!(self.slots.is_none(), "a matrix that stores every row");
        &mut self.data
    }

    /// The Euclidean norm of row `i`, summed in `f64`.
    pub fn row_norm(&self, i: usize) -> f32 {
        self.row(i)
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt() as f32
    }

    /// Writes the matrix as fastText's `DenseMatrix::save`. Runs of zeros go to
    /// [`Sink::zeros`], which a file turns into holes.
    pub(crate) fn write(&self, sink: &mut dyn Sink) -> io::Result<()> {
        sink.put(&(self.rows as i64).to_le_bytes())?;
        sink.put(&(self.cols as i64).to_le_bytes())?;
        match &self.slots {
            None => write_f32s(sink, &self.data),
            Some(slots) => {
                for (i, &slot) in slots.iter().enumerate() {
                    if slot == ABSENT {
                        sink.zeros(self.cols as u64 * 4)?;
                    } else {
                        write_f32s(sink, self.row(i))?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Asks Linux to back `values` with 2 MiB pages when it is large. Rows are read at
/// random: with 4 KiB pages nearly every row read also misses the TLB, and the page
/// walk costs as much as the row. A hint only; elsewhere, or if refused, nothing
/// changes.
pub(crate) fn advise_huge_pages(values: &mut [f32]) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let bytes = std::mem::size_of_val(values);
        if bytes < 64 << 20 {
            return;
        }
        let start = values.as_mut_ptr() as usize;
        let aligned = start.next_multiple_of(PAGE);
        let len = (start + bytes - aligned) / PAGE * PAGE;
        // SAFETY: the range lies inside `values`, which this borrows mutably, and is
        // page-aligned; MADV_HUGEPAGE changes how the memory is backed, not its
        // contents.
        unsafe {
            libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = values;
}

/// Writes `values` little-endian, handing whole chunks of zeros to [`Sink::zeros`].
pub(crate) fn write_f32s(sink: &mut dyn Sink, values: &[f32]) -> io::Result<()> {
    const CHUNK: usize = 4096;
    let mut bytes = Vec::new();
    for chunk in values.chunks(CHUNK) {
        if chunk.iter().all(|v| v.to_bits() == 0) {
            sink.zeros(chunk.len() as u64 * 4)?;
        } else if cfg!(target_endian = "little") {
            // SAFETY: an `f32` is four bytes without padding, any byte is a valid `u8`,
            // and the slice lives as long as this borrow; on a little-endian machine
            // these are the little-endian bytes the format wants.
            let raw = unsafe {
                std::slice::from_raw_parts(
                    chunk.as_ptr().cast::<u8>(),
                    std::mem::size_of_val(chunk),
                )
            };
            sink.put(raw)?;
        } else {
            bytes.clear();
            bytes.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
            sink.put(&bytes)?;
        }
    }
    Ok(())
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

    /// A quantizer of `dim`-dimensional vectors cut into pieces of `dsub` values (the
    /// last piece takes the rest), with the given centroids.
    pub(crate) fn from_centroids(dim: usize, dsub: usize, centroids: Vec<f32>) -> Self {
        let (nsubq, lastdsub) = Self::shape(dim, dsub);
        assert_eq!(
            centroids.len(),
            dim * KSUB,
            "256 centroids per sub-quantizer"
        );
        ProductQuantizer {
            dim,
            nsubq,
            dsub,
            lastdsub,
            centroids,
        }
    }

    /// Sub-quantizer count and last sub-quantizer size for `dim` and `dsub`, as
    /// fastText's `ProductQuantizer` constructor computes them.
    pub(crate) fn shape(dim: usize, dsub: usize) -> (usize, usize) {
        match dim % dsub {
            0 => (dim / dsub, dsub),
            rest => (dim / dsub + 1, rest),
        }
    }

    /// The size of sub-quantizer `m`.
    pub(crate) fn sub_dim(&self, m: usize) -> usize {
        if m == self.nsubq - 1 {
            self.lastdsub
        } else {
            self.dsub
        }
    }

    /// Size of the pieces, except perhaps the last.
    pub(crate) fn dsub(&self) -> usize {
        self.dsub
    }

    /// The 256 centroids of sub-quantizer `m`, one after another.
    pub(crate) fn centroids_mut(&mut self, m: usize) -> &mut [f32] {
        let (start, len) = (m * KSUB * self.dsub, KSUB * self.sub_dim(m));
        &mut self.centroids[start..start + len]
    }

    fn write(&self, sink: &mut dyn Sink) -> io::Result<()> {
        for v in [self.dim, self.nsubq, self.dsub, self.lastdsub] {
            sink.put(&(v as i32).to_le_bytes())?;
        }
        write_f32s(sink, &self.centroids)
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

    /// A quantized matrix from its codes (`nsubq` bytes per row), quantizer and
    /// optional norm codes and norm quantizer.
    pub(crate) fn from_parts(
        rows: usize,
        codes: Vec<u8>,
        pq: ProductQuantizer,
        norms: Option<(Vec<u8>, ProductQuantizer)>,
    ) -> Self {
        assert_eq!(
            codes.len(),
            rows * pq.nsubq,
            "one code per row and sub-quantizer"
        );
        QuantMatrix {
            rows,
            cols: pq.dim,
            codes,
            pq,
            norms,
        }
    }

    /// Writes the matrix as fastText's `QuantMatrix::save`.
    pub(crate) fn write(&self, sink: &mut dyn Sink) -> io::Result<()> {
        sink.put(&[u8::from(self.norms.is_some())])?;
        sink.put(&(self.rows as i64).to_le_bytes())?;
        sink.put(&(self.cols as i64).to_le_bytes())?;
        sink.put(&(self.codes.len() as i32).to_le_bytes())?;
        sink.put(&self.codes)?;
        self.pq.write(sink)?;
        if let Some((codes, npq)) = &self.norms {
            sink.put(codes)?;
            npq.write(sink)?;
        }
        Ok(())
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
    /// Writes the matrix as fastText saves it (the flag that says which kind it is
    /// comes before, in the model file).
    pub(crate) fn write(&self, sink: &mut dyn Sink) -> io::Result<()> {
        match self {
            Matrix::Dense(m) => m.write(sink),
            Matrix::Quant(m) => m.write(sink),
        }
    }

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

    /// Asks the processor to bring row `i` of a dense matrix into cache (a hint, and
    /// nothing on other processors than x86-64 or for quantized matrices, whose codes
    /// are small).
    #[inline]
    pub(crate) fn prefetch_row(&self, i: usize) {
        #[cfg(target_arch = "x86_64")]
        if let Matrix::Dense(m) = self {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let row = m.row(i);
            let start = row.as_ptr().cast::<i8>();
            for line in (0..std::mem::size_of_val(row)).step_by(64) {
                // SAFETY: a prefetch reads nothing and cannot fault; the address lies
                // inside the row.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(line)) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
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
