//! `atelier bill`, `atelier estimate` and `atelier report`, on top of `atelier-bill`.

use anyhow::{Context, Result, bail};
use atelier_bill::report::{self, ReportInput};
use atelier_bill::{Bill, BillSettings, Hardware, Summary, render_bill};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::project::Project;

/// The bill of the last run, as `atelier run` printed it: the output's `bill.json` when
/// the run went on to a training (written after its `summary.json`), else the dataset
/// run's, from `summary.json`. One computation, whoever prints it.
fn last_bill(project: &Project) -> Result<Bill> {
    let summary_path = summary_file(project);
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let bill_path = project.bill_file();
    if let (Some(bill_time), Some(summary_time)) = (modified(&bill_path), modified(&summary_path))
        && bill_time >= summary_time
        && let Some(bill) = std::fs::read(&bill_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Bill>(&b).ok())
    {
        return Ok(bill);
    }
    Ok(render_bill(&summary(project)?, &project.bill)?)
}

/// Where a finished run leaves its summary: the output folder's `summary.json`.
fn summary_file(project: &Project) -> PathBuf {
    project.recipe.output.path.join("summary.json")
}

fn summary(project: &Project) -> Result<Summary> {
    let path = summary_file(project);
    if !path.exists() {
        bail!(
            "{} has no finished run yet ({} is missing): run `atelier run` first",
            project.recipe.path.display(),
            path.display()
        );
    }
    Ok(Summary::load(&path)?)
}

/// The dataset version `latest` names, and the evaluation of the newest model trained
/// on it.
struct LatestDataset {
    /// The version's id.
    version: String,
    /// The newest model's evaluation on its test documents, when a model was trained on
    /// this version.
    evaluation: Option<report::Evaluation>,
}

/// The project's `latest` dataset version, when it has one.
fn latest_dataset(project: &Project) -> Option<LatestDataset> {
    let dir = project.dir();
    if !atelier_store::state_dir(&dir).join("versions").is_dir() {
        return None;
    }
    let store = atelier_store::Store::open(&dir).ok()?;
    let dataset = store.alias("latest").ok()??;
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
    Some(LatestDataset {
        version: dataset,
        evaluation,
    })
}

/// `atelier bill`.
pub fn bill(recipe: &Path, json: bool, country: Option<&str>) -> Result<ExitCode> {
    let project = Project::load(recipe)?;
    let mut bill = last_bill(&project)?;
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
pub fn estimate(args: &EstimateArgs) -> Result<ExitCode> {
    let settings = match &args.recipe {
        Some(path) => Project::load(path)?.bill,
        None => BillSettings::default(),
    };
    let mut hardware = Hardware::from_settings(&args.gpu, &settings);
    hardware.gpus = args.gpus.unwrap_or(hardware.gpus);
    hardware.mfu = args.mfu.unwrap_or(hardware.mfu);
    hardware.eur_per_gpu_hour = args.eur_per_gpu_hour.unwrap_or(hardware.eur_per_gpu_hour);
    hardware.eur_per_kwh = args.eur_per_kwh.unwrap_or(hardware.eur_per_kwh);
    hardware.pue = args.pue.unwrap_or(hardware.pue);
    if let Some(country) = &args.country {
        hardware.country.clone_from(country);
    }
    let estimate = match (args.params, args.budget) {
        (Some(n), None) => atelier_bill::plan(n, args.tokens.unwrap_or(20.0 * n), &hardware)?,
        (None, Some(eur)) => atelier_bill::for_budget(eur, &hardware)?,
        _ => bail!("give either --params (with --tokens, default 20 per parameter) or --budget"),
    };
    if args.json {
        println!("{}", estimate.to_json());
    } else {
        print!("{}", estimate.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

/// `atelier report`.
pub fn report(recipe: &Path, output: Option<&Path>) -> Result<ExitCode> {
    let project = Project::load(recipe)?;
    let output_dir = &project.recipe.output.path;
    let summary = summary(&project)?;
    let bill = last_bill(&project)?;
    let scan = report::scan_shards(&summary.shards)?;
    let latest = latest_dataset(&project);
    let tokens = crate::tokens::report_section(&output_dir.join(atelier_tokens::FOLDER));
    let page = report::html(&ReportInput {
        dataset: &summary.dataset,
        version: latest.as_ref().map(|l| l.version.as_str()),
        stats: &summary.stats,
        bill: Some(&bill),
        languages: Some(&scan.languages),
        lengths: Some(&scan.lengths),
        evaluation: latest.as_ref().and_then(|l| l.evaluation.as_ref()),
        tokens: tokens.as_ref(),
    })?;
    let path = output.map_or_else(|| output_dir.join("report.html"), Path::to_path_buf);
    std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}
