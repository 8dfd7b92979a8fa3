//! The recipe's `[train]` section: run after a successful `atelier run`, or alone with
//! `atelier train`, on top of `atelier-train`.

use anyhow::{Context, Result, bail};
use atelier_store::{Kind, ProjectLock, Store};
use atelier_train::{MODEL_ALIAS, TrainOutcome, TrainRequest, train_model};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::project::Project;

/// Trains the recipe's model on a dataset version (the newest when `dataset` is
/// `None`) and prints the evaluation and the bill.
pub fn train(
    project: &Project,
    dataset: Option<&str>,
    out: &mut impl Write,
) -> Result<TrainOutcome> {
    let recipe = &project.recipe;
    let Some(train) = &project.train else {
        bail!("{} has no [train] section", recipe.path.display());
    };
    let dir = project.dir();
    let _lock = ProjectLock::acquire(&dir, &format!("atelier train {}", recipe.path.display()))?;
    let store =
        Store::open(&dir).with_context(|| format!("opening the store of {}", dir.display()))?;
    let name = dataset.unwrap_or("latest");
    let version = store.resolve(name)?;
    if version.kind != Kind::Dataset {
        bail!("{name} is a model version ({}), not a dataset", version.id);
    }
    let bar = crate::progress::TrainingBar::new("train");
    let outcome = train_model(&TrainRequest {
        recipe,
        settings: train,
        bill: &project.bill,
        store: &store,
        dataset: &version,
        progress: Some(&|p| bar.report(p)),
    })
    .with_context(|| format!("training on {} of {}", version.id, recipe.path.display()))?;
    drop(bar);
    // The run's bill, training included, for `atelier bill` to print the same.
    let bill_file = project.bill_file();
    if bill_file.parent().is_some_and(Path::is_dir) {
        std::fs::write(&bill_file, outcome.bill.to_json())
            .with_context(|| format!("writing {}", bill_file.display()))?;
    }
    print_outcome(out, &outcome)?;
    Ok(outcome)
}

/// `atelier train`.
pub fn command(recipe: &Path, dataset: Option<&str>, json: bool) -> Result<ExitCode> {
    let project = Project::load(recipe)?;
    if json {
        let outcome = train(&project, dataset, &mut std::io::sink())?;
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, &outcome.model)?;
        writeln!(stdout)?;
    } else {
        train(&project, dataset, &mut std::io::stdout().lock())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_outcome(out: &mut impl Write, outcome: &TrainOutcome) -> std::io::Result<()> {
    let model = &outcome.model;
    let training = &model.metrics["training"];
    let mut aliases = vec![format!("`{MODEL_ALIAS}`")];
    aliases.extend(outcome.promoted.iter().map(|a| format!("`{a}`")));
    writeln!(out)?;
    if outcome.reused {
        writeln!(
            out,
            "model `{}` {} is up to date: same dataset ({}) and settings; its training \
             ({:.2} s CPU) was not redone",
            model.name,
            model.id,
            model.trained_on.join(", "),
            training["cpu_seconds"].as_f64().unwrap_or(0.0),
        )?;
    } else {
        let warm = training["warm_start_from"]
            .as_str()
            .map(|v| format!(", warm-started from {v}"))
            .unwrap_or_default();
        writeln!(
            out,
            "model `{}` {} (now {}): trained on {} in {:.2} s ({} thread(s){warm})",
            model.name,
            model.id,
            aliases.join(", "),
            model.trained_on.join(", "),
            training["seconds"].as_f64().unwrap_or(0.0),
            training["threads"],
        )?;
    }
    let counts = &outcome.counts;
    writeln!(
        out,
        "{} documents: {} train, {} validation, {} test; {} without a class, {} empty",
        counts.documents,
        counts.train,
        counts.validation,
        counts.test,
        counts.unlabelled,
        counts.empty
    )?;
    let evaluation = &outcome.evaluation;
    writeln!(
        out,
        "test accuracy {:.4} on {} documents (macro F1 {:.4}){}",
        evaluation.accuracy,
        evaluation.examples,
        evaluation.macro_f1,
        if evaluation.unknown_labels > 0 {
            format!(
                "; {} test documents of classes never trained on",
                evaluation.unknown_labels
            )
        } else {
            String::new()
        }
    )?;
    write!(out, "{}", evaluation.to_text())?;
    if let Some(why) = &outcome.not_promoted {
        writeln!(out, "{why}")?;
    }
    writeln!(out)?;
    write!(out, "{}", outcome.bill.to_text())
}
