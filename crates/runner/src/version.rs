//! A successful run becomes a dataset version of its project: the shards, the
//! deduplication index (which the next run's output folder may lose), the quarantine and
//! the summary, linked into the store; the recipe, its inputs' hashes, its steps'
//! settings, the counters and the store records it used, in the manifest.

use atelier_core::Recipe;
use atelier_store::{Hash, Manifest, NewVersion, RecipeInfo, SourceFile, StepInfo, Store};
use std::path::{Path, PathBuf};

use crate::run::{RunError, RunSummary};

/// What the stage after the dataset adds to its version.
pub(crate) struct After {
    /// The stage's name (`tokenize`).
    pub name: String,
    /// Its folder in the output (`tokens`).
    pub folder: String,
    /// Its settings, recorded with the dataset's.
    pub settings: serde_json::Value,
    /// Its report, for the manifest.
    pub report: serde_json::Value,
}

/// Commits the dataset a run just wrote as a new version, and moves `latest` to it.
pub(crate) fn commit(
    store: &Store,
    recipe: &Recipe,
    sources: Vec<SourceFile>,
    keys: Vec<Hash>,
    summary: &RunSummary,
    after: Option<&After>,
) -> Result<Manifest, RunError> {
    let root = &recipe.output.path;
    let named = |path: &Path| -> (String, PathBuf) {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        (rel, path.to_path_buf())
    };
    let shards = summary.shards.iter().map(|p| named(p)).collect();
    let mut files: Vec<(String, PathBuf)> = summary.quarantine.iter().map(|p| named(p)).collect();
    let index = root.join("index");
    let mut found = Vec::new();
    walk(&index, &mut found).map_err(RunError::io(&index))?;
    found.sort();
    files.extend(found.iter().map(|p| named(p)));
    if let Some(after) = after {
        let folder = root.join(&after.folder);
        let mut found = Vec::new();
        walk(&folder, &mut found).map_err(RunError::io(&folder))?;
        // Work files of the stage's tasks stay out of the version.
        found.retain(|p| {
            !p.strip_prefix(&folder)
                .is_ok_and(|rel| rel.starts_with(".tasks") || rel.starts_with(".building"))
        });
        found.sort();
        files.extend(found.iter().map(|p| named(p)));
    }
    let summary_file = root.join("summary.json");
    if summary_file.is_file() {
        files.push(named(&summary_file));
    }
    let steps = recipe
        .steps
        .iter()
        .map(|s| StepInfo {
            name: s.config.name().to_owned(),
            version: s.config.version(),
            settings: s.config.settings(),
        })
        .collect();
    // The output folder relative to the project where it is inside, as the sources.
    let mut output = recipe.output.clone();
    if let Ok(rel) = output.path.strip_prefix(store.project()) {
        output.path = rel.to_path_buf();
    }
    let mut settings = serde_json::json!({
        "dataset": recipe.dataset,
        "output": output,
    });
    let mut stages = std::collections::BTreeMap::new();
    if let Some(after) = after {
        settings[&after.name] = after.settings.clone();
        stages.insert(after.name.clone(), after.report.clone());
    }
    let recipe_info = RecipeInfo::new(&recipe.path, &recipe.text);
    let parent = store.alias("latest")?;
    // Running again what made `latest` (a resumed or repeated run) makes no new version.
    if let Some(latest) = &parent
        && let Ok(m) = store.resolve(latest)
    {
        let size = |p: &PathBuf| std::fs::metadata(p).map_or(u64::MAX, |m| m.len());
        // Cheap comparisons first: shards are hashed only when all else is equal.
        // The recipe's text is not compared: a comment, or a section that is not the
        // dataset's (`[train]`, `[bill]`), changes no document.
        let same = m.sources == sources
            && m.steps == steps
            && m.settings == settings
            && m.shards.len() == summary.shards.len()
            && m.shards.iter().zip(&summary.shards).all(|(entry, path)| {
                entry.bytes == size(path) && Hash::of_file(path).is_ok_and(|h| h == entry.hash)
            });
        if same {
            return Ok(m);
        }
    }
    let version = NewVersion {
        name: recipe.name(),
        parent,
        recipe: Some(recipe_info),
        sources,
        settings,
        steps,
        shards,
        files,
        documents: summary.stats.written(),
        stats: summary.stats.clone(),
        keys,
        stages,
        aliases: vec!["latest".to_owned()],
        ..NewVersion::default()
    };
    Ok(store.commit(version)?)
}

/// Every file under a folder (none when it does not exist), leaving out temporaries.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, out)?;
        } else if !path.to_string_lossy().ends_with(".tmp") {
            out.push(path);
        }
    }
    Ok(())
}
