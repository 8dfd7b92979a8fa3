//! A model's scores on the test split: accuracy, per-class precision, recall and F1, and
//! the confusion matrix.

use atelier_fasttext::{LABEL_PREFIX, Model};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Scores of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// Right predictions of the class over its predictions (0 when never predicted).
    pub precision: f64,
    /// Right predictions of the class over its examples (0 without examples).
    pub recall: f64,
    /// Harmonic mean of the two (0 when both are 0).
    pub f1: f64,
    /// Test examples of the class.
    pub support: u64,
}

/// How a model did on labelled lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Lines evaluated (those with a class the model knows).
    pub examples: u64,
    /// Lines whose top prediction is one of their classes, over `examples`.
    pub accuracy: f64,
    /// The unweighted mean of the classes' F1.
    pub macro_f1: f64,
    /// Per class, without fastText's `__label__` prefix.
    pub classes: BTreeMap<String, ClassScores>,
    /// The classes in the model's order: the rows and columns of `confusion`.
    pub labels: Vec<String>,
    /// `confusion[true][predicted]`; the last column counts lines with no prediction.
    pub confusion: Vec<Vec<u64>>,
    /// Test lines whose classes the model never saw in training (left out).
    pub unknown_labels: u64,
}

/// Evaluates `model` on fastText lines.
pub fn evaluate(model: &Model, lines: &[u8], threads: usize) -> Evaluation {
    let meter = model.test(lines, 1, 0.0, threads);
    let labels: Vec<String> = model
        .labels()
        .iter()
        .map(|l| l.strip_prefix(LABEL_PREFIX).unwrap_or(l).to_owned())
        .collect();
    let or_zero = |x: f64| if x.is_finite() { x } else { 0.0 };
    let classes: BTreeMap<String, ClassScores> = labels
        .iter()
        .zip(&meter.labels)
        .map(|(name, c)| {
            (
                name.clone(),
                ClassScores {
                    precision: or_zero(c.precision()),
                    recall: or_zero(c.recall()),
                    f1: or_zero(c.f1()),
                    support: c.gold,
                },
            )
        })
        .collect();
    let macro_f1 = if classes.is_empty() {
        0.0
    } else {
        classes.values().map(|c| c.f1).sum::<f64>() / classes.len() as f64
    };
    Evaluation {
        examples: meter.examples,
        // With one prediction per line, precision at 1 is the share of lines whose top
        // prediction is right.
        accuracy: or_zero(meter.precision()),
        macro_f1,
        classes,
        labels,
        confusion: meter.confusion,
        unknown_labels: meter.unknown_labels,
    }
}

impl Evaluation {
    /// A table for people: per class, then the confusion matrix.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let width = self
            .labels
            .iter()
            .map(|l| l.len())
            .max()
            .unwrap_or(5)
            .max(16);
        let _ = writeln!(
            s,
            "{:<width$} {:>9} {:>9} {:>9} {:>9}",
            "class", "precision", "recall", "f1", "support"
        );
        for (name, c) in &self.classes {
            let _ = writeln!(
                s,
                "{name:<width$} {:>9.3} {:>9.3} {:>9.3} {:>9}",
                c.precision, c.recall, c.f1, c.support
            );
        }
        let _ = write!(s, "{:<width$}", "true \\ predicted");
        for l in &self.labels {
            let _ = write!(s, " {l:>9}");
        }
        let _ = writeln!(s, " {:>9}", "none");
        for (l, row) in self.labels.iter().zip(&self.confusion) {
            let _ = write!(s, "{l:<width$}");
            for n in row {
                let _ = write!(s, " {n:>9}");
            }
            let _ = writeln!(s);
        }
        s
    }
}
