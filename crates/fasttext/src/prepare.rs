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
        let mut line = String::with_capacity(text.len() + text.len() / 8);
        self.line_into(text, &mut line);
        line
    }

    /// As [`line`](Self::line), into `out` (cleared first), in one pass: a server keeps
    /// one buffer for all the texts of a request.
    pub fn line_into(&self, text: &str, out: &mut String) {
        out.clear();
        // Where the token being written starts in `out`, if one is open.
        let mut token: Option<usize> = None;
        let close = |out: &mut String, token: &mut Option<usize>| {
            if let Some(start) = token.take()
                && out[start..].starts_with(LABEL_PREFIX)
            {
                out.replace_range(start..start + 2, "");
            }
        };
        for c in text.chars() {
            if c.is_whitespace() {
                close(out, &mut token);
                continue;
            }
            let alone = self.split_punctuation && is_punctuation(c);
            if alone {
                close(out, &mut token);
            }
            if token.is_none() {
                if !out.is_empty() {
                    out.push(' ');
                }
                token = Some(out.len());
            }
            if self.lowercase && c.is_uppercase() {
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
            if alone {
                token = None;
            }
        }
        close(out, &mut token);
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
    fn one_buffer_serves_many_texts() {
        let mut buf = String::from("left over");
        Preprocess::STANDARD.line_into("A, b", &mut buf);
        assert_eq!(buf, "a , b");
        Preprocess::STANDARD.line_into(" \n ", &mut buf);
        assert_eq!(buf, "");
    }

    #[test]
    fn text_cannot_smuggle_a_label() {
        let line = Preprocess::default().line("buy __label__ham now __label__");
        assert_eq!(line, "buy label__ham now label__");
        let lower = Preprocess {
            lowercase: true,
            split_punctuation: false,
        };
        assert_eq!(lower.line("__LABEL__Spam x"), "label__spam x");
        let punct = Preprocess::STANDARD.line("__label__ham");
        assert!(
            !punct.split(' ').any(|t| t.starts_with(LABEL_PREFIX)),
            "{punct}"
        );
    }
}
