//! Truncated and corrupted model files: a clear error, never a panic.

use atelier_fasttext::{Error, Model, QuantizeArgs, TrainArgs, train};

fn model_bytes(quantized: bool) -> Vec<u8> {
    let mut data = String::new();
    for i in 0..300 {
        let (label, word) = if i % 2 == 0 {
            ("a", "alpha")
        } else {
            ("b", "beta")
        };
        data.push_str(&format!("__label__{label} {word} w{} common\n", i % 37));
    }
    let args = TrainArgs {
        dim: 4,
        epoch: 2,
        threads: 1,
        word_ngrams: 2,
        minn: 2,
        maxn: 3,
        bucket: 300,
        loss: atelier_fasttext::LossKind::HierarchicalSoftmax,
        ..TrainArgs::default()
    };
    let model = train(&args, data.as_bytes()).unwrap().model;
    if quantized {
        let q = QuantizeArgs {
            cutoff: 280,
            qnorm: true,
            threads: 1,
            ..QuantizeArgs::default()
        };
        model.quantize(&q, None).unwrap().to_bytes()
    } else {
        model.to_bytes()
    }
}

#[test]
fn every_truncation_is_an_error() {
    for quantized in [false, true] {
        let bytes = model_bytes(quantized);
        assert!(Model::from_bytes(&bytes).is_ok());
        for len in 0..bytes.len() {
            match Model::from_bytes(&bytes[..len]) {
                Err(Error::Truncated(_) | Error::BadMagic(_) | Error::Invalid(_)) => {}
                Err(other) => panic!("cut at {len}: unexpected error {other}"),
                Ok(_) => panic!("a model cut at {len} of {} bytes loaded", bytes.len()),
            }
        }
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    for quantized in [false, true] {
        let bytes = model_bytes(quantized);
        // Every byte of the header, arguments and dictionary, then a sample of the
        // rest, set to values that break sizes, codes and counts.
        let head = 600.min(bytes.len());
        let positions = (0..head).chain((head..bytes.len()).step_by(97));
        for pos in positions {
            for value in [0x00, 0xff, 0x7f, 0x80] {
                let mut broken = bytes.clone();
                if broken[pos] == value {
                    continue;
                }
                broken[pos] = value;
                if let Ok(model) = Model::from_bytes(&broken) {
                    // What loads must also predict without panicking.
                    model.predict("alpha w3 common", 2, 0.0);
                    model.predict("zzz", 1, 0.0);
                }
            }
        }
    }
}

#[test]
fn errors_say_what_is_wrong() {
    let bytes = model_bytes(false);
    let err = Model::from_bytes(b"not a model at all").unwrap_err();
    assert!(err.to_string().contains("not a fastText model"), "{err}");
    let mut version = bytes.clone();
    version[4] = 99;
    let err = Model::from_bytes(&version).unwrap_err();
    assert!(err.to_string().contains("version 99"), "{err}");
    let err = Model::from_bytes(&bytes[..bytes.len() - 1]).unwrap_err();
    assert!(err.to_string().contains("ends inside"), "{err}");
    let err = Model::load("/nonexistent/model.bin").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/model.bin"), "{err}");
}

#[test]
fn files_load_as_bytes_do_truncated_or_whole() {
    let dir = tempfile::tempdir().unwrap();
    for quantized in [false, true] {
        let bytes = model_bytes(quantized);
        let path = dir.path().join("m");
        std::fs::write(&path, &bytes).unwrap();
        assert!(Model::load(&path).unwrap().to_bytes() == bytes);
        for len in (0..bytes.len()).step_by(7) {
            std::fs::write(&path, &bytes[..len]).unwrap();
            let err = Model::load(&path).expect_err("a truncated file loads");
            assert!(
                matches!(
                    err,
                    Error::Truncated(_) | Error::BadMagic(_) | Error::Invalid(_)
                ),
                "cut at {len}: {err}"
            );
        }
    }
}

#[test]
fn a_matrix_larger_than_the_first_read_loads_whole() {
    // 400,000 buckets of 4 values: 6.4 MB, beyond the first megabyte that load reads.
    let data = b"__label__a alpha beta\n__label__b gamma delta\n".repeat(20);
    let args = TrainArgs {
        dim: 4,
        epoch: 1,
        threads: 1,
        word_ngrams: 2,
        bucket: 400_000,
        ..TrainArgs::default()
    };
    let bytes = train(&args, &data).unwrap().model.to_bytes();
    assert!(bytes.len() > 6_000_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, &bytes).unwrap();
    let loaded = Model::load(&path).unwrap();
    assert!(loaded.to_bytes() == bytes);
    assert_eq!(loaded.predict("alpha beta", 1, 0.0)[0].0, "__label__a");
    for cut in [2_000_000, bytes.len() - 50, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = Model::load(&path).unwrap_err();
        assert!(matches!(err, Error::Truncated(_)), "cut at {cut}: {err}");
    }
}

#[test]
fn a_huge_column_count_is_refused_before_allocating() {
    // Found by the fuzzer: a dense matrix of 0 rows and 2^31 columns made a 8 GB row of
    // zeros. Column counts above the largest dimension are invalid.
    let mut bytes = model_bytes(false);
    let model = Model::from_bytes(&bytes).unwrap();
    let header = bytes.len() - model_matrix_bytes(&model);
    // Rows 0, columns 2^31, at the input matrix's shape.
    bytes[header..header + 8].copy_from_slice(&0i64.to_le_bytes());
    bytes[header + 8..header + 16].copy_from_slice(&(1i64 << 31).to_le_bytes());
    let err = Model::from_bytes(&bytes).unwrap_err();
    assert!(err.to_string().contains("column count"), "{err}");
}

/// The bytes of a dense model's two matrices and the flag between them.
fn model_matrix_bytes(model: &Model) -> usize {
    let dense = |m: &atelier_fasttext::Matrix| 16 + m.rows() * m.cols() * 4;
    dense(model.input()) + 1 + dense(model.output_matrix())
}

#[test]
fn a_dictionary_larger_than_the_first_read_loads_whole() {
    // 150,000 distinct words: a dictionary of about 2.5 MB, past the first megabyte
    // that load reads, where its size first looks too large for what is in memory.
    let mut data = String::new();
    for i in 0..150_000 {
        data.push_str(&format!("__label__{} word{i} shared\n", i % 2));
    }
    let args = TrainArgs {
        dim: 2,
        epoch: 1,
        threads: 2,
        ..TrainArgs::default()
    };
    let model = train(&args, data.as_bytes()).unwrap().model;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    model.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(Model::load(&path).unwrap().to_bytes() == bytes);
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    assert!(matches!(Model::load(&path), Err(Error::Truncated(_))));
}

#[test]
fn label_counts_past_the_huffman_sentinel_do_not_panic() {
    // Found by the fuzzer (target load_model): a hierarchical-softmax model whose label
    // counts exceed the count fastText gives nodes not merged yet made building the tree
    // index past its end.
    let bytes = include_bytes!("../data/fuzz/huffman-counts-past-the-sentinel.bin");
    if let Ok(model) = Model::from_bytes(bytes) {
        let _ = model.predict("the quick brown fox", 2, 0.0);
        let again = Model::from_bytes(&model.to_bytes()).unwrap();
        assert!(again.to_bytes() == model.to_bytes());
    }
}

#[test]
fn a_word_stored_among_the_labels_is_refused() {
    // Found by the fuzzer (target load_model): the header counted 7 words, but a word
    // entry came after them, so prediction asked the input matrix for row 7 of 7.
    let bytes = include_bytes!("../data/fuzz/word-among-the-labels.bin");
    let err = Model::from_bytes(bytes).unwrap_err().to_string();
    assert!(
        err.contains("is a word, but the header counts 7 words"),
        "{err}"
    );
}
