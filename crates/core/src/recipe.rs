//! The recipe, `atelier.toml`: sources, ordered steps with their settings, and where the
//! dataset goes.
//!
//! Parsing is strict and reports every problem it finds at once, each with the file,
//! line, column and key: an unknown key, a wrong type, an unknown step type (with the
//! closest known name) or a setting out of range.

use schemars::JsonSchema;
use serde::de::IntoDeserializer;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::format::{Compression, Format};
use crate::registry::{ParseError, Registry};
use crate::step::ConfiguredStep;

/// How a dataset is cut into tasks and how much bad input it tolerates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DatasetSettings {
    /// The dataset's name; defaults to the recipe folder's name.
    pub name: Option<String>,
    /// The number of tasks; by default one per `task_bytes` of input, but at least 16
    /// (or one per unit of input when there are fewer), so small inputs still spread.
    pub tasks: Option<usize>,
    /// Input bytes per task when `tasks` is not set; large splittable files are cut
    /// into byte ranges of about this size.
    pub task_bytes: u64,
    /// Records larger than this are quarantined instead of read into memory.
    pub max_record_bytes: u64,
    /// The largest fraction of records that may be quarantined before the run fails.
    pub max_quarantined_fraction: f64,
    /// Keep every successful run as a dataset version in the project store
    /// (`.atelier/` beside the recipe) and reuse the work of earlier runs from it: only
    /// new input files, and the steps whose settings changed, are computed again.
    pub store: bool,
    /// Accept sources that hold nothing to read (a run of 0 documents); by default such
    /// a run fails, naming the folders and what was skipped in them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_empty: bool,
}

impl Default for DatasetSettings {
    fn default() -> Self {
        DatasetSettings {
            name: None,
            tasks: None,
            task_bytes: 64 << 20,
            max_record_bytes: 64 << 20,
            max_quarantined_fraction: 0.01,
            store: true,
            allow_empty: false,
        }
    }
}

/// One input: a file or a folder (read recursively, in name order), the `http(s)://`
/// URL of a file, or a list of paths (Common Crawl's `warc.paths.gz`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// A file or folder, relative to the recipe, or the `http://` or `https://` URL of
    /// one file. Either `path` or `paths` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// A list of the files to read, one a line (blank lines and lines starting with `#`
    /// are skipped), plain or gzip (`.gz`): a file relative to the recipe, or a URL.
    /// Each line is resolved against `base`; a line that is itself a URL or an absolute
    /// path is taken as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<PathBuf>,
    /// What the lines of `paths` are relative to: a URL such as
    /// `https://data.commoncrawl.org/`, or a folder relative to the recipe. By default
    /// the folder (or URL) the list lies in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<PathBuf>,
    /// Reads only the first `limit` files of the source, in listing order, after
    /// `include` and `exclude`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Glob patterns (`*`, `?`, `[a-z]`; `*` stays within a folder, `**/` crosses
    /// folders) a file must match one of to be read: its path relative to the source
    /// folder, the line of `paths` as written, or the file name of a single file or URL.
    /// Every file when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Glob patterns, matched as `include`: a file that matches one is not read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// The format of every file the source selects, whatever its extension (compression
    /// is still told by the last extension: `.gz`, `.zst`); by default detected from
    /// each file's extension, and files with unknown extensions inside a folder are
    /// skipped.
    #[serde(default)]
    pub format: Option<Format>,
    /// A crawl that `atelier run` makes before reading: its settings (those of `atelier
    /// fetch crawl`, `seeds` at least), read and checked by the command line. Its WARC
    /// files go into `path` (a folder), which the source then reads; a killed or
    /// repeated run resumes the crawl where it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crawl: Option<serde_json::Map<String, serde_json::Value>>,
}

impl SourceSettings {
    /// A source reading one file or folder, its format told by file names.
    pub fn path(path: impl Into<PathBuf>) -> SourceSettings {
        SourceSettings {
            path: Some(path.into()),
            paths: None,
            base: None,
            limit: None,
            include: Vec::new(),
            exclude: Vec::new(),
            format: None,
            crawl: None,
        }
    }

    /// What the source names, for messages: its path, URL or list.
    pub fn name(&self) -> String {
        match (&self.path, &self.paths) {
            (Some(path), _) => path.display().to_string(),
            (None, Some(paths)) => format!("the list {}", paths.display()),
            (None, None) => "a source without `path`".into(),
        }
    }
}

/// The files a source with a `crawl` reads in its folder by default: the crawl's WARCs.
pub const CRAWL_WARCS: &str = "crawl-*.warc.gz";

/// Whether a source path is an `http://` or `https://` URL rather than a file.
pub fn is_url(path: &Path) -> bool {
    path.to_str().is_some_and(|p| {
        let lower = p.get(..8).unwrap_or(p).to_ascii_lowercase();
        lower.starts_with("http://") || lower.starts_with("https://")
    })
}

/// Where and how the dataset's shards are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OutputSettings {
    /// The output folder, relative to the recipe.
    pub path: PathBuf,
    /// Compression of the JSONL shards.
    pub compression: Compression,
}

impl Default for OutputSettings {
    fn default() -> Self {
        OutputSettings {
            path: PathBuf::from("out/dataset"),
            compression: Compression::Gzip,
        }
    }
}

/// Where tasks run. Executor settings never change what a run produces, so changing
/// them does not restart a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorSettings {
    /// `local` (threads of this process) or `slurm` (one job array per stage).
    pub kind: ExecutorKind,
    /// Slurm partition (`--partition`); the cluster's default when unset.
    pub partition: Option<String>,
    /// Time limit per task (`--time`, for example `01:00:00`).
    pub time: Option<String>,
    /// CPUs per task (`--cpus-per-task`).
    pub cpus_per_task: u32,
    /// Memory per task (`--mem`, for example `4G`).
    pub mem: Option<String>,
    /// Account to charge (`--account`).
    pub account: Option<String>,
    /// Quality of service (`--qos`).
    pub qos: Option<String>,
    /// More sbatch options, one per entry (for example `--constraint=avx2`).
    pub sbatch_options: Vec<String>,
    /// How many times a failing task is tried before the run reports it.
    pub attempts: u32,
    /// Seconds between two looks at the queue while following a run.
    pub poll_seconds: f64,
}

/// The kinds of executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// Worker threads of the `atelier` process.
    #[default]
    Local,
    /// Slurm job arrays, one per stage, chained with `afterok`.
    Slurm,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        ExecutorSettings {
            kind: ExecutorKind::Local,
            partition: None,
            time: None,
            cpus_per_task: 1,
            mem: None,
            account: None,
            qos: None,
            sbatch_options: Vec::new(),
            attempts: 2,
            poll_seconds: 2.0,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipeFile {
    #[serde(default)]
    dataset: DatasetSettings,
    #[serde(default)]
    source: Vec<SourceSettings>,
    #[serde(default)]
    output: OutputSettings,
    #[serde(default)]
    executor: ExecutorSettings,
}

/// A step as the recipe configured it.
#[derive(Debug)]
pub struct RecipeStep {
    /// The validated settings.
    pub config: Box<dyn ConfiguredStep>,
    /// The line of the step's `type` key, for messages.
    pub line: usize,
}

/// A parsed, validated recipe, with paths resolved against its folder.
#[derive(Debug)]
pub struct Recipe {
    /// The recipe file.
    pub path: PathBuf,
    /// The dataset section.
    pub dataset: DatasetSettings,
    /// Sources, with paths resolved.
    pub sources: Vec<SourceSettings>,
    /// Steps in order.
    pub steps: Vec<RecipeStep>,
    /// The output section, with its path resolved.
    pub output: OutputSettings,
    /// Where tasks run.
    pub executor: ExecutorSettings,
    /// The recipe's text, for the sections other crates read ([`Recipe::section`]).
    pub text: String,
}

/// Sections whose settings belong to other crates: each reads its own with
/// [`Recipe::section`], so that this crate does not depend on them.
pub const SECTIONS: &[&str] = &["bill", "lm", "tokenize", "train"];

/// One problem in a recipe, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipeError {
    /// The recipe file.
    pub file: PathBuf,
    /// 1-based line, 0 when the problem is not in one place.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The key at fault, when one is.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RecipeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a recipe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RecipeErrors(pub Vec<RecipeError>);

impl fmt::Display for RecipeErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl Recipe {
    /// Reads and parses a recipe file.
    pub fn load(path: &Path, registry: &Registry) -> Result<Recipe, RecipeErrors> {
        let src = std::fs::read_to_string(path).map_err(|e| {
            RecipeErrors(vec![RecipeError {
                file: path.to_path_buf(),
                line: 0,
                column: 0,
                key: None,
                message: format!("cannot read the recipe: {e}"),
            }])
        })?;
        let mut recipe = Recipe::parse(&src, path, registry)?;
        // Messages name the recipe as it was written; the project is the canonical one.
        recipe.path = normalize(path);
        Ok(recipe)
    }

    /// Parses a recipe's text; `path` names it in messages and anchors relative paths.
    pub fn parse(src: &str, path: &Path, registry: &Registry) -> Result<Recipe, RecipeErrors> {
        let locate = Locator { src, file: path };
        let mut errors = Vec::new();
        let mut root =
            DeTable::parse(src).map_err(|e| RecipeErrors(vec![locate.toml_error(&e)]))?;
        let step_value = root.get_mut().remove("step");
        for name in SECTIONS {
            root.get_mut().remove(*name);
        }

        let root = Spanned::new(0..src.len(), DeValue::Table(root.into_inner()));
        let file: Option<RecipeFile> = deserialize_all(root, &locate, &mut errors);
        let steps = match step_value {
            None => Vec::new(),
            Some(value) => parse_steps(value, registry, &recipe_dir(path), &locate, &mut errors),
        };
        if let Some(file) = &file {
            validate_sections(file, &locate, &mut errors);
        }
        match file {
            Some(file) if errors.is_empty() => {
                // Absolute, so that every process of a run (a Slurm task started in
                // another folder, say) resolves the same paths.
                let base = recipe_dir(path);
                let sources = file
                    .source
                    .into_iter()
                    .map(|s| {
                        let resolve = |p: Option<PathBuf>| {
                            p.map(|p| {
                                if is_url(&p) {
                                    p
                                } else {
                                    normalize(&base.join(p))
                                }
                            })
                        };
                        // A crawl's folder holds its log and frontier too: read its WARCs.
                        let crawled = s.crawl.is_some();
                        SourceSettings {
                            path: resolve(s.path),
                            paths: resolve(s.paths),
                            base: resolve(s.base),
                            format: s.format.or(crawled.then_some(Format::Warc)),
                            include: if crawled && s.include.is_empty() {
                                vec![CRAWL_WARCS.to_string()]
                            } else {
                                s.include
                            },
                            ..s
                        }
                    })
                    .collect();
                let output = OutputSettings {
                    path: normalize(&base.join(&file.output.path)),
                    ..file.output
                };
                Ok(Recipe {
                    path: path.to_path_buf(),
                    dataset: file.dataset,
                    sources,
                    steps,
                    output,
                    executor: file.executor,
                    text: src.to_owned(),
                })
            }
            _ => Err(RecipeErrors(errors)),
        }
    }

    /// One of the [`SECTIONS`], deserialized by its owner's type: its defaults when the
    /// recipe has no such section, else the settings or the located problems.
    pub fn section<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> Result<T, RecipeErrors> {
        debug_assert!(SECTIONS.contains(&name), "unknown section {name}");
        let locate = Locator {
            src: &self.text,
            file: &self.path,
        };
        let mut root =
            DeTable::parse(&self.text).map_err(|e| RecipeErrors(vec![locate.toml_error(&e)]))?;
        match root.get_mut().remove(name) {
            None => Ok(T::default()),
            Some(value) => T::deserialize(value.into_deserializer())
                .map_err(|e| RecipeErrors(vec![locate.toml_error(&e)])),
        }
    }

    /// The dataset name: the setting, else the recipe folder's name (however the
    /// recipe's path was written).
    pub fn name(&self) -> String {
        self.dataset.name.clone().unwrap_or_else(|| {
            recipe_dir(&self.path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "dataset".into())
        })
    }
}

/// The recipe's folder, absolute and canonical: `mk/data/../good.toml` and
/// `/abs/mk/good.toml` name one project.
fn recipe_dir(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    normalize(dir)
}

/// A path made absolute and canonical: symbolic links and `..` resolved for the part
/// that exists, `.` and `..` removed by hand from the part that does not yet (an output
/// folder).
pub fn normalize(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while let Some(parent) = existing.parent() {
        if existing.exists() {
            break;
        }
        rest.push(existing.file_name().map(|n| n.to_owned()));
        existing = parent;
    }
    let mut out = existing
        .canonicalize()
        .unwrap_or_else(|_| existing.to_path_buf());
    for name in rest.into_iter().rev() {
        match name {
            Some(name) => out.push(name),
            // `..` has no file name: step out.
            None => {
                out.pop();
            }
        }
    }
    out
}

fn validate_sections(file: &RecipeFile, locate: &Locator<'_>, errors: &mut Vec<RecipeError>) {
    let d = &file.dataset;
    let mut problem = |key: &str, message: String| errors.push(locate.general(Some(key), message));
    if file.source.is_empty() {
        problem(
            "source",
            "a recipe needs at least one [[source]] with a `path`".into(),
        );
    }
    for (i, source) in file.source.iter().enumerate() {
        let key = |field: &str| format!("source[{i}].{field}");
        match (&source.path, &source.paths) {
            (None, None) => problem(&key("path"), "set `path` or `paths`".into()),
            (Some(_), Some(_)) => problem(&key("paths"), "set `path` or `paths`, not both".into()),
            (Some(_), None) if source.base.is_some() => {
                problem(&key("base"), "`base` goes with `paths`".into());
            }
            _ => {}
        }
        if source.limit == Some(0) {
            problem(&key("limit"), "must be at least 1".into());
        }
        if source.crawl.is_some()
            && (source.paths.is_some() || source.path.as_deref().is_some_and(is_url))
        {
            problem(
                &key("crawl"),
                "a crawl writes into `path`, a folder of this machine".into(),
            );
        }
        for (field, patterns) in [("include", &source.include), ("exclude", &source.exclude)] {
            for pattern in patterns {
                if let Err(e) = glob::Pattern::new(pattern) {
                    problem(&key(field), format!("bad glob pattern `{pattern}`: {e}"));
                }
            }
        }
    }
    if d.tasks == Some(0) {
        problem("dataset.tasks", "must be at least 1".into());
    }
    if file.executor.attempts == 0 {
        problem("executor.attempts", "must be at least 1".into());
    }
    if file.executor.poll_seconds <= 0.0 {
        problem("executor.poll_seconds", "must be positive".into());
    }
    if d.task_bytes == 0 {
        problem("dataset.task_bytes", "must be at least 1".into());
    }
    if d.max_record_bytes == 0 {
        problem("dataset.max_record_bytes", "must be at least 1".into());
    }
    if !(0.0..=1.0).contains(&d.max_quarantined_fraction) {
        problem(
            "dataset.max_quarantined_fraction",
            format!(
                "must be between 0 and 1, not {}",
                d.max_quarantined_fraction
            ),
        );
    }
}

/// Deserializes a tree, reporting every bad key rather than the first: each one is
/// recorded, removed from the tree, and the rest deserialized again, until it reads.
/// A key reported missing because it was removed here is not reported twice.
fn deserialize_all<T: serde::de::DeserializeOwned>(
    mut value: Spanned<DeValue<'_>>,
    locate: &Locator<'_>,
    errors: &mut Vec<RecipeError>,
) -> Option<T> {
    const MOST: usize = 64;
    let mut removed: Vec<String> = Vec::new();
    for _ in 0..MOST {
        match T::deserialize(value.clone().into_deserializer()) {
            Ok(t) => return errors.is_empty().then_some(t),
            Err(e) => {
                let missing = e
                    .message()
                    .strip_prefix("missing field `")
                    .and_then(|m| m.split('`').next());
                if missing.is_some_and(|name| removed.iter().any(|r| r == name)) {
                    return None;
                }
                errors.push(locate.toml_error(&e));
                match e.span().and_then(|span| remove_key_at(&mut value, &span)) {
                    Some(name) => removed.push(name),
                    None => return None,
                }
            }
        }
    }
    None
}

/// Removes the key written at `span`, or whose value is written there, from whichever
/// table holds it; returns its name.
fn remove_key_at(value: &mut Spanned<DeValue<'_>>, span: &Range<usize>) -> Option<String> {
    match value.get_mut() {
        DeValue::Table(table) => {
            let key = table
                .iter()
                .find(|(k, v)| k.span() == *span || v.span() == *span)
                .map(|(k, _)| k.clone());
            match key {
                Some(key) => {
                    table.remove(&key);
                    Some(key.get_ref().to_string())
                }
                None => table.iter_mut().find_map(|(_, v)| remove_key_at(v, span)),
            }
        }
        DeValue::Array(items) => items.iter_mut().find_map(|v| remove_key_at(v, span)),
        _ => None,
    }
}

fn parse_steps(
    value: Spanned<DeValue<'_>>,
    registry: &Registry,
    recipe_dir: &Path,
    locate: &Locator<'_>,
    errors: &mut Vec<RecipeError>,
) -> Vec<RecipeStep> {
    let span = value.span();
    let DeValue::Array(items) = value.into_inner() else {
        errors.push(locate.at(
            span,
            Some("step"),
            "must be an array of tables: write each step as [[step]]".into(),
        ));
        return Vec::new();
    };
    let mut steps = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let span = item.span();
        let DeValue::Table(mut table) = item.into_inner() else {
            errors.push(locate.at(
                span,
                Some("step"),
                format!("step {} must be a table", index + 1),
            ));
            continue;
        };
        let Some(type_value) = table.remove("type") else {
            errors.push(locate.at(
                span,
                Some("type"),
                format!("step {} has no `type`", index + 1),
            ));
            continue;
        };
        let type_span = type_value.span();
        let Some(name) = type_value.get_ref().as_str() else {
            errors.push(locate.at(type_span, Some("type"), "must be a string".into()));
            continue;
        };
        let Some(kind) = registry.get(name) else {
            let hint = match registry.suggest(name) {
                Some(close) => format!("; did you mean `{close}`?"),
                None => String::new(),
            };
            errors.push(locate.at(
                type_span,
                Some("type"),
                format!("unknown step `{name}`{hint} (`atelier steps` lists them)"),
            ));
            continue;
        };
        match kind.parse(
            Spanned::new(span.clone(), DeValue::Table(table)),
            recipe_dir,
        ) {
            Ok(config) => steps.push(RecipeStep {
                config,
                line: locate.line_col(type_span.start).0,
            }),
            Err(ParseError::Toml(e)) => errors.push(locate.toml_error(&e)),
            Err(ParseError::Invalid(problems)) => {
                for p in problems {
                    errors.push(locate.at(span.clone(), None, format!("step `{name}`: {p}")));
                }
            }
        }
    }
    steps
}

/// Turns byte spans into file, line, column and key.
struct Locator<'a> {
    src: &'a str,
    file: &'a Path,
}

impl Locator<'_> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.src[..offset.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    fn at(&self, span: Range<usize>, key: Option<&str>, message: String) -> RecipeError {
        let (line, column) = self.line_col(span.start);
        RecipeError {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.map(str::to_owned),
            message,
        }
    }

    fn general(&self, key: Option<&str>, message: String) -> RecipeError {
        RecipeError {
            file: self.file.to_path_buf(),
            line: 0,
            column: 0,
            key: key.map(str::to_owned),
            message,
        }
    }

    fn toml_error(&self, e: &toml::de::Error) -> RecipeError {
        let span = e.span().unwrap_or(0..0);
        let key = self.key_at(span.clone());
        self.at(span, key.as_deref(), e.message().trim_end().to_owned())
    }

    /// The key written at a span: the span itself when it covers a key (an unknown
    /// field, a table header), else the key before `=` on the span's line.
    fn key_at(&self, span: Range<usize>) -> Option<String> {
        let text = self
            .src
            .get(span.clone())?
            .trim()
            .trim_matches(['[', ']', '"']);
        let line_start = self.src[..span.start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.src[span.start..]
            .find('\n')
            .map_or(self.src.len(), |i| span.start + i);
        let line = &self.src[line_start..line_end];
        let key = match line.split_once('=') {
            Some((key, _)) if span.start >= line_start + key.len() => key.trim(),
            _ => text,
        };
        let bare = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_alphanumeric() || "_-.".contains(c));
        bare.then(|| key.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BoxError, Document, Step, StepConfig, StepError, Verdict};

    #[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
    #[serde(default, deny_unknown_fields)]
    struct Trim {
        /// Characters to keep.
        keep: usize,
    }

    impl StepConfig for Trim {
        const NAME: &'static str = "trim";
        const SUMMARY: &'static str = "Keeps the first characters.";
        const VERSION: u32 = 1;
        fn validate(&self, problems: &mut Vec<String>) {
            if self.keep > 1000 {
                problems.push("keep must be at most 1000".into());
            }
        }
        fn build(&self) -> Result<Box<dyn Step>, BoxError> {
            Err("not needed here".into())
        }
    }

    impl Step for Trim {
        fn process(&mut self, _: &mut Document) -> Result<Verdict, StepError> {
            Ok(Verdict::Keep)
        }
    }

    fn parse(src: &str) -> Result<Recipe, RecipeErrors> {
        Recipe::parse(
            src,
            Path::new("dir/atelier.toml"),
            &Registry::new().register::<Trim>(),
        )
    }

    #[test]
    fn paths_resolve_against_the_recipe_folder() {
        let r =
            parse("[[source]]\npath = \"data\"\n[[step]]\ntype = \"trim\"\nkeep = 3\n").unwrap();
        let here = std::env::current_dir().unwrap();
        assert_eq!(r.sources[0].path, Some(here.join("dir/data")));
        assert_eq!(r.output.path, here.join("dir/out/dataset"));
        assert_eq!(r.steps[0].config.settings()["keep"], 3);
        assert_eq!(r.steps[0].line, 4);
    }

    #[test]
    fn sources_take_urls_lists_and_patterns() {
        let r = parse(
            "[[source]]\npath = \"https://example.org/a.warc.gz\"\n\
             [[source]]\npaths = \"warc.paths.gz\"\nbase = \"https://data.commoncrawl.org/\"\nlimit = 2\n\
             [[source]]\npath = \"mail\"\nformat = \"mail\"\ninclude = [\"**/*.txt\"]\nexclude = [\"spam/*\"]\n",
        )
        .unwrap();
        let here = std::env::current_dir().unwrap();
        assert_eq!(
            r.sources[0].path,
            Some(PathBuf::from("https://example.org/a.warc.gz"))
        );
        assert_eq!(r.sources[1].paths, Some(here.join("dir/warc.paths.gz")));
        assert_eq!(
            r.sources[1].base,
            Some(PathBuf::from("https://data.commoncrawl.org/"))
        );
        assert_eq!(r.sources[2].include, ["**/*.txt"]);
        assert!(is_url(Path::new("HTTPS://x")) && !is_url(Path::new("http")));

        let src = "[[source]]\nformat = \"mail\"\n\
                   [[source]]\npath = \"a\"\npaths = \"b\"\n\
                   [[source]]\npath = \"a\"\nbase = \"b\"\nlimit = 0\ninclude = [\"[\"]\n";
        let errors = parse(src).unwrap_err().0;
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for expected in [
            "source[0].path`: set `path` or `paths`",
            "source[1].paths`: set `path` or `paths`, not both",
            "source[2].base`: `base` goes with `paths`",
            "source[2].limit`: must be at least 1",
            "source[2].include`: bad glob pattern `[`",
        ] {
            assert!(
                shown.iter().any(|e| e.contains(expected)),
                "{expected}: {shown:#?}"
            );
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let src = "[dataset]\nmax_quarantined_fraction = 2.0\n\n[[source]]\npath = \"d\"\n\n\
                   [[step]]\ntype = \"trim\"\nkeep = \"x\"\n\n[[step]]\ntype = \"trim\"\nkeep = 5000\n\n\
                   [[step]]\nkeep = 1\n";
        let errors = parse(src).unwrap_err().0;
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 4, "{shown:#?}");
        assert!(
            shown
                .iter()
                .any(|e| e.starts_with("dir/atelier.toml:9:8: key `keep`: invalid type")),
            "{shown:#?}"
        );
        assert!(
            shown
                .iter()
                .any(|e| e.contains("keep must be at most 1000")),
            "{shown:#?}"
        );
        assert!(
            shown.iter().any(|e| e.contains("step 3 has no `type`")),
            "{shown:#?}"
        );
        assert!(
            shown
                .iter()
                .any(|e| e.contains("max_quarantined_fraction") && e.contains("between 0 and 1")),
            "{shown:#?}"
        );
    }

    #[test]
    fn every_unknown_key_is_reported_at_once() {
        let e = parse(
            "[dataset]\ntask = 4\n\n[[source]]\npath = \"d\"\nformt = \"jsonl\"\n\n\
             [output]\npath = \"o\"\ncompresion = \"gzip\"\n",
        )
        .unwrap_err();
        let text = e.to_string();
        assert_eq!(e.0.len(), 3, "{text}");
        for (line, key) in [(2, "task"), (6, "formt"), (10, "compresion")] {
            assert!(
                text.contains(&format!(":{line}:1: key `{key}`: unknown field")),
                "{text}"
            );
        }
    }

    #[test]
    fn unknown_sections_and_malformed_toml_are_located() {
        let e = parse("[[source]]\npath = \"d\"\n[outptu]\npath = \"x\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("dir/atelier.toml:3:2: key `outptu`: unknown field"),
            "{e}"
        );
        let e = parse("[[source]\n").unwrap_err();
        assert!(e.to_string().starts_with("dir/atelier.toml:1:"), "{e}");
    }
}
