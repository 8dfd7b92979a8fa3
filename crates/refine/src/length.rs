//! The `length` step: drops documents that are too short or too long.

use atelier_core::{BoxError, Document, Step, StepConfig, StepError, Verdict};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Keeps documents whose length lies within bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LengthConfig {
    /// Fewest characters (Unicode scalar values) after trimming whitespace; fewer drops
    /// the document as `too_short`.
    pub min_chars: usize,
    /// Most characters; more drops the document as `too_long`. Unset means no limit.
    pub max_chars: Option<usize>,
    /// Fewest whitespace-separated words; fewer drops the document as `too_few_words`.
    pub min_words: usize,
}

impl Default for LengthConfig {
    fn default() -> Self {
        LengthConfig {
            min_chars: 1,
            max_chars: None,
            min_words: 0,
        }
    }
}

impl StepConfig for LengthConfig {
    const NAME: &'static str = "length";
    const SUMMARY: &'static str = "Drop documents that are too short or too long.";
    const VERSION: u32 = 1;

    fn validate(&self, problems: &mut Vec<String>) {
        if let Some(max) = self.max_chars
            && max < self.min_chars
        {
            problems.push(format!(
                "max_chars ({max}) is below min_chars ({})",
                self.min_chars
            ));
        }
    }

    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        Ok(Box::new(self.clone()))
    }
}

impl Step for LengthConfig {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        let text = doc.text.trim();
        // Counting stops early: a 64 MiB text need not be walked to know it passes.
        let limit = self.max_chars.map_or(self.min_chars, |m| m + 1);
        let chars = text.chars().take(limit.max(self.min_chars)).count();
        if chars < self.min_chars {
            return Ok(Verdict::Drop("too_short"));
        }
        if self.max_chars.is_some_and(|max| chars > max) {
            return Ok(Verdict::Drop("too_long"));
        }
        if self.min_words > 0
            && text.split_whitespace().take(self.min_words).count() < self.min_words
        {
            return Ok(Verdict::Drop("too_few_words"));
        }
        Ok(Verdict::Keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(config: &LengthConfig, text: &str) -> Verdict {
        config
            .clone()
            .process(&mut Document::new("d", text))
            .unwrap()
    }

    #[test]
    fn bounds_name_their_rule() {
        let c = LengthConfig {
            min_chars: 3,
            max_chars: Some(5),
            min_words: 2,
        };
        assert_eq!(verdict(&c, "  ab  "), Verdict::Drop("too_short"));
        assert_eq!(verdict(&c, "abcdef"), Verdict::Drop("too_long"));
        assert_eq!(verdict(&c, "abcd"), Verdict::Drop("too_few_words"));
        assert_eq!(verdict(&c, "ab cd"), Verdict::Keep);
        assert_eq!(verdict(&c, "éé éé"), Verdict::Keep, "characters, not bytes");
    }

    #[test]
    fn inverted_bounds_are_invalid() {
        let mut problems = Vec::new();
        LengthConfig {
            min_chars: 10,
            max_chars: Some(5),
            min_words: 0,
        }
        .validate(&mut problems);
        assert_eq!(problems.len(), 1);
    }
}
