//! A little-endian cursor over the bytes of a model file.

use crate::Error;

/// Reads fastText's fields in order; every read names the part it belongs to, so a
/// truncated file says where it ended.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    /// Bytes read so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize, part: &'static str) -> Result<&'a [u8], Error> {
        if self.remaining() < n {
            return Err(Error::Truncated(part));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, part: &'static str) -> Result<[u8; N], Error> {
        Ok(self.take(N, part)?.try_into().expect("took N bytes"))
    }

    pub(crate) fn u8(&mut self, part: &'static str) -> Result<u8, Error> {
        Ok(self.array::<1>(part)?[0])
    }

    pub(crate) fn bool(&mut self, part: &'static str) -> Result<bool, Error> {
        Ok(self.u8(part)? != 0)
    }

    pub(crate) fn i32(&mut self, part: &'static str) -> Result<i32, Error> {
        Ok(i32::from_le_bytes(self.array(part)?))
    }

    pub(crate) fn i64(&mut self, part: &'static str) -> Result<i64, Error> {
        Ok(i64::from_le_bytes(self.array(part)?))
    }

    pub(crate) fn f64(&mut self, part: &'static str) -> Result<f64, Error> {
        Ok(f64::from_le_bytes(self.array(part)?))
    }

    /// `n` little-endian `f32` values.
    pub(crate) fn f32s(&mut self, n: usize, part: &'static str) -> Result<Vec<f32>, Error> {
        let bytes = self.take(n.checked_mul(4).ok_or(Error::Truncated(part))?, part)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }

    /// Bytes up to (not including) the next NUL, which is consumed.
    pub(crate) fn c_string(&mut self, part: &'static str) -> Result<&'a [u8], Error> {
        let rest = &self.bytes[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(Error::Truncated(part))?;
        self.pos += end + 1;
        Ok(&rest[..end])
    }
}

/// A size read from the file as a count of things, checked to be non-negative and no
/// larger than `limit`.
pub(crate) fn count(value: i64, limit: usize, what: &str) -> Result<usize, Error> {
    usize::try_from(value)
        .ok()
        .filter(|&v| v <= limit)
        .ok_or_else(|| Error::Invalid(format!("{what} is {value}")))
}
