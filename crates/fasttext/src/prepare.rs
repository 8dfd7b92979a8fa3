//! Text to one fastText line: the preprocessing a model's training data and the text it
//! is later asked about must share.
//!
//! fastText splits on whitespace and nothing else, and a newline ends a line, so a
//! document becomes one line with its whitespace runs collapsed. Lowercasing and setting
//! punctuation apart (as fastText's own tutorials do with `sed` and `tr`) make `Free!`,
//! `free,` and `FREE` one word. A token that starts with `__label__` would be read as a
//! label; its leading underscores are dropped.

use crate::LABEL_PREFIX;

/// How text is turned into a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Preprocess {
    /// Lowercase (Unicode rules).
    pub lowercase: bool,
    /// Put spaces around punctuation marks.
    pub split_punctuation: bool,
}

impl Preprocess {
    /// Lowercased, punctuation set apart: what the recipe's `train` section uses unless
    /// told otherwise.
    pub const STANDARD: Preprocess = Preprocess {
        lowercase: true,
        split_punctuation: true,
    };

    /// `text` as one line, without its newline.
    pub fn line(&self, text: &str) -> String {
        let mut spaced = String::with_capacity(text.len() + text.len() / 8);
        for c in text.chars() {
            if self.split_punctuation && is_punctuation(c) {
                spaced.push(' ');
                spaced.push(c);
                spaced.push(' ');
            } else if self.lowercase && c.is_uppercase() {
                spaced.extend(c.to_lowercase());
            } else {
                spaced.push(c);
            }
        }
        let mut line = String::with_capacity(spaced.len());
        for token in spaced.split_whitespace() {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(match token.strip_prefix("__") {
                Some(rest) if token.starts_with(LABEL_PREFIX) => rest,
                _ => token,
            });
        }
        line
    }
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            c,
            '\u{2018}'..='\u{201F}' | '\u{2026}' | '\u{2013}' | '\u{2014}' | '«' | '»' | '¡' | '¿'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_lowercases_splits_punctuation_and_joins_lines() {
        let p = Preprocess::STANDARD;
        assert_eq!(
            p.line("  FREE entry!!\nWin £100,  call “now”…\t"),
            "free entry ! ! win £100 , call “ now ” …"
        );
        assert_eq!(p.line("Straße ÉTÉ"), "straße été");
        assert_eq!(p.line(""), "");
    }

    #[test]
    fn nothing_but_whitespace_without_options() {
        let p = Preprocess::default();
        assert_eq!(p.line("Hello,\r\n World!"), "Hello, World!");
    }

    #[test]
    fn text_cannot_smuggle_a_label() {
        let line = Preprocess::default().line("buy __label__ham now");
        assert_eq!(line, "buy label__ham now");
        let punct = Preprocess::STANDARD.line("__label__ham");
        assert!(
            !punct.split(' ').any(|t| t.starts_with(LABEL_PREFIX)),
            "{punct}"
        );
    }
}
