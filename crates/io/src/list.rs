//! Finding input files and cutting them into units.
//!
//! [`list`] turns a recipe's source into files:
//!
//! - a local file gives itself, a folder its files, recursively, sorted by path. Hidden
//!   files and folders (name starting with `.`) are left out. Symbolic links are
//!   followed, each folder visited once.
//! - an `http(s)://` URL gives that file, its size and version asked with a `HEAD`.
//! - a list of paths (`paths`, plain or gzip, local or remote; Common Crawl's
//!   `warc.paths.gz`) gives its lines, each resolved against `base` (by default where
//!   the list lies), in the list's order. Remote files are asked about with a `HEAD` on
//!   a few threads; a file that cannot be reached (no answer, `404`, a redirect, which
//!   is not followed) fails the listing with an error naming every such file and what
//!   the server said.
//!
//! `include` and `exclude` glob patterns select files by their path relative to the
//! source folder (the line as written for a list, the file name for a single file);
//! then `limit` keeps the first files. A set `format` applies to every selected file
//! whatever its name (its compression is still told by its last extension); without
//! it, the format comes from each file's extensions, and a folder's files that do not
//! tell one are returned in [`Listing::skipped`].
//!
//! [`split`] cuts a large file of a splittable format into byte ranges of about
//! `task_bytes` each, where it can be read by ranges (always for local files, when the
//! server says `Accept-Ranges: bytes` for remote ones).

use crate::Unit;
use crate::http::HttpError;
use crate::location::{Location, client};
use atelier_core::Format;
use atelier_core::format::Compression;
use atelier_core::recipe::{SourceSettings, is_url};
use serde::Serialize;
use std::collections::HashSet;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Threads that ask remote servers about the files of a list.
const PROBE_THREADS: usize = 8;
/// Largest path list read.
const MAX_LIST_BYTES: u64 = 256 << 20;

/// One input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputFile {
    /// The file: a local path (joined to the listed folder) or a URL.
    #[serde(rename = "path")]
    pub location: Location,
    /// How its records are laid out.
    pub format: Format,
    /// How it is compressed.
    pub compression: Compression,
    /// Its size in bytes, as stored (0 for a remote file whose server does not say).
    pub size: u64,
    /// Whether byte ranges of it can be read: always for a local file, for a remote one
    /// when its server serves ranges and tells its size.
    pub ranges: bool,
    /// For a remote file, what tells one state of it from another without reading it:
    /// `etag:` and its `ETag`, else `last-modified:` and its `Last-Modified`; `None`
    /// for a local file, and for a remote one whose server gives neither.
    pub version: Option<String>,
}

impl InputFile {
    /// A local file.
    pub fn local(path: PathBuf, format: Format, size: u64) -> InputFile {
        let compression = Compression::detect(&path);
        InputFile {
            location: Location::Local(path),
            format,
            compression,
            size,
            ranges: true,
            version: None,
        }
    }
}

/// The files of a source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// The files to read, sorted by path (in the list's order for a list).
    pub files: Vec<InputFile>,
    /// Files of a folder left out because their format is unknown, sorted.
    pub skipped: Vec<PathBuf>,
}

/// Why a source cannot be listed.
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
    /// A remote file or list cannot be reached.
    #[error("{0}")]
    Http(HttpError),
    /// Files of a list that cannot be read, each with why.
    #[error("{} file(s) of {list} cannot be read: {}", problems.len(), problems.join("; "))]
    Unreadable {
        /// The list.
        list: String,
        /// Each file and what went wrong.
        problems: Vec<String>,
    },
    /// A source with neither `path` nor `paths`, or a bad glob pattern.
    #[error("{0}")]
    Settings(String),
}

/// Lists the local files of a path; `format` applies to every file.
pub fn list_source(path: &Path, format: Option<Format>) -> Result<Listing, ListError> {
    list(&SourceSettings {
        format,
        ..SourceSettings::path(path)
    })
}

/// Lists the files of a recipe's source (its paths resolved).
pub fn list(source: &SourceSettings) -> Result<Listing, ListError> {
    let filter = Filter::new(source)?;
    let mut listing = match (&source.path, &source.paths) {
        (Some(path), _) if is_url(path) => remote_file(path, source.format, &filter)?,
        (Some(path), _) => local(path, source.format, &filter)?,
        (None, Some(paths)) => path_list(paths, source, &filter)?,
        (None, None) => {
            return Err(ListError::Settings(
                "a source needs `path` or `paths`".into(),
            ));
        }
    };
    if let Some(limit) = source.limit {
        listing.files.truncate(limit);
    }
    Ok(listing)
}

/// The include and exclude patterns of a source.
struct Filter {
    include: Vec<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
}

impl Filter {
    fn new(source: &SourceSettings) -> Result<Filter, ListError> {
        let compile = |patterns: &[String]| {
            patterns
                .iter()
                .map(|p| {
                    glob::Pattern::new(p)
                        .map_err(|e| ListError::Settings(format!("bad glob pattern `{p}`: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Filter {
            include: compile(&source.include)?,
            exclude: compile(&source.exclude)?,
        })
    }

    /// Whether a file named `name` (relative to its source) is selected.
    fn takes(&self, name: &str) -> bool {
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        let matches = |p: &glob::Pattern| p.matches_with(name, options);
        (self.include.is_empty() || self.include.iter().any(matches))
            && !self.exclude.iter().any(matches)
    }
}

/// The format a file is read as, if it is taken: the one set, else the one its name
/// tells.
fn format_of(path: &Path, set: Option<Format>) -> Option<Format> {
    set.or_else(|| Format::detect(path))
}

fn local(path: &Path, format: Option<Format>, filter: &Filter) -> Result<Listing, ListError> {
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
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if filter.takes(&name) {
            let format = format_of(path, format)
                .ok_or_else(|| ListError::UnknownFormat(path.to_path_buf()))?;
            listing
                .files
                .push(InputFile::local(path.to_path_buf(), format, meta.len()));
        }
        return Ok(listing);
    }
    let mut visited = HashSet::new();
    let mut walk = Walk {
        root: path,
        format,
        filter,
        listing: &mut listing,
        visited: &mut visited,
    };
    walk.dir(path)?;
    listing.files.sort_by(|a, b| a.location.cmp(&b.location));
    listing.skipped.sort();
    Ok(listing)
}

/// A walk through a source folder.
struct Walk<'a> {
    root: &'a Path,
    format: Option<Format>,
    filter: &'a Filter,
    listing: &'a mut Listing,
    visited: &'a mut HashSet<PathBuf>,
}

impl Walk<'_> {
    /// Takes a file if the patterns select it and its format is known.
    fn file(&mut self, path: PathBuf, size: u64) {
        let relative = path.strip_prefix(self.root).unwrap_or(&path);
        if !self.filter.takes(&relative.to_string_lossy()) {
            return;
        }
        match format_of(&path, self.format) {
            Some(format) => self
                .listing
                .files
                .push(InputFile::local(path, format, size)),
            None => self.listing.skipped.push(path),
        }
    }

    fn dir(&mut self, dir: &Path) -> Result<(), ListError> {
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |error| ListError::Io { path, error }
        };
        let canonical = dir.canonicalize().map_err(io_error(dir))?;
        if !self.visited.insert(canonical) {
            return Ok(());
        }
        for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
            let entry = entry.map_err(io_error(dir))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            // Follows symbolic links.
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => self.dir(&path)?,
                Ok(meta) => self.file(path, meta.len()),
                // A dangling link: listed all the same, so that reading it fails and the
                // run reports it, rather than losing it silently.
                Err(e) if e.kind() == io::ErrorKind::NotFound => self.file(path, 0),
                Err(error) => return Err(ListError::Io { path, error }),
            }
        }
        Ok(())
    }
}

/// One remote file, asked about with a `HEAD`.
fn remote_input(url: &str, format: Format) -> Result<InputFile, HttpError> {
    let probe = client().probe(url)?;
    if probe.status >= 300 {
        // Redirects are not followed: the URL to read is the one it points to.
        return Err(HttpError::Status {
            url: url.to_string(),
            status: probe.status,
            attempts: 1,
        });
    }
    let location = Location::Remote(url.to_string());
    let compression = Compression::detect(&location.file_name_path());
    let version = match (probe.etag, probe.last_modified) {
        (Some(etag), _) => Some(format!("etag:{etag}")),
        (None, Some(date)) => Some(format!("last-modified:{date}")),
        (None, None) => None,
    };
    Ok(InputFile {
        location,
        format,
        compression,
        size: probe.length.unwrap_or(0),
        ranges: probe.ranges && probe.length.is_some(),
        version,
    })
}

fn remote_file(path: &Path, format: Option<Format>, filter: &Filter) -> Result<Listing, ListError> {
    let location = Location::new(path);
    let Location::Remote(url) = &location else {
        unreachable!("a URL");
    };
    let name_path = location.file_name_path();
    let mut listing = Listing::default();
    if !filter.takes(&name_path.file_name().unwrap_or_default().to_string_lossy()) {
        return Ok(listing);
    }
    let format =
        format_of(&name_path, format).ok_or_else(|| ListError::UnknownFormat(location.name()))?;
    listing
        .files
        .push(remote_input(url, format).map_err(ListError::Http)?);
    Ok(listing)
}

/// The bytes of a path list, gunzipped when they are gzip.
fn read_list(list: &Location) -> Result<Vec<u8>, ListError> {
    let raw: Box<dyn Read> = match list {
        Location::Local(path) => match std::fs::File::open(path) {
            Ok(file) => Box::new(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ListError::Missing(path.clone()));
            }
            Err(error) => {
                return Err(ListError::Io {
                    path: path.clone(),
                    error,
                });
            }
        },
        Location::Remote(url) => {
            // A HEAD first, for a clear error (a 404 names its status).
            client().probe(url).map_err(ListError::Http)?;
            Box::new(client().reader(url, 0, None))
        }
    };
    let io_error = |error| ListError::Io {
        path: list.name(),
        error,
    };
    let mut bytes = Vec::new();
    raw.take(MAX_LIST_BYTES)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .take(MAX_LIST_BYTES)
            .read_to_end(&mut text)
            .map_err(io_error)?;
        bytes = text;
    }
    Ok(bytes)
}

/// Where the lines of a list are resolved: the given base, else the list's folder.
fn list_base(list: &Location, base: Option<&Path>) -> Location {
    match base {
        Some(base) => Location::new(base),
        None => match list {
            Location::Local(path) => {
                Location::Local(path.parent().unwrap_or(Path::new("/")).into())
            }
            Location::Remote(url) => {
                let end = url.find(['?', '#']).unwrap_or(url.len());
                let dir = url[..end].rfind('/').map_or(end, |i| i + 1);
                Location::Remote(url[..dir].to_string())
            }
        },
    }
}

/// One line of a list resolved against the base.
fn resolve(line: &str, base: &Location) -> Location {
    let path = Path::new(line);
    if is_url(path) || path.is_absolute() {
        return Location::new(path);
    }
    match base {
        Location::Local(dir) => Location::Local(dir.join(path)),
        Location::Remote(url) => Location::Remote(format!(
            "{}/{}",
            url.trim_end_matches('/'),
            line.trim_start_matches('/')
        )),
    }
}

/// The files of a list; only the first `limit` selected lines are asked about.
fn path_list(paths: &Path, source: &SourceSettings, filter: &Filter) -> Result<Listing, ListError> {
    let list = Location::new(paths);
    let text = read_list(&list)?;
    let base = list_base(&list, source.base.as_deref());
    let format = source.format;
    let mut entries = Vec::new();
    for line in String::from_utf8_lossy(&text).lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || !filter.takes(line) {
            continue;
        }
        if source.limit.is_some_and(|limit| entries.len() >= limit) {
            break;
        }
        let location = resolve(line, &base);
        let format = format_of(&location.file_name_path(), format)
            .ok_or_else(|| ListError::UnknownFormat(location.name()))?;
        entries.push((location, format));
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let found = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PROBE_THREADS.min(entries.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((location, format)) = entries.get(i) else {
                        break;
                    };
                    let file = match location {
                        Location::Remote(url) => {
                            remote_input(url, *format).map_err(|e| e.to_string())
                        }
                        Location::Local(path) => std::fs::metadata(path)
                            .map(|m| InputFile::local(path.clone(), *format, m.len()))
                            .map_err(|e| format!("{}: {e}", path.display())),
                    };
                    found.lock().expect("no panics").push((i, file));
                }
            });
        }
    });
    let mut found = found.into_inner().expect("threads joined");
    found.sort_by_key(|(i, _)| *i);
    let mut listing = Listing::default();
    let mut problems = Vec::new();
    for (_, file) in found {
        match file {
            Ok(file) => listing.files.push(file),
            Err(problem) => problems.push(problem),
        }
    }
    if !problems.is_empty() {
        return Err(ListError::Unreadable {
            list: list.to_string(),
            problems,
        });
    }
    Ok(listing)
}

/// The units of one file: the whole file, or for a splittable file larger than
/// `task_bytes` (and `task_bytes > 0`), ranges of about `task_bytes`, the last one open.
pub fn split(file: &InputFile, task_bytes: u64) -> Vec<Unit> {
    let unit = |start: u64, end: Option<u64>| Unit {
        location: file.location.clone(),
        format: file.format,
        compression: file.compression,
        start,
        end,
    };
    if task_bytes == 0
        || file.size <= task_bytes
        || !file.ranges
        || !file.format.splittable(file.compression)
    {
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
            compression,
            ..InputFile::local("f".into(), format, size)
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
