//! Clocks for the counters: wall and CPU time of the calling thread. Memory is read by
//! [`atelier_bill::energy::peak_rss_bytes`].

use atelier_bill::energy::thread_cpu_seconds;
use std::time::Instant;

/// Seconds spent, on the wall clock and on this thread's CPU.
#[derive(Debug, Clone, Copy)]
pub struct Elapsed {
    pub wall: f64,
    pub cpu: f64,
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
    pub fn elapsed(&self) -> Elapsed {
        Elapsed {
            wall: self.wall.elapsed().as_secs_f64(),
            cpu: (thread_cpu_seconds() - self.cpu).max(0.0),
        }
    }
}
