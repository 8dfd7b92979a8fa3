//! Every refining step on text in scripts written without spaces (Chinese, Japanese,
//! Thai) and on odd input: no step fails or panics, and words come out as dictionary
//! words, not characters or whole sentences.

use atelier_core::{Document, StepConfig, Verdict};
use atelier_refine::words::WordSplit;
use atelier_refine::{
    C4Config, FineWebQualityConfig, GopherQualityConfig, GopherRepetitionConfig, LanguageConfig,
    LengthConfig, PiiConfig, UrlConfig,
};

const ZH: &str = "北京是中华人民共和国的首都，也是全国的政治和文化中心。这座城市有三千多年的历史，\
    留下了许多名胜古迹。每年都有大量游客来这里参观故宫、长城和天坛。";
const JA: &str = "東京は日本の首都であり、世界有数の大都市です。毎年たくさんの観光客がこの街を訪れます。\
    浅草寺やスカイツリーなど、見どころがたくさんあります。";
const TH: &str = "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย และเป็นศูนย์กลางทางเศรษฐกิจ \
    นักท่องเที่ยวจำนวนมากมาเยี่ยมชมวัดพระแก้วและพระบรมมหาราชวังทุกปี";

fn texts() -> Vec<String> {
    let mut texts: Vec<String> = [ZH, JA, TH].iter().map(|t| [*t; 8].join("\n")).collect();
    texts.push(format!("{ZH} Mixed English text, 東京 and ไทย. {TH}"));
    texts.extend(
        [
            "",
            "\n\n\n",
            "🙂🙂🙂 ??? ... ‼",
            "\u{0}\u{1}\u{7f} control",
            "a\u{300}\u{301}\u{302} combining",
            "x",
        ]
        .map(String::from),
    );
    texts
}

fn all_steps() -> Vec<Box<dyn atelier_core::Step>> {
    let mut steps = vec![
        LengthConfig::default().build().unwrap(),
        LanguageConfig::default().build().unwrap(),
        UrlConfig::default().build().unwrap(),
        PiiConfig::default().build().unwrap(),
        C4Config::default().build().unwrap(),
    ];
    for words in [WordSplit::Auto, WordSplit::English, WordSplit::Unicode] {
        steps.push(
            GopherRepetitionConfig {
                words,
                ..Default::default()
            }
            .build()
            .unwrap(),
        );
        steps.push(
            GopherQualityConfig {
                words,
                ..Default::default()
            }
            .build()
            .unwrap(),
        );
        steps.push(
            FineWebQualityConfig {
                words,
                ..Default::default()
            }
            .build()
            .unwrap(),
        );
    }
    steps
}

#[test]
fn no_step_fails_on_any_script() {
    for mut step in all_steps() {
        for text in texts() {
            let mut doc = Document::new("d", text.clone());
            doc.metadata
                .insert("url".into(), "https://例え.jp/パス".into());
            assert!(step.process(&mut doc).is_ok(), "{text:?}");
        }
    }
}

#[test]
fn spaceless_text_is_split_into_many_short_words() {
    for text in [ZH, JA, TH] {
        let words = WordSplit::Auto.words(text, None);
        let chars: usize = words.iter().map(|w| w.chars().count()).sum();
        assert!(
            chars <= words.len() * 5,
            "{} words of {chars} characters",
            words.len()
        );
        // The longest is กรุงเทพมหานคร (Bangkok), 13 code points with its vowel marks.
        let longest = words.iter().map(|w| w.chars().count()).max().unwrap();
        assert!(longest <= 13, "a {longest}-character word in {words:?}");
        // The English rules alone would make a few huge words of it.
        let english = WordSplit::English.words(text, None);
        assert!(english.len() < words.len() / 4, "{english:?}");
    }
}

#[test]
fn language_labels_spaceless_documents_and_auto_words_follow_it() {
    let mut lang = LanguageConfig::default().build().unwrap();
    for (text, code) in [(ZH, "zh"), (JA, "ja"), (TH, "th")] {
        let mut doc = Document::new("d", text);
        assert_eq!(lang.process(&mut doc).unwrap(), Verdict::Keep);
        assert_eq!(doc.meta_str("language"), Some(code));
        assert_eq!(
            WordSplit::Auto.resolve(text, doc.meta_str("language")),
            WordSplit::Unicode
        );
    }
}
