//! FineWeb's own quality rules, as datatrove's `FineWebQualityFilter`.

use atelier_core::{BoxError, Document, Step, StepConfig, StepError, Verdict};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::text::{chars, find_duplicates, is_terminal, py_strip};
use crate::words::WordSplit;

/// Drops documents made of short, unpunctuated, repeated or list-like lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FineWebQualityConfig {
    /// Fewest non-blank lines ending in a stop character, as a fraction:
    /// `fineweb:line_punct_ratio`.
    pub line_punct_thr: f64,
    /// Let documents with no such line at all pass that rule.
    pub line_punct_exclude_zero: bool,
    /// The characters that end a punctuated line; unset means datatrove's terminal
    /// punctuation of all scripts.
    pub stop_chars: Option<Vec<String>>,
    /// Most lines of at most `short_line_length` characters, as a fraction:
    /// `fineweb:short_line_ratio`.
    pub short_line_thr: f64,
    /// What a short line is, in characters.
    pub short_line_length: usize,
    /// Most characters in repeated lines, as a fraction of the characters that are not
    /// newlines: `fineweb:char_dup_ratio`.
    pub char_duplicates_ratio: f64,
    /// Most newlines per word: `fineweb:list_ratio`.
    pub new_line_ratio: f64,
    /// How text is split into words: `auto`, `english` or `unicode`.
    pub words: WordSplit,
}

impl Default for FineWebQualityConfig {
    fn default() -> Self {
        FineWebQualityConfig {
            line_punct_thr: 0.12,
            line_punct_exclude_zero: false,
            stop_chars: None,
            short_line_thr: 0.67,
            short_line_length: 30,
            char_duplicates_ratio: 0.01,
            new_line_ratio: 0.3,
            words: WordSplit::Auto,
        }
    }
}

impl StepConfig for FineWebQualityConfig {
    const NAME: &'static str = "fineweb_quality";
    const SUMMARY: &'static str = "Drop documents of short, unpunctuated, repeated or list-like lines (FineWeb, as datatrove).";
    const VERSION: u32 = 1;

    fn validate(&self, problems: &mut Vec<String>) {
        if let Some(stops) = &self.stop_chars
            && stops.iter().any(String::is_empty)
        {
            problems.push("stop_chars holds an empty string".into());
        }
    }

    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        Ok(Box::new(self.clone()))
    }
}

impl Step for FineWebQualityConfig {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        let text = doc.text.as_str();
        let lines: Vec<&str> = text
            .split('\n')
            .filter(|l| !py_strip(l).is_empty())
            .collect();
        if lines.is_empty() {
            return Ok(Verdict::Drop("fineweb:empty"));
        }
        let n = lines.len() as f64;
        let ends_punctuated = |line: &str| match &self.stop_chars {
            None => line.chars().next_back().is_some_and(is_terminal),
            Some(stops) => stops.iter().any(|s| line.ends_with(s.as_str())),
        };
        let ratio = lines.iter().filter(|l| ends_punctuated(l)).count() as f64 / n;
        if ratio < self.line_punct_thr && !(ratio == 0.0 && self.line_punct_exclude_zero) {
            return Ok(Verdict::Drop("fineweb:line_punct_ratio"));
        }
        let short = lines
            .iter()
            .filter(|l| chars(l) <= self.short_line_length)
            .count();
        if short as f64 / n > self.short_line_thr {
            return Ok(Verdict::Drop("fineweb:short_line_ratio"));
        }
        let dup_chars = find_duplicates(lines.iter().copied()).chars;
        let without_newlines = chars(text) - text.matches('\n').count();
        if dup_chars as f64 / without_newlines as f64 > self.char_duplicates_ratio {
            return Ok(Verdict::Drop("fineweb:char_dup_ratio"));
        }
        let words = self.words.words(text, doc.meta_str("language"));
        let newlines = text.matches('\n').count();
        if !words.is_empty() && newlines as f64 / words.len() as f64 > self.new_line_ratio {
            return Ok(Verdict::Drop("fineweb:list_ratio"));
        }
        Ok(Verdict::Keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(config: &FineWebQualityConfig, text: &str) -> Verdict {
        config
            .build()
            .unwrap()
            .process(&mut Document::new("d", text))
            .unwrap()
    }

    const GOOD: &str = "The museum opened its new wing in May, after three years of work.\n\
        Visitors came from all over the region to see the paintings and the library.\n\
        Tickets cost ten euros, and children under twelve enter for free on weekdays.";

    #[test]
    fn each_rule_names_itself() {
        let f = FineWebQualityConfig::default();
        assert_eq!(verdict(&f, GOOD), Verdict::Keep);
        assert_eq!(verdict(&f, " \n\t\n"), Verdict::Drop("fineweb:empty"));
        let unpunctuated = GOOD.replace('.', "");
        assert_eq!(
            verdict(&f, &unpunctuated),
            Verdict::Drop("fineweb:line_punct_ratio")
        );
        let short = format!("{GOOD}\nShort one.\nAnother.\nAnd more.\nToo short.\nYes.\nNo.\nOk.");
        assert_eq!(
            verdict(&f, &short),
            Verdict::Drop("fineweb:short_line_ratio")
        );
        let repeated = format!("{GOOD}\n{}", GOOD.lines().next().unwrap());
        assert_eq!(
            verdict(&f, &repeated),
            Verdict::Drop("fineweb:char_dup_ratio")
        );
        let list = (1..=20)
            .map(|i| format!("Item number {i} is one of the very many items in this long list."))
            .collect::<Vec<_>>()
            .join(&"\n".repeat(8));
        assert_eq!(verdict(&f, &list), Verdict::Drop("fineweb:list_ratio"));
    }

    #[test]
    fn settings_change_the_rules() {
        let unpunctuated = GOOD.replace('.', "");
        let exclude_zero = FineWebQualityConfig {
            line_punct_exclude_zero: true,
            ..FineWebQualityConfig::default()
        };
        assert_eq!(verdict(&exclude_zero, &unpunctuated), Verdict::Keep);
        let own_stops = FineWebQualityConfig {
            stop_chars: Some(vec!["days".into()]),
            ..FineWebQualityConfig::default()
        };
        // Only the last line ends in "days": 1 of 3 lines is still above 0.12.
        assert_eq!(verdict(&own_stops, &unpunctuated), Verdict::Keep);
        let strict = FineWebQualityConfig {
            line_punct_thr: 0.5,
            ..own_stops
        };
        assert_eq!(
            verdict(&strict, &unpunctuated),
            Verdict::Drop("fineweb:line_punct_ratio")
        );
    }
}
