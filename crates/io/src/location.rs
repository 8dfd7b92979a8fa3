//! Where an input file lies: on this machine, or behind an `http://` or `https://` URL.
//!
//! A [`Location::Remote`] file is read through one process-wide [`HttpClient`]
//! ([`client`]) as a stream that resumes with a `Range` request when the connection
//! breaks, and is split into byte ranges like a local file when its server serves
//! ranges (`Accept-Ranges: bytes`): a range starting at `start` asks for the bytes from
//! `start` on, and the readers find the first record boundary in that stream as they do
//! in a file. Moving back (after a bad record) asks for the bytes again from there.
//!
//! # Object stores
//!
//! S3-compatible storage (`s3://bucket/key`) would plug in as a third variant holding
//! the store's URL: listing would call `object_store::ObjectStore::list` for a prefix
//! (its `ObjectMeta` gives the size and an ETag, which make the file's identity as for
//! HTTP), and reading would wrap `get_range` (or `get_opts` with a range) in a blocking
//! `Read` that asks for the next part when one ends and again from where it stopped when
//! a request fails, as [`crate::http::RemoteReader`] does. The readers need nothing else:
//! they only ask a source for the bytes from a position on.

use crate::http::{HttpClient, HttpOptions};
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where one input file lies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum Location {
    /// A file on this machine.
    Local(PathBuf),
    /// The `http://` or `https://` URL of a file.
    Remote(String),
}

impl Location {
    /// A URL for a path that holds one (see [`atelier_core::recipe::is_url`]), else a
    /// local file.
    pub fn new(path: &Path) -> Location {
        match path.to_str() {
            Some(url) if atelier_core::recipe::is_url(path) => Location::Remote(url.to_string()),
            _ => Location::Local(path.to_path_buf()),
        }
    }

    /// The local path, for a local file.
    pub fn local(&self) -> Option<&Path> {
        match self {
            Location::Local(path) => Some(path),
            Location::Remote(_) => None,
        }
    }

    /// The path or URL as a path, for messages and [`crate::RecordError::path`].
    pub fn name(&self) -> PathBuf {
        match self {
            Location::Local(path) => path.clone(),
            Location::Remote(url) => PathBuf::from(url),
        }
    }

    /// The path whose extensions tell the format and compression: a URL's path, without
    /// its query and fragment.
    pub fn file_name_path(&self) -> PathBuf {
        match self {
            Location::Local(path) => path.clone(),
            Location::Remote(url) => {
                let end = url.find(['?', '#']).unwrap_or(url.len());
                PathBuf::from(&url[..end])
            }
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::Remote(url) => f.write_str(url),
        }
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Location {
        Location::Local(path)
    }
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Location {
        Location::Local(path.to_path_buf())
    }
}

/// The client that lists and reads remote sources: [`HttpOptions::default`] (three
/// retries with a doubling backoff from one second, a 30 s timeout per read).
pub fn client() -> &'static HttpClient {
    static CLIENT: OnceLock<HttpClient> = OnceLock::new();
    CLIENT.get_or_init(|| HttpClient::new(HttpOptions::default()))
}
