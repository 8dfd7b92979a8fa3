//! Matrices that training threads update without locks (Hogwild).
//!
//! fastText trains with lock-free parallel SGD (Niu, Recht, Ré and Wright, 2011,
//! "Hogwild!"): every thread reads and writes the rows of the shared input and output
//! matrices with plain loads and stores. Two threads updating one row at the same time
//! may lose part of an update, or read a row half updated; each example touches a few
//! dozen rows out of hundreds of thousands, so this is rare, and SGD's noise absorbs it.
//! That is what makes training scale with threads.
//!
//! In Rust's memory model such unsynchronized access from several threads is a data
//! race, and a data race is undefined behaviour. The alternatives were weighed:
//!
//! - a lock per row, or per matrix, serializes the threads on the rows every example
//!   shares (the `</s>` row and the output rows are in every example);
//! - an `AtomicU32` per value with `Relaxed` loads and stores is defined behaviour and
//!   compiles to the same `mov` instructions on x86-64 and AArch64, but the compiler may
//!   not vectorize atomic accesses, so every row loop runs one value at a time.
//!
//! So this module does what fastText does: raw pointers to `f32` buffers, read and
//! written through short kernels that the compiler vectorizes. The unsafety is contained
//! here: [`SharedRows`] borrows its matrix mutably for its whole life, so no safe
//! reference to the data exists while threads share it, every access checks its row
//! index, and when a single thread trains (the reproducible case) there is no race at
//! all. Nothing here runs destructors or follows pointers read from the shared data, so
//! a torn value is at worst a wrong float, never memory unsafety in practice.

use std::marker::PhantomData;

/// A row-major `f32` matrix shared by training threads; see the module documentation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SharedRows<'a> {
    ptr: *mut f32,
    rows: usize,
    cols: usize,
    _borrow: PhantomData<&'a mut [f32]>,
}

// SAFETY: the pointer comes from a `&'a mut [f32]` held for `'a`; threads share it on
// purpose (Hogwild), as the module documentation explains.
unsafe impl Send for SharedRows<'_> {}
// SAFETY: as for `Send`.
unsafe impl Sync for SharedRows<'_> {}

impl<'a> SharedRows<'a> {
    /// Shares `data`, `cols` values per row, for as long as the result lives.
    pub(crate) fn new(data: &'a mut [f32], cols: usize) -> Self {
        assert!(cols > 0 && data.len().is_multiple_of(cols), "whole rows");
        SharedRows {
            ptr: data.as_mut_ptr(),
            rows: data.len() / cols,
            cols,
            _borrow: PhantomData,
        }
    }

    /// Number of rows.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    #[inline]
    fn row_ptr(&self, i: usize) -> *mut f32 {
        assert!(i < self.rows, "row {i} of {}", self.rows);
        // SAFETY: i < rows, so the row lies inside the borrowed buffer.
        unsafe { self.ptr.add(i * self.cols) }
    }

    /// Asks the processor to bring row `i` into cache (a hint; no effect elsewhere
    /// than on x86-64).
    #[inline]
    pub(crate) fn prefetch(&self, i: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let row = self.row_ptr(i).cast::<i8>().cast_const();
            for line in (0..self.cols * 4).step_by(64) {
                // SAFETY: a prefetch reads nothing and cannot fault; the address is
                // inside the row, itself inside the buffer.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(row.add(line)) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
    }

    /// `x += row i`.
    #[inline]
    pub(crate) fn add_row_to(&self, x: &mut [f32], i: usize) {
        debug_assert_eq!(x.len(), self.cols);
        // SAFETY: the row is in bounds; concurrent writers are Hogwild's accepted race.
        let row = unsafe { std::slice::from_raw_parts(self.row_ptr(i), self.cols) };
        for (xj, &r) in x.iter_mut().zip(row) {
            *xj += r;
        }
    }

    /// `x += a * row i`.
    #[inline]
    pub(crate) fn add_scaled_row_to(&self, x: &mut [f32], i: usize, a: f32) {
        debug_assert_eq!(x.len(), self.cols);
        // SAFETY: as in `add_row_to`.
        let row = unsafe { std::slice::from_raw_parts(self.row_ptr(i), self.cols) };
        for (xj, &r) in x.iter_mut().zip(row) {
            *xj += a * r;
        }
    }

    /// `row i += a * x`.
    #[inline]
    pub(crate) fn add_to_row(&self, i: usize, x: &[f32], a: f32) {
        debug_assert_eq!(x.len(), self.cols);
        // SAFETY: as in `add_row_to`; the row is written, as Hogwild writes.
        let row = unsafe { std::slice::from_raw_parts_mut(self.row_ptr(i), self.cols) };
        for (r, &xj) in row.iter_mut().zip(x) {
            *r += a * xj;
        }
    }

    /// The dot product of row `i` with `x`, in eight lanes so that it vectorizes.
    #[inline]
    pub(crate) fn dot(&self, i: usize, x: &[f32]) -> f32 {
        debug_assert_eq!(x.len(), self.cols);
        // SAFETY: as in `add_row_to`.
        let row = unsafe { std::slice::from_raw_parts(self.row_ptr(i), self.cols) };
        dot(row, x)
    }
}

/// A dot product summed in eight lanes.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in a8.zip(b8) {
        for k in 0..8 {
            lanes[k] += ca[k] * cb[k];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_compute_what_they_say() {
        let mut data: Vec<f32> = (0..30).map(|v| v as f32).collect();
        let shared = SharedRows::new(&mut data, 10);
        assert_eq!(shared.rows(), 3);
        let mut x = vec![1.0f32; 10];
        shared.add_row_to(&mut x, 1);
        assert_eq!(x[0], 11.0);
        assert_eq!(x[9], 20.0);
        shared.add_scaled_row_to(&mut x, 0, 2.0);
        assert_eq!(x[9], 38.0);
        let ones = vec![1.0f32; 10];
        assert_eq!(shared.dot(2, &ones), (20..30).sum::<i32>() as f32);
        shared.add_to_row(0, &ones, 0.5);
        assert_eq!(data[0], 0.5);
        assert_eq!(data[9], 9.5);
        assert_eq!(data[10], 10.0);
    }

    #[test]
    #[should_panic(expected = "row 3 of 3")]
    fn rows_are_bounds_checked() {
        let mut data = vec![0.0f32; 6];
        let shared = SharedRows::new(&mut data, 2);
        shared.dot(3, &[0.0, 0.0]);
    }

    #[test]
    fn threads_update_one_matrix() {
        let mut data = vec![0.0f32; 8 * 4];
        let shared = SharedRows::new(&mut data, 4);
        std::thread::scope(|s| {
            for t in 0..2 {
                s.spawn(move || {
                    for _ in 0..100 {
                        // Each thread owns its rows here, so no update is lost.
                        shared.add_to_row(t, &[1.0; 4], 1.0);
                    }
                });
            }
        });
        assert_eq!(&data[..8], &[100.0; 8]);
    }
}
