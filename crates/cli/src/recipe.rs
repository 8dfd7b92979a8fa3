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

/// The labelled sample `atelier init` puts in `data/`: short sentences of our own, each
/// with its `topic` (cooking or cycling), for the starter recipe's `[train]` section.
const STARTER_SAMPLE: &str = include_str!("templates/sample.jsonl");

/// `atelier init`: a commented starter recipe, its `data/` and `out/` folders and a
/// `.gitignore`. An empty `data/` gets a small labelled sample, so that `atelier run`
/// makes a dataset and trains the recipe's model on it, and `atelier serve` serves it;
/// beside files of the user's own, the recipe's `[train]` section is left commented out.
pub fn init(dir: &Path) -> Result<ExitCode> {
    let recipe = dir.join("atelier.toml");
    if recipe.exists() {
        bail!("{} already exists; not overwriting it", recipe.display());
    }
    let data = dir.join("data");
    let own_data = std::fs::read_dir(&data).is_ok_and(|mut d| d.next().is_some());
    for sub in [&data, &dir.join("out")] {
        std::fs::create_dir_all(sub).with_context(|| format!("creating {}", sub.display()))?;
    }
    let sample = data.join("sample.jsonl");
    let text = if own_data {
        without_train(STARTER_RECIPE)
    } else {
        std::fs::write(&sample, STARTER_SAMPLE)
            .with_context(|| format!("writing {}", sample.display()))?;
        STARTER_RECIPE.to_owned()
    };
    std::fs::write(&recipe, text).with_context(|| format!("writing {}", recipe.display()))?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        // The project store keeps every version's data: large, and local.
        std::fs::write(&ignore, "out/\n.atelier/\n")?;
    }
    let cd = if dir == Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", dir.display())
    };
    if own_data {
        println!(
            "wrote {}; {}/ already holds files: no sample added, and [train] is commented \
             out (set its `label` to the field that holds your class to train a model)\n\
             then: {cd}atelier check && atelier run",
            recipe.display(),
            data.display(),
        );
    } else {
        println!(
            "wrote {} and {}: {} short texts labelled by `topic`\n\
             try it: {cd}atelier run && atelier serve\n  \
             (a dataset, a model trained on it, served on http://127.0.0.1:8080/)\n\
             then put your own files in {}/ in place of the sample, and set [train]'s `label`",
            recipe.display(),
            sample.display(),
            STARTER_SAMPLE.lines().count(),
            data.display(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The starter recipe with its `[train]` section (the last one) commented out.
fn without_train(recipe: &str) -> String {
    let start = recipe
        .find("\n[train]\n")
        .expect("the starter recipe ends with [train]")
        + 1;
    let mut out = recipe[..start].to_owned();
    for line in recipe[start..].lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            out.push_str(line);
        } else {
            out.push_str("# ");
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}
