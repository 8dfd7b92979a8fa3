//! Finding input files and cutting them into units.
//!
//! [`list_source`] turns a recipe's input path into files: a file gives itself, a folder
//! its files, recursively, sorted by path. Hidden files and folders (name starting with
//! `.`) are left out, and so are the files whose format cannot be told from their name
//! (when no format is set) or whose name says another format than the one set; those
//! are returned in [`Listing::skipped`]. When `spamassassin` is set, `.json`/`.jsonl`
//! files are taken too. Symbolic links are followed, each folder visited once.
//!
//! [`split`] cuts a large file of a splittable format into byte ranges of about
//! `task_bytes` each.

use crate::Unit;
use atelier_core::Format;
use atelier_core::format::Compression;
use serde::Serialize;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

/// One input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputFile {
    /// The file, as found (joined to the listed folder).
    pub path: PathBuf,
    /// How its records are laid out.
    pub format: Format,
    /// How it is compressed.
    pub compression: Compression,
    /// Its size in bytes, as stored.
    pub size: u64,
}

/// The files of an input path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// The files to read, sorted by path.
    pub files: Vec<InputFile>,
    /// Files of a folder left out because their format is unknown or another one, sorted.
    pub skipped: Vec<PathBuf>,
}

/// Why an input path cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// Nothing at that path.
    #[error("{}: no such file or folder", .0.display())]
    Missing(PathBuf),
    /// A file whose format its name does not tell.
    #[error("{}: cannot tell the format from the file name; set `format`", .0.display())]
    UnknownFormat(PathBuf),
    /// The file system refused.
    #[error("{}: {error}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// What failed.
        error: io::Error,
    },
}

/// Lists the files of an input path; `format` overrides detection from file names.
pub fn list_source(path: &Path, format: Option<Format>) -> Result<Listing, ListError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ListError::Missing(path.to_path_buf()));
        }
        Err(source) => {
            return Err(ListError::Io {
                path: path.to_path_buf(),
                error: source,
            });
        }
    };
    let mut listing = Listing::default();
    if !meta.is_dir() {
        let format = format
            .or_else(|| Format::detect(path))
            .ok_or_else(|| ListError::UnknownFormat(path.to_path_buf()))?;
        listing
            .files
            .push(input_file(path.to_path_buf(), format, meta.len()));
        return Ok(listing);
    }
    let mut visited = HashSet::new();
    walk(path, format, &mut listing, &mut visited)?;
    listing.files.sort_by(|a, b| a.path.cmp(&b.path));
    listing.skipped.sort();
    Ok(listing)
}

fn input_file(path: PathBuf, format: Format, size: u64) -> InputFile {
    let compression = Compression::detect(&path);
    InputFile {
        path,
        format,
        compression,
        size,
    }
}

/// The format a folder's file is read as, if it is taken.
fn format_of(path: &Path, set: Option<Format>) -> Option<Format> {
    let detected = Format::detect(path);
    match set {
        None => detected,
        Some(Format::Spamassassin) if detected == Some(Format::Jsonl) => set,
        Some(set) if detected.is_none_or(|d| d == set) => Some(set),
        Some(_) => None,
    }
}

fn walk(
    dir: &Path,
    format: Option<Format>,
    listing: &mut Listing,
    visited: &mut HashSet<PathBuf>,
) -> Result<(), ListError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |error| ListError::Io { path, error }
    };
    let canonical = dir.canonicalize().map_err(io_error(dir))?;
    if !visited.insert(canonical) {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follows symbolic links.
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            // A dangling link: listed all the same, so that reading it fails and the
            // run reports it, rather than losing it silently.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match format_of(&path, format) {
                    Some(format) => listing.files.push(input_file(path, format, 0)),
                    None => listing.skipped.push(path),
                }
                continue;
            }
            Err(error) => return Err(ListError::Io { path, error }),
        };
        if meta.is_dir() {
            walk(&path, format, listing, visited)?;
        } else if let Some(format) = format_of(&path, format) {
            listing.files.push(input_file(path, format, meta.len()));
        } else {
            listing.skipped.push(path);
        }
    }
    Ok(())
}

/// The units of one file: the whole file, or for a splittable file larger than
/// `task_bytes` (and `task_bytes > 0`), ranges of about `task_bytes`, the last one open.
pub fn split(file: &InputFile, task_bytes: u64) -> Vec<Unit> {
    let unit = |start: u64, end: Option<u64>| Unit {
        path: file.path.clone(),
        format: file.format,
        compression: file.compression,
        start,
        end,
    };
    if task_bytes == 0 || file.size <= task_bytes || !file.format.splittable(file.compression) {
        return vec![unit(0, None)];
    }
    let count = file.size.div_ceil(task_bytes);
    let step = file.size.div_ceil(count);
    (0..count)
        .map(|i| unit(i * step, (i + 1 < count).then_some((i + 1) * step)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(format: Format, compression: Compression, size: u64) -> InputFile {
        InputFile {
            path: "f".into(),
            format,
            compression,
            size,
        }
    }

    #[test]
    fn splits_only_large_splittable_files() {
        assert_eq!(
            split(&file(Format::Html, Compression::None, 1000), 10).len(),
            1
        );
        assert_eq!(
            split(&file(Format::Jsonl, Compression::Gzip, 1000), 10).len(),
            1
        );
        assert_eq!(
            split(&file(Format::Jsonl, Compression::None, 10), 10).len(),
            1
        );
        let units = split(&file(Format::Warc, Compression::Gzip, 1000), 300);
        let ranges: Vec<_> = units.iter().map(|u| (u.start, u.end)).collect();
        assert_eq!(
            ranges,
            [
                (0, Some(250)),
                (250, Some(500)),
                (500, Some(750)),
                (750, None)
            ]
        );
    }
}
