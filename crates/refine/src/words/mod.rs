//! Splitting text into words for the quality rules.
//!
//! datatrove counts English words with spaCy's blank English tokenizer, so the default
//! here is a faithful port of it ([`english`]): punctuation marks are words of their
//! own, contractions split (`do`, `n't`), URLs stay whole. Text in scripts written
//! without spaces (Chinese, Japanese, Thai, Lao, Khmer, Burmese, Tibetan) would come
//! out as a few huge "words" that way, so [`WordSplit::Auto`] splits such documents with
//! ICU4X's word segmenter instead: Unicode word boundaries (UAX #29), with ICU's
//! dictionaries for Chinese, Japanese, Thai, Lao, Khmer and Burmese, so that `北京是中华
//! 人民共和国的首都` becomes `北京 是 中华 人民 共和国 的 首都`; punctuation stays a word of
//! its own.

pub mod english;

use std::cell::RefCell;

use icu_segmenter::WordSegmenter;
use icu_segmenter::options::WordBreakInvariantOptions;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the quality rules split text into words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WordSplit {
    /// English rules, except for documents whose `metadata.language` (or, without one,
    /// whose letters) are of a language written without spaces: those use `unicode`.
    #[default]
    Auto,
    /// spaCy's English tokenizer, as datatrove's filters use for English.
    English,
    /// Unicode word boundaries (UAX #29) with ICU's dictionaries for the languages
    /// written without spaces; whitespace dropped.
    Unicode,
}

/// The last text split on a thread, how, and its words as byte ranges.
struct LastSplit {
    split: WordSplit,
    language: Option<String>,
    text: String,
    spans: Vec<(usize, usize)>,
}

thread_local! {
    static LAST_SPLIT: RefCell<LastSplit> = const {
        RefCell::new(LastSplit {
            split: WordSplit::Auto,
            language: None,
            text: String::new(),
            spans: Vec::new(),
        })
    };
}

/// Languages (ISO 639 codes of fastText's `lid.176` and FineWeb-2) written without
/// spaces between words.
const SPACELESS: &[&str] = &["zh", "ja", "th", "lo", "km", "my", "bo", "wuu", "yue", "dz"];

/// Whether `c` belongs to a script written without spaces between words.
fn spaceless_script(c: char) -> bool {
    matches!(u32::from(c),
        0x0E00..=0x0EFF     // Thai, Lao
        | 0x0F00..=0x0FFF   // Tibetan
        | 0x1000..=0x109F   // Myanmar
        | 0x1780..=0x17FF   // Khmer
        | 0x3040..=0x30FF   // Hiragana, Katakana
        | 0x3400..=0x4DBF   // CJK extension A
        | 0x4E00..=0x9FFF   // CJK unified ideographs
        | 0xF900..=0xFAFF   // CJK compatibility ideographs
        | 0x20000..=0x3134F)
}

impl WordSplit {
    /// The rule that applies to one document.
    pub fn resolve(self, text: &str, language: Option<&str>) -> WordSplit {
        match self {
            WordSplit::Auto => {
                let spaceless = match language {
                    Some(lang) => SPACELESS.contains(&lang),
                    None => {
                        // Look at the first 2,000 letters: most of them in such scripts.
                        let (mut letters, mut spaceless) = (0usize, 0usize);
                        for c in text.chars().filter(|c| c.is_alphabetic()).take(2000) {
                            letters += 1;
                            spaceless += usize::from(spaceless_script(c));
                        }
                        spaceless * 2 > letters
                    }
                };
                if spaceless {
                    WordSplit::Unicode
                } else {
                    WordSplit::English
                }
            }
            other => other,
        }
    }

    /// The words of one document; `language` is its `metadata.language`, if any.
    ///
    /// The rules of one chain (Gopher repetition and quality, FineWeb) ask for the
    /// words of the same text one after the other, so each thread remembers the last
    /// text it split and answers again from it.
    pub fn words<'a>(self, text: &'a str, language: Option<&str>) -> Vec<&'a str> {
        let remembered = LAST_SPLIT.with_borrow(|last| {
            (last.split == self && last.language.as_deref() == language && last.text == text).then(
                || {
                    last.spans
                        .iter()
                        .map(|&(start, end)| &text[start..end])
                        .collect()
                },
            )
        });
        if let Some(words) = remembered {
            return words;
        }
        let words = self.resolve(text, language).split(text);
        LAST_SPLIT.with_borrow_mut(|last| {
            last.split = self;
            last.language = language.map(str::to_owned);
            last.text.clear();
            last.text.push_str(text);
            last.spans.clear();
            let base = text.as_ptr() as usize;
            last.spans.extend(words.iter().map(|w| {
                let start = w.as_ptr() as usize - base;
                (start, start + w.len())
            }));
        });
        words
    }

    /// The words of `text` by a resolved split (`English` or `Unicode`).
    fn split(self, text: &str) -> Vec<&str> {
        match self {
            WordSplit::Unicode => {
                let segmenter = WordSegmenter::new_dictionary(WordBreakInvariantOptions::default());
                let mut words = Vec::new();
                let mut start = 0;
                for end in segmenter.segment_str(text) {
                    let word = &text[start..end];
                    if !word.is_empty() && !word.chars().all(english::is_space) {
                        words.push(word);
                    }
                    start = end;
                }
                words
            }
            _ => english::words(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaceless_scripts_split_at_word_boundaries() {
        let zh = WordSplit::Auto.words("北京是中华人民共和国的首都。", None);
        assert_eq!(
            zh,
            ["北京", "是", "中华", "人民", "共和国", "的", "首都", "。"]
        );
        let ja = WordSplit::Auto.words("東京は日本の首都です。スカイツリー", None);
        assert_eq!(
            ja,
            [
                "東京",
                "は",
                "日本",
                "の",
                "首都",
                "です",
                "。",
                "スカイツリー"
            ]
        );
        let th = WordSplit::Auto.words("ประเทศไทย และเป็นศูนย์กลาง", None);
        assert!(th.contains(&"ประเทศไทย") && th.contains(&"และ"), "{th:?}");
        assert!(th.iter().all(|w| !w.trim().is_empty()));
    }

    #[test]
    fn the_remembered_split_answers_only_for_the_same_text_and_settings() {
        let text = "東京は日本の首都です。";
        let english = WordSplit::English.words(text, None);
        // The same text split again, then the same text with another rule or language:
        // each must give its own words, not the last answer.
        assert_eq!(WordSplit::English.words(text, None), english);
        let unicode = WordSplit::Auto.words(text, None);
        assert_ne!(unicode, english);
        assert_eq!(WordSplit::Auto.words(text, Some("en")), english);
        assert_eq!(WordSplit::Auto.words(text, Some("ja")), unicode);
        // Another text in between, and a text that only starts like the last one.
        assert_eq!(WordSplit::English.words("a b", None), ["a", "b"]);
        assert_eq!(WordSplit::English.words("a b c", None), ["a", "b", "c"]);
        assert_eq!(WordSplit::English.words("", None), Vec::<&str>::new());
        // Words are slices of the text asked about, not of the remembered copy.
        let owned = String::from("a b c");
        let words = WordSplit::English.words(&owned, None);
        assert!(
            words
                .iter()
                .all(|w| owned.as_bytes().as_ptr_range().contains(&w.as_ptr()))
        );
    }

    #[test]
    fn metadata_language_decides_before_letters() {
        assert_eq!(
            WordSplit::Auto.resolve("hello", Some("ja")),
            WordSplit::Unicode
        );
        assert_eq!(
            WordSplit::Auto.resolve("这是", Some("en")),
            WordSplit::English
        );
        assert_eq!(
            WordSplit::Auto.resolve("hello world", None),
            WordSplit::English
        );
        assert_eq!(WordSplit::English.resolve("这是", None), WordSplit::English);
    }
}
