//! The bundled example's `[train]` section through the binary: `atelier run` ends with a
//! model version, its test accuracy and the bill; `atelier train` trains it alone.

use crate::common::{atelier, example_recipe, stderr, stdout};

#[test]
fn the_bundled_example_ends_with_a_spam_filter_and_its_bill() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = example_recipe(dir.path(), "");
    let r = recipe.to_str().unwrap();
    let out = atelier(&["run", r, "--workers", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("model `spam-filter` v2 (now `model`, `prod`): trained on v1"),
        "{text}"
    );
    let accuracy: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("test accuracy "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no test accuracy in {text}"));
    assert!(accuracy > 0.9, "{accuracy}");
    let bill = text
        .split("bill of `spam` and model `spam-filter`")
        .nth(1)
        .expect("the bill follows");
    for step in [
        "read",
        "extract",
        "pii",
        "language",
        "length",
        "gopher_repetition",
        "dedup",
        "write",
        "train",
        "total",
    ] {
        assert!(
            bill.lines().any(|l| l.starts_with(step)),
            "no `{step}` row in {bill}"
        );
    }
    let model_file = dir.path().join("out/model/model.bin");
    assert!(model_file.is_file());

    // The model predicts through the classifier commands.
    let probe = dir.path().join("probe.txt");
    std::fs::write(&probe, "free money ! claim your prize now , click here\n").unwrap();
    let out = atelier(&[
        "classifier",
        "predict",
        model_file.to_str().unwrap(),
        probe.to_str().unwrap(),
    ]);
    assert_eq!(stdout(&out).trim(), "__label__spam", "{}", stderr(&out));

    // Again: nothing new to train.
    let out = atelier(&["train", r]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("model `spam-filter` v2 is up to date"),
        "{}",
        stdout(&out)
    );
    // The report shows the model's evaluation.
    let out = atelier(&["report", r]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = std::fs::read_to_string(dir.path().join("out/dataset/report.html")).unwrap();
    assert!(
        page.contains("Model <code>spam-filter v2"),
        "no model in the report"
    );
    assert!(page.contains("<td>test accuracy</td>"));
    let shown = stdout(&atelier(&["show", "model", "-p", r]));
    assert!(shown.contains("trained on: v1"), "{shown}");
    assert!(
        !shown.contains("sources:"),
        "a model has datasets, not files: {shown}"
    );
    let out = atelier(&["versions", "-p", r]);
    let listing = stdout(&out);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("v2") && l.contains("model") && l.contains("prod")),
        "{listing}"
    );
}

#[test]
fn train_settings_are_checked_with_the_recipe() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = example_recipe(dir.path(), "");
    let text = std::fs::read_to_string(&recipe)
        .unwrap()
        .replace("epoch = 25", "epochs = 25")
        .replace(
            "label_pattern = \"(spam|ham)\"",
            "label_pattern = \"(spam\"",
        );
    std::fs::write(&recipe, text).unwrap();
    let out = atelier(&["check", recipe.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("epochs"), "{err}");

    let text = std::fs::read_to_string(&recipe)
        .unwrap()
        .replace("epochs = 25", "epoch = 25");
    std::fs::write(&recipe, text).unwrap();
    let out = atelier(&["check", recipe.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("[train]: `label_pattern` is not a regular expression"),
        "{err}"
    );

    let out = atelier(&["train", dir.path().join("missing.toml").to_str().unwrap()]);
    assert!(!out.status.success());
}

/// The bill part of `atelier run`'s output.
fn bill_of(text: &str) -> String {
    let start = text
        .find("bill of `")
        .unwrap_or_else(|| panic!("no bill in {text}"));
    text[start..].to_owned()
}

#[test]
fn a_rerun_bills_what_it_reused_and_atelier_bill_prints_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = example_recipe(dir.path(), "");
    let r = recipe.to_str().unwrap();
    let first = atelier(&["run", r, "--workers", "2"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let billed = stdout(&atelier(&["bill", r]));
    assert_eq!(
        bill_of(&stdout(&first)),
        billed,
        "one computation of the bill"
    );

    let again = atelier(&["run", r, "--workers", "2"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let bill = bill_of(&stdout(&again));
    assert!(
        bill.starts_with("bill of `spam` and model `spam-filter`: 4 task(s), 4 resumed"),
        "{bill}"
    );
    let train = bill.lines().find(|l| l.starts_with("train")).unwrap();
    let reused_eur = train.split_whitespace().last().unwrap();
    assert_ne!(
        reused_eur, "0",
        "the training found done is reused: {train}"
    );
    assert!(bill.contains("reused from earlier runs"), "{bill}");
    assert_eq!(
        stdout(&atelier(&["bill", r])),
        bill,
        "`atelier bill` prints the run's bill"
    );

    let json: serde_json::Value =
        serde_json::from_slice(&atelier(&["bill", r, "--json"]).stdout).unwrap();
    assert_eq!(json["dataset"], "spam");
    assert_eq!(json["model"], "spam-filter");
}
