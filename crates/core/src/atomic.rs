//! Files that appear whole or not at all: written under a temporary name beside their
//! final path, synced, then renamed into place. A crash leaves the old file (or none)
//! and a temporary file named `.{name}.XXXXXX.tmp`, which the runner removes when it
//! prepares an output folder and the readers skip as hidden.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A file being written; [`AtomicFile::commit`] puts it in place, dropping it discards
/// it.
pub struct AtomicFile {
    path: PathBuf,
    temp: tempfile::NamedTempFile,
}

impl AtomicFile {
    /// Starts the file that will be `path`, creating its folder if needed.
    pub fn create(path: impl Into<PathBuf>) -> io::Result<AtomicFile> {
        let path = path.into();
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::other(format!("{}: not a file path", path.display())))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir)?;
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".tmp")
            .tempfile_in(dir)?;
        Ok(AtomicFile { path, temp })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary file, open for writing.
    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// Syncs the file and renames it into place (replacing what was there), then syncs
    /// the folder so that the rename survives a power cut where the platform allows.
    pub fn commit(self) -> io::Result<()> {
        self.temp.as_file().sync_all()?;
        self.temp.persist(&self.path).map_err(|e| e.error)?;
        sync_parent(&self.path);
        Ok(())
    }

    /// Like [`AtomicFile::commit`], but leaves an existing file alone: returns false
    /// when `path` already exists (content-addressed files, equal by name).
    pub fn commit_new(self) -> io::Result<bool> {
        self.temp.as_file().sync_all()?;
        match self.temp.persist_noclobber(&self.path) {
            Ok(_) => {
                sync_parent(&self.path);
                Ok(true)
            }
            Err(e) if self.path.exists() => {
                drop(e);
                Ok(false)
            }
            Err(e) => Err(e.error),
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.temp.seek(pos)
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Syncs the folder holding `path`, which makes a rename or a new file in it durable.
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync_dir(dir);
    }
}

/// Syncs a folder, which makes renames and new files in it durable; not every
/// platform can open a folder, so failing is not an error.
pub fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        write_atomic(&path, b"one").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");

        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"two, half written").unwrap();
        let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .any(|n| n.starts_with(".state.json.") && n.ends_with(".tmp")),
            "{names:?}"
        );
        drop(file);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"one",
            "a dropped write changes nothing"
        );
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );

        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"three").unwrap();
        assert!(!file.commit_new().unwrap(), "an existing file is kept");
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
    }
}
