//! The `[train]` section of a recipe.

use atelier_fasttext::{LossKind, Preprocess, TrainArgs};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How to train the recipe's classifier. Hyperparameters default to fastText's
/// `supervised` defaults; `threads = 0` means one per CPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    /// The model's name (default: the dataset's name followed by `-classifier`).
    pub name: Option<String>,
    /// The metadata field that holds each document's class; `a.b` reaches into nested
    /// objects. A list gives several labels. Required.
    pub label: String,
    /// A regular expression applied to the field's value: the class is its first capture
    /// group (the whole match without one). Documents it does not match are left out as
    /// unlabelled.
    pub label_pattern: Option<String>,
    /// Metadata fields put before the text, in order (for mail: `["subject"]`).
    pub prepend: Vec<String>,
    /// Lowercase the text (at training and, through the model version, at serving).
    pub lowercase: bool,
    /// Put spaces around punctuation marks.
    pub split_punctuation: bool,
    /// Share of documents held out for validation (autotune), by a stable hash of the id.
    pub validation: f64,
    /// Share of documents held out for the test, by a stable hash of the id. A document
    /// stays on its side in every later version of the dataset.
    pub test: f64,
    /// Learning rate.
    pub lr: f64,
    /// Passes over the training documents.
    pub epoch: usize,
    /// Size of the vectors.
    pub dim: usize,
    /// Longest word n-gram.
    pub word_ngrams: usize,
    /// `softmax`, `ns`, `hs` or `ova`.
    pub loss: String,
    /// Hash buckets for n-grams.
    pub bucket: usize,
    /// Shortest character n-gram.
    pub minn: usize,
    /// Longest character n-gram (0: none).
    pub maxn: usize,
    /// Words seen fewer times are left out.
    pub min_count: u64,
    /// Training threads (0: one per CPU; 1 with a seed gives one model every time).
    pub threads: usize,
    /// Seed of the random draws.
    pub seed: u64,
    /// Pretrained word vectors (`.vec`), relative to the recipe.
    pub pretrained: Option<PathBuf>,
    /// Search the hyperparameters on the validation split for this many seconds first.
    pub autotune_seconds: Option<u64>,
    /// Start from the previous version of this model instead of from random rows.
    pub warm_start: bool,
    /// Also keep a quantized `.ftz` and serve that (much smaller, slightly less exact).
    pub quantize: bool,
    /// Where the model files are written besides the store (default: the folder `model`
    /// beside the dataset's output folder), relative to the recipe.
    pub output: Option<PathBuf>,
    /// An alias (such as `prod`) to move to the new version when its test accuracy is at
    /// least `min_accuracy`.
    pub promote: Option<String>,
    /// The test accuracy `promote` requires.
    pub min_accuracy: f64,
}

impl Default for TrainSettings {
    fn default() -> Self {
        let d = TrainArgs::default();
        TrainSettings {
            name: None,
            label: String::new(),
            label_pattern: None,
            prepend: Vec::new(),
            lowercase: true,
            split_punctuation: true,
            validation: 0.1,
            test: 0.2,
            lr: d.lr,
            epoch: d.epoch,
            dim: d.dim,
            word_ngrams: d.word_ngrams,
            loss: d.loss.name().to_owned(),
            bucket: d.bucket,
            minn: d.minn,
            maxn: d.maxn,
            min_count: d.min_count,
            threads: 0,
            seed: d.seed,
            pretrained: None,
            autotune_seconds: None,
            warm_start: false,
            quantize: false,
            output: None,
            promote: None,
            min_accuracy: 0.0,
        }
    }
}

impl TrainSettings {
    /// Every problem with the settings, described.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.label.trim().is_empty() {
            problems.push("`label` must name the metadata field that holds the class".into());
        }
        if let Some(p) = &self.label_pattern
            && let Err(e) = regex::Regex::new(p)
        {
            problems.push(format!("`label_pattern` is not a regular expression: {e}"));
        }
        for (name, v) in [("validation", self.validation), ("test", self.test)] {
            if !(0.0..1.0).contains(&v) {
                problems.push(format!("`{name}` must be in [0, 1), not {v}"));
            }
        }
        if self.validation + self.test >= 1.0 {
            problems.push("`validation` and `test` leave nothing to train on".into());
        }
        if self.autotune_seconds.is_some() && self.validation == 0.0 {
            problems.push("`autotune_seconds` needs a `validation` share".into());
        }
        if !(0.0..=1.0).contains(&self.min_accuracy) {
            problems.push(format!(
                "`min_accuracy` must be in [0, 1], not {}",
                self.min_accuracy
            ));
        }
        if let Some(name) = &self.name
            && !valid_name(name)
        {
            problems.push(format!(
                "`name` `{name}`: use letters, digits, `-`, `_` or `.`"
            ));
        }
        if let Err(e) = self.args(Path::new(".")) {
            problems.push(e);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The model's name for a dataset.
    pub fn model_name(&self, dataset: &str) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{dataset}-classifier"))
    }

    /// How text becomes a line.
    pub fn preprocess(&self) -> Preprocess {
        Preprocess {
            lowercase: self.lowercase,
            split_punctuation: self.split_punctuation,
        }
    }

    /// fastText's arguments; relative paths are taken from `base` (the recipe's folder).
    pub fn args(&self, base: &Path) -> Result<TrainArgs, String> {
        let loss = LossKind::from_name(&self.loss)
            .ok_or_else(|| format!("`loss` `{}` is not one of softmax, ns, hs, ova", self.loss))?;
        let args = TrainArgs {
            lr: self.lr,
            dim: self.dim,
            epoch: self.epoch,
            min_count: self.min_count,
            word_ngrams: self.word_ngrams,
            loss,
            bucket: self.bucket,
            minn: self.minn,
            maxn: self.maxn,
            threads: if self.threads == 0 {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            } else {
                self.threads
            },
            seed: self.seed,
            pretrained: self.pretrained.as_ref().map(|p| base.join(p)),
            ..TrainArgs::default()
        };
        args.stored().map_err(|e| e.to_string())?;
        Ok(args)
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_all_reported() {
        let s = TrainSettings {
            label: " ".into(),
            label_pattern: Some("(".into()),
            test: 0.7,
            validation: 0.4,
            loss: "hinge".into(),
            min_accuracy: 2.0,
            name: Some("a b".into()),
            ..TrainSettings::default()
        };
        let problems = s.validate().unwrap_err();
        for want in [
            "`label`",
            "label_pattern",
            "leave nothing",
            "hinge",
            "min_accuracy",
            "`name`",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(want)),
                "{want}: {problems:?}"
            );
        }
        let ok = TrainSettings {
            label: "group".into(),
            ..TrainSettings::default()
        };
        assert_eq!(ok.validate(), Ok(()));
    }
}
