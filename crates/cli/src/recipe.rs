//! `atelier init`, `atelier check` and `atelier steps`: writing a recipe, checking one,
//! and the steps a recipe can use.

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::project::{Checked, Project};
use crate::registry::registry;

/// The starter recipe `atelier init` writes.
const STARTER_RECIPE: &str = include_str!("templates/atelier.toml");

/// `atelier check`: every problem of the recipe, then every problem a run would meet
/// before reading anything, all at once.
pub fn check(recipe_path: &Path) -> Result<ExitCode> {
    let project = match Project::check(recipe_path)? {
        Checked::Ready(project) => project,
        Checked::Problems(problems) => {
            for problem in &problems {
                eprintln!("error: {problem}");
            }
            eprintln!("{} problem(s) in the recipe", problems.len());
            return Ok(ExitCode::FAILURE);
        }
    };
    let recipe = &project.recipe;
    let mut steps: Vec<&str> = recipe.steps.iter().map(|s| s.config.name()).collect();
    if project.tokenize.is_some() {
        steps.push(atelier_tokens::STEP);
    }
    println!(
        "{}: ok ({} source(s), steps: {})",
        recipe_path.display(),
        recipe.sources.len(),
        if steps.is_empty() {
            "none".to_owned()
        } else {
            steps.join(" -> ")
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// `atelier steps`: every registered step with its settings and their defaults, or
/// (`--example`) a recipe fragment with each at its defaults.
pub fn steps(example: bool) -> Result<ExitCode> {
    let registry = registry();
    let mut out = std::io::stdout().lock();
    if example {
        write!(out, "{}", registry.example_steps())?;
        return Ok(ExitCode::SUCCESS);
    }
    for kind in registry.kinds() {
        writeln!(out, "{} (v{})\n  {}", kind.name, kind.version, kind.summary)?;
        for setting in kind.settings() {
            writeln!(
                out,
                "    {} = {}  ({})\n        {}",
                setting.key, setting.default, setting.kind, setting.doc
            )?;
        }
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `atelier init`: a commented starter recipe, its `data/` and `out/` folders and a
/// `.gitignore`.
pub fn init(dir: &Path) -> Result<ExitCode> {
    let recipe = dir.join("atelier.toml");
    if recipe.exists() {
        bail!("{} already exists; not overwriting it", recipe.display());
    }
    for sub in ["data", "out"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    std::fs::write(&recipe, STARTER_RECIPE)
        .with_context(|| format!("writing {}", recipe.display()))?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        // The project store keeps every version's data: large, and local.
        std::fs::write(&ignore, "out/\n.atelier/\n")?;
    }
    println!(
        "wrote {}\nput your files in {}/, then: atelier check {} && atelier run {}",
        recipe.display(),
        dir.join("data").display(),
        recipe.display(),
        recipe.display()
    );
    Ok(ExitCode::SUCCESS)
}
