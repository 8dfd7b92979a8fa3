//! Resident memory of this process: now and at its peak. Every crate reads it here,
//! so that the page size and units are handled once.

/// Resident memory of this process now, bytes (`/proc/self/statm` times the page size;
/// 0 where unreadable).
pub fn rss_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(0) as u64
}

/// Peak resident memory of this process so far, bytes (`getrusage`'s `ru_maxrss`, which
/// Linux gives in KiB; 0 where it fails).
pub fn peak_rss_bytes() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a full rusage into the pointer we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return 0;
    }
    // SAFETY: rc == 0 means the struct was filled.
    let usage = unsafe { usage.assume_init() };
    (usage.ru_maxrss.max(0) as u64) * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_now_and_at_peak_are_in_bytes() {
        let now = rss_bytes();
        let peak = peak_rss_bytes();
        if cfg!(target_os = "linux") {
            assert!(now > 0, "statm is readable on Linux");
            // Both in bytes: a unit slip (pages or KiB) would put one a thousand times off
            // the other. Other test threads allocate and free meanwhile, so loosely.
            assert!(
                peak.saturating_mul(2) >= now,
                "peak {peak} vs current {now}"
            );
            assert!(
                peak < now.saturating_mul(256),
                "peak {peak} vs current {now}"
            );
        }
    }
}
