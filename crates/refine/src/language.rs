//! The `language` step: fastText language identification, as datatrove's
//! `LanguageFilter` with the `lid.176` model.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, OnceLock};

use atelier_core::{BoxError, Document, Step, StepConfig, StepError, Verdict};
use atelier_fasttext::{Model, Predictor};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// fastText's `lid.176.ftz` (CC-BY-SA-3.0, see `models/README.md`), built in so that
/// the step works offline and without a path.
static LID_176: &[u8] = include_bytes!("../../../models/lid.176.ftz");

/// Models are read once per process and shared by every task.
fn builtin() -> &'static Model {
    static MODEL: OnceLock<&'static Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        Box::leak(Box::new(
            Model::from_bytes(LID_176).expect("the built-in lid.176.ftz reads"),
        ))
    })
}

fn load(path: &str) -> Result<&'static Model, String> {
    static LOADED: LazyLock<Mutex<HashMap<String, &'static Model>>> =
        LazyLock::new(Default::default);
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(model) = loaded.get(path) {
        return Ok(model);
    }
    let model: &'static Model = Box::leak(Box::new(Model::load(path).map_err(|e| e.to_string())?));
    loaded.insert(path.to_string(), model);
    Ok(model)
}

/// Labels each document with its language and keeps those in the wanted languages with
/// a high enough score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LanguageConfig {
    /// A fastText model file (`.bin` or `.ftz`), relative to the recipe's folder; unset
    /// means the built-in `lid.176.ftz` (176 languages).
    pub model: Option<String>,
    /// Languages to keep, as the model's labels without `__label__` (`en`, `fr`, ...);
    /// empty keeps any language.
    pub languages: Vec<String>,
    /// A document is kept when a wanted language scores above this (FineWeb: 0.65).
    pub threshold: f64,
    /// Only label documents, never drop them.
    pub label_only: bool,
}

impl Default for LanguageConfig {
    fn default() -> Self {
        LanguageConfig {
            model: None,
            languages: Vec::new(),
            threshold: 0.65,
            label_only: false,
        }
    }
}

impl StepConfig for LanguageConfig {
    const NAME: &'static str = "language";
    const SUMMARY: &'static str =
        "Label the language (metadata.language, language_score) and keep the wanted ones.";
    const VERSION: u32 = 1;
    // Not `EXPENSIVE`: a label costs a tenth of an extraction on web pages, and keeping
    // its output would keep a second copy of every extracted document for it.

    fn resolve_paths(&mut self, recipe_dir: &std::path::Path) {
        if let Some(model) = &mut self.model {
            *model = recipe_dir.join(&*model).to_string_lossy().into_owned();
        }
    }

    fn inputs(&self) -> Vec<std::path::PathBuf> {
        self.model.iter().map(std::path::PathBuf::from).collect()
    }

    fn validate(&self, problems: &mut Vec<String>) {
        if !(0.0..=1.0).contains(&self.threshold) {
            problems.push(format!(
                "threshold ({}) must lie between 0 and 1",
                self.threshold
            ));
        }
        if let Some(path) = &self.model
            && !std::path::Path::new(path).is_file()
        {
            problems.push(format!("model {path:?} is not a file"));
        }
    }

    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        let model = match &self.model {
            None => builtin(),
            Some(path) => load(path)?,
        };
        let known: Vec<&str> = model.labels().iter().map(|l| strip(l)).collect();
        if let Some(unknown) = self.languages.iter().find(|l| !known.contains(&l.as_str())) {
            return Err(format!("the model has no language {unknown:?}").into());
        }
        Ok(Box::new(Language {
            config: self.clone(),
            predictor: model.predictor(),
            line: String::new(),
        }))
    }
}

fn strip(label: &str) -> &str {
    label
        .strip_prefix(atelier_fasttext::LABEL_PREFIX)
        .unwrap_or(label)
}

struct Language {
    config: LanguageConfig,
    predictor: Predictor<'static>,
    line: String,
}

impl Step for Language {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        // fastText reads one line: newlines become spaces, as datatrove does.
        let text = if doc.text.contains('\n') {
            self.line.clear();
            self.line
                .extend(doc.text.chars().map(|c| if c == '\n' { ' ' } else { c }));
            self.line.as_str()
        } else {
            doc.text.as_str()
        };
        let model = self.predictor.model();
        let Some(top) = self.predictor.predict(text, 1, 0.0).first().copied() else {
            return Ok(if self.config.label_only {
                Verdict::Keep
            } else {
                Verdict::Drop("language:unknown")
            });
        };
        let label = strip(model.label(top.label));
        let score = f64::from(top.prob);
        let threshold = self.config.threshold;
        let wanted = &self.config.languages;
        let keep = self.config.label_only
            || if wanted.is_empty() {
                score > threshold
            } else if wanted.iter().any(|l| l == label) && score > threshold {
                true
            } else if threshold >= 0.5 {
                // Probabilities add up to 1 (plus fastText's 1e-5 per label): no other
                // label can pass a threshold of one half.
                false
            } else {
                // Any wanted language above the threshold keeps it, as in datatrove.
                let floor = (threshold - 1e-4).max(0.0) as f32;
                self.predictor
                    .predict(text, usize::MAX, floor)
                    .iter()
                    .any(|p| {
                        f64::from(p.prob) > threshold
                            && wanted.iter().any(|l| l == strip(model.label(p.label)))
                    })
            };
        doc.metadata
            .insert("language".into(), Value::String(label.to_string()));
        doc.metadata
            .insert("language_score".into(), Value::from(score));
        if keep {
            Ok(Verdict::Keep)
        } else if !wanted.is_empty() && !wanted.iter().any(|l| l == label) {
            Ok(Verdict::Drop("language:other_language"))
        } else {
            Ok(Verdict::Drop("language:low_score"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: LanguageConfig, text: &str) -> (Verdict, Document) {
        let mut step = config.build().unwrap();
        let mut doc = Document::new("d", text);
        (step.process(&mut doc).unwrap(), doc)
    }

    #[test]
    fn labels_and_keeps_by_language_and_score() {
        let en = "The quick brown fox jumps over the lazy dog.\nIt was not amused at all.";
        let (verdict, doc) = run(LanguageConfig::default(), en);
        assert_eq!(verdict, Verdict::Keep);
        assert_eq!(doc.meta_str("language"), Some("en"));
        let score = doc.metadata["language_score"].as_f64().unwrap();
        assert!(score > 0.65 && score <= 1.0 + 1e-4, "{score}");

        let only_fr = LanguageConfig {
            languages: vec!["fr".into()],
            ..LanguageConfig::default()
        };
        assert_eq!(
            run(only_fr.clone(), en).0,
            Verdict::Drop("language:other_language")
        );
        assert_eq!(
            run(only_fr, "Le chat dort sur le canapé du salon.").0,
            Verdict::Keep
        );

        let strict = LanguageConfig {
            threshold: 0.999,
            ..LanguageConfig::default()
        };
        assert_eq!(
            run(strict.clone(), en).0,
            Verdict::Drop("language:low_score")
        );
        let label_only = LanguageConfig {
            label_only: true,
            ..strict
        };
        let (verdict, doc) = run(label_only, en);
        assert_eq!(verdict, Verdict::Keep);
        assert_eq!(doc.meta_str("language"), Some("en"));
    }

    #[test]
    fn a_wanted_second_language_above_a_low_threshold_keeps() {
        // "hello </s> ..." scores en 0.242, fr 0.095 (recorded from fastText).
        let config = LanguageConfig {
            languages: vec!["fr".into()],
            threshold: 0.09,
            ..LanguageConfig::default()
        };
        let (verdict, doc) = run(config, "hello </s> bonjour le monde");
        assert_eq!(verdict, Verdict::Keep);
        assert_eq!(doc.meta_str("language"), Some("en"));
    }

    #[test]
    fn cjk_and_thai_are_identified() {
        for (text, lang) in [
            ("这是一个关于语言识别的测试。", "zh"),
            ("これは言語識別のテストです。", "ja"),
            ("ภาษาไทยเป็นภาษาที่สวยงาม", "th"),
        ] {
            let (_, doc) = run(LanguageConfig::default(), text);
            assert_eq!(doc.meta_str("language"), Some(lang));
        }
    }

    #[test]
    fn unknown_languages_and_missing_models_are_refused() {
        let config = LanguageConfig {
            languages: vec!["xx".into()],
            ..LanguageConfig::default()
        };
        assert!(config.build().is_err());
        let mut problems = Vec::new();
        LanguageConfig {
            model: Some("/nonexistent/model.bin".into()),
            ..LanguageConfig::default()
        }
        .validate(&mut problems);
        assert_eq!(problems.len(), 1);
    }
}
