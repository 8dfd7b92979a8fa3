//! A small dense model written byte by byte in fastText's format, to check reading,
//! n-gram rows and softmax prediction against a straightforward reference.

use atelier_fasttext::{Dictionary, LossKind, Model, hash};

const NWORDS: usize = 2;
const BUCKET: i32 = 7;

/// Writes a supervised softmax model: words `</s>`, `good`; labels `pos`, `neg`;
/// input row `r` is `[r, 1]`; output rows are `pos = [1, 0]`, `neg = [0, 1]`.
fn model_bytes(version: i32) -> Vec<u8> {
    let mut b = Vec::new();
    let i32s = |b: &mut Vec<u8>, v: &[i32]| v.iter().for_each(|x| b.extend(x.to_le_bytes()));
    i32s(&mut b, &[793_712_314, version]);
    // dim ws epoch minCount neg wordNgrams loss(softmax) model(sup) bucket minn maxn lrUpdateRate
    i32s(&mut b, &[2, 5, 1, 1, 5, 2, 3, 3, BUCKET, 2, 3, 100]);
    b.extend(1e-4f64.to_le_bytes());
    i32s(&mut b, &[4, NWORDS as i32, 2]);
    b.extend(20i64.to_le_bytes());
    b.extend((-1i64).to_le_bytes());
    for (word, count, kind) in [
        ("</s>", 10i64, 0u8),
        ("good", 5, 0),
        ("__label__pos", 3, 1),
        ("__label__neg", 2, 1),
    ] {
        b.extend(word.as_bytes());
        b.push(0);
        b.extend(count.to_le_bytes());
        b.push(kind);
    }
    b.push(0); // dense input
    let rows = NWORDS as i64 + i64::from(BUCKET);
    b.extend(rows.to_le_bytes());
    b.extend(2i64.to_le_bytes());
    for r in 0..rows {
        b.extend((r as f32).to_le_bytes());
        b.extend(1f32.to_le_bytes());
    }
    b.push(0); // dense output
    b.extend(2i64.to_le_bytes());
    b.extend(2i64.to_le_bytes());
    for v in [1f32, 0., 0., 1.] {
        b.extend(v.to_le_bytes());
    }
    b
}

/// Character n-grams by the book: every substring of 2..=3 characters of `<word>`
/// except the lone brackets, hashed whole.
fn reference_ngrams(word: &str) -> Vec<i32> {
    let chars: Vec<char> = format!("<{word}>").chars().collect();
    let mut rows = Vec::new();
    for i in 0..chars.len() {
        for n in 1..=3 {
            if i + n > chars.len() {
                break;
            }
            if n >= 2 {
                let s: String = chars[i..i + n].iter().collect();
                rows.push(NWORDS as i32 + (hash(s.as_bytes()) % BUCKET as u32) as i32);
            }
        }
    }
    rows
}

fn word_bigram(a: &str, b: &str) -> i32 {
    let h = (hash(a.as_bytes()) as i32 as i64 as u64)
        .wrapping_mul(116_049_371)
        .wrapping_add(hash(b.as_bytes()) as i32 as i64 as u64);
    NWORDS as i32 + (h % BUCKET as u64) as i32
}

fn dict(model: &Model) -> &Dictionary {
    model.dictionary()
}

#[test]
fn rows_are_words_char_ngrams_and_word_ngrams() {
    let model = Model::from_bytes(&model_bytes(12)).unwrap();
    assert_eq!(model.args().loss, LossKind::Softmax);
    assert_eq!(dict(&model).id(b"good"), Some(1));
    let mut want = vec![1];
    want.extend(reference_ngrams("good"));
    want.extend(reference_ngrams("né"));
    want.push(0); // </s>
    want.push(word_bigram("good", "né"));
    want.push(word_bigram("né", "</s>"));
    assert_eq!(dict(&model).line_rows("  good\tné "), want);
    // A token that looks like a label is no word: no rows, no hash for word n-grams.
    assert_eq!(
        dict(&model).line_rows("__label__x good"),
        dict(&model).line_rows("good")
    );
}

#[test]
fn softmax_prediction_is_the_mean_row_scored() {
    let model = Model::from_bytes(&model_bytes(12)).unwrap();
    let rows = dict(&model).line_rows("good");
    let mean0 = rows.iter().map(|&r| r as f64).sum::<f64>() / rows.len() as f64;
    // Scores: pos = mean0, neg = 1.
    let (pos, neg) = (mean0.exp(), 1f64.exp());
    let p_pos = pos / (pos + neg);
    let got = model.predict("good", 2, 0.0);
    let (best, other) = if p_pos > 0.5 {
        (("__label__pos", p_pos), ("__label__neg", 1.0 - p_pos))
    } else {
        (("__label__neg", 1.0 - p_pos), ("__label__pos", p_pos))
    };
    assert_eq!(got[0].0, best.0);
    assert_eq!(got[1].0, other.0);
    // fastText reports exp(log(p + 1e-5)).
    assert!(
        (f64::from(got[0].1) - (best.1 + 1e-5)).abs() < 1e-5,
        "{got:?}"
    );
    assert!(
        (f64::from(got[1].1) - (other.1 + 1e-5)).abs() < 1e-5,
        "{got:?}"
    );
}

#[test]
fn version_11_supervised_models_have_no_char_ngrams() {
    let model = Model::from_bytes(&model_bytes(11)).unwrap();
    assert_eq!(model.args().maxn, 0);
    assert_eq!(
        dict(&model).line_rows("good bad"),
        [1, 0, word_bigram("good", "bad"), word_bigram("bad", "</s>")]
    );
}
