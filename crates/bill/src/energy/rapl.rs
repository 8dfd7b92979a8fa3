//! RAPL: the processor's energy counters, read through Linux powercap.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What [`Rapl::read`] gives: joules since opening.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RaplReading {
    /// Summed over the package zones.
    pub package_joules: f64,
    /// Summed over the DRAM zones; `None` without one.
    pub dram_joules: Option<f64>,
}

/// RAPL energy counters read through powercap, with wraparound handled.
pub struct Rapl {
    zones: Mutex<Vec<Zone>>,
}

struct Zone {
    energy: PathBuf,
    max_uj: u64,
    last_uj: u64,
    total_joules: f64,
    dram: bool,
}

impl Rapl {
    /// Opens the package zones (`intel-rapl:N` named `package-*`) and their `dram`
    /// subzones under a powercap folder; `None` when there are none or they cannot be
    /// read.
    pub fn open(powercap: &Path) -> Option<Rapl> {
        let mut zones = Vec::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(powercap)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for dir in entries {
            let file = dir.file_name()?.to_string_lossy().into_owned();
            let Some(index) = file.strip_prefix("intel-rapl:") else {
                continue;
            };
            let name = std::fs::read_to_string(dir.join("name")).unwrap_or_default();
            let name = name.trim();
            let dram = match index.matches(':').count() {
                0 if name.starts_with("package") => false,
                1 if name == "dram" => true,
                _ => continue,
            };
            let read = |f: &str| -> Option<u64> {
                std::fs::read_to_string(dir.join(f))
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            };
            let (Some(now), Some(max_uj)) = (read("energy_uj"), read("max_energy_range_uj")) else {
                continue;
            };
            zones.push(Zone {
                energy: dir.join("energy_uj"),
                max_uj,
                last_uj: now,
                total_joules: 0.0,
                dram,
            });
        }
        if zones.iter().any(|z| !z.dram) {
            Some(Rapl {
                zones: Mutex::new(zones),
            })
        } else {
            None
        }
    }

    pub(super) fn packages(&self) -> usize {
        self.zones
            .lock()
            .map_or(0, |z| z.iter().filter(|z| !z.dram).count())
    }

    pub(super) fn has_dram(&self) -> bool {
        self.zones.lock().is_ok_and(|z| z.iter().any(|z| z.dram))
    }

    /// Joules since opening, summed over packages, and over DRAM zones if any.
    pub fn read(&self) -> RaplReading {
        let Ok(mut zones) = self.zones.lock() else {
            return RaplReading {
                package_joules: 0.0,
                dram_joules: None,
            };
        };
        let (mut package, mut dram, mut any_dram) = (0.0, 0.0, false);
        for z in zones.iter_mut() {
            if let Some(now) = std::fs::read_to_string(&z.energy)
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
            {
                let delta = if now >= z.last_uj {
                    now - z.last_uj
                } else {
                    // The counter wrapped past max_energy_range_uj back to zero.
                    z.max_uj.saturating_sub(z.last_uj) + now
                };
                z.total_joules += delta as f64 * 1e-6;
                z.last_uj = now;
            }
            if z.dram {
                dram += z.total_joules;
                any_dram = true;
            } else {
                package += z.total_joules;
            }
        }
        RaplReading {
            package_joules: package,
            dram_joules: any_dram.then_some(dram),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(root: &Path, name: &str, label: &str, uj: u64, max: u64) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("name"), format!("{label}\n")).unwrap();
        std::fs::write(dir.join("energy_uj"), format!("{uj}\n")).unwrap();
        std::fs::write(dir.join("max_energy_range_uj"), format!("{max}\n")).unwrap();
    }

    #[test]
    fn rapl_sums_packages_and_survives_a_wrap() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        zone(
            root,
            "intel-rapl:0",
            "package-0",
            900_000_000,
            1_000_000_000,
        );
        zone(root, "intel-rapl:1", "package-1", 10_000_000, 1_000_000_000);
        zone(root, "intel-rapl:0:0", "dram", 5_000_000, 1_000_000_000);
        zone(root, "intel-rapl:0:1", "core", 1, 1_000_000_000);
        zone(root, "intel-rapl:2", "psys", 1, 1_000_000_000);
        zone(root, "intel-rapl-mmio:0", "package-0", 1, 1_000_000_000);
        let rapl = Rapl::open(root).unwrap();
        assert_eq!(rapl.packages(), 2);
        assert!(rapl.has_dram());
        assert_eq!(
            rapl.read(),
            RaplReading {
                package_joules: 0.0,
                dram_joules: Some(0.0)
            }
        );
        // Package 0 wraps: 900 -> 1000 (max) -> 0 -> 50 J is 150 J. Package 1 adds 20 J.
        std::fs::write(root.join("intel-rapl:0/energy_uj"), "50000000").unwrap();
        std::fs::write(root.join("intel-rapl:1/energy_uj"), "30000000").unwrap();
        std::fs::write(root.join("intel-rapl:0:0/energy_uj"), "7000000").unwrap();
        let RaplReading {
            package_joules: package,
            dram_joules: dram,
        } = rapl.read();
        assert!((package - 170.0).abs() < 1e-6, "{package}");
        assert!((dram.unwrap() - 2.0).abs() < 1e-6);
        // And keeps counting after the wrap.
        std::fs::write(root.join("intel-rapl:0/energy_uj"), "60000000").unwrap();
        assert!((rapl.read().package_joules - 180.0).abs() < 1e-6);
    }

    #[test]
    fn unreadable_or_missing_rapl_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Rapl::open(dir.path()).is_none());
        assert!(Rapl::open(&dir.path().join("absent")).is_none());
        zone(dir.path(), "intel-rapl:0:0", "dram", 1, 10);
        assert!(
            Rapl::open(dir.path()).is_none(),
            "DRAM alone is not a package"
        );
    }
}
