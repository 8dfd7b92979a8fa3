//! Word vectors in fastText's `.vec` text format: read to start training from
//! pretrained vectors, and written beside a trained model as `fasttext supervised`
//! writes `MODEL.vec` (and, with `-saveOutput`, `MODEL.output`).
//!
//! The format: a first line `COUNT DIM`, then `COUNT` lines of a word followed by `DIM`
//! numbers, everything separated by whitespace (fastText reads it with `>>`). fastText
//! writes each number at 5 significant digits (`%g`), each followed by a space, so a
//! line ends in a space before its newline.

use std::io::{self, Write};
use std::path::Path;

use crate::matrix::Matrix;
use crate::number::format_g;
use crate::write::atomically;
use crate::{Error, Model};

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

/// Appends `word`, then each value at 5 significant digits followed by a space, then a
/// newline: a line of fastText's `.vec` files (its `operator<<` of a `Vector`).
fn vec_line(out: &mut Vec<u8>, word: &[u8], values: &[f32]) {
    out.extend_from_slice(word);
    out.push(b' ');
    for &v in values {
        out.extend_from_slice(format_g(f64::from(v), 5).as_bytes());
        out.push(b' ');
    }
    out.push(b'\n');
}

impl Model {
    /// The vector of a word, as fastText's `getWordVector`: the mean of its input rows,
    /// its own and its character n-grams' for a word of the dictionary, its character
    /// n-grams' for another word (zeros when it has none).
    ///
    /// ```
    /// use atelier_fasttext::{TrainArgs, train};
    /// let data = b"__label__yes good fine\n__label__no bad awful\n".repeat(20);
    /// let args = TrainArgs { dim: 4, epoch: 2, threads: 1, ..TrainArgs::default() };
    /// let model = train(&args, &data)?.model;
    /// assert_eq!(model.word_vector(b"good").len(), 4);
    /// assert_eq!(model.word_vector(b"unseen"), [0.0; 4]);
    /// # Ok::<(), atelier_fasttext::Error>(())
    /// ```
    pub fn word_vector(&self, word: &[u8]) -> Vec<f32> {
        let mut rows = Vec::new();
        let mut vector = vec![0.0; self.args().dim as usize];
        self.word_vector_into(word, &mut rows, &mut vector);
        vector
    }

    fn word_vector_into(&self, word: &[u8], rows: &mut Vec<i32>, vector: &mut [f32]) {
        self.dictionary().word_rows(word, rows);
        vector.fill(0.0);
        for &row in rows.iter() {
            self.input().add_row_to(vector, row as usize);
        }
        if !rows.is_empty() {
            let scale = (1.0 / rows.len() as f64) as f32;
            for v in vector.iter_mut() {
                *v *= scale;
            }
        }
    }

    /// Writes the vectors of the dictionary's words in `.vec` format, byte for byte as
    /// fastText's `saveVectors` writes them.
    pub fn write_vectors(&self, out: &mut dyn Write) -> io::Result<()> {
        let dict = self.dictionary();
        let dim = self.args().dim as usize;
        writeln!(out, "{} {dim}", dict.nwords())?;
        let (mut rows, mut vector, mut line) = (Vec::new(), vec![0.0; dim], Vec::new());
        for id in 0..dict.nwords() {
            let word = dict.entry(id).word;
            self.word_vector_into(word, &mut rows, &mut vector);
            line.clear();
            vec_line(&mut line, word, &vector);
            out.write_all(&line)?;
        }
        Ok(())
    }

    /// Writes the word vectors to `path` (a `.vec` file), under a temporary name renamed
    /// when complete.
    pub fn save_vectors(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        atomically(path.as_ref(), |out| self.write_vectors(out))
    }

    /// Writes the output vectors, one per label, in `.vec` format, as fastText's
    /// `saveOutput` (`-saveOutput`) writes them. A quantized model has none to write:
    /// it gives an `InvalidInput` error, as fastText refuses.
    pub fn write_output_vectors(&self, out: &mut dyn Write) -> io::Result<()> {
        let output = match self.output_matrix() {
            Matrix::Dense(output) if !self.is_quantized() => output,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    QUANTIZED_OUTPUT,
                ));
            }
        };
        let dict = self.dictionary();
        writeln!(out, "{} {}", dict.nlabels(), self.args().dim)?;
        let mut line = Vec::new();
        for i in 0..dict.nlabels() {
            line.clear();
            vec_line(&mut line, dict.entry(dict.nwords() + i).word, output.row(i));
            out.write_all(&line)?;
        }
        Ok(())
    }

    /// Writes the output vectors to `path` (fastText names it `MODEL.output`), under a
    /// temporary name renamed when complete.
    pub fn save_output_vectors(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        if self.is_quantized() {
            return Err(Error::Args(QUANTIZED_OUTPUT.into()));
        }
        atomically(path.as_ref(), |out| self.write_output_vectors(out))
    }
}

const QUANTIZED_OUTPUT: &str = "a quantized model has no output vectors to save";

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
