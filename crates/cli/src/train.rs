//! The recipe's `[train]` section: run after a successful `atelier run`, or alone with
//! `atelier train`, on top of `atelier-train`.

use anyhow::{Context, Result, bail};
use atelier_core::Recipe;
use atelier_store::{Kind, ProjectLock, Store};
use atelier_train::{MODEL_ALIAS, TrainOutcome, TrainRequest, TrainSettings, train_model};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::commands::load;
use crate::versions::project_dir;

/// The recipe's `[train]` section, when it has one (with located errors).
pub fn settings(recipe: &Recipe) -> Result<Option<TrainSettings>> {
    let settings: Option<TrainSettings> = recipe
        .section("train")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(s) = &settings
        && let Err(problems) = s.validate()
    {
        bail!(
            "{}: [train]: {}",
            recipe.path.display(),
            problems.join("; ")
        );
    }
    Ok(settings)
}

/// Trains the recipe's model on a dataset version (the newest when `dataset` is
/// `None`) and prints the evaluation and the bill.
pub fn train(recipe: &Recipe, dataset: Option<&str>, out: &mut impl Write) -> Result<TrainOutcome> {
    let Some(train) = settings(recipe)? else {
        bail!("{} has no [train] section", recipe.path.display());
    };
    let project = project_dir(&recipe.path);
    let _lock = ProjectLock::acquire(
        &project,
        &format!("atelier train {}", recipe.path.display()),
    )?;
    let store = Store::open(&project)
        .with_context(|| format!("opening the store of {}", project.display()))?;
    let name = dataset.unwrap_or("latest");
    let version = store.resolve(name)?;
    if version.kind != Kind::Dataset {
        bail!("{name} is a model version ({}), not a dataset", version.id);
    }
    let bill = crate::bill::settings(recipe)?;
    let bar = crate::progress::TrainingBar::new("train");
    let outcome = train_model(&TrainRequest {
        recipe,
        settings: &train,
        bill: &bill,
        store: &store,
        dataset: &version,
        progress: Some(&|p| bar.report(p)),
    })
    .with_context(|| format!("training on {} of {}", version.id, recipe.path.display()))?;
    drop(bar);
    // The run's bill, training included, for `atelier bill` to print the same.
    let bill_file = crate::bill::bill_file(recipe);
    if bill_file.parent().is_some_and(Path::is_dir) {
        std::fs::write(&bill_file, outcome.bill.to_json())
            .with_context(|| format!("writing {}", bill_file.display()))?;
    }
    print_outcome(out, &outcome)?;
    Ok(outcome)
}

/// `atelier train`.
pub fn command(recipe: &Path, dataset: Option<&str>, json: bool) -> Result<ExitCode> {
    let recipe = load(recipe)?;
    if json {
        let outcome = train(&recipe, dataset, &mut std::io::sink())?;
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, &outcome.model)?;
        writeln!(stdout)?;
    } else {
        train(&recipe, dataset, &mut std::io::stdout().lock())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_outcome(out: &mut impl Write, o: &TrainOutcome) -> std::io::Result<()> {
    let m = &o.model;
    let training = &m.metrics["training"];
    let mut aliases = vec![format!("`{MODEL_ALIAS}`")];
    aliases.extend(o.promoted.iter().map(|a| format!("`{a}`")));
    writeln!(out)?;
    if o.reused {
        writeln!(
            out,
            "model `{}` {} is up to date: same dataset ({}) and settings; its training \
             ({:.2} s CPU) was not redone",
            m.name,
            m.id,
            m.trained_on.join(", "),
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
            m.name,
            m.id,
            aliases.join(", "),
            m.trained_on.join(", "),
            training["seconds"].as_f64().unwrap_or(0.0),
            training["threads"],
        )?;
    }
    let c = &o.counts;
    writeln!(
        out,
        "{} documents: {} train, {} validation, {} test; {} without a class, {} empty",
        c.documents, c.train, c.validation, c.test, c.unlabelled, c.empty
    )?;
    let e = &o.evaluation;
    writeln!(
        out,
        "test accuracy {:.4} on {} documents (macro F1 {:.4}){}",
        e.accuracy,
        e.examples,
        e.macro_f1,
        if e.unknown_labels > 0 {
            format!(
                "; {} test documents of classes never trained on",
                e.unknown_labels
            )
        } else {
            String::new()
        }
    )?;
    write!(out, "{}", e.to_text())?;
    if let Some(why) = &o.not_promoted {
        writeln!(out, "{why}")?;
    }
    writeln!(out)?;
    write!(out, "{}", o.bill.to_text())
}
