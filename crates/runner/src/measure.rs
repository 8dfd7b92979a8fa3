//! Clocks for the counters: CPU time of the calling thread and peak memory of the process.

use atelier_bill::energy::thread_cpu_seconds;
use std::time::Instant;

/// Peak resident memory of this process so far, in bytes.
pub fn peak_rss_bytes() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a full rusage into the pointer we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return 0;
    }
    // SAFETY: rc == 0 means the struct was filled. Linux reports ru_maxrss in KiB.
    let usage = unsafe { usage.assume_init() };
    (usage.ru_maxrss.max(0) as u64) * 1024
}

/// Wall and CPU time since a start point, added into counters.
pub struct Stopwatch {
    wall: Instant,
    cpu: f64,
}

impl Stopwatch {
    /// Starts both clocks.
    pub fn start() -> Self {
        Stopwatch {
            wall: Instant::now(),
            cpu: thread_cpu_seconds(),
        }
    }

    /// Wall and CPU seconds since start.
    pub fn elapsed(&self) -> (f64, f64) {
        (
            self.wall.elapsed().as_secs_f64(),
            (thread_cpu_seconds() - self.cpu).max(0.0),
        )
    }
}
