//! How many worker threads a command with `--workers` uses.

/// The worker count: as asked, else one per CPU.
pub fn count(asked: Option<usize>) -> usize {
    asked.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
