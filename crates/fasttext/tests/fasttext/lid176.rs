//! The shipped reference model `models/lid.176.ftz` against values recorded from
//! fastText itself.

use atelier_fasttext::{LossKind, Model};
use std::path::PathBuf;

fn lid() -> Model {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/lid.176.ftz");
    Model::load(path).expect("the shipped model loads")
}

/// Top three labels and probabilities from fastText 0.9.2 (PyPI `fasttext-wheel`),
/// recorded with
/// `fasttext.FastText._FastText("models/lid.176.ftz").f.predict(text + "\n", 3, 0.0, "strict")`
/// (what `model.predict(text, k=3)` computes; the low-level call avoids numpy).
const RECORDED: &[(&str, [(&str, f64); 3])] = &[
    (
        "The quick brown fox jumps over the lazy dog.",
        [
            ("en", 0.6974507570266724),
            ("es", 0.04621101915836334),
            ("pt", 0.02520005963742733),
        ],
    ),
    (
        "Le chat dort sur le canapé du salon.",
        [
            ("fr", 0.9383392333984375),
            ("eo", 0.03277505189180374),
            ("de", 0.011631069704890251),
        ],
    ),
    (
        "Der Hund schläft im Garten.",
        [
            ("de", 0.9895054697990417),
            ("bar", 0.003622189862653613),
            ("nl", 0.002578979590907693),
        ],
    ),
    (
        "El perro duerme en el jardín.",
        [
            ("es", 0.9347665905952454),
            ("ca", 0.029912807047367096),
            ("ast", 0.009347298182547092),
        ],
    ),
    (
        "这是一个关于语言识别的测试。",
        [
            ("zh", 0.999911904335022),
            ("sr", 0.00010540911898715422),
            ("wuu", 4.379960228106938e-05),
        ],
    ),
    (
        "これは言語識別のテストです。",
        [
            ("ja", 1.000024676322937),
            ("es", 1.5727982827229425e-05),
            ("zh", 1.4053489394427743e-05),
        ],
    ),
    (
        "ภาษาไทยเป็นภาษาที่สวยงาม",
        [
            ("th", 0.9996405839920044),
            ("ca", 0.00015726221317891032),
            ("bn", 0.000105720704596024),
        ],
    ),
    (
        "Привет, как дела?",
        [
            ("ru", 0.9599800705909729),
            ("sr", 0.011184482835233212),
            ("bg", 0.006413994822651148),
        ],
    ),
    (
        "",
        [
            ("en", 0.12450417876243591),
            ("ca", 0.08594832569360733),
            ("de", 0.0802881047129631),
        ],
    ),
    (
        // fastText stops reading a line at a literal `</s>`.
        "hello </s> bonjour le monde",
        [
            ("en", 0.24247202277183533),
            ("fr", 0.0951116755604744),
            ("ru", 0.04881114512681961),
        ],
    ),
];

#[test]
fn lid176_is_a_quantized_hierarchical_softmax_model() {
    let model = lid();
    assert!(model.is_quantized());
    assert_eq!(model.args().loss, LossKind::HierarchicalSoftmax);
    assert_eq!((model.args().minn, model.args().maxn), (2, 4));
    assert_eq!(model.labels().len(), 176);
    assert!(model.dictionary().is_pruned());
}

#[test]
fn predictions_match_fasttext() {
    let model = lid();
    for (text, expected) in RECORDED {
        let got = model.predict(text, 3, 0.0);
        assert_eq!(got.len(), 3, "{text:?}");
        for ((label, prob), (want_label, want_prob)) in got.iter().zip(expected) {
            assert_eq!(
                label.strip_prefix("__label__"),
                Some(*want_label),
                "{text:?}: {got:?}"
            );
            assert!(
                (f64::from(*prob) - want_prob).abs() < 1e-6,
                "{text:?}: {label} {prob} vs {want_prob}"
            );
        }
    }
}

#[test]
fn k_and_threshold_limit_the_answer() {
    let model = lid();
    let text = "The quick brown fox jumps over the lazy dog.";
    let all = model.predict(text, usize::MAX, 0.0);
    // fastText leaves out labels below its floor log(1e-5): 168 of 176 for "x".
    assert_eq!(model.predict("x", usize::MAX, 0.0).len(), 168);
    assert!(all.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
    let above = model.predict(text, usize::MAX, 0.04);
    assert_eq!(
        above.iter().map(|p| p.0).collect::<Vec<_>>(),
        ["__label__en", "__label__es"]
    );
    assert!(model.predict(text, 0, 0.0).is_empty());
    assert!(model.predict(text, 1, 0.9).is_empty());
}

#[test]
fn newline_ends_the_line() {
    let model = lid();
    assert_eq!(
        model.predict("Der Hund schläft im Garten.\nThe quick brown fox", 1, 0.0),
        model.predict("Der Hund schläft im Garten.", 1, 0.0)
    );
}

#[test]
fn truncated_or_foreign_files_are_errors_not_panics() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/lid.176.ftz");
    let bytes = std::fs::read(path).unwrap();
    for cut in [0, 3, 8, 60, 1000, 200_000, bytes.len() - 1] {
        assert!(Model::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut foreign = bytes.clone();
    foreign[0] ^= 1;
    assert!(matches!(
        Model::from_bytes(&foreign),
        Err(atelier_fasttext::Error::BadMagic(_))
    ));
    let mut newer = bytes;
    newer[4] = 13;
    assert!(matches!(
        Model::from_bytes(&newer),
        Err(atelier_fasttext::Error::Version(13))
    ));
}
