//! The project store: what lets a new version start from the last one instead of from
//! zero.
//!
//! It lives in the project folder (the recipe's folder), apart from the output folder's
//! own run state:
//!
//! ```text
//! <project>/.atelier/
//!   lock                        held by `atelier run` while it plans and drives a run
//!   store/objects/ab/cdef…      immutable blobs, named by the BLAKE3 hash of their bytes
//!   store/records/ab/cdef….json cached work, named by the hash of what it depended on
//!   store/packs/<hash>.pack     small objects and records of one task, in one file
//!   store/files.json.zst        content hashes of input files by path, size, mtime, inode
//!   store/tmp/                  objects being written
//!   versions/v1/                one folder per version: manifest.json and hard links to
//!   versions/v2/                  its objects (shards, index, quarantine, summary, and
//!                                 lists.json.zst: the manifest's sources and keys)
//!   versions/latest -> v2       aliases: symbolic links, moved atomically
//! ```
//!
//! - An **object** ([`Store::writer`], [`Store::link_file`]) is written under a temporary
//!   name, synced, and renamed to its hash, so it is either complete or absent.
//! - A **record** ([`Store::put_record`]) is a small JSON file naming the objects and the
//!   other records it needs; the runner keeps one per input unit and kept step prefix.
//! - A **pack** ([`Store::pack`], [`Pack`]) holds a task's small objects and records in
//!   one file, compressed together in blocks and synced once when the task ends: a
//!   folder of thousands of small inputs costs a few files and fsyncs per task, not a
//!   few per input, and its small entries compress against each other.
//! - A **version** ([`Store::commit`], [`Manifest`]) is an immutable folder that appears
//!   by one rename once everything in it is in place: a crash never leaves half of one
//!   visible. Datasets and models have the same manifest; a model names the dataset
//!   versions it was trained on.
//! - **Aliases** ([`Store::set_alias`]) are movable names (`latest`, `prod`, ...).
//! - **gc** ([`Store::gc`]) removes the objects and records that no version reaches
//!   (every version and alias is a root), and the packs of which nothing is reached.
//! - The **lock** ([`ProjectLock`]) makes a second run on the same project fail at once
//!   with a message naming the holder, instead of mixing two runs.

mod diff;
mod files;
mod gc;
mod hash;
mod lock;
mod objects;
mod pack;
mod version;

pub use diff::{
    DocumentChanges, SettingChange, SourceChanges, StepChange, StepCounts, VersionDiff, diff,
};
pub use files::FileHashes;
pub use gc::{GcOptions, GcReport};
pub use hash::{BadHash, Hash, KeyBuilder};
pub use lock::ProjectLock;
pub use objects::{ObjectWriter, Record, Store};
pub use pack::{BLOCK_BYTES, PACK_MAGIC, PACKED_OBJECT_MAX, Pack};
pub use version::{
    FileEntry, Kind, LISTS_FILE, MANIFEST_FORMAT, Manifest, NewVersion, RecipeInfo, SourceFile,
    StepInfo,
};

use std::path::{Path, PathBuf};

/// zstd level of the store's lists (`files.json.zst`, a version's `lists.json.zst`):
/// on paths and hex hashes, level 1 is both faster and smaller than 3 (the lists of
/// 5,497 mails: 0.41 MB in 1.7 ms at level 1, 0.43 MB in 5.3 ms at level 3).
const LISTS_ZSTD_LEVEL: i32 = 1;

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// Another process holds the project's lock.
    #[error(
        "another atelier process is working on this project ({holder}); wait for it to \
         finish, or stop it (lock: {})",
        path.display()
    )]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, as that process wrote it.
        holder: String,
    },
    /// No version or alias by that name.
    #[error("no version or alias `{name}` in {}{}", project.display(), known_names(.known))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The project folder.
        project: PathBuf,
        /// The versions and aliases there are.
        known: Vec<String>,
    },
    /// A name that cannot be an alias.
    #[error("`{0}` cannot be an alias: use letters, digits, `-`, `_` or `.`, not `v` and a number")]
    BadAlias(String),
    /// A file of the store is not what the store writes.
    #[error("{}: {what}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Something the store refuses to do.
    #[error("{0}")]
    Refused(String),
}

fn known_names(known: &[String]) -> String {
    if known.is_empty() {
        "; it has no versions yet".to_owned()
    } else {
        format!("; known: {}", known.join(", "))
    }
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            error: source,
        }
    }
}

/// The store's folder inside a project: `<project>/.atelier`.
pub fn state_dir(project: &Path) -> PathBuf {
    project.join(".atelier")
}
