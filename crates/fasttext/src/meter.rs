//! Evaluation on labelled lines, as fastText's `test` command and its `Meter` count.
//!
//! Every line with at least one label the model knows is one example: its `k` best
//! predictions (above `threshold`) are compared with its labels. Precision at k is the
//! share of predictions that are right, recall at k the share of labels predicted.
//! Lines whose labels the model does not know are not examples, as in fastText; they
//! are counted apart.

use std::ops::Add;

use crate::Model;
use crate::corpus::split_lines;

/// How often a label was gold, predicted, and predicted right; for one label or summed
/// over all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LabelCounts {
    /// Times the label was a line's label.
    pub gold: u64,
    /// Times it was predicted.
    pub predicted: u64,
    /// Times it was predicted and right.
    pub predicted_gold: u64,
}

impl LabelCounts {
    /// Right predictions over predictions (NaN without predictions, as fastText).
    pub fn precision(&self) -> f64 {
        self.predicted_gold as f64 / self.predicted as f64
    }

    /// Right predictions over labels (NaN without labels, as fastText).
    pub fn recall(&self) -> f64 {
        self.predicted_gold as f64 / self.gold as f64
    }

    /// The harmonic mean of precision and recall (NaN when both are zero).
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r != 0.0 {
            2.0 * p * r / (p + r)
        } else {
            f64::NAN
        }
    }
}

impl Add for LabelCounts {
    type Output = LabelCounts;
    fn add(self, o: LabelCounts) -> LabelCounts {
        LabelCounts {
            gold: self.gold + o.gold,
            predicted: self.predicted + o.predicted,
            predicted_gold: self.predicted_gold + o.predicted_gold,
        }
    }
}

/// The result of [`Model::test`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meter {
    /// Lines evaluated (fastText's `N`).
    pub examples: u64,
    /// Lines with words but no label the model knows (left out).
    pub unknown_labels: u64,
    /// Lines with no label at all, empty lines included (left out).
    pub unlabeled: u64,
    /// Counts summed over all labels.
    pub all: LabelCounts,
    /// Counts per label, in the model's label order.
    pub labels: Vec<LabelCounts>,
    /// How often each (true label, top prediction) pair occurred, for a confusion
    /// matrix: row = true label, column = predicted label, last column = no prediction.
    pub confusion: Vec<Vec<u64>>,
}

impl Meter {
    fn new(nlabels: usize) -> Self {
        Meter {
            labels: vec![LabelCounts::default(); nlabels],
            confusion: vec![vec![0; nlabels + 1]; nlabels],
            ..Meter::default()
        }
    }

    /// Precision at k over all examples.
    pub fn precision(&self) -> f64 {
        self.all.precision()
    }

    /// Recall at k over all examples.
    pub fn recall(&self) -> f64 {
        self.all.recall()
    }
}

impl Add for Meter {
    type Output = Meter;
    fn add(mut self, o: Meter) -> Meter {
        self.examples += o.examples;
        self.unknown_labels += o.unknown_labels;
        self.unlabeled += o.unlabeled;
        self.all = self.all + o.all;
        for (a, b) in self.labels.iter_mut().zip(o.labels) {
            *a = *a + b;
        }
        for (a, b) in self.confusion.iter_mut().zip(o.confusion) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self
    }
}

impl Model {
    /// Evaluates the model on `data`, lines in fastText's format, predicting `k` labels
    /// per line with probability at least `threshold`, on `threads` threads.
    pub fn test(&self, data: &[u8], k: usize, threshold: f32, threads: usize) -> Meter {
        let pieces = split_lines(data, threads.max(1));
        let nlabels = self.labels().len();
        let run = |piece: &[u8]| {
            let mut meter = Meter::new(nlabels);
            let mut predictor = self.predictor();
            let mut labels = Vec::new();
            let mut pos = 0;
            while pos < piece.len() {
                let start = pos;
                pos = predictor.predict_labelled(piece, pos, &mut labels, k, threshold);
                if labels.is_empty() {
                    let line = &piece[start..pos];
                    let has_label = line
                        .split(|b| b.is_ascii_whitespace() || *b == 0)
                        .any(|t| t.starts_with(self.dictionary().label_prefix()));
                    if has_label {
                        meter.unknown_labels += 1;
                    } else {
                        meter.unlabeled += 1;
                    }
                    continue;
                }
                let predictions = predictor.predictions();
                meter.examples += 1;
                meter.all.gold += labels.len() as u64;
                meter.all.predicted += predictions.len() as u64;
                for p in predictions {
                    meter.labels[p.label].predicted += 1;
                    if labels.contains(&(p.label as i32)) {
                        meter.labels[p.label].predicted_gold += 1;
                        meter.all.predicted_gold += 1;
                    }
                }
                let top = predictions.first().map_or(nlabels, |p| p.label);
                for &l in &labels {
                    meter.labels[l as usize].gold += 1;
                    meter.confusion[l as usize][top] += 1;
                }
            }
            meter
        };
        if pieces.len() <= 1 {
            return run(data);
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = pieces.iter().map(|&p| s.spawn(move || run(p))).collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a test thread panicked"))
                .fold(Meter::new(nlabels), |a, b| a + b)
        })
    }
}
