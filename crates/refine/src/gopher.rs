//! The Gopher rules (Rae et al. 2021, table A1) as datatrove implements them:
//! `gopher_repetition` drops documents that repeat lines, paragraphs or n-grams, and
//! `gopher_quality` documents whose words do not look like prose.

use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::HashSet;

use atelier_core::{BoxError, Document, Step, StepConfig, StepError, Verdict};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::intern;
use crate::text::{chars, count, find_duplicates, is_letter, is_symbol, py_strip, splitlines};
use crate::words::WordSplit;

/// Drops documents with repeated lines, paragraphs or n-grams (datatrove's
/// `GopherRepetitionFilter`). A fraction of 0 turns its rule off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GopherRepetitionConfig {
    /// Most lines (split at runs of newlines) that repeat an earlier line, as a
    /// fraction of lines: `gopher_rep:dup_line_frac`.
    pub dup_line_frac: f64,
    /// Most paragraphs (split at two or more newlines) that repeat an earlier one:
    /// `gopher_rep:dup_para_frac`.
    pub dup_para_frac: f64,
    /// Most characters in repeated lines, as a fraction of the text's characters:
    /// `gopher_rep:dup_line_char_frac`.
    pub dup_line_char_frac: f64,
    /// Most characters in repeated paragraphs: `gopher_rep:dup_para_char_frac`.
    pub dup_para_char_frac: f64,
    /// `[n, fraction]` pairs: the most frequent word n-gram may cover at most this
    /// fraction of the characters (`gopher_rep:top_2_gram`, ...).
    pub top_n_grams: Vec<(usize, f64)>,
    /// `[n, fraction]` pairs: n-grams that repeat an earlier one may cover at most this
    /// fraction of the characters (`gopher_rep:duplicated_5_n_grams`, ...).
    pub dup_n_grams: Vec<(usize, f64)>,
    /// How text is split into words: `auto`, `english` or `unicode`.
    pub words: WordSplit,
}

impl Default for GopherRepetitionConfig {
    fn default() -> Self {
        GopherRepetitionConfig {
            dup_line_frac: 0.3,
            dup_para_frac: 0.3,
            dup_line_char_frac: 0.2,
            dup_para_char_frac: 0.2,
            top_n_grams: vec![(2, 0.2), (3, 0.18), (4, 0.16)],
            dup_n_grams: vec![
                (5, 0.15),
                (6, 0.14),
                (7, 0.13),
                (8, 0.12),
                (9, 0.11),
                (10, 0.10),
            ],
            words: WordSplit::Auto,
        }
    }
}

fn check_fraction(name: &str, value: f64, problems: &mut Vec<String>) {
    if !(0.0..=1.0).contains(&value) {
        problems.push(format!("{name} ({value}) must lie between 0 and 1"));
    }
}

impl StepConfig for GopherRepetitionConfig {
    const NAME: &'static str = "gopher_repetition";
    const SUMMARY: &'static str =
        "Drop documents that repeat lines, paragraphs or n-grams (Gopher, as datatrove).";
    const VERSION: u32 = 1;

    fn validate(&self, problems: &mut Vec<String>) {
        check_fraction("dup_line_frac", self.dup_line_frac, problems);
        check_fraction("dup_para_frac", self.dup_para_frac, problems);
        check_fraction("dup_line_char_frac", self.dup_line_char_frac, problems);
        check_fraction("dup_para_char_frac", self.dup_para_char_frac, problems);
        for &(n, frac) in self.top_n_grams.iter().chain(&self.dup_n_grams) {
            if n == 0 {
                problems.push("n-gram sizes must be at least 1".into());
            }
            check_fraction("an n-gram fraction", frac, problems);
        }
    }

    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        Ok(Box::new(GopherRepetition {
            top: self
                .top_n_grams
                .iter()
                .map(|&(n, f)| (n, f, intern(format!("gopher_rep:top_{n}_gram"))))
                .collect(),
            dup: self
                .dup_n_grams
                .iter()
                .map(|&(n, f)| (n, f, intern(format!("gopher_rep:duplicated_{n}_n_grams"))))
                .collect(),
            config: self.clone(),
        }))
    }
}

struct GopherRepetition {
    config: GopherRepetitionConfig,
    top: Vec<(usize, f64, &'static str)>,
    dup: Vec<(usize, f64, &'static str)>,
}

/// Splits at runs of `min` or more newlines, as `re.split("\n{min,}")`.
fn split_newline_runs(text: &str, min: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            let run = bytes[i..].iter().take_while(|&&b| b == b'\n').count();
            if run >= min {
                out.push(&text[start..i]);
                start = i + run;
            }
            i += run;
        } else {
            i += 1;
        }
    }
    out.push(&text[start..]);
    out
}

/// Each word's number in order of first appearance, so that n-grams compare and hash as
/// a few integers instead of strings.
fn word_ids(words: &[&str]) -> Vec<u32> {
    let mut ids: FxHashMap<&str, u32> =
        FxHashMap::with_capacity_and_hasher(words.len(), Default::default());
    words
        .iter()
        .map(|w| {
            let next = ids.len() as u32;
            *ids.entry(w).or_insert(next)
        })
        .collect()
}

/// Characters of the most frequent n-gram (words joined by spaces) times its count;
/// among equally frequent ones the first seen, as `Counter.most_common(1)`.
fn top_ngram_chars(ids: &[u32], lengths: &[usize], n: usize) -> Option<usize> {
    if ids.len() < n {
        return None;
    }
    let mut counts: FxHashMap<&[u32], (usize, usize)> =
        FxHashMap::with_capacity_and_hasher(ids.len() - n + 1, Default::default());
    for (i, gram) in ids.windows(n).enumerate() {
        counts.entry(gram).or_insert((0, i)).0 += 1;
    }
    let (_, &(count, first)) = counts
        .iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1)))?;
    let length: usize = lengths[first..first + n].iter().sum::<usize>() + n - 1;
    Some(length * count)
}

/// datatrove's `find_all_duplicate`: n-grams are the words joined without spaces; a
/// repeat counts its characters and skips past itself.
fn duplicate_ngram_chars(joined: &str, starts: &[usize], char_starts: &[usize], n: usize) -> usize {
    let words = starts.len() - 1;
    let mut seen = FxHashSet::with_capacity_and_hasher(words, Default::default());
    let (mut repeated, mut i) = (0, 0);
    while i + n <= words {
        let gram = &joined[starts[i]..starts[i + n]];
        if seen.contains(gram) {
            repeated += char_starts[i + n] - char_starts[i];
            i += n;
        } else {
            seen.insert(gram);
            i += 1;
        }
    }
    repeated
}

impl Step for GopherRepetition {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        let c = &self.config;
        let text = doc.text.as_str();
        if text.is_empty() {
            return Ok(Verdict::Drop("gopher_rep:empty"));
        }
        let text_chars = chars(text) as f64;
        let paragraphs = split_newline_runs(py_strip(text), 2);
        let dup = find_duplicates(paragraphs.iter().copied());
        if c.dup_para_frac > 0.0 && dup.count as f64 / paragraphs.len() as f64 > c.dup_para_frac {
            return Ok(Verdict::Drop("gopher_rep:dup_para_frac"));
        }
        if c.dup_para_char_frac > 0.0 && dup.chars as f64 / text_chars > c.dup_para_char_frac {
            return Ok(Verdict::Drop("gopher_rep:dup_para_char_frac"));
        }
        let lines = split_newline_runs(text, 1);
        let dup = find_duplicates(lines.iter().copied());
        if c.dup_line_frac > 0.0 && dup.count as f64 / lines.len() as f64 > c.dup_line_frac {
            return Ok(Verdict::Drop("gopher_rep:dup_line_frac"));
        }
        if c.dup_line_char_frac > 0.0 && dup.chars as f64 / text_chars > c.dup_line_char_frac {
            return Ok(Verdict::Drop("gopher_rep:dup_line_char_frac"));
        }
        let words = c.words.words(text, doc.meta_str("language"));
        let lengths: Vec<usize> = words.iter().map(|w| chars(w)).collect();
        let ids = if self.top.is_empty() {
            Vec::new()
        } else {
            word_ids(&words)
        };
        for &(n, frac, reason) in &self.top {
            if let Some(top) = top_ngram_chars(&ids, &lengths, n)
                && top as f64 / text_chars > frac
            {
                return Ok(Verdict::Drop(reason));
            }
        }
        if !self.dup.is_empty() {
            let mut joined = String::with_capacity(text.len());
            let mut starts = Vec::with_capacity(words.len() + 1);
            let mut char_starts = Vec::with_capacity(words.len() + 1);
            let mut total = 0;
            for (w, len) in words.iter().zip(&lengths) {
                starts.push(joined.len());
                char_starts.push(total);
                joined.push_str(w);
                total += len;
            }
            starts.push(joined.len());
            char_starts.push(total);
            for &(n, frac, reason) in &self.dup {
                let repeated = duplicate_ngram_chars(&joined, &starts, &char_starts, n);
                if repeated as f64 / text_chars > frac {
                    return Ok(Verdict::Drop(reason));
                }
            }
        }
        Ok(Verdict::Keep)
    }
}

/// The stop words Gopher requires (at least two of them).
const STOP_WORDS: [&str; 8] = ["the", "be", "to", "of", "and", "that", "have", "with"];

/// Drops documents whose words do not look like prose (datatrove's
/// `GopherQualityFilter`). A bound of 0 turns its rule off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GopherQualityConfig {
    /// Fewest words that are not only punctuation: `gopher_quality:short_doc`.
    pub min_doc_words: usize,
    /// Most such words: `gopher_quality:long_doc`.
    pub max_doc_words: usize,
    /// Lowest mean length of those words: `gopher_quality:below_avg_threshold`.
    pub min_avg_word_length: f64,
    /// Highest mean length: `gopher_quality:above_avg_threshold`.
    pub max_avg_word_length: f64,
    /// Most `#`, and most `...` or `…`, per word: `gopher_quality:too_many_hashes`,
    /// `gopher_quality:too_many_ellipsis`.
    pub max_symbol_word_ratio: f64,
    /// Most lines starting with `•` or `-`, as a fraction of lines:
    /// `gopher_quality:too_many_bullets`.
    pub max_bullet_lines_ratio: f64,
    /// Most lines ending with `...` or `…`: `gopher_quality:too_many_end_ellipsis`.
    pub max_ellipsis_lines_ratio: f64,
    /// Fewest words with a letter, as a fraction of all words (datatrove's misnamed
    /// `max_non_alpha_words_ratio`): `gopher_quality:below_alpha_threshold`.
    pub min_alpha_words_ratio: f64,
    /// Fewest distinct stop words present: `gopher_quality:enough_stop_words` (the name
    /// datatrove gives the failure).
    pub min_stop_words: usize,
    /// The stop words (matched case-sensitively against words).
    pub stop_words: Vec<String>,
    /// How text is split into words: `auto`, `english` or `unicode`.
    pub words: WordSplit,
}

impl Default for GopherQualityConfig {
    fn default() -> Self {
        GopherQualityConfig {
            min_doc_words: 50,
            max_doc_words: 100_000,
            min_avg_word_length: 3.0,
            max_avg_word_length: 10.0,
            max_symbol_word_ratio: 0.1,
            max_bullet_lines_ratio: 0.9,
            max_ellipsis_lines_ratio: 0.3,
            min_alpha_words_ratio: 0.8,
            min_stop_words: 2,
            stop_words: STOP_WORDS.iter().map(|s| s.to_string()).collect(),
            words: WordSplit::Auto,
        }
    }
}

impl StepConfig for GopherQualityConfig {
    const NAME: &'static str = "gopher_quality";
    const SUMMARY: &'static str =
        "Drop documents whose words do not look like prose (Gopher, as datatrove).";
    const VERSION: u32 = 1;

    fn validate(&self, problems: &mut Vec<String>) {
        if self.max_doc_words > 0 && self.max_doc_words < self.min_doc_words {
            problems.push(format!(
                "max_doc_words ({}) is below min_doc_words ({})",
                self.max_doc_words, self.min_doc_words
            ));
        }
        check_fraction(
            "max_bullet_lines_ratio",
            self.max_bullet_lines_ratio,
            problems,
        );
        check_fraction(
            "max_ellipsis_lines_ratio",
            self.max_ellipsis_lines_ratio,
            problems,
        );
        check_fraction(
            "min_alpha_words_ratio",
            self.min_alpha_words_ratio,
            problems,
        );
    }

    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        Ok(Box::new(GopherQuality {
            stop_words: self.stop_words.iter().cloned().collect(),
            config: self.clone(),
        }))
    }
}

struct GopherQuality {
    config: GopherQualityConfig,
    stop_words: HashSet<String>,
}

impl Step for GopherQuality {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        let c = &self.config;
        let text = doc.text.as_str();
        let words = c.words.words(text, doc.meta_str("language"));
        let n_words = words.len() as f64;
        let (mut prose, mut prose_chars) = (0usize, 0usize);
        for w in &words {
            if w.chars().any(|ch| !is_symbol(ch)) {
                prose += 1;
                prose_chars += chars(w);
            }
        }
        if c.min_doc_words > 0 && prose < c.min_doc_words {
            return Ok(Verdict::Drop("gopher_quality:short_doc"));
        }
        if c.max_doc_words > 0 && prose > c.max_doc_words {
            return Ok(Verdict::Drop("gopher_quality:long_doc"));
        }
        // numpy's mean of nothing is NaN, which fails no comparison.
        let mean = prose_chars as f64 / prose as f64;
        if c.min_avg_word_length > 0.0 && mean < c.min_avg_word_length {
            return Ok(Verdict::Drop("gopher_quality:below_avg_threshold"));
        }
        if c.max_avg_word_length > 0.0 && mean > c.max_avg_word_length {
            return Ok(Verdict::Drop("gopher_quality:above_avg_threshold"));
        }
        if words.is_empty() {
            // datatrove divides by the word count below and would fail here.
            return Ok(Verdict::Keep);
        }
        if c.max_symbol_word_ratio > 0.0 {
            if count(text, "#") as f64 / n_words > c.max_symbol_word_ratio {
                return Ok(Verdict::Drop("gopher_quality:too_many_hashes"));
            }
            let ellipses = count(text, "...") + count(text, "…");
            if ellipses as f64 / n_words > c.max_symbol_word_ratio {
                return Ok(Verdict::Drop("gopher_quality:too_many_ellipsis"));
            }
        }
        let lines = splitlines(text);
        let n_lines = lines.len() as f64;
        if c.max_bullet_lines_ratio > 0.0 {
            let bullets = lines
                .iter()
                .filter(|l| {
                    let l = l.trim_start_matches(crate::text::is_space);
                    l.starts_with('•') || l.starts_with('-')
                })
                .count();
            if bullets as f64 / n_lines > c.max_bullet_lines_ratio {
                return Ok(Verdict::Drop("gopher_quality:too_many_bullets"));
            }
        }
        if c.max_ellipsis_lines_ratio > 0.0 {
            let ellipsis = lines
                .iter()
                .filter(|l| {
                    let l = l.trim_end_matches(crate::text::is_space);
                    l.ends_with("...") || l.ends_with('…')
                })
                .count();
            if ellipsis as f64 / n_lines > c.max_ellipsis_lines_ratio {
                return Ok(Verdict::Drop("gopher_quality:too_many_end_ellipsis"));
            }
        }
        if c.min_alpha_words_ratio > 0.0 {
            let alpha = words.iter().filter(|w| w.chars().any(is_letter)).count();
            if (alpha as f64 / n_words) < c.min_alpha_words_ratio {
                return Ok(Verdict::Drop("gopher_quality:below_alpha_threshold"));
            }
        }
        if c.min_stop_words > 0 {
            let present: HashSet<&str> = words
                .iter()
                .copied()
                .filter(|w| self.stop_words.contains(*w))
                .collect();
            if present.len() < c.min_stop_words {
                return Ok(Verdict::Drop("gopher_quality:enough_stop_words"));
            }
        }
        Ok(Verdict::Keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(config: &impl StepConfig, text: &str) -> Verdict {
        config
            .build()
            .unwrap()
            .process(&mut Document::new("d", text))
            .unwrap()
    }

    /// Plain prose: 66 words, stop words, no repetition.
    const PROSE: &str = "The history of the river valley is long and varied. Farmers settled along \
        its banks more than three thousand years ago, and they built terraces that still shape \
        the hills today. Later, merchants arrived with salt, cloth and copper, trading with the \
        villages that had grown up around the fords. Each generation left something behind: a \
        bridge, a chapel, a mill, or simply a name that people still use when they talk about \
        the land.";

    #[test]
    fn prose_passes_both() {
        assert_eq!(
            verdict(&GopherRepetitionConfig::default(), PROSE),
            Verdict::Keep
        );
        assert_eq!(
            verdict(&GopherQualityConfig::default(), PROSE),
            Verdict::Keep
        );
    }

    #[test]
    fn each_repetition_rule_names_itself() {
        let rep = GopherRepetitionConfig::default();
        let long = "x".repeat(100);
        let cases = [
            ("", "gopher_rep:empty"),
            (
                "a para\n\nb para\n\na para\n\na para",
                "gopher_rep:dup_para_frac",
            ),
            (
                &format!("{long}\n\na\n\nb\n\nc\n\n{long}"),
                "gopher_rep:dup_para_char_frac",
            ),
            (
                "one line\ntwo line\none line\none line",
                "gopher_rep:dup_line_frac",
            ),
            (
                &format!("{long}\na\nb\nc\nd\n{long}"),
                "gopher_rep:dup_line_char_frac",
            ),
            ("ab cd ab cd ab cd xy", "gopher_rep:top_2_gram"),
        ];
        for (text, reason) in cases {
            assert_eq!(verdict(&rep, text), Verdict::Drop(reason), "{text:?}");
        }
        // Rules further down, each alone.
        let only = |top: Vec<(usize, f64)>, dup: Vec<(usize, f64)>| GopherRepetitionConfig {
            top_n_grams: top,
            dup_n_grams: dup,
            ..GopherRepetitionConfig::default()
        };
        assert_eq!(
            verdict(&only(vec![(3, 0.18)], vec![]), "ab cd ef ab cd ef ab cd ef"),
            Verdict::Drop("gopher_rep:top_3_gram")
        );
        assert_eq!(
            verdict(
                &only(vec![], vec![(5, 0.15)]),
                "one two three four five one two three four five six"
            ),
            Verdict::Drop("gopher_rep:duplicated_5_n_grams")
        );
        // A rule at 0 is off.
        let off = GopherRepetitionConfig {
            dup_line_frac: 0.0,
            ..GopherRepetitionConfig::default()
        };
        assert_eq!(
            verdict(&off, "one line\ntwo line\none line\none line"),
            Verdict::Drop("gopher_rep:dup_line_char_frac")
        );
    }

    #[test]
    fn ties_between_top_ngrams_go_to_the_first_seen() {
        // "aaa b", "b c" and "c b" each occur twice; "aaa b" was seen first.
        let words = ["aaa", "b", "aaa", "b", "c", "b", "c", "b"];
        let lengths: Vec<usize> = words.iter().map(|w| w.len()).collect();
        let ids = word_ids(&words);
        assert_eq!(ids, [0, 1, 0, 1, 2, 1, 2, 1]);
        assert_eq!(top_ngram_chars(&ids, &lengths, 2), Some(2 * 5));
        assert_eq!(top_ngram_chars(&ids, &lengths, 9), None);
    }

    #[test]
    fn each_quality_rule_names_itself() {
        let q = GopherQualityConfig::default();
        let lines = |line: &str, n: usize| vec![line; n].join("\n");
        let prose_lines: Vec<&str> = PROSE.split(". ").collect();
        let cases: Vec<(String, &str)> = vec![
            ("The cat and the dog.".into(), "gopher_quality:short_doc"),
            (
                lines("to be or it is a an of by", 8),
                "gopher_quality:below_avg_threshold",
            ),
            (
                lines("extraordinarily incomprehensibly enormously", 20),
                "gopher_quality:above_avg_threshold",
            ),
            (
                format!("{PROSE} {}", "#tag ".repeat(20)),
                "gopher_quality:too_many_hashes",
            ),
            (
                format!("{PROSE} {}", "wait... ".repeat(20)),
                "gopher_quality:too_many_ellipsis",
            ),
            (
                prose_lines
                    .iter()
                    .map(|l| format!("- {l}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                "gopher_quality:too_many_bullets",
            ),
            (
                prose_lines
                    .iter()
                    .map(|l| format!("{l}…"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                "gopher_quality:too_many_end_ellipsis",
            ),
            (
                format!("{PROSE} {}", "12 34 56 78 90 ".repeat(5)),
                "gopher_quality:below_alpha_threshold",
            ),
            (
                lines(
                    "Farmers settled along its banks more than three thousand years ago",
                    6,
                ),
                "gopher_quality:enough_stop_words",
            ),
        ];
        for (text, reason) in cases {
            assert_eq!(verdict(&q, &text), Verdict::Drop(reason), "{text:?}");
        }
        let capped = GopherQualityConfig {
            max_doc_words: 60,
            ..GopherQualityConfig::default()
        };
        assert_eq!(
            verdict(&capped, PROSE),
            Verdict::Drop("gopher_quality:long_doc")
        );
    }

    #[test]
    fn bad_settings_are_reported() {
        let mut problems = Vec::new();
        GopherRepetitionConfig {
            dup_line_frac: 1.5,
            top_n_grams: vec![(0, 0.2)],
            ..GopherRepetitionConfig::default()
        }
        .validate(&mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");
        let mut problems = Vec::new();
        GopherQualityConfig {
            min_doc_words: 10,
            max_doc_words: 5,
            ..GopherQualityConfig::default()
        }
        .validate(&mut problems);
        assert_eq!(problems.len(), 1);
    }
}
