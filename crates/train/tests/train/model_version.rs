//! Training a model version from a dataset version in a real project store, on
//! synthetic mail: spam words against ham words, mixed with filler.

use atelier_bill::{Bill, BillSettings};
use atelier_core::{Recipe, Registry};
use atelier_fasttext::Model;
use atelier_store::{Kind, Manifest, NewVersion, Store};
use atelier_train::{
    MODEL_ALIAS, TrainError, TrainOutcome, TrainRequest, TrainSettings, train_model,
};
use serde_json::json;
use std::path::Path;

const SPAM: &[&str] = &[
    "winner", "prize", "free", "cash", "claim", "offer", "viagra",
];
const HAM: &[&str] = &[
    "meeting", "patch", "review", "lunch", "kernel", "thanks", "notes",
];
const FILLER: &[&str] = &["the", "a", "to", "and", "you", "we", "on", "for", "is"];

/// `n` documents, the class in `metadata.group` as the SpamAssassin reader writes it.
fn mail(n: usize, seed: u64) -> String {
    let mut state = seed;
    let mut next = |k: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) as usize) % k
    };
    let mut out = String::new();
    for i in 0..n {
        let spam = next(3) == 0;
        let words: Vec<&str> = (0..12)
            .map(|_| {
                let own = if spam { SPAM } else { HAM };
                if next(3) == 0 {
                    own[next(own.len())]
                } else {
                    FILLER[next(FILLER.len())]
                }
            })
            .collect();
        let group = if spam { "spam-2" } else { "easy-ham-1" };
        let doc = json!({
            "id": format!("{seed}-{i}"),
            "text": words.join(" "),
            "metadata": {"group": group, "subject": if spam { "WIN!" } else { "Re: notes" }},
        });
        out.push_str(&doc.to_string());
        out.push('\n');
    }
    out
}

/// A project with a recipe (its `[train]` section is `train`) and one dataset version.
fn project(dir: &Path, train: &str, docs: &str) -> (Recipe, Store, Manifest) {
    let recipe_path = dir.join("atelier.toml");
    std::fs::write(
        &recipe_path,
        format!(
            "[dataset]\nname = \"mail\"\n\n[[source]]\npath = \"in\"\n\n[output]\npath = \
             \"out/dataset\"\n\n[train]\n{train}\n"
        ),
    )
    .unwrap();
    let recipe = Recipe::load(&recipe_path, &Registry::new()).unwrap();
    let store = Store::open(dir).unwrap();
    let dataset = add_dataset(&store, dir, docs);
    (recipe, store, dataset)
}

fn add_dataset(store: &Store, dir: &Path, docs: &str) -> Manifest {
    let shard = dir.join(format!("part-{}.jsonl", docs.len()));
    std::fs::write(&shard, docs).unwrap();
    store
        .commit(NewVersion {
            name: "mail".into(),
            shards: vec![("part-00000.jsonl".into(), shard)],
            documents: docs.lines().count() as u64,
            aliases: vec!["latest".into()],
            ..NewVersion::default()
        })
        .unwrap()
}

fn settings(recipe: &Recipe) -> TrainSettings {
    let s: Option<TrainSettings> = recipe.section("train").unwrap();
    s.expect("the recipe has [train]")
}

fn train(recipe: &Recipe, store: &Store, dataset: &Manifest) -> Result<TrainOutcome, TrainError> {
    train_model(&TrainRequest {
        recipe,
        settings: &settings(recipe),
        bill: &BillSettings::default(),
        store,
        dataset,
        progress: None,
    })
}

const BASIC: &str = "label = \"group\"\nlabel_pattern = \"(spam|ham)\"\nprepend = [\"subject\"]\n\
                     lr = 0.5\nepoch = 10\ndim = 16\nbucket = 10000\nword_ngrams = 2\n\
                     threads = 1\npromote = \"prod\"\nmin_accuracy = 0.9\n";

#[test]
fn a_dataset_version_becomes_an_evaluated_model_version() {
    let dir = tempfile::tempdir().unwrap();
    let (recipe, store, dataset) = project(dir.path(), BASIC, &mail(1000, 1));
    let outcome = train(&recipe, &store, &dataset).unwrap();
    assert!(!outcome.reused);
    let c = &outcome.counts;
    assert_eq!(c.documents, 1000);
    assert_eq!(c.train + c.validation + c.test, 1000);
    assert!((150..250).contains(&c.test), "test split {}", c.test);
    assert_eq!(c.classes.keys().collect::<Vec<_>>(), ["ham", "spam"]);

    let e = &outcome.evaluation;
    assert_eq!(e.examples, c.test);
    assert!(e.accuracy > 0.95, "accuracy {}", e.accuracy);
    assert_eq!(e.labels.len(), 2);
    let confused: u64 = e.confusion.iter().flatten().sum();
    assert_eq!(
        confused, e.examples,
        "every test line is in the confusion matrix"
    );
    let right: u64 = (0..2).map(|i| e.confusion[i][i]).sum();
    assert!((right as f64 / e.examples as f64 - e.accuracy).abs() < 1e-9);
    assert_eq!(
        e.classes["spam"].support + e.classes["ham"].support,
        e.examples
    );

    // The version: a model of the dataset, aliased, with its metrics and its bill.
    let m = store.resolve("prod").unwrap();
    assert_eq!(m, outcome.model);
    assert_eq!(store.resolve(MODEL_ALIAS).unwrap().id, m.id);
    assert_eq!(
        (m.kind, m.trained_on.clone()),
        (Kind::Model, vec![dataset.id.clone()])
    );
    assert_eq!(m.metrics["test"]["accuracy"], json!(e.accuracy));
    assert_eq!(m.settings["preprocess"]["lowercase"], json!(true));
    let model = Model::load(store.version_dir(&m.id).join(&m.shards[0].path)).unwrap();
    assert_eq!(
        model.predict("claim your free cash prize", 1, 0.0)[0].0,
        "__label__spam"
    );
    let bill: Bill =
        serde_json::from_slice(&std::fs::read(store.version_dir(&m.id).join("bill.json")).unwrap())
            .unwrap();
    let step = bill.steps.last().unwrap();
    assert_eq!((step.name.as_str(), step.documents_in), ("train", 1000));
    assert!(step.total.cpu_seconds > 0.0 && step.total.kwh > 0.0);
    assert_eq!(bill.total.eur, outcome.bill.total.eur);
}

#[test]
fn the_same_settings_on_the_same_dataset_train_once() {
    let dir = tempfile::tempdir().unwrap();
    let (recipe, store, dataset) = project(dir.path(), BASIC, &mail(400, 2));
    let first = train(&recipe, &store, &dataset).unwrap();
    let again = train(&recipe, &store, &dataset).unwrap();
    assert!(again.reused);
    assert_eq!(again.model, first.model);
    assert_eq!(again.evaluation, first.evaluation);
    assert_eq!(store.versions().unwrap().len(), 2, "no new version");
    // New data is a new dataset version, and a new model.
    let grown = add_dataset(&store, dir.path(), &(mail(400, 2) + &mail(100, 3)));
    let next = train(&recipe, &store, &grown).unwrap();
    assert!(!next.reused);
    assert_eq!(next.model.parent.as_deref(), Some(first.model.id.as_str()));
    assert_eq!(next.model.trained_on, std::slice::from_ref(&grown.id));
}

#[test]
fn documents_keep_their_split_as_the_dataset_grows() {
    let dir = tempfile::tempdir().unwrap();
    let (recipe, store, dataset) = project(dir.path(), BASIC, &mail(500, 4));
    let first = train(&recipe, &store, &dataset).unwrap();
    let grown = add_dataset(&store, dir.path(), &(mail(500, 4) + &mail(500, 5)));
    let second = train(&recipe, &store, &grown).unwrap();
    // The first 500 documents fall on the same sides: the new test split holds the old
    // one plus new documents only.
    let old: Vec<_> = (0..500).map(|i| format!("4-{i}")).collect();
    let test = |id: &str| atelier_train::split_of(id, 0.1, 0.2) == atelier_train::Split::Test;
    let old_test = old.iter().filter(|id| test(id)).count() as u64;
    assert_eq!(old_test, first.counts.test);
    assert!(second.counts.test >= first.counts.test);
}

#[test]
fn a_model_below_min_accuracy_is_kept_but_not_promoted() {
    let dir = tempfile::tempdir().unwrap();
    let strict = BASIC
        .replace("min_accuracy = 0.9", "min_accuracy = 1.0")
        .replace("epoch = 10", "epoch = 1")
        .replace("lr = 0.5", "lr = 0.001");
    let (recipe, store, dataset) = project(dir.path(), &strict, &mail(400, 6));
    let outcome = train(&recipe, &store, &dataset).unwrap();
    assert!(outcome.evaluation.accuracy < 1.0);
    assert_eq!(outcome.promoted, None);
    let why = outcome.not_promoted.unwrap();
    assert!(why.contains("below min_accuracy 1"), "{why}");
    assert!(store.alias("prod").unwrap().is_none());
    assert_eq!(store.alias(MODEL_ALIAS).unwrap(), Some(outcome.model.id));
}

#[test]
fn warm_start_begins_from_the_previous_model_version() {
    let dir = tempfile::tempdir().unwrap();
    let (recipe, store, dataset) = project(dir.path(), BASIC, &mail(600, 7));
    let first = train(&recipe, &store, &dataset).unwrap();
    // One barely-moving epoch: only a warm start keeps the accuracy.
    let warm = BASIC
        .replace("epoch = 10", "epoch = 1")
        .replace("lr = 0.5", "lr = 0.00001")
        + "warm_start = true\n";
    let (recipe, _, _) = project(dir.path(), &warm, "");
    let outcome = train(&recipe, &store, &dataset).unwrap();
    assert_eq!(
        outcome.model.metrics["training"]["warm_start_from"],
        json!(first.model.id)
    );
    assert!(
        outcome.evaluation.accuracy > 0.9,
        "{}",
        outcome.evaluation.accuracy
    );
}

#[test]
fn documents_without_a_class_are_counted_and_nothing_to_train_on_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut docs = mail(300, 8);
    docs.push_str("{\"id\":\"x1\",\"text\":\"no group here\",\"metadata\":{}}\n");
    docs.push_str("{\"id\":\"x2\",\"text\":\"  \",\"metadata\":{\"group\":\"spam-1\"}}\n");
    let (recipe, store, dataset) = project(dir.path(), BASIC, &docs);
    let outcome = train(&recipe, &store, &dataset).unwrap();
    assert_eq!((outcome.counts.unlabelled, outcome.counts.empty), (1, 1));

    let nothing = BASIC.replace("(spam|ham)", "^nomatch");
    let (recipe, store, dataset) = project(dir.path(), &nothing, &docs);
    let err = train(&recipe, &store, &dataset).unwrap_err().to_string();
    assert!(
        err.contains("302 documents, 302 without `group` matching `^nomatch`"),
        "{err}"
    );
}
