//! `atelier versions`, `show`, `diff`, `gc` and `alias`: the project store's versions,
//! read and printed.

use anyhow::{Context, Result, bail};
use atelier_core::stats::human_bytes;
use atelier_store::{GcOptions, Kind, Manifest, ProjectLock, Store, VersionDiff};
use atelier_train::Evaluation;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::project::project_dir;

/// Where the project is: a recipe file (its folder), or a folder in it (the project is
/// found upward from there). The same `-p` for every command on a project.
#[derive(Args)]
pub struct ProjectArg {
    /// The project: its folder, or its recipe file.
    #[arg(short, long, default_value = ".")]
    project: PathBuf,
}

impl ProjectArg {
    fn open(&self) -> Result<Store> {
        open_project(&self.project)
    }
}

fn open_project(path: &Path) -> Result<Store> {
    let dir = project_dir(path);
    if !atelier_store::state_dir(&dir).join("versions").is_dir() {
        bail!(
            "{} has no versions yet: `atelier run` makes one with each successful run",
            dir.display()
        );
    }
    Store::open(&dir).with_context(|| format!("opening the store of {}", dir.display()))
}

/// `atelier versions` arguments.
#[derive(Args)]
pub struct VersionsArgs {
    /// The project: a recipe file (its versions) or a folder (all of them).
    #[command(flatten)]
    project: ProjectArg,
    /// Print the manifests as JSON.
    #[arg(long)]
    json: bool,
}

/// `atelier show` arguments.
#[derive(Args)]
pub struct ShowArgs {
    /// The version: `v3`, `3`, or an alias (`latest`, `prod`, ...).
    #[arg(value_name = "VERSION")]
    target: String,
    #[command(flatten)]
    project: ProjectArg,
    /// Print the manifest as JSON.
    #[arg(long)]
    json: bool,
    /// Also check every file of the version against its hash.
    #[arg(long)]
    verify: bool,
    /// List every source file and every file of the version (default: the first 10 of each).
    #[arg(long)]
    all: bool,
}

/// `atelier diff` arguments.
#[derive(Args)]
pub struct DiffArgs {
    /// The older version (or alias).
    from: String,
    /// The newer version (or alias).
    to: String,
    #[command(flatten)]
    project: ProjectArg,
    /// List every document id added, removed or changed (default: the first 10 of each).
    #[arg(long)]
    all: bool,
    /// Print the differences as JSON.
    #[arg(long)]
    json: bool,
}

/// `atelier gc` arguments.
#[derive(Args)]
pub struct GcArgs {
    #[command(flatten)]
    project: ProjectArg,
    /// Say what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also remove versions older than the newest N, except those an alias names.
    #[arg(long, value_name = "N")]
    keep_last: Option<usize>,
}

/// `atelier alias` arguments.
#[derive(Args)]
pub struct AliasArgs {
    /// The alias (`prod`, `staging`, ...; `latest` is moved by every run).
    name: String,
    /// The version it should name (`v3`, `3`, or another alias).
    #[arg(value_name = "VERSION", required_unless_present = "remove")]
    target: Option<String>,
    /// Remove the alias instead (the version stays).
    #[arg(long, conflicts_with = "target")]
    remove: bool,
    /// Move the alias even to a version of another kind than the one it names (a
    /// dataset where it named a model).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    project: ProjectArg,
}

/// A kind of version, as people say it.
fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Dataset => "dataset",
        Kind::Model => "model",
        Kind::Lm => "language model",
    }
}

/// Aliases naming each version, for display.
fn aliases_of(store: &Store, id: &str) -> Result<Vec<String>> {
    Ok(store
        .aliases()?
        .into_iter()
        .filter(|(_, v)| v == id)
        .map(|(a, _)| a)
        .collect())
}

fn shard_bytes(m: &Manifest) -> u64 {
    m.shards.iter().map(|s| s.bytes).sum()
}

/// `atelier versions`.
pub fn list(args: &VersionsArgs) -> Result<ExitCode> {
    let store = args.project.open()?;
    let path = &args.project.project;
    let only = path
        .is_file()
        .then(|| path.file_name().map(|n| n.to_owned()))
        .flatten();
    let versions: Vec<Manifest> = store
        .versions()?
        .into_iter()
        .filter(|m| match (&only, &m.recipe) {
            (Some(name), Some(r)) => r.path.file_name() == Some(name.as_os_str()),
            (Some(_), None) => false,
            (None, _) => true,
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &versions)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<8} {:<21} {:<10} {:>10} {:>11}  {:<14} recipe",
        "version", "created (UTC)", "kind", "documents", "shards", "aliases"
    )?;
    for m in &versions {
        let recipe = m.recipe.as_ref().map_or(String::new(), |r| {
            format!(
                "{} {}",
                r.path
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
                r.hash.short()
            )
        });
        writeln!(
            out,
            "{:<8} {:<21} {:<10} {:>10} {:>11}  {:<14} {}",
            m.id,
            m.created,
            format!("{:?}", m.kind).to_lowercase(),
            m.documents,
            human_bytes(shard_bytes(m)),
            aliases_of(&store, &m.id)?.join(","),
            recipe
        )?;
    }
    if versions.is_empty() {
        writeln!(out, "(no versions yet)")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `atelier show`.
pub fn show(args: &ShowArgs) -> Result<ExitCode> {
    let store = args.project.open()?;
    let m = store.resolve(&args.target)?;
    let problems = if args.verify {
        store.verify(&m)
    } else {
        Vec::new()
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &m)?;
        writeln!(out)?;
    } else {
        print_manifest(&mut out, &store, &m, args.all)?;
        if args.verify && problems.is_empty() {
            writeln!(
                out,
                "verified: every file matches its hash ({} files)",
                m.shards.len() + m.files.len()
            )?;
        }
    }
    if problems.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            eprintln!("error: {p}");
        }
        Ok(ExitCode::FAILURE)
    }
}

fn print_manifest(out: &mut impl Write, store: &Store, m: &Manifest, all: bool) -> Result<()> {
    let limit = if all { usize::MAX } else { 10 };
    let kind = format!("{:?}", m.kind).to_lowercase();
    writeln!(
        out,
        "{} {kind} `{}`, created {} by atelier {}",
        m.id, m.name, m.created, m.atelier_version
    )?;
    let aliases = aliases_of(store, &m.id)?;
    writeln!(out, "folder:  {}", store.version_dir(&m.id).display())?;
    writeln!(
        out,
        "parent:  {}{}",
        m.parent.as_deref().unwrap_or("none"),
        if aliases.is_empty() {
            String::new()
        } else {
            format!("; aliases: {}", aliases.join(", "))
        }
    )?;
    if !m.trained_on.is_empty() {
        writeln!(out, "trained on: {}", trained_on(store, m))?;
    }
    if let Some(r) = &m.recipe {
        writeln!(
            out,
            "recipe:  {} (blake3 {})",
            r.path.display(),
            r.hash.short()
        )?;
    }
    let source_bytes: u64 = m.sources.iter().map(|s| s.size).sum();
    // A model's inputs are its datasets (`trained on` above), not files.
    if m.kind == Kind::Dataset || !m.sources.is_empty() {
        writeln!(
            out,
            "sources: {} file(s), {}",
            m.sources.len(),
            human_bytes(source_bytes)
        )?;
    }
    let sources = m.sources.iter().map(|s| {
        format!(
            "{}  {}  {}",
            s.hash.short(),
            human_bytes(s.size),
            s.path.display()
        )
    });
    write_capped(out, "", &sources.collect::<Vec<_>>(), limit)?;
    if m.kind == Kind::Model {
        if let Some(train) = m.settings.get("train") {
            writeln!(out, "settings: {train}")?;
        }
        if let Ok(e) = serde_json::from_value::<Evaluation>(m.metrics["test"].clone()) {
            writeln!(
                out,
                "test accuracy {:.4} on {} documents (macro F1 {:.4})",
                e.accuracy, e.examples, e.macro_f1
            )?;
            write!(out, "{}", e.to_text())?;
        }
    } else {
        writeln!(out, "steps:")?;
    }
    for (i, s) in m.steps.iter().enumerate() {
        writeln!(
            out,
            "  {}. {} v{}  {}",
            i + 1,
            s.name,
            s.version,
            s.settings
        )?;
    }
    if m.kind == Kind::Dataset {
        writeln!(
            out,
            "shards:  {} shard(s), {}, {} documents",
            m.shards.len(),
            human_bytes(shard_bytes(m)),
            m.documents
        )?;
    } else {
        let bytes: u64 = m.shards.iter().chain(&m.files).map(|f| f.bytes).sum();
        writeln!(
            out,
            "files:   {} file(s), {}",
            m.shards.len() + m.files.len(),
            human_bytes(bytes)
        )?;
    }
    if let Some(tokens) = m.stages.get(atelier_tokens::STEP) {
        print_tokens(out, tokens)?;
    }
    let files = m
        .shards
        .iter()
        .chain(&m.files)
        .map(|f| format!("{}  {}  {}", f.hash.short(), human_bytes(f.bytes), f.path));
    write_capped(out, "", &files.collect::<Vec<_>>(), limit)?;
    writeln!(out, "store records: {}", m.keys.len())?;
    if !m.stats.steps.is_empty() {
        crate::funnel::print(out, &m.stats)?;
    }
    Ok(())
}

/// Writes the first `limit` lines, indented and after `mark`, then how many more there
/// are: a version of 6,000 mails should not print 6,000 lines unless asked to.
fn write_capped(
    out: &mut impl Write,
    mark: &str,
    lines: &[impl std::fmt::Display],
    limit: usize,
) -> std::io::Result<()> {
    for line in lines.iter().take(limit) {
        writeln!(out, "  {mark}{line}")?;
    }
    if lines.len() > limit {
        writeln!(
            out,
            "  {mark}... {} more (--all lists them)",
            lines.len() - limit
        )?;
    }
    Ok(())
}

/// What a model was trained on: each dataset version with its name, then the documents
/// the training took from it, by split and by class.
fn trained_on(store: &Store, m: &Manifest) -> String {
    let datasets: Vec<String> = m
        .trained_on
        .iter()
        .map(|id| match store.resolve(id) {
            Ok(d) => format!("{id} (dataset `{}`, {} documents)", d.name, d.documents),
            Err(_) => format!("{id} (no longer in the store)"),
        })
        .collect();
    let mut text = datasets.join(", ");
    let e = &m.metrics["examples"];
    if let (Some(train), Some(validation), Some(test)) = (
        e["train"].as_u64(),
        e["validation"].as_u64(),
        e["test"].as_u64(),
    ) {
        text.push_str(&format!(
            "; {train} to train, {validation} to validate, {test} to test"
        ));
        if let Some(n) = e["unlabelled"].as_u64().filter(|&n| n > 0) {
            text.push_str(&format!(", {n} without a class"));
        }
    }
    if let Some(classes) = e["classes"].as_object().filter(|c| !c.is_empty()) {
        let counts: Vec<String> = classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
        text.push_str(&format!("; classes: {}", counts.join(", ")));
    }
    text
}

/// The token shards of a dataset version: its tokenizer and the tokens per split.
fn print_tokens(out: &mut impl Write, report: &serde_json::Value) -> std::io::Result<()> {
    let tokenizer = &report["tokenizer"];
    writeln!(
        out,
        "tokens:  tokenizer {} ({} ids, EOS {}), {} ids",
        tokenizer["hash"]
            .as_str()
            .unwrap_or("?")
            .get(..12)
            .unwrap_or("?"),
        tokenizer["vocab_size"],
        tokenizer["eos"],
        report["dtype"].as_str().unwrap_or("?")
    )?;
    if let Some(splits) = report["splits"].as_object() {
        for (split, count) in splits {
            writeln!(
                out,
                "  {split:<10} {:>10} documents {:>14} tokens",
                count["documents"].as_u64().unwrap_or(0),
                count["tokens"].as_u64().unwrap_or(0)
            )?;
        }
    }
    Ok(())
}

/// `atelier diff`.
pub fn diff(args: &DiffArgs) -> Result<ExitCode> {
    let store = args.project.open()?;
    let from = store.resolve(&args.from)?;
    let to = store.resolve(&args.to)?;
    let d = atelier_store::diff(&store, &from, &to)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &d)?;
        writeln!(out)?;
    } else {
        print_diff(&mut out, &d, args.all)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn value(v: &Option<serde_json::Value>) -> String {
    v.as_ref().map_or("(unset)".to_owned(), |v| v.to_string())
}

fn print_diff(out: &mut impl Write, d: &VersionDiff, all: bool) -> std::io::Result<()> {
    writeln!(out, "{} -> {}", d.from, d.to)?;
    writeln!(
        out,
        "recipe: {}",
        if d.recipe_changed { "changed" } else { "same" }
    )?;
    writeln!(out, "settings: {} changed", d.settings.len())?;
    for c in &d.settings {
        writeln!(out, "  {}: {} -> {}", c.key, value(&c.from), value(&c.to))?;
    }
    let s = &d.sources;
    writeln!(
        out,
        "sources: {} added, {} removed, {} changed, {} unchanged",
        s.added.len(),
        s.removed.len(),
        s.changed.len(),
        s.unchanged
    )?;
    for (sign, paths) in [("+", &s.added), ("-", &s.removed), ("~", &s.changed)] {
        for p in paths {
            writeln!(out, "  {sign} {}", p.display())?;
        }
    }
    let docs = &d.documents;
    writeln!(
        out,
        "documents: {} added, {} removed, {} changed, {} unchanged",
        docs.added.len(),
        docs.removed.len(),
        docs.changed.len(),
        docs.unchanged
    )?;
    let limit = if all { usize::MAX } else { 10 };
    for (sign, ids) in [
        ("+", &docs.added),
        ("-", &docs.removed),
        ("~", &docs.changed),
    ] {
        write_capped(out, &format!("{sign} "), ids, limit)?;
    }
    writeln!(out, "counters: {} step(s) differ", d.steps.len())?;
    for c in &d.steps {
        let show = |c: &Option<atelier_store::StepCounts>| match c {
            None => "(not run)".to_owned(),
            Some(c) => format!(
                "in {} kept {} dropped {} quarantined {}",
                c.documents_in,
                c.kept,
                c.dropped.values().sum::<u64>(),
                c.quarantined
            ),
        };
        writeln!(
            out,
            "  {:<12} {}  ->  {}",
            c.name,
            show(&c.from),
            show(&c.to)
        )?;
    }
    Ok(())
}

/// `atelier gc`.
pub fn gc(args: &GcArgs) -> Result<ExitCode> {
    let store = args.project.open()?;
    let _lock = ProjectLock::acquire(store.project(), "atelier gc")?;
    let options = GcOptions {
        dry_run: args.dry_run,
        keep_last: args.keep_last,
    };
    let r = store.gc(&options)?;
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut out = std::io::stdout().lock();
    if !r.versions_removed.is_empty() {
        writeln!(
            out,
            "{verb} {} version(s): {}",
            r.versions_removed.len(),
            r.versions_removed.join(", ")
        )?;
    }
    if !r.aliases_removed.is_empty() {
        writeln!(
            out,
            "{verb} alias(es) of removed versions: {}",
            r.aliases_removed.join(", ")
        )?;
    }
    writeln!(
        out,
        "{verb} {} object(s) and {} record(s) no version reaches ({}), and {} leftover \
         temporary file(s); kept {} object(s) and {} record(s)",
        r.objects_removed,
        r.records_removed,
        human_bytes(r.bytes_removed),
        r.temporaries_removed,
        r.objects_kept,
        r.records_kept
    )?;
    if r.packs_removed + r.packs_kept > 0 {
        writeln!(
            out,
            "packs: {verb} {}, kept {} (holding {} entr(ies) no version reaches, kept until a \
             repack)",
            r.packs_removed, r.packs_kept, r.packed_garbage
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `atelier alias`.
pub fn alias(args: &AliasArgs) -> Result<ExitCode> {
    let store = args.project.open()?;
    if args.remove {
        store.remove_alias(&args.name)?;
        println!("removed alias {}", args.name);
    } else {
        let version = args.target.as_deref().expect("clap requires it");
        let target = store.resolve(version)?;
        let current = match store.alias(&args.name)? {
            Some(id) => Some(store.resolve(&id)?),
            None => None,
        };
        // A server follows `prod` (by default) to serve models: it would refuse a dataset.
        let serves = current
            .as_ref()
            .map_or(args.name == "prod", |m| m.kind != Kind::Dataset);
        let changes_kind = current.as_ref().is_some_and(|m| m.kind != target.kind);
        if !args.force && ((serves && target.kind == Kind::Dataset) || changes_kind) {
            let was = current.as_ref().map_or_else(
                || "serves models (`atelier serve` follows it)".to_owned(),
                |m| format!("names {} version {} ({})", kind_name(m.kind), m.id, m.name),
            );
            bail!(
                "alias `{}` {was}, but {} is a {} version ({}): a server following it \
                 would refuse it. Name a {} version, or use --force",
                args.name,
                target.id,
                kind_name(target.kind),
                target.name,
                current.as_ref().map_or("model", |m| kind_name(m.kind)),
            );
        }
        let id = store.set_alias(&args.name, version)?;
        println!("{} -> {id}", args.name);
    }
    Ok(ExitCode::SUCCESS)
}
