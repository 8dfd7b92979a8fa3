//! Training, writing, quantizing and evaluating, on synthetic data made here: two or
//! three topics, each with its own words, mixed with shared filler words.

use atelier_fasttext::{LossKind, Matrix, Model, QuantizeArgs, TrainArgs, Trained, train};

/// A tiny deterministic generator, so that the data never changes.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n
    }
}

const TOPICS: [(&str, &[&str]); 3] = [
    (
        "sport",
        &[
            "match", "goal", "team", "score", "coach", "league", "player",
        ],
    ),
    (
        "food",
        &[
            "recipe", "bake", "oven", "flour", "sugar", "dinner", "taste",
        ],
    ),
    (
        "tech",
        &[
            "laptop", "kernel", "compile", "server", "network", "code", "chip",
        ],
    ),
];
const FILLER: &[&str] = &["the", "a", "of", "and", "to", "is", "it", "we", "you", "on"];

/// `n` lines over the first `topics` topics: `__label__T` then eight words, about a
/// third of them from the topic.
fn lines(n: usize, topics: usize, seed: u64) -> Vec<(usize, String)> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|_| {
            let t = rng.next(topics);
            let words: Vec<&str> = (0..8)
                .map(|_| {
                    if rng.next(3) == 0 {
                        TOPICS[t].1[rng.next(TOPICS[t].1.len())]
                    } else {
                        FILLER[rng.next(FILLER.len())]
                    }
                })
                .collect();
            (t, words.join(" "))
        })
        .collect()
}

fn labelled(lines: &[(usize, String)]) -> Vec<u8> {
    lines
        .iter()
        .map(|(t, text)| format!("__label__{} {text}\n", TOPICS[*t].0))
        .collect::<String>()
        .into_bytes()
}

fn small_args() -> TrainArgs {
    TrainArgs {
        dim: 16,
        epoch: 10,
        lr: 0.5,
        threads: 1,
        bucket: 10_000,
        ..TrainArgs::default()
    }
}

fn accuracy(model: &Model, test: &[(usize, String)]) -> f64 {
    let right = test
        .iter()
        .filter(|(t, text)| {
            let want = format!("__label__{}", TOPICS[*t].0);
            model.predict(text, 1, 0.0)[0].0 == want
        })
        .count();
    right as f64 / test.len() as f64
}

fn trained(args: &TrainArgs, data: &[u8]) -> Trained {
    train(args, data).expect("training succeeds")
}

#[test]
fn every_loss_learns_the_topics() {
    let data = labelled(&lines(600, 3, 1));
    let test = lines(300, 3, 2);
    for loss in [
        LossKind::Softmax,
        LossKind::NegativeSampling,
        LossKind::HierarchicalSoftmax,
        LossKind::OneVsAll,
    ] {
        let args = TrainArgs {
            loss,
            ..small_args()
        };
        let t = trained(&args, &data);
        let acc = accuracy(&t.model, &test);
        // A line holds about 2.7 topic words; a model that learned nothing scores 1/3.
        assert!(acc > 0.9, "{loss:?}: accuracy {acc}");
        assert_eq!(t.model.args().loss, loss);
        assert_eq!(t.stats.labels, 3);
        assert!(t.stats.loss.is_finite() && t.stats.loss > 0.0);
    }
}

#[test]
fn one_vs_all_learns_several_labels_per_line() {
    // Lines about sport and food carry both labels.
    let mut rng = Lcg(5);
    let mut data = String::new();
    for _ in 0..600 {
        let (a, b) = (rng.next(2), rng.next(2));
        let mut words = vec![TOPICS[0].1[rng.next(7)], FILLER[rng.next(10)]];
        let mut labels = vec!["__label__sport"];
        if a == 0 {
            words = vec![TOPICS[1].1[rng.next(7)], FILLER[rng.next(10)]];
            labels = vec!["__label__food"];
        }
        if b == 0 {
            words.push(TOPICS[a].1[rng.next(7)]);
            words.push(TOPICS[1 - a].1[rng.next(7)]);
            labels = vec!["__label__sport", "__label__food"];
        }
        data.push_str(&format!("{} {}\n", labels.join(" "), words.join(" ")));
    }
    let args = TrainArgs {
        loss: LossKind::OneVsAll,
        ..small_args()
    };
    let model = trained(&args, data.as_bytes()).model;
    let both = model.predict("goal oven", 2, 0.5);
    assert_eq!(both.len(), 2, "{both:?}");
    let one = model.predict("goal the", 2, 0.5);
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(one[0].0, "__label__sport");
}

#[test]
fn one_thread_and_one_seed_give_one_model() {
    let data = labelled(&lines(300, 3, 3));
    let args = TrainArgs {
        word_ngrams: 2,
        minn: 2,
        maxn: 4,
        ..small_args()
    };
    let a = trained(&args, &data).model.to_bytes();
    let b = trained(&args, &data).model.to_bytes();
    assert!(a == b, "same seed, different models");
    let other = TrainArgs { seed: 7, ..args };
    let c = trained(&other, &data).model.to_bytes();
    assert!(a != c, "another seed gave the same model");
}

#[test]
fn threads_share_the_matrices_and_still_learn() {
    let data = labelled(&lines(2000, 3, 4));
    let test = lines(300, 3, 5);
    let args = TrainArgs {
        threads: 4,
        word_ngrams: 2,
        ..small_args()
    };
    let t = trained(&args, &data);
    assert!(accuracy(&t.model, &test) > 0.9);
    // Every token of every epoch, give or take a thread's last lrUpdateRate tokens.
    let lines = t.stats.lines.examples;
    let per_epoch = lines as f64;
    assert!(
        t.stats.steps as f64 >= per_epoch * 10.0 * 0.95,
        "{:?}",
        t.stats
    );
}

#[test]
fn n_gram_rows_are_the_ones_prediction_reads() {
    let data = labelled(&lines(400, 3, 6));
    let args = TrainArgs {
        word_ngrams: 3,
        minn: 3,
        maxn: 5,
        ..small_args()
    };
    let model = trained(&args, &data).model;
    assert_eq!(model.args().bucket, 10_000);
    let dict = model.dictionary();
    let rows = dict.line_rows("coach goal");
    let nwords = dict.nwords() as i32;
    // Two words with their char n-grams, </s>, then word bigrams and trigrams.
    let (words, ngrams): (Vec<i32>, Vec<i32>) = rows.iter().partition(|&&r| r < nwords);
    assert_eq!(words.len(), 3);
    assert!(ngrams.len() > 10, "{rows:?}");
    // Character n-grams carry an unseen word towards its topic.
    assert_eq!(model.predict("coaches", 1, 0.0)[0].0, "__label__sport");
    assert_eq!(model.predict("ovens", 1, 0.0)[0].0, "__label__food");
    // Buckets are used only when asked for.
    let plain = trained(&small_args(), &data).model;
    assert_eq!(plain.args().bucket, 0);
    assert_eq!(plain.input().rows(), plain.dictionary().nwords());
}

#[test]
fn a_written_model_reads_back_the_same() {
    let data = labelled(&lines(300, 3, 7));
    let args = TrainArgs {
        word_ngrams: 2,
        minn: 2,
        maxn: 3,
        loss: LossKind::HierarchicalSoftmax,
        ..small_args()
    };
    let model = trained(&args, &data).model;
    let bytes = model.to_bytes();
    let back = Model::from_bytes(&bytes).unwrap();
    assert_eq!(back.args(), model.args());
    assert_eq!(back.labels(), model.labels());
    assert_eq!(back.dictionary().ntokens(), model.dictionary().ntokens());
    for (_, text) in lines(50, 3, 8) {
        assert_eq!(back.predict(&text, 3, 0.0), model.predict(&text, 3, 0.0));
    }
    assert!(back.to_bytes() == bytes);
    // A file: written under a temporary name, with the zero rows as holes, read back
    // byte for byte.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bin");
    model.save(&path).unwrap();
    assert!(std::fs::read(&path).unwrap() == bytes);
    assert!(!dir.path().join("model.bin.tmp").exists());
    assert!(Model::load(&path).unwrap().to_bytes() == bytes);
}

#[test]
fn pretrained_vectors_start_the_words() {
    let data = labelled(&lines(200, 3, 9));
    let dir = tempfile::tempdir().unwrap();
    let vec_path = dir.path().join("words.vec");
    // "unseen" is in no training line; it joins the dictionary with its vector, which
    // no gradient reaches.
    std::fs::write(
        &vec_path,
        "3 4\ngoal 1 0 0 0\nunseen 0.5 0.25 -1 2\n__label__x 1 1 1 1\n",
    )
    .unwrap();
    let args = TrainArgs {
        dim: 4,
        pretrained: Some(vec_path.clone()),
        ..small_args()
    };
    let model = trained(&args, &data).model;
    let dict = model.dictionary();
    let id = dict
        .id(b"unseen")
        .expect("pretrained words join the dictionary");
    assert!(id < dict.nwords());
    let mut row = vec![0.0; 4];
    model.input().add_row_to(&mut row, id);
    assert_eq!(row, [0.5, 0.25, -1.0, 2.0]);
    assert!(
        dict.id(b"__label__x").is_none(),
        "no label from the vectors"
    );
    assert_eq!(model.labels().len(), 3);
    let wrong = TrainArgs {
        dim: 5,
        pretrained: Some(vec_path),
        ..small_args()
    };
    let err = train(&wrong, &data).unwrap_err().to_string();
    assert!(err.contains("dimension of pretrained vectors (4)"), "{err}");
}

#[test]
fn warm_start_carries_what_the_previous_model_learned() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("v1.bin");
    // The previous version knew two topics.
    trained(&small_args(), &labelled(&lines(600, 2, 20)))
        .model
        .save(&first)
        .unwrap();
    // The new data adds a third; a learning rate too small to learn anything in one
    // epoch shows what the start alone is worth.
    let data = labelled(&lines(600, 3, 21));
    let test: Vec<_> = lines(600, 3, 22)
        .into_iter()
        .filter(|(t, _)| *t < 2)
        .collect();
    let barely = TrainArgs {
        epoch: 1,
        lr: 1e-6,
        ..small_args()
    };
    let cold = trained(&barely, &data).model;
    let warm_args = TrainArgs {
        warm_start: Some(first.clone()),
        ..barely.clone()
    };
    let warm = trained(&warm_args, &data).model;
    let (cold_acc, warm_acc) = (accuracy(&cold, &test), accuracy(&warm, &test));
    assert!(warm_acc > 0.9, "warm start: {warm_acc}");
    assert!(cold_acc < 0.7, "cold start: {cold_acc}");
    assert_eq!(warm.labels().len(), 3, "the new label joins");
    // A word both dictionaries hold starts from its old row.
    let old = Model::load(&first).unwrap();
    let row = |m: &Model, word: &[u8]| {
        let mut v = vec![0.0; 16];
        m.input()
            .add_row_to(&mut v, m.dictionary().id(word).unwrap());
        v
    };
    let (before, after) = (row(&old, b"goal"), row(&warm, b"goal"));
    let moved: f32 = before.iter().zip(&after).map(|(a, b)| (a - b).abs()).sum();
    assert!(moved < 1e-3, "row moved by {moved}");

    let wrong = TrainArgs {
        dim: 8,
        warm_start: Some(first),
        ..small_args()
    };
    let err = train(&wrong, &data).unwrap_err().to_string();
    assert!(err.contains("dim 16"), "{err}");
}

#[test]
fn progress_rises_to_the_end() {
    let data = labelled(&lines(2000, 3, 30));
    for threads in [1, 2] {
        let seen = std::sync::Mutex::new(Vec::new());
        let args = TrainArgs {
            threads,
            ..small_args()
        };
        atelier_fasttext::train_with_progress(&args, &data, &|p| seen.lock().unwrap().push(p))
            .unwrap();
        let seen = seen.into_inner().unwrap();
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
        assert_eq!(seen.last(), Some(&1.0), "{seen:?}");
    }
}

#[test]
fn lines_without_labels_and_empty_lines_are_counted_and_left_out() {
    let mut data = labelled(&lines(200, 3, 10));
    data.extend_from_slice(b"no label on this line\n\n   \t \n__label__food\n");
    data.extend_from_slice(b"goal goal __label__sport\n"); // a label may come last
    let t = trained(&small_args(), &data);
    assert_eq!(t.stats.lines.lines, 205);
    assert_eq!(t.stats.lines.examples, 202);
    assert_eq!(t.stats.lines.unlabeled, 1);
    assert_eq!(t.stats.lines.empty, 2);
    // Words of unlabelled lines are still words of the dictionary, as in fastText.
    assert!(t.model.dictionary().id(b"this").is_some());
}

#[test]
fn data_without_labels_or_bad_arguments_are_refused() {
    let err = train(&small_args(), b"just words\nand more\n").unwrap_err();
    assert!(err.to_string().contains("no labels"), "{err}");
    let err = train(&small_args(), b"").unwrap_err();
    assert!(err.to_string().contains("no labels"), "{err}");
    let bad = TrainArgs {
        lr: -1.0,
        dim: 0,
        minn: 5,
        maxn: 3,
        ..small_args()
    };
    let err = train(&bad, b"__label__a x\n").unwrap_err().to_string();
    for part in [
        "lr must be positive",
        "dim must be at least 1",
        "minn 5 is above maxn 3",
    ] {
        assert!(err.contains(part), "{err}");
    }
    let diverging = TrainArgs {
        lr: 1e30,
        ..small_args()
    };
    let err = train(&diverging, &labelled(&lines(100, 3, 11))).unwrap_err();
    assert!(err.to_string().contains("diverged"), "{err}");
}

#[test]
fn invalid_utf8_is_bytes_like_any_other() {
    let mut data = Vec::new();
    for i in 0..200 {
        if i % 2 == 0 {
            data.extend_from_slice(b"__label__latin caf\xe9 cr\xe8me na\xefve \xff\xfe\n");
        } else {
            data.extend_from_slice(b"__label__ascii plain words only here\n");
        }
    }
    let args = TrainArgs {
        minn: 2,
        maxn: 4,
        ..small_args()
    };
    let model = trained(&args, &data).model;
    assert!(model.dictionary().id(b"caf\xe9").is_some());
    let mut p = model.predictor();
    let best = p.predict_bytes(b"caf\xe9 \xff\xfe", 1, 0.0)[0].label;
    assert_eq!(model.label(best), "__label__latin");
    let bytes = model.to_bytes();
    assert!(Model::from_bytes(&bytes).unwrap().to_bytes() == bytes);
}

#[test]
fn a_ten_megabyte_line_trains_and_predicts() {
    let mut data = labelled(&lines(100, 3, 12));
    let mut long = String::new();
    while long.len() < 10 << 20 {
        long.push_str(["goal ", "team ", "score "][long.len() % 3]);
    }
    data.extend_from_slice(b"__label__sport ");
    data.extend_from_slice(long.as_bytes());
    data.push(b'\n');
    // One word of ten megabytes, too: no character n-grams, so it is one row.
    data.extend_from_slice(b"__label__food ");
    data.extend(std::iter::repeat_n(b'x', 10 << 20));
    data.push(b'\n');
    let args = TrainArgs {
        word_ngrams: 2,
        epoch: 2,
        ..small_args()
    };
    let t = trained(&args, &data);
    assert_eq!(t.stats.lines.examples, 102);
    assert_eq!(t.model.predict(&long, 1, 0.0)[0].0, "__label__sport");
    assert!(t.stats.tokens > (10 << 20) / 6);
}

#[test]
fn test_counts_like_fasttext_and_sets_unknown_labels_apart() {
    let data = labelled(&lines(600, 3, 13));
    let model = trained(&small_args(), &data).model;
    let test_lines = lines(200, 3, 14);
    let mut test = labelled(&test_lines);
    test.extend_from_slice(b"__label__weather rain goal\n");
    test.extend_from_slice(b"no label here\n\n");
    let meter = model.test(&test, 1, 0.0, 2);
    assert_eq!(meter.examples, 200);
    assert_eq!(meter.unknown_labels, 1);
    assert_eq!(meter.unlabeled, 2);
    let right = test_lines
        .iter()
        .filter(|(t, text)| {
            model.predict(text, 1, 0.0)[0].0 == format!("__label__{}", TOPICS[*t].0)
        })
        .count() as u64;
    assert_eq!(meter.all.predicted_gold, right);
    assert_eq!(meter.all.predicted, 200);
    assert_eq!(meter.precision(), meter.recall());
    let confusion_total: u64 = meter.confusion.iter().flatten().sum();
    assert_eq!(confusion_total, 200);
    let diagonal: u64 = (0..3).map(|i| meter.confusion[i][i]).sum();
    assert_eq!(diagonal, right);
    // k = 2 predicts two labels per line: recall can only grow, precision halves at most.
    let two = model.test(&test, 2, 0.0, 1);
    assert_eq!(two.all.predicted, 400);
    assert!(two.recall() >= meter.recall());
    // One thread or several: the same counts.
    assert_eq!(model.test(&test, 1, 0.0, 1), meter);
}

#[test]
fn quantized_models_are_small_and_predict_alike() {
    let data = labelled(&lines(1500, 3, 15));
    let test = lines(300, 3, 16);
    let args = TrainArgs {
        word_ngrams: 2,
        bucket: 1_000,
        dim: 8,
        ..small_args()
    };
    let model = trained(&args, &data).model;
    let dense = model.to_bytes();
    for qargs in [
        QuantizeArgs {
            threads: 2,
            ..QuantizeArgs::default()
        },
        QuantizeArgs {
            cutoff: 600,
            retrain: true,
            qnorm: true,
            threads: 1,
            ..QuantizeArgs::default()
        },
    ] {
        let q = model.quantize(&qargs, Some(&data)).unwrap();
        assert!(q.is_quantized());
        let bytes = q.to_bytes();
        // Four bytes per value become one byte per two values, plus 256 centroids.
        assert!(
            bytes.len() < dense.len() * 3 / 5,
            "{} vs {}",
            bytes.len(),
            dense.len()
        );
        let back = Model::from_bytes(&bytes).unwrap();
        let Matrix::Quant(input) = back.input() else {
            panic!("a quantized input matrix")
        };
        assert_eq!(input.quantizer().nsubq(), 4);
        assert_eq!(input.has_norms(), qargs.qnorm);
        assert!(back.to_bytes() == bytes);
        assert_eq!(back.dictionary().is_pruned(), qargs.cutoff > 0);
        let acc = accuracy(&back, &test);
        assert!(acc > 0.85, "{qargs:?}: {acc}");
        // Same seed, same quantized model (k-means on any number of threads).
        assert!(model.quantize(&qargs, Some(&data)).unwrap().to_bytes() == bytes);
    }
    let err = model
        .quantize(
            &QuantizeArgs {
                cutoff: 100,
                retrain: true,
                ..QuantizeArgs::default()
            },
            None,
        )
        .unwrap_err();
    assert!(err.to_string().contains("training data"), "{err}");
    let q = model.quantize(&QuantizeArgs::default(), None).unwrap();
    let err = q.quantize(&QuantizeArgs::default(), None).unwrap_err();
    assert!(err.to_string().contains("quantized already"), "{err}");
    // 256 rows at least: a model with fewer words and no buckets cannot be quantized.
    let tiny = trained(&small_args(), &data).model;
    let err = tiny.quantize(&QuantizeArgs::default(), None).unwrap_err();
    assert!(err.to_string().contains("at least 256"), "{err}");
}

#[test]
fn autotune_keeps_the_best_trial_and_what_is_fixed() {
    use atelier_fasttext::{Autotune, Fixed, autotune};
    use std::time::Duration;
    let data = labelled(&lines(400, 3, 20));
    let valid = labelled(&lines(150, 3, 21));
    // A poor start: one epoch at a tiny learning rate.
    let start = TrainArgs {
        lr: 0.01,
        epoch: 1,
        ..small_args()
    };
    let first = train(&start, &data).unwrap().model.test(&valid, 1, 0.0, 1);
    let tune = Autotune {
        duration: Duration::from_secs(3),
        fixed: Fixed {
            dim: true,
            ..Fixed::default()
        },
        ..Autotune::default()
    };
    let tuned = autotune(&start, &data, &valid, &tune).unwrap();
    assert!(tuned.trials >= 1);
    assert!(
        tuned.score >= first.precision() - 1e-9,
        "{} < {}",
        tuned.score,
        first.precision()
    );
    assert_eq!(tuned.args.dim, start.dim);
    assert_eq!(tuned.trained.model.args().dim, start.dim as i32);
    // The returned model was trained with the returned arguments.
    assert_eq!(tuned.trained.model.args().epoch, tuned.args.epoch as i32);
    let by_label = Autotune {
        duration: Duration::from_millis(200),
        label: Some("nosuchlabel".into()),
        ..Autotune::default()
    };
    let err = autotune(&start, &data, &valid, &by_label).unwrap_err();
    assert!(err.to_string().contains("nosuchlabel"), "{err}");
}

#[test]
fn autotune_with_a_model_size_makes_a_quantized_model_that_fits() {
    use atelier_fasttext::{Autotune, Fixed, autotune};
    use std::time::Duration;
    let data = labelled(&lines(400, 3, 31));
    let valid = labelled(&lines(150, 3, 32));
    let start = TrainArgs {
        dim: 8,
        word_ngrams: 2,
        ..small_args()
    };
    let tune = Autotune {
        duration: Duration::from_secs(2),
        fixed: Fixed {
            dim: true,
            bucket: true,
            ..Fixed::default()
        },
        model_size: Some(20_000),
        ..Autotune::default()
    };
    let tuned = autotune(&start, &data, &valid, &tune).unwrap();
    assert!(tuned.trained.model.is_quantized());
    let q = tuned.quantized.as_ref().expect("quantized to fit");
    assert!(q.qnorm && q.retrain && !q.qout, "{q:?}");
    // fastText's estimate: 20,000 bytes less the centroids and the output matrix, at
    // 4 + 1 + 10 bytes a row.
    assert!(q.cutoff > 256 && q.cutoff < 1_000, "{q:?}");
    let bytes = tuned.trained.model.to_bytes();
    assert!(bytes.len() <= 20_000, "{} bytes", bytes.len());
    assert!(tuned.score > 0.8, "{}", tuned.score);

    // A size that no model fits.
    let tight = Autotune {
        duration: Duration::from_millis(500),
        model_size: Some(5_000),
        ..tune
    };
    let err = autotune(&start, &data, &valid, &tight).unwrap_err();
    assert!(err.to_string().contains("model size"), "{err}");
}
