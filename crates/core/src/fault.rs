//! Failure injection for the resume tests: a process that meets a crash point kills
//! itself with SIGKILL, as an out-of-memory killer or a pre-empting scheduler would,
//! once the count named by an environment variable is reached; a fault point fails
//! there as a full disk does.

use std::collections::HashMap;
use std::sync::Mutex;

/// Per point: its limit (from the environment) and the passages so far.
type Counters = HashMap<&'static str, (Option<u64>, u64)>;

/// Counts one passage through the point named by `variable`: whether this is the N-th,
/// with `variable=N` in the environment (over the whole process).
fn reached(variable: &'static str) -> bool {
    static SEEN: Mutex<Option<Counters>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let entry = seen
        .get_or_insert_with(HashMap::new)
        .entry(variable)
        .or_insert_with(|| (std::env::var(variable).ok().and_then(|v| v.parse().ok()), 0));
    let Some(limit) = entry.0 else { return false };
    entry.1 += 1;
    entry.1 == limit
}

/// A crash point: the N-th passage kills the process.
pub fn crash_point(variable: &'static str) {
    if reached(variable) {
        // SAFETY: sending a signal to our own pid has no memory-safety preconditions.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

/// The variable naming the stage boundary where [`crash_at`] kills the process.
pub const CRASH_AT: &str = "ATELIER_CRASH_AT";

/// A named crash point: kills the process when `ATELIER_CRASH_AT` names `point`. The
/// points are stage boundaries: a run's stage name once all its tasks have their
/// markers (`map0`, `step6-dedup.buckets`, ...), `commit` (a version's folder assembled,
/// not yet renamed into place) and `train` (a model trained, not yet committed).
pub fn crash_at(point: &str) {
    if std::env::var_os(CRASH_AT).is_some_and(|v| v == point) {
        // SAFETY: sending a signal to our own pid has no memory-safety preconditions.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

/// A fault point: the N-th passage fails with "no space left on device".
pub fn io_fault(variable: &'static str) -> std::io::Result<()> {
    if reached(variable) {
        return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
    }
    Ok(())
}
