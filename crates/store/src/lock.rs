//! The project lock: one process at a time plans and drives runs, or collects garbage, in
//! a project.
//!
//! It is an advisory `flock` on `<project>/.atelier/lock`, so the kernel releases it when
//! its holder exits, however it exits: a killed run never leaves a stale lock. The holder
//! writes who it is into the file, for the message the next one gets.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::StoreError;

/// A held project lock; released when dropped.
#[derive(Debug)]
pub struct ProjectLock {
    file: File,
    path: PathBuf,
}

impl ProjectLock {
    /// Takes the lock of the project in `project`, or fails at once with
    /// [`StoreError::Busy`] naming its holder. `what` says what the holder is doing.
    pub fn acquire(project: &Path, what: &str) -> Result<ProjectLock, StoreError> {
        let dir = crate::state_dir(project);
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let path = dir.join("lock");
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(StoreError::Busy {
                    path,
                    holder: if holder.is_empty() {
                        "holder unknown".to_owned()
                    } else {
                        holder.to_owned()
                    },
                });
            }
            return Err(StoreError::io(&path, error));
        }
        let since = std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_secs());
        let about = format!(
            "pid {}: {what}, since {}",
            std::process::id(),
            atelier_core::utc(since)
        );
        let written = file
            .set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(about.as_bytes()));
        written.map_err(|e| StoreError::io(&path, e))?;
        Ok(ProjectLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ProjectLock {
    fn drop(&mut self) {
        // Say nothing stale to the next reader; the kernel drops the lock on close.
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name() {
        let dir = tempfile::tempdir().unwrap();
        let first = ProjectLock::acquire(dir.path(), "atelier run atelier.toml").unwrap();
        let err = ProjectLock::acquire(dir.path(), "atelier gc").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Busy { .. }), "{text}");
        assert!(
            text.contains(&format!(
                "pid {}: atelier run atelier.toml",
                std::process::id()
            )),
            "{text}"
        );
        drop(first);
        ProjectLock::acquire(dir.path(), "atelier gc").expect("free once released");
    }
}
