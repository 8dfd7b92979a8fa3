//! The C4 rules (Raffel et al. 2020) as datatrove's `C4QualityFilter` applies them:
//! lines are kept or removed, and the document is dropped if too few sentences stay or
//! if it contains `lorem ipsum` or a curly bracket. Kept documents hold only their kept
//! lines.

use std::sync::LazyLock;

use atelier_core::{BoxError, Document, Step, StepConfig, StepError, Verdict};
use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::text::{chars, py_strip, splitlines};
use crate::words::english;

/// Lines mentioning these (lower-cased) are removed.
const POLICY: [&str; 6] = [
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
];

static CITATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[\d*]|\[edit]|\[citation needed]").expect("compiles"));

/// Keeps the lines C4 keeps and drops documents left with too few sentences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct C4Config {
    /// Judge lines (true, as C4) or spaCy-style sentences (false; kept ones are joined
    /// by spaces).
    pub split_paragraph: bool,
    /// Remove Wikipedia-style citations (`[1]`, `[edit]`, `[citation needed]`).
    pub remove_citations: bool,
    /// Remove lines that do not end in `.`, `?`, `!`, `"` or `'` (or end in `...`).
    pub filter_no_terminal_punct: bool,
    /// Fewest sentences in the kept lines (-1: no minimum): `c4:too_few_sentences`.
    pub min_num_sentences: i64,
    /// Remove lines with fewer whitespace-separated words (-1: no minimum).
    pub min_words_per_line: i64,
    /// Remove lines with a longer word, in characters (-1: no limit).
    pub max_word_length: i64,
    /// Drop documents containing "lorem ipsum": `c4:lorem_ipsum`.
    pub filter_lorem_ipsum: bool,
    /// Remove lines mentioning "javascript".
    pub filter_javascript: bool,
    /// Drop documents with a `{` in a line that would be kept: `c4:curly_bracket`.
    pub filter_curly_bracket: bool,
    /// Remove lines about terms of use, privacy or cookie policies.
    pub filter_policy: bool,
}

impl Default for C4Config {
    fn default() -> Self {
        C4Config {
            split_paragraph: true,
            remove_citations: true,
            filter_no_terminal_punct: true,
            min_num_sentences: 5,
            min_words_per_line: 3,
            max_word_length: 1000,
            filter_lorem_ipsum: true,
            filter_javascript: true,
            filter_curly_bracket: true,
            filter_policy: true,
        }
    }
}

impl StepConfig for C4Config {
    const NAME: &'static str = "c4_quality";
    const SUMMARY: &'static str =
        "Keep the lines C4 keeps; drop documents left with too few sentences (as datatrove).";
    const VERSION: u32 = 1;

    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        Ok(Box::new(self.clone()))
    }
}

/// The spans spaCy's sentencizer cuts `text` into, as datatrove's
/// `split_into_sentences` returns them (covering the whole text).
fn sentences(text: &str) -> Vec<&str> {
    let tokens = english::tokens(text);
    let offset = |t: &str| t.as_ptr() as usize - text.as_ptr() as usize;
    let mut ends = Vec::new();
    let mut seen_end = false;
    let mut last_end = 0;
    for t in &tokens {
        let is_end = english::is_sentence_end(t.text);
        if seen_end && !is_end && !english::is_punct(t.text) {
            ends.push(last_end);
            seen_end = false;
        } else if is_end {
            seen_end = true;
        }
        last_end = offset(t.text) + t.text.len();
    }
    let mut out = Vec::with_capacity(ends.len() + 1);
    let mut start = 0;
    for end in ends {
        out.push(&text[start..end]);
        start = end;
    }
    out.push(&text[start..]);
    out
}

impl Step for C4Config {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        let pieces = if self.split_paragraph {
            splitlines(&doc.text)
        } else {
            sentences(&doc.text)
        };
        let mut sentences_kept = 0i64;
        let mut kept: Vec<String> = Vec::new();
        for piece in pieces {
            let line = py_strip(piece);
            let words = line.split(crate::text::is_space).filter(|w| !w.is_empty());
            if self.max_word_length >= 0
                && words
                    .clone()
                    .any(|w| chars(w) as i64 > self.max_word_length)
            {
                continue;
            }
            let word_count = words.count() as i64;
            let line = if self.remove_citations {
                CITATION.replace_all(line, "")
            } else {
                line.into()
            };
            if self.filter_no_terminal_punct
                && (!line.ends_with(['.', '?', '!', '"', '\'']) || line.ends_with("..."))
            {
                continue;
            }
            if word_count < self.min_words_per_line {
                continue;
            }
            let lower = line.to_lowercase();
            if self.filter_lorem_ipsum && lower.contains("lorem ipsum") {
                return Ok(Verdict::Drop("c4:lorem_ipsum"));
            }
            if self.filter_javascript && lower.contains("javascript") {
                continue;
            }
            if self.filter_curly_bracket && line.contains('{') {
                return Ok(Verdict::Drop("c4:curly_bracket"));
            }
            if self.filter_policy && POLICY.iter().any(|p| lower.contains(p)) {
                continue;
            }
            if self.min_num_sentences != -1 {
                sentences_kept += if self.split_paragraph {
                    english::sentence_count(&line) as i64
                } else {
                    1
                };
            }
            kept.push(line.into_owned());
        }
        if sentences_kept < self.min_num_sentences {
            return Ok(Verdict::Drop("c4:too_few_sentences"));
        }
        let joined = kept.join(if self.split_paragraph { "\n" } else { " " });
        doc.text = py_strip(&joined).to_string();
        Ok(Verdict::Keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: &C4Config, text: &str) -> (Verdict, String) {
        let mut doc = Document::new("d", text);
        let verdict = config.build().unwrap().process(&mut doc).unwrap();
        (verdict, doc.text)
    }

    const PAGE: &str = "Home | About | Contact\n\
        The museum opened its new wing in May. Visitors came from all over the region.\n\
        It holds paintings from three centuries[1] and a small library.\n\
        Please enable JavaScript to view the map.\n\
        Read our privacy policy before you sign up.\n\
        Tickets cost ten euros, and children enter for free!\n\
        Is the cafe open on Sundays? Yes, from ten until six.\n\
        Short line.\n\
        And it ends like this...";

    #[test]
    fn keeps_only_c4_lines() {
        let (verdict, text) = run(&C4Config::default(), PAGE);
        assert_eq!(verdict, Verdict::Keep);
        assert_eq!(
            text,
            "The museum opened its new wing in May. Visitors came from all over the region.\n\
             It holds paintings from three centuries and a small library.\n\
             Tickets cost ten euros, and children enter for free!\n\
             Is the cafe open on Sundays? Yes, from ten until six."
        );
    }

    #[test]
    fn each_document_rule_names_itself() {
        let c4 = C4Config::default();
        let lorem = format!("{PAGE}\nLorem ipsum dolor sit amet.");
        assert_eq!(run(&c4, &lorem).0, Verdict::Drop("c4:lorem_ipsum"));
        let bracket = format!("{PAGE}\nThe code is {{ x }} here.");
        assert_eq!(run(&c4, &bracket).0, Verdict::Drop("c4:curly_bracket"));
        assert_eq!(
            run(&c4, "One sentence only here.\nAnd two more here. Three.").0,
            Verdict::Drop("c4:too_few_sentences")
        );
        // A bracket in a line that is removed anyway does not drop the page.
        assert_eq!(run(&c4, &format!("{PAGE}\n{{ no end")).0, Verdict::Keep);
    }

    #[test]
    fn settings_turn_rules_off() {
        let lenient = C4Config {
            filter_no_terminal_punct: false,
            filter_javascript: false,
            remove_citations: false,
            min_num_sentences: -1,
            ..C4Config::default()
        };
        let (verdict, text) = run(&lenient, PAGE);
        assert_eq!(verdict, Verdict::Keep);
        assert!(text.starts_with("Home | About | Contact\n"), "{text}");
        assert!(text.contains("JavaScript") && text.contains("[1]"));
        assert!(!text.contains("Short line"), "still too few words");
        let long_words = C4Config {
            max_word_length: 5,
            min_num_sentences: -1,
            ..C4Config::default()
        };
        assert_eq!(run(&long_words, "Some enormous words are here.").1, "");
    }

    #[test]
    fn sentence_mode_judges_sentences() {
        let config = C4Config {
            split_paragraph: false,
            min_num_sentences: 2,
            ..C4Config::default()
        };
        let (verdict, text) = run(
            &config,
            "Menu Home\nThe wing opened in May. Visitors came from afar. ok",
        );
        assert_eq!(verdict, Verdict::Keep);
        assert_eq!(
            text,
            "Menu Home\nThe wing opened in May. Visitors came from afar."
        );
        assert_eq!(
            sentences("One. Two three. Four"),
            ["One.", " Two three.", " Four"]
        );
    }
}
