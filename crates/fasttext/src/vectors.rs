//! Word vectors in fastText's `.vec` text format, used to start training from
//! pretrained vectors.
//!
//! The format: a first line `COUNT DIM`, then `COUNT` lines of a word followed by `DIM`
//! numbers, everything separated by whitespace (fastText reads it with `>>`).

use std::path::Path;

use crate::Error;

/// Word vectors read from a `.vec` file.
#[derive(Debug, Clone, PartialEq)]
pub struct Vectors {
    dim: usize,
    words: Vec<Vec<u8>>,
    data: Vec<f32>,
}

impl Vectors {
    /// Reads a `.vec` file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|error| Error::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&bytes).map_err(|e| match e {
            Error::Pretrained(message) => {
                Error::Pretrained(format!("{}: {message}", path.display()))
            }
            other => other,
        })
    }

    /// Parses the text of a `.vec` file.
    ///
    /// ```
    /// let v = atelier_fasttext::Vectors::parse(b"2 3\nhello 1 2 3\nworld 4 5 6.5\n")?;
    /// assert_eq!((v.len(), v.dim()), (2, 3));
    /// assert_eq!(v.vector(1), [4.0, 5.0, 6.5]);
    /// # Ok::<(), atelier_fasttext::Error>(())
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut tokens = bytes
            .split(|b| b.is_ascii_whitespace())
            .filter(|t| !t.is_empty());
        let mut number = |what: &str| -> Result<usize, Error> {
            let token = tokens
                .next()
                .ok_or_else(|| Error::Pretrained(format!("missing {what} in the header")))?;
            std::str::from_utf8(token)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| {
                    Error::Pretrained(format!(
                        "{what} is {:?}, not a count",
                        String::from_utf8_lossy(token)
                    ))
                })
        };
        let count = number("the vector count")?;
        let dim = number("the dimension")?;
        if dim == 0 {
            return Err(Error::Pretrained("dimension 0".into()));
        }
        let mut words = Vec::with_capacity(count.min(1 << 20));
        let mut data = Vec::with_capacity(count.min(1 << 20) * dim);
        for i in 0..count {
            let word = tokens.next().ok_or_else(|| {
                Error::Pretrained(format!("{count} vectors announced, {i} found"))
            })?;
            for j in 0..dim {
                let value = tokens
                    .next()
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .and_then(|t| t.parse::<f32>().ok())
                    .ok_or_else(|| {
                        Error::Pretrained(format!(
                            "vector {} ({:?}): value {} of {dim} is missing or not a number",
                            i + 1,
                            String::from_utf8_lossy(word),
                            j + 1
                        ))
                    })?;
                data.push(value);
            }
            words.push(word.to_vec());
        }
        Ok(Vectors { dim, words, data })
    }

    /// The dimension of the vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether there are no vectors.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Word `i`.
    pub fn word(&self, i: usize) -> &[u8] {
        &self.words[i]
    }

    /// Vector `i`.
    pub fn vector(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_say_what_is_wrong() {
        let err = |text: &[u8]| Vectors::parse(text).unwrap_err().to_string();
        assert!(err(b"").contains("missing the vector count"));
        assert!(err(b"2 x").contains("not a count"));
        assert!(err(b"2 2\na 1 2\n").contains("2 vectors announced, 1 found"));
        assert!(err(b"1 2\na 1 oops\n").contains("value 2 of 2"));
        assert!(err(b"1 0\n").contains("dimension 0"));
    }
}
