//! A loaded model and prediction.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::args::{Args, ModelKind};
use crate::dictionary::{Dictionary, LineBuffers};
use crate::matrix::{DenseMatrix, Matrix, advise_huge_pages};
use crate::output::{Output, TopK};
use crate::read::Cursor;
use crate::{Error, MAGIC, VERSION};

/// A fastText model, read from a `.bin` or `.ftz` file. It is immutable and `Sync`:
/// threads share one model, each predicting through its own [`Predictor`].
#[derive(Debug, Clone)]
pub struct Model {
    version: i32,
    args: Args,
    dict: Dictionary,
    input: Matrix,
    output_matrix: Matrix,
    output: Output,
    labels: Vec<String>,
}

/// How many input rows ahead prediction asks memory for.
const PREFETCH_AHEAD: usize = 8;

/// What a model file holds before its input matrix.
struct Head {
    version: i32,
    args: Args,
    dict: Dictionary,
    quant_input: bool,
}

impl Head {
    fn read(cur: &mut Cursor<'_>) -> Result<Self, Error> {
        let magic = cur.i32("the header")?;
        if magic != MAGIC {
            return Err(Error::BadMagic(magic));
        }
        let version = cur.i32("the header")?;
        if !(11..=VERSION).contains(&version) {
            return Err(Error::Version(version));
        }
        let mut args = Args::read(cur)?;
        if version == 11 && args.model == ModelKind::Supervised {
            // Supervised models of version 11 had no character n-grams.
            args.maxn = 0;
        }
        let dict = Dictionary::read(cur, args.minn, args.maxn, args.bucket, args.word_ngrams)?;
        let quant_input = cur.bool("the input matrix")?;
        Ok(Head {
            version,
            args,
            dict,
            quant_input,
        })
    }
}

/// The bytes of `values`, to read a little-endian file into.
fn f32s_as_bytes(values: &mut [f32]) -> &mut [u8] {
    // SAFETY: an `f32` is four bytes without padding and every bit pattern is a valid
    // `f32`, so any bytes written through this view leave valid values; the view
    // borrows `values` mutably for its whole life.
    unsafe {
        std::slice::from_raw_parts_mut(
            values.as_mut_ptr().cast::<u8>(),
            std::mem::size_of_val(values),
        )
    }
}

/// One predicted label: its index among the model's labels and its probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Index into [`Model::label`].
    pub label: usize,
    /// The probability as fastText reports it (`exp(log(p + 1e-5))`).
    pub prob: f32,
}

impl Model {
    /// Reads a model file (`.bin` or `.ftz`).
    ///
    /// The dense input matrix, most of a `.bin` file, is read straight into its final
    /// place; the rest of the file goes through memory once.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let io = |error| Error::Io {
            path: path.to_path_buf(),
            error,
        };
        let mut file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        // Read more and more of the file until the header, arguments, dictionary and
        // the input matrix's shape are in.
        let mut prefix = Vec::new();
        let mut want = 1u64 << 20;
        let (head, dims, used) = loop {
            let target = want.min(len) as usize;
            if target > prefix.len() {
                let start = prefix.len();
                prefix.resize(target, 0);
                file.read_exact(&mut prefix[start..]).map_err(io)?;
            }
            let mut cur = Cursor::new(&prefix);
            let parsed = Head::read(&mut cur).and_then(|head| {
                let dims = match head.quant_input {
                    true => None,
                    false => Some(DenseMatrix::read_shape(&mut cur)?),
                };
                Ok((head, dims, cur.position()))
            });
            match parsed {
                Ok(parsed) => break parsed,
                // Sizes are checked against what is in memory: with more of the file
                // to read, a truncation or a size too large may just be too short a
                // prefix.
                Err(Error::Truncated(_) | Error::Invalid(_)) if (prefix.len() as u64) < len => {
                    want *= 4
                }
                Err(e) => return Err(e),
            }
        };
        let Some((rows, cols)) = dims else {
            file.read_to_end(&mut prefix).map_err(io)?;
            return Self::from_bytes(&prefix);
        };
        let n = rows * cols;
        let data_end = used as u64 + n as u64 * 4;
        if data_end > len {
            return Err(Error::Truncated("a dense matrix"));
        }
        let mut values = vec![0.0f32; n];
        advise_huge_pages(&mut values);
        let bytes = f32s_as_bytes(&mut values);
        let have = (prefix.len() - used).min(bytes.len());
        bytes[..have].copy_from_slice(&prefix[used..used + have]);
        file.read_exact(&mut bytes[have..]).map_err(io)?;
        if cfg!(target_endian = "big") {
            for v in &mut values {
                *v = f32::from_bits(u32::from_le(v.to_bits()));
            }
        }
        let input = Matrix::Dense(DenseMatrix::new(rows, cols, values));
        // What the prefix holds past the matrix, then the rest of the file.
        let mut tail = prefix.split_off(used + have);
        drop(prefix);
        file.read_to_end(&mut tail).map_err(io)?;
        Self::finish(head, input, &mut Cursor::new(&tail))
    }

    /// Reads a model from the bytes of its file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let mut cur = Cursor::new(bytes);
        let head = Head::read(&mut cur)?;
        let input = Matrix::read(&mut cur, head.quant_input)?;
        Self::finish(head, input, &mut cur)
    }

    /// Reads what follows the input matrix and checks the whole.
    fn finish(head: Head, input: Matrix, cur: &mut Cursor<'_>) -> Result<Self, Error> {
        let Head {
            version,
            args,
            dict,
            quant_input,
        } = head;
        if !quant_input && dict.is_pruned() {
            return Err(Error::Invalid(
                "pruned dictionary with a dense input matrix".into(),
            ));
        }
        let quant_output = cur.bool("the output matrix")?;
        let output_matrix = Matrix::read(cur, quant_input && quant_output)?;
        Self::assemble(version, args, dict, input, output_matrix)
    }

    /// Checks the parts of a model (as read from a file, or trained) and puts them
    /// together: the matrices must have `args.dim` columns, the input matrix a row for
    /// every word and kept bucket, the output matrix a row per output.
    fn assemble(
        version: i32,
        args: Args,
        dict: Dictionary,
        input: Matrix,
        output_matrix: Matrix,
    ) -> Result<Self, Error> {
        let dim = args.dim as usize;
        if input.cols() != dim || output_matrix.cols() != dim {
            return Err(Error::Invalid(format!(
                "matrices of {} and {} columns for dimension {dim}",
                input.cols(),
                output_matrix.cols()
            )));
        }
        let highest_row = match dict.prune_pairs() {
            None => dict.nwords() + args.bucket as usize,
            Some(pairs) => {
                dict.nwords()
                    + pairs
                        .iter()
                        .map(|&(_, r)| r.max(0) as usize + 1)
                        .max()
                        .unwrap_or(0)
            }
        };
        if input.rows() < highest_row.max(dict.nwords()) {
            return Err(Error::Invalid(format!(
                "input matrix of {} rows, {highest_row} needed",
                input.rows()
            )));
        }
        if let Some(bad) = dict
            .prune_pairs()
            .and_then(|p| p.iter().find(|&&(_, r)| r < 0))
        {
            return Err(Error::Invalid(format!("negative pruned row {}", bad.1)));
        }
        let counts: Vec<i64> = match args.model {
            ModelKind::Supervised => dict.label_counts().to_vec(),
            _ => (0..dict.nwords()).map(|i| dict.entry(i).count).collect(),
        };
        if output_matrix.rows() != counts.len() {
            return Err(Error::Invalid(format!(
                "output matrix of {} rows for {} outputs",
                output_matrix.rows(),
                counts.len()
            )));
        }
        let output = Output::new(args.loss, &counts);
        let labels = (dict.nwords()..dict.len())
            .map(|i| String::from_utf8_lossy(dict.entry(i).word).into_owned())
            .collect();
        Ok(Model {
            version,
            args,
            dict,
            input,
            output_matrix,
            output,
            labels,
        })
    }

    /// A supervised model from its parts, checked as a model file is checked.
    pub(crate) fn from_parts(
        args: Args,
        dict: Dictionary,
        input: Matrix,
        output_matrix: Matrix,
    ) -> Result<Self, Error> {
        if args.model != ModelKind::Supervised {
            return Err(Error::Invalid("not a supervised model".into()));
        }
        Self::assemble(VERSION, args, dict, input, output_matrix)
    }

    /// The file format version the model was read from.
    pub fn version(&self) -> i32 {
        self.version
    }

    /// The training arguments stored in the file.
    pub fn args(&self) -> &Args {
        &self.args
    }

    /// The dictionary of words and labels.
    pub fn dictionary(&self) -> &Dictionary {
        &self.dict
    }

    /// The input matrix (words, then n-gram buckets).
    pub fn input(&self) -> &Matrix {
        &self.input
    }

    /// The output matrix.
    pub fn output_matrix(&self) -> &Matrix {
        &self.output_matrix
    }

    /// The output layer.
    pub fn output(&self) -> &Output {
        &self.output
    }

    /// Whether the input matrix is product-quantized (an `.ftz` model).
    pub fn is_quantized(&self) -> bool {
        matches!(self.input, Matrix::Quant(_))
    }

    /// The labels, with their `__label__` prefix, in index order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Label `i`, with its `__label__` prefix.
    pub fn label(&self, i: usize) -> &str {
        &self.labels[i]
    }

    /// A predictor with its own buffers, for predicting many lines without allocating.
    pub fn predictor(&self) -> Predictor<'_> {
        Predictor {
            model: self,
            rows: Vec::new(),
            bufs: LineBuffers::default(),
            hidden: vec![0.0; self.args.dim as usize],
            scratch: Vec::new(),
            heap: TopK::default(),
            predictions: Vec::new(),
        }
    }

    /// The `k` most probable labels of one line of text with probability at least
    /// `threshold`, most probable first, as fastText's `predict(text, k, threshold)`.
    /// `k` larger than the number of labels means all of them. The text is read up to
    /// its first newline. An unsupervised model predicts nothing.
    pub fn predict(&self, text: &str, k: usize, threshold: f32) -> Vec<(&str, f32)> {
        let mut predictor = self.predictor();
        predictor
            .predict(text, k, threshold)
            .iter()
            .map(|p| (self.label(p.label), p.prob))
            .collect()
    }
}

/// Predicts with a shared [`Model`], reusing its buffers from line to line.
#[derive(Debug, Clone)]
pub struct Predictor<'m> {
    model: &'m Model,
    rows: Vec<i32>,
    bufs: LineBuffers,
    hidden: Vec<f32>,
    scratch: Vec<f32>,
    heap: TopK,
    predictions: Vec<Prediction>,
}

impl<'m> Predictor<'m> {
    /// The model it predicts with.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// As [`Model::predict`], returning label indexes.
    pub fn predict(&mut self, text: &str, k: usize, threshold: f32) -> &[Prediction] {
        self.predict_bytes(text.as_bytes(), k, threshold)
    }

    /// As [`Predictor::predict`], for text that need not be UTF-8: fastText reads bytes,
    /// and so does this.
    pub fn predict_bytes(&mut self, text: &[u8], k: usize, threshold: f32) -> &[Prediction] {
        let model = self.model;
        model.dict.fill_line(text, &mut self.rows, &mut self.bufs);
        self.score(k, threshold);
        &self.predictions
    }

    /// Reads the line of `text` that starts at `pos` as fastText's `test` does, its known
    /// labels into `labels`, and predicts; returns where the next line starts.
    pub(crate) fn predict_labelled(
        &mut self,
        text: &[u8],
        pos: usize,
        labels: &mut Vec<i32>,
        k: usize,
        threshold: f32,
    ) -> usize {
        let model = self.model;
        let end = model
            .dict
            .read_line(text, pos, &mut self.rows, Some(labels), &mut self.bufs);
        if labels.is_empty() {
            self.predictions.clear();
        } else {
            self.score(k, threshold);
        }
        end.next
    }

    /// The predictions of the last line.
    pub(crate) fn predictions(&self) -> &[Prediction] {
        &self.predictions
    }

    /// Scores the rows in `self.rows` into `self.predictions`.
    fn score(&mut self, k: usize, threshold: f32) {
        self.predictions.clear();
        let model = self.model;
        if model.args.model != ModelKind::Supervised || self.rows.is_empty() {
            return;
        }
        self.hidden.fill(0.0);
        // The rows are scattered over a large matrix: asking for a row a few steps
        // ahead overlaps the waits for memory.
        for (j, &row) in self.rows.iter().enumerate() {
            if let Some(&ahead) = self.rows.get(j + PREFETCH_AHEAD) {
                model.input.prefetch_row(ahead as usize);
            }
            model.input.add_row_to(&mut self.hidden, row as usize);
        }
        let scale = (1.0 / self.rows.len() as f64) as f32;
        for h in &mut self.hidden {
            *h *= scale;
        }
        let k = k.min(model.output_matrix.rows());
        model.output.predict(
            &model.output_matrix,
            &self.hidden,
            k,
            threshold,
            &mut self.scratch,
            &mut self.heap,
        );
        self.heap.finish();
        self.predictions
            .extend(self.heap.items.iter().map(|&(score, label)| Prediction {
                label: label as usize,
                prob: score.exp(),
            }));
    }

    /// The input rows of the last line predicted (words, n-grams), as fastText fed them.
    pub fn rows(&self) -> &[i32] {
        &self.rows
    }
}
