//! Files written by official fastText and by atelier, with the predictions official
//! fastText (PyPI `fasttext-wheel` 0.9.2) made on each: atelier must predict exactly the
//! same labels with exactly the same probabilities. The atelier files were trained and
//! quantized by `atelier classifier`, so fastText's predictions on them show that
//! fastText reads what atelier writes. Made by `bench/classifier/compat.py`.

use atelier_fasttext::Model;
use serde_json::Value;
use std::path::PathBuf;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

#[test]
fn predictions_match_official_fasttext_both_ways() {
    let recorded: Value =
        serde_json::from_str(&std::fs::read_to_string(data().join("compat.json")).unwrap())
            .unwrap();
    let lines: Vec<&str> = recorded["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let models = recorded["models"].as_object().unwrap();
    assert_eq!(models.len(), 4);
    for (name, expected) in models {
        let model = Model::load(data().join(name)).unwrap();
        assert_eq!(model.is_quantized(), name.ends_with(".ftz"), "{name}");
        for (line, want) in lines
            .iter()
            .zip(expected["predictions"].as_array().unwrap())
        {
            let got = model.predict(line, usize::MAX, 0.0);
            let want: Vec<(&str, f32)> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_str().unwrap(), p[1].as_f64().unwrap() as f32))
                .collect();
            assert_eq!(got, want, "{name}: {line:?}");
        }
        // fastText's `test` on the same lines, labelled.
        let text: String = lines
            .iter()
            .zip(recorded["labels"].as_array().unwrap())
            .map(|(l, t)| format!("__label__{} {l}\n", t.as_str().unwrap()))
            .collect();
        let meter = model.test(text.as_bytes(), 1, 0.0, 1);
        assert_eq!(
            meter.examples,
            expected["test"]["N"].as_u64().unwrap(),
            "{name}"
        );
        let p = expected["test"]["P@1"].as_f64().unwrap();
        assert!(
            (meter.precision() - p).abs() < 1e-12,
            "{name}: {} vs {p}",
            meter.precision()
        );
    }
}

#[test]
fn atelier_writes_back_what_it_reads() {
    for name in ["fasttext.bin", "fasttext.ftz", "atelier.bin", "atelier.ftz"] {
        let bytes = std::fs::read(data().join(name)).unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        assert!(
            model.to_bytes() == bytes,
            "{name}: not written back byte for byte"
        );
    }
}
