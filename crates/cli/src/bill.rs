//! `atelier bill`, `atelier estimate` and `atelier report`, on top of `atelier-bill`.

use anyhow::{Context, Result, bail};
use atelier_bill::report::{self, ReportInput};
use atelier_bill::{Bill, BillSettings, Hardware, Summary, render_bill};
use atelier_core::Recipe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::commands::load;

/// The recipe's `[bill]` settings (with located errors).
pub fn settings(recipe: &Recipe) -> Result<BillSettings> {
    let settings: BillSettings = recipe.section("bill").map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Err(problems) = settings.validate() {
        bail!("{}: [bill]: {}", recipe.path.display(), problems.join("; "));
    }
    Ok(settings)
}

/// Where the bill of a run with a training is kept: the output folder's `bill.json`.
pub fn bill_file(recipe: &Recipe) -> PathBuf {
    recipe.output.path.join("bill.json")
}

/// The bill of the last run, as `atelier run` printed it: the output's `bill.json` when
/// the run went on to a training (written after its `summary.json`), else the dataset
/// run's, from `summary.json`. One computation, whoever prints it.
fn last_bill(recipe: &Recipe) -> Result<Bill> {
    let summary_path = recipe.output.path.join("summary.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let bill_path = bill_file(recipe);
    if let (Some(bill_time), Some(summary_time)) = (modified(&bill_path), modified(&summary_path))
        && bill_time >= summary_time
        && let Some(bill) = std::fs::read(&bill_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Bill>(&b).ok())
    {
        return Ok(bill);
    }
    Ok(render_bill(&summary(recipe)?, &settings(recipe)?)?)
}

fn summary(recipe: &Recipe) -> Result<Summary> {
    let path = recipe.output.path.join("summary.json");
    if !path.exists() {
        bail!(
            "{} has no finished run yet ({} is missing): run `atelier run` first",
            recipe.path.display(),
            path.display()
        );
    }
    Ok(Summary::load(&path)?)
}

/// The dataset version `latest` names, and the evaluation of the newest model trained on
/// it, when the project has them.
fn model_evaluation(recipe: &Recipe) -> (Option<String>, Option<report::Evaluation>) {
    let project = crate::versions::project_dir(&recipe.path);
    if !atelier_store::state_dir(&project).join("versions").is_dir() {
        return (None, None);
    }
    let Ok(store) = atelier_store::Store::open(&project) else {
        return (None, None);
    };
    let Ok(Some(dataset)) = store.alias("latest") else {
        return (None, None);
    };
    let model = store.versions().ok().and_then(|versions| {
        versions
            .into_iter()
            .rev()
            .find(|m| m.kind == atelier_store::Kind::Model && m.trained_on.contains(&dataset))
    });
    let evaluation = model.and_then(|m| {
        let e: atelier_train::Evaluation =
            serde_json::from_value(m.metrics["test"].clone()).ok()?;
        let mut metrics = std::collections::BTreeMap::new();
        metrics.insert("test accuracy".to_owned(), e.accuracy);
        metrics.insert("macro F1".to_owned(), e.macro_f1);
        for (class, c) in &e.classes {
            metrics.insert(format!("F1 {class}"), c.f1);
        }
        Some(report::Evaluation {
            model: format!("{} {} ({} test documents)", m.name, m.id, e.examples),
            metrics,
            curve_label: String::new(),
            curve: Vec::new(),
        })
    });
    (Some(dataset), evaluation)
}

/// `atelier bill`.
pub fn bill(recipe: &Path, json: bool, country: Option<&str>) -> Result<ExitCode> {
    let recipe = load(recipe)?;
    let mut bill = last_bill(&recipe)?;
    if let Some(country) = country {
        bill = bill.compare(country)?;
    }
    if json {
        println!("{}", bill.to_json());
    } else {
        print!("{}", bill.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

/// What `atelier estimate` was asked.
#[derive(clap::Args)]
pub struct EstimateArgs {
    /// Model parameters (for example 7e9).
    #[arg(long, conflicts_with = "budget")]
    params: Option<f64>,
    /// Training tokens (default: 20 per parameter, compute-optimal).
    #[arg(long)]
    tokens: Option<f64>,
    /// A budget in euros: print the largest compute-optimal model it buys.
    #[arg(long)]
    budget: Option<f64>,
    /// GPU model: h100-sxm, h100-pcie, h200, a100-40gb, a100-80gb, l4, l40s, rtx-4090,
    /// mi300x.
    #[arg(long, default_value = "h100-sxm")]
    gpu: String,
    /// GPUs used at once.
    #[arg(long)]
    gpus: Option<u32>,
    /// Model FLOPs utilisation, between 0 and 1 (default 0.4).
    #[arg(long)]
    mfu: Option<f64>,
    /// Euros per GPU-hour.
    #[arg(long)]
    eur_per_gpu_hour: Option<f64>,
    /// Euros per kWh (0 when the GPU-hour price includes power).
    #[arg(long)]
    eur_per_kwh: Option<f64>,
    /// Power usage effectiveness of the data centre.
    #[arg(long)]
    pue: Option<f64>,
    /// Country of the grid, for the carbon (ISO code, or EU).
    #[arg(long)]
    country: Option<String>,
    /// Take prices and country from this recipe's [bill] section.
    #[arg(long)]
    recipe: Option<PathBuf>,
    /// Print the estimate as JSON.
    #[arg(long)]
    json: bool,
}

/// `atelier estimate`.
pub fn estimate(a: &EstimateArgs) -> Result<ExitCode> {
    let settings = match &a.recipe {
        Some(path) => settings(&load(path)?)?,
        None => BillSettings::default(),
    };
    let mut hw = Hardware::from_settings(&a.gpu, &settings);
    hw.gpus = a.gpus.unwrap_or(hw.gpus);
    hw.mfu = a.mfu.unwrap_or(hw.mfu);
    hw.eur_per_gpu_hour = a.eur_per_gpu_hour.unwrap_or(hw.eur_per_gpu_hour);
    hw.eur_per_kwh = a.eur_per_kwh.unwrap_or(hw.eur_per_kwh);
    hw.pue = a.pue.unwrap_or(hw.pue);
    if let Some(country) = &a.country {
        hw.country.clone_from(country);
    }
    let estimate = match (a.params, a.budget) {
        (Some(n), None) => atelier_bill::plan(n, a.tokens.unwrap_or(20.0 * n), &hw)?,
        (None, Some(eur)) => atelier_bill::for_budget(eur, &hw)?,
        _ => bail!("give either --params (with --tokens, default 20 per parameter) or --budget"),
    };
    if a.json {
        println!("{}", estimate.to_json());
    } else {
        print!("{}", estimate.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

/// `atelier report`.
pub fn report(recipe: &Path, output: Option<&Path>) -> Result<ExitCode> {
    let recipe = load(recipe)?;
    let summary = summary(&recipe)?;
    let bill = last_bill(&recipe)?;
    let scan = report::scan_shards(&summary.shards)?;
    let (version, evaluation) = model_evaluation(&recipe);
    let tokens = crate::tokens::report_section(&recipe.output.path.join(atelier_tokens::FOLDER));
    let page = report::html(&ReportInput {
        dataset: &summary.dataset,
        version: version.as_deref(),
        stats: &summary.stats,
        bill: Some(&bill),
        languages: Some(&scan.languages),
        lengths: Some(&scan.lengths),
        evaluation: evaluation.as_ref(),
        tokens: tokens.as_ref(),
    })?;
    let path = output.map_or_else(|| recipe.output.path.join("report.html"), Path::to_path_buf);
    std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}
