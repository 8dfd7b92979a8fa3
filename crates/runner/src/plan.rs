//! Planning: list the sources, cut large files into byte ranges, and deal the units to a
//! fixed number of tasks.
//!
//! The plan depends only on the recipe and the inputs, never on the number of workers,
//! so the same recipe over the same files always gives the same shards.

use atelier_core::Recipe;
use atelier_core::recipe::SourceSettings;
use atelier_io::{Location, Unit, list, split};
use serde::Serialize;
use std::path::{Path, PathBuf};

use crate::run::RunError;

/// The units one task reads.
#[derive(Debug, Clone, Serialize)]
pub struct TaskPlan {
    /// This task's rank, from 0.
    pub rank: usize,
    /// What it reads, in order.
    pub units: Vec<Unit>,
    /// Input bytes it covers.
    pub bytes: u64,
}

/// One input file of a run.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedFile {
    /// The file: a local path or a URL.
    #[serde(rename = "path")]
    pub location: Location,
    /// Its size in bytes when planned.
    pub size: u64,
    /// For a remote file, its `ETag` or `Last-Modified` (see
    /// [`atelier_io::InputFile::version`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Every task of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The tasks, by rank.
    pub tasks: Vec<TaskPlan>,
    /// The input files, in the order they are read.
    pub files: Vec<PlannedFile>,
    /// Files inside source folders that were skipped for an unknown extension.
    pub skipped: Vec<PathBuf>,
    /// Remote files whose server gives neither `ETag` nor `Last-Modified`: nothing
    /// tells whether they changed, so their work is never reused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unversioned: Vec<String>,
    /// A hash of the recipe's settings, the step versions and the inputs' names, sizes
    /// and modification times (URLs, sizes and `ETag` or `Last-Modified` for remote
    /// files): a run may resume another only when they agree. Paths
    /// inside the project are hashed relative to it, so a project moved or copied
    /// elsewhere (modification times kept) resumes its runs.
    pub fingerprint: String,
}

impl Plan {
    /// Input bytes over all tasks.
    pub fn bytes(&self) -> u64 {
        self.tasks.iter().map(|t| t.bytes).sum()
    }
}

/// A path as a run names it: relative to the project folder when it is inside it, so
/// that what a run records does not depend on where the project lies.
pub fn project_relative(path: &Path, project: Option<&Path>) -> PathBuf {
    project
        .and_then(|p| path.strip_prefix(p).ok())
        .map_or_else(|| path.to_path_buf(), Path::to_path_buf)
}

/// Builds the plan of a recipe whose project is `project` (none for a recipe built in
/// memory).
pub fn plan(recipe: &Recipe, project: Option<&Path>) -> Result<Plan, RunError> {
    let mut units = Vec::new();
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut unversioned = Vec::new();
    let mut hasher = blake3::Hasher::new();
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.update(
        serde_json::to_string(&recipe.dataset)
            .expect("settings serialize")
            .as_bytes(),
    );
    let mut output = recipe.output.clone();
    output.path = project_relative(&output.path, project);
    hasher.update(
        serde_json::to_string(&output)
            .expect("settings serialize")
            .as_bytes(),
    );
    for step in &recipe.steps {
        let c = &step.config;
        hasher.update(format!("{}@{}:{}", c.name(), c.version(), c.settings()).as_bytes());
    }
    let mut listed = Vec::new();
    for source in &recipe.sources {
        let listing = list(source).map_err(|e| RunError::Input(e.to_string()))?;
        skipped.extend(listing.skipped);
        for file in listing.files {
            match &file.location {
                Location::Local(path) => {
                    // A file this user may not read stops the run here, named:
                    // quarantined, it would count as one bad record, and a run with
                    // many files would pass without it. (A file gone since listing, or
                    // a dangling link, is quarantined.)
                    if let Err(error) = std::fs::File::open(path)
                        && error.kind() == std::io::ErrorKind::PermissionDenied
                    {
                        return Err(RunError::Unreadable {
                            path: path.clone(),
                            error,
                        });
                    }
                    let mtime = std::fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    let name = project_relative(path, project);
                    hasher.update(
                        format!("{}\0{}\0{}\0", name.display(), file.size, mtime).as_bytes(),
                    );
                }
                Location::Remote(url) => {
                    let version = file.version.as_deref().unwrap_or("");
                    hasher.update(format!("{url}\0{}\0{version}\0", file.size).as_bytes());
                    if file.version.is_none() {
                        unversioned.push(url.clone());
                    }
                }
            }
            files.push(PlannedFile {
                location: file.location.clone(),
                size: file.size,
                version: file.version.clone(),
            });
            listed.push(file);
        }
    }
    let piece = piece_bytes(
        listed.iter().map(|f| f.size).sum(),
        recipe.dataset.tasks,
        recipe.dataset.task_bytes,
    );
    for file in &listed {
        units.extend(
            split(file, piece)
                .into_iter()
                .map(|u| (unit_bytes(&u, file.size), u)),
        );
    }
    if files.is_empty() && !recipe.dataset.allow_empty {
        return Err(RunError::Input(nothing_to_read(recipe, &skipped)));
    }
    let total: u64 = units.iter().map(|(b, _)| b).sum();
    let count = match recipe.dataset.tasks {
        Some(n) => n,
        None => default_task_count(total, recipe.dataset.task_bytes, units.len()),
    };
    hasher.update(&count.to_le_bytes());
    Ok(Plan {
        tasks: deal(units, count),
        files,
        skipped,
        unversioned,
        fingerprint: hasher.finalize().to_hex().to_string(),
    })
}

/// Why sources with no file to read make no run: what they are, and what was skipped.
fn nothing_to_read(recipe: &Recipe, skipped: &[PathBuf]) -> String {
    let sources: Vec<String> = recipe.sources.iter().map(SourceSettings::name).collect();
    let mut message = format!("nothing to read in {}", sources.join(", "));
    if skipped.is_empty() {
        message.push_str(": no files");
    } else {
        const SHOWN: usize = 5;
        let names: Vec<String> = skipped
            .iter()
            .take(SHOWN)
            .map(|p| p.display().to_string())
            .collect();
        message.push_str(&format!(
            ": {} file(s) skipped for an unknown extension ({}{}); set `format` on the \
             source to read them",
            skipped.len(),
            names.join(", "),
            if skipped.len() > SHOWN { ", ..." } else { "" }
        ));
    }
    message.push_str(" (`allow_empty = true` in [dataset] accepts an empty run)");
    message
}

/// One task per `task_bytes` of input, but at least 16 tasks (or one per unit when there
/// are fewer units) so that small inputs still spread over workers. Never more tasks than
/// units. It depends on the inputs only, so outputs do not depend on the machine.
fn default_task_count(total_bytes: u64, task_bytes: u64, units: usize) -> usize {
    let by_size = total_bytes.div_ceil(task_bytes) as usize;
    by_size.max(units.min(16)).clamp(1, units.max(1))
}

/// Most bytes of a splittable file per unit: `task_bytes`, or less when the recipe asks
/// for more tasks than that gives, so that each of its `tasks` has work even on one
/// large file: about [`PIECES_PER_TASK`] units each, so that a worker done with its own
/// task early can take units of another (pages differ in cost, not only in bytes).
/// Rounded down to a power of two (at least 1 MiB), so that adding some input seldom
/// moves the ranges, and with them the reuse of earlier work.
fn piece_bytes(total_bytes: u64, tasks: Option<usize>, task_bytes: u64) -> u64 {
    match tasks {
        Some(n) if n > 1 => {
            let share = total_bytes / (n as u64 * PIECES_PER_TASK);
            let power = if share == 0 { 1 } else { 1 << share.ilog2() };
            task_bytes.min(power.max(MIN_PIECE))
        }
        _ => task_bytes,
    }
}

/// Smallest range [`piece_bytes`] cuts a file into for the sake of more tasks.
const MIN_PIECE: u64 = 1 << 20;

/// Units a task gets, about, when [`piece_bytes`] cuts a file for the sake of tasks.
const PIECES_PER_TASK: u64 = 8;

fn unit_bytes(unit: &Unit, file_size: u64) -> u64 {
    unit.end
        .unwrap_or(file_size)
        .saturating_sub(unit.start)
        .max(1)
}

/// Deals units to `count` tasks in order, each task taking a contiguous run of about the
/// same number of bytes. A unit goes to the task its middle byte falls in.
fn deal(units: Vec<(u64, Unit)>, count: usize) -> Vec<TaskPlan> {
    let total: u64 = units.iter().map(|(b, _)| b).sum::<u64>().max(1);
    let mut tasks: Vec<TaskPlan> = (0..count)
        .map(|rank| TaskPlan {
            rank,
            units: Vec::new(),
            bytes: 0,
        })
        .collect();
    let mut before = 0u64;
    for (bytes, unit) in units {
        let middle = before as u128 + bytes as u128 / 2;
        let rank = ((middle * count as u128) / total as u128).min(count as u128 - 1) as usize;
        tasks[rank].units.push(unit);
        tasks[rank].bytes += bytes;
        before += bytes;
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;
    use atelier_core::{Format, format::Compression};
    use proptest::prelude::*;

    fn unit(i: usize) -> Unit {
        Unit {
            location: PathBuf::from(format!("f{i:04}")).into(),
            format: Format::Text,
            compression: Compression::None,
            start: 0,
            end: None,
        }
    }

    proptest! {
        #[test]
        fn dealing_keeps_every_unit_once_in_order(sizes in proptest::collection::vec(1u64..10_000, 0..200), count in 1usize..16) {
            let units: Vec<_> = sizes.iter().enumerate().map(|(i, &b)| (b, unit(i))).collect();
            let tasks = deal(units.clone(), count);
            prop_assert_eq!(tasks.len(), count);
            let flat: Vec<Unit> = tasks.iter().flat_map(|t| t.units.clone()).collect();
            let expected: Vec<Unit> = units.into_iter().map(|(_, u)| u).collect();
            prop_assert_eq!(flat, expected);
            prop_assert_eq!(tasks.iter().map(|t| t.bytes).sum::<u64>(), sizes.iter().sum::<u64>());
        }
    }

    #[test]
    fn asking_for_tasks_cuts_large_files_so_each_has_work() {
        const MIB: u64 = 1 << 20;
        // One 34 MB file, two tasks: 2 MiB pieces (17 units, about 8 a task), not one
        // 64 MiB unit.
        assert_eq!(piece_bytes(34_000_000, Some(2), 64 * MIB), 2 * MIB);
        // Left alone without `tasks`, or when `task_bytes` is already smaller.
        assert_eq!(piece_bytes(34_000_000, None, 64 * MIB), 64 * MIB);
        assert_eq!(piece_bytes(34_000_000, Some(2), MIB), MIB);
        // Never below 1 MiB; a little more input keeps the same pieces.
        assert_eq!(piece_bytes(1_000, Some(8), 64 * MIB), MIB);
        assert_eq!(piece_bytes(36_000_000, Some(2), 64 * MIB), 2 * MIB);
    }

    #[test]
    fn equal_units_spread_evenly() {
        let units: Vec<_> = (0..12).map(|i| (100, unit(i))).collect();
        let tasks = deal(units, 4);
        assert!(tasks.iter().all(|t| t.units.len() == 3), "{tasks:?}");
    }
}
