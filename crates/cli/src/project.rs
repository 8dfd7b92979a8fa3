//! A project as the command line sees it: its recipe read once, every section checked
//! together, and the typed settings each command takes from it.
//!
//! `atelier-core` parses the dataset sections (`[dataset]`, `[[source]]`, `[[step]]`,
//! `[output]`, `[executor]`); the other sections belong to other crates and are read
//! here with their owners' types: `[bill]`, `[train]`, `[tokenize]` and `[lm]`, and the
//! `crawl` table of a `[[source]]` (atelier-fetch's).

use anyhow::{Context, Result, bail};
use atelier_bill::BillSettings;
use atelier_core::recipe::normalize;
use atelier_core::{Recipe, ShardStage};
use atelier_fetch::crawl::CrawlConfig;
use atelier_lmtrain::LmSettings;
use atelier_tokens::{Tokenize, TokenizeSettings, TokenizeStage};
use atelier_train::TrainSettings;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::registry::registry;

/// A recipe with every section read and validated.
pub struct Project {
    /// The dataset: sources, steps, output and executor.
    pub recipe: Recipe,
    /// `[bill]`: prices, country and power model (their defaults when absent).
    pub bill: BillSettings,
    /// `[train]`: the model trained after each run, when the recipe has one.
    pub train: Option<TrainSettings>,
    /// `[tokenize]`: token shards made from the dataset, when the recipe has them; the
    /// tokenizer's path resolved against the recipe's folder.
    pub tokenize: Option<TokenizeSettings>,
    /// `[lm]`: a language model's training (`atelier lm train --recipe`); the base's
    /// path resolved against the recipe's folder.
    pub lm: LmSettings,
    /// The crawls `atelier run` makes before reading: each source's folder and its
    /// `crawl` settings.
    pub crawls: Vec<(PathBuf, CrawlConfig)>,
}

/// What `atelier check` finds in a recipe that parses.
pub enum Checked {
    /// Nothing that a run would trip on before reading its data.
    Ready(Box<Project>),
    /// Every problem found, one message each.
    Problems(Vec<String>),
}

/// The sections other crates own, read and validated.
struct Sections {
    bill: BillSettings,
    train: Option<TrainSettings>,
    tokenize: Option<TokenizeSettings>,
    lm: LmSettings,
    crawls: Vec<(PathBuf, CrawlConfig)>,
}

impl Project {
    /// Reads and validates a recipe, every problem in one error.
    pub fn load(path: &Path) -> Result<Project> {
        let recipe = parse(path)?;
        match Sections::read(&recipe, path) {
            Ok(sections) => Ok(Project::new(recipe, sections)),
            Err(problems) => bail!(
                "{}\n{} problem(s) in the recipe",
                problems.join("\n"),
                problems.len()
            ),
        }
    }

    /// Reads a recipe and finds every problem of its sections, then every problem a
    /// run would meet before reading anything: sources, output folder, tokenizer. An
    /// error when the recipe itself does not parse.
    pub fn check(path: &Path) -> Result<Checked> {
        let recipe = parse(path)?;
        let sections = Sections::read(&recipe, path);
        let mut problems = sections.as_ref().err().cloned().unwrap_or_default();
        // The tokenizer is tried even when another section is wrong: every problem at once.
        let tokenize = read_tokenize(&recipe).ok().flatten();
        problems.extend(run_problems(&recipe, tokenize.as_ref()));
        Ok(match sections {
            Ok(sections) if problems.is_empty() => {
                Checked::Ready(Box::new(Project::new(recipe, sections)))
            }
            _ => Checked::Problems(problems),
        })
    }

    fn new(recipe: Recipe, sections: Sections) -> Project {
        let Sections {
            bill,
            train,
            tokenize,
            lm,
            crawls,
        } = sections;
        Project {
            recipe,
            bill,
            train,
            tokenize,
            lm,
            crawls,
        }
    }

    /// The project's folder: the recipe's.
    pub fn dir(&self) -> PathBuf {
        project_dir(&self.recipe.path)
    }

    /// Where the bill of a run with a training is kept: the output folder's `bill.json`.
    pub fn bill_file(&self) -> PathBuf {
        self.recipe.output.path.join("bill.json")
    }

    /// The `[tokenize]` section as the runner's stage after the dataset, when the recipe
    /// has one. The tokenizer is loaded here, so that a bad one fails before any work.
    pub fn tokenize_stage(&self) -> Result<Option<Arc<dyn ShardStage>>> {
        match &self.tokenize {
            None => Ok(None),
            Some(settings) => Ok(Some(tokenize_stage(&self.recipe, settings)?)),
        }
    }
}

impl Sections {
    /// Every section other crates own, or every problem with them. `path` is the
    /// recipe's path as it was given: `[lm]`'s base is resolved against its folder.
    fn read(recipe: &Recipe, path: &Path) -> Result<Sections, Vec<String>> {
        let mut problems = Vec::new();
        let mut note = |e: anyhow::Error| problems.push(format!("{e:#}"));
        let bill = read_bill(recipe).map_err(&mut note).ok();
        let train = read_train(recipe).map_err(&mut note).ok();
        let tokenize = read_tokenize(recipe).map_err(&mut note).ok();
        let lm = read_lm(recipe, path).map_err(&mut note).ok();
        let crawls = read_crawls(recipe).map_err(&mut note).ok();
        match (bill, train, tokenize, lm, crawls) {
            (Some(bill), Some(train), Some(tokenize), Some(lm), Some(crawls))
                if problems.is_empty() =>
            {
                Ok(Sections {
                    bill,
                    train,
                    tokenize,
                    lm,
                    crawls,
                })
            }
            _ => Err(problems),
        }
    }
}

/// Reads and parses a recipe's dataset sections and steps, every problem in one error.
fn parse(path: &Path) -> Result<Recipe> {
    Recipe::load(path, &registry()).map_err(|errors| {
        let n = errors.0.len();
        anyhow::anyhow!("{errors}\n{n} problem(s) in the recipe")
    })
}

/// The `crawl` table of each source that has one, checked as `atelier fetch crawl`
/// checks its flags.
fn read_crawls(recipe: &Recipe) -> Result<Vec<(PathBuf, CrawlConfig)>> {
    let mut crawls = Vec::new();
    for (i, source) in recipe.sources.iter().enumerate() {
        let (Some(table), Some(folder)) = (&source.crawl, &source.path) else {
            continue;
        };
        let at = || format!("{}: source[{i}].crawl", recipe.path.display());
        let config: CrawlConfig =
            serde_json::from_value(serde_json::Value::Object(table.clone())).with_context(at)?;
        config.build().with_context(at)?;
        crawls.push((folder.clone(), config));
    }
    Ok(crawls)
}

/// `[bill]`, with located errors.
fn read_bill(recipe: &Recipe) -> Result<BillSettings> {
    let settings: BillSettings = recipe.section("bill").map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Err(problems) = settings.validate() {
        bail!("{}: [bill]: {}", recipe.path.display(), problems.join("; "));
    }
    Ok(settings)
}

/// `[train]`, when the recipe has one, with located errors.
fn read_train(recipe: &Recipe) -> Result<Option<TrainSettings>> {
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

/// `[tokenize]`, when the recipe has one, with located errors and the tokenizer's path
/// resolved against the recipe's folder.
fn read_tokenize(recipe: &Recipe) -> Result<Option<TokenizeSettings>> {
    let settings: Option<TokenizeSettings> = recipe
        .section("tokenize")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(settings) = settings else {
        return Ok(None);
    };
    if let Err(problems) = settings.validate() {
        bail!(
            "{}: [tokenize]: {}",
            recipe.path.display(),
            problems.join("; ")
        );
    }
    let dir = recipe.path.parent().unwrap_or(Path::new("."));
    Ok(Some(settings.resolved(dir)))
}

/// `[lm]` (its defaults when absent), the base's path resolved against the folder of
/// the recipe's path as given.
fn read_lm(recipe: &Recipe, path: &Path) -> Result<LmSettings> {
    let mut settings: LmSettings = recipe.section("lm").map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    settings.base = settings.base.map(|base| dir.join(base));
    Ok(settings)
}

/// The runner's stage for `[tokenize]`, its tokenizer loaded.
fn tokenize_stage(recipe: &Recipe, settings: &TokenizeSettings) -> Result<Arc<dyn ShardStage>> {
    let tokenize = Tokenize::new(settings.clone())
        .with_context(|| format!("{}: [tokenize]", recipe.path.display()))?;
    Ok(Arc::new(TokenizeStage(tokenize)))
}

/// What a run would meet before reading anything: sources that are missing or cannot
/// be read, an output folder that cannot be made, a `[tokenize]` tokenizer that does
/// not load.
fn run_problems(recipe: &Recipe, tokenize: Option<&TokenizeSettings>) -> Vec<String> {
    let mut problems = Vec::new();
    let file = recipe.path.display();
    for source in &recipe.sources {
        // A URL, or a list, is looked at when the run lists its files.
        let Some(path) = source
            .path
            .as_deref()
            .or(source.paths.as_deref())
            .filter(|p| !atelier_core::recipe::is_url(p))
        else {
            continue;
        };
        let readable = if path.is_dir() {
            std::fs::read_dir(path).map(|_| ())
        } else {
            std::fs::File::open(path).map(|_| ())
        };
        if let Err(e) = readable {
            problems.push(format!("{file}: source {}: {e}", path.display()));
        }
    }
    let mut dir = recipe.output.path.as_path();
    while !dir.exists() {
        match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => dir = parent,
            _ => break,
        }
    }
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => problems.push(format!(
            "{file}: output {}: {} is a file, not a folder",
            recipe.output.path.display(),
            dir.display()
        )),
        Ok(m) if m.permissions().readonly() => problems.push(format!(
            "{file}: output {}: {} is read-only",
            recipe.output.path.display(),
            dir.display()
        )),
        _ => {}
    }
    if let Some(settings) = tokenize
        && let Err(e) = tokenize_stage(recipe, settings)
    {
        problems.push(format!("{e:#}"));
    }
    problems
}

/// The project a path names: a recipe file's folder; or, from a folder, the first one
/// up (as git looks for `.git`) that holds versions (`.atelier/versions`) or a recipe
/// (`atelier.toml`), else the folder itself.
pub fn project_dir(path: &Path) -> PathBuf {
    if path.is_file() {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        return normalize(dir);
    }
    let start = normalize(path);
    start
        .ancestors()
        .find(|dir| {
            atelier_store::state_dir(dir).join("versions").is_dir()
                || dir.join("atelier.toml").is_file()
        })
        .map_or_else(|| start.clone(), Path::to_path_buf)
}
