//! Failure injection for the resume tests: a process that meets a crash point kills
//! itself with SIGKILL, as an out-of-memory killer or a pre-empting scheduler would,
//! once the count named by an environment variable is reached.

use std::collections::HashMap;
use std::sync::Mutex;

/// Per crash point: its limit (from the environment) and the passages so far.
type Counters = HashMap<&'static str, (Option<u64>, u64)>;

/// Counts one passage through the crash point named by `variable`; with `variable=N` in
/// the environment, the N-th passage (over the whole process) kills the process.
pub fn crash_point(variable: &'static str) {
    static SEEN: Mutex<Option<Counters>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let entry = seen
        .get_or_insert_with(HashMap::new)
        .entry(variable)
        .or_insert_with(|| (std::env::var(variable).ok().and_then(|v| v.parse().ok()), 0));
    let Some(limit) = entry.0 else { return };
    entry.1 += 1;
    if entry.1 >= limit {
        // SAFETY: sending a signal to our own pid has no memory-safety preconditions.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}
