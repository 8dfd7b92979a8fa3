//! The meter: a [`Ledger`] per run, which knows the sources and the power model and
//! counts the running tasks, and a [`TaskMeter`] per task.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::{
    EnergyRecord, Nvml, PowerModel, Rapl, Sample, attribute, machine_busy_seconds,
    process_cpu_seconds, rss_bytes, thread_cpu_seconds,
};
use crate::hardware;
use crate::settings::BillSettings;

/// The process-wide meter: what sources exist, the power model, and how many tasks run.
/// Cheap to clone; make one per run and start a [`TaskMeter`] per task.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    epoch: Instant,
    model: PowerModel,
    basis: String,
    rapl: Option<Rapl>,
    nvml: Option<Nvml>,
    running: AtomicUsize,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Ledger {
    /// A ledger for work on the processor: probes RAPL (unless `measure` is off) and
    /// sets the power model from the settings, else from the detected processor. It
    /// meters no GPU: an idle GPU in the machine is not this work's cost.
    pub fn new(settings: &BillSettings) -> Ledger {
        Ledger::on_gpu(settings, false)
    }

    /// A ledger for work that runs on a GPU when `gpu`: as [`Ledger::new`], and then the
    /// GPU the process's CUDA work runs on is metered too ([`Nvml::open`]).
    pub fn on_gpu(settings: &BillSettings, gpu: bool) -> Ledger {
        let (watts_per_core, basis) = match settings.cpu_watts_per_core {
            Some(w) => (w, "the recipe's cpu_watts_per_core".to_owned()),
            None => {
                let p = hardware::local_cpu_power();
                (p.watts_per_core, p.basis.clone())
            }
        };
        let (rapl, nvml) = if settings.measure {
            let rapl = Rapl::open(Path::new("/sys/class/powercap"));
            (rapl, if gpu { Nvml::open() } else { None })
        } else {
            (None, None)
        };
        Ledger::with_sources(
            PowerModel {
                watts_per_core,
                memory_watts_per_gb: settings.memory_watts_per_gb,
                gpu_devices: nvml.as_ref().map_or(0, Nvml::devices),
            },
            basis,
            rapl,
            nvml,
        )
    }

    /// A ledger that only estimates, with the given power model (no probing).
    pub fn estimating(watts_per_core: f64, memory_watts_per_gb: f64) -> Ledger {
        Ledger::with_sources(
            PowerModel {
                watts_per_core,
                memory_watts_per_gb,
                gpu_devices: 0,
            },
            "given".to_owned(),
            None,
            None,
        )
    }

    fn with_sources(
        model: PowerModel,
        basis: String,
        rapl: Option<Rapl>,
        nvml: Option<Nvml>,
    ) -> Ledger {
        let has_rapl = rapl.is_some();
        let inner = Arc::new(Inner {
            epoch: Instant::now(),
            model,
            basis,
            rapl,
            nvml,
            running: AtomicUsize::new(0),
        });
        if has_rapl {
            // Reads the counters once a minute so that long tasks see every wrap.
            let weak: Weak<Inner> = Arc::downgrade(&inner);
            std::thread::Builder::new()
                .name("atelier-rapl".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(60));
                        match weak.upgrade() {
                            Some(inner) => {
                                if let Some(r) = &inner.rapl {
                                    r.read();
                                }
                            }
                            None => break,
                        }
                    }
                })
                .ok();
        }
        Ledger { inner }
    }

    /// The power model in use.
    pub fn model(&self) -> PowerModel {
        self.inner.model
    }

    /// Whether the processor's energy is measured (RAPL readable).
    pub fn measures_cpu(&self) -> bool {
        self.inner.rapl.is_some()
    }

    /// Whether GPU energy is measured (NVML loaded, at least one device).
    pub fn measures_gpu(&self) -> bool {
        self.inner.nvml.is_some()
    }

    /// One line saying where each figure will come from.
    pub fn describe(&self) -> String {
        let i = &self.inner;
        let cpu = match &i.rapl {
            Some(r) => format!("processor measured by RAPL ({} package(s))", r.packages()),
            None => format!(
                "processor estimated at {:.2} W per core ({})",
                i.model.watts_per_core, i.basis
            ),
        };
        let memory = match &i.rapl {
            Some(r) if r.has_dram() => "memory measured by RAPL".to_owned(),
            _ => format!(
                "memory estimated at {} W per GB resident",
                i.model.memory_watts_per_gb
            ),
        };
        let gpu = match &i.nvml {
            Some(n) => format!("; GPUs measured by NVML ({})", n.names().join(", ")),
            None => String::new(),
        };
        format!("{cpu}; {memory}{gpu}")
    }

    fn sample(&self, running: usize, whole_process: bool) -> Sample {
        let i = &self.inner;
        let (package_joules, dram_joules, machine_busy_seconds) = match &i.rapl {
            Some(r) => {
                let reading = r.read();
                (
                    Some(reading.package_joules),
                    reading.dram_joules,
                    machine_busy_seconds(),
                )
            }
            None => (None, None, None),
        };
        Sample {
            wall_seconds: i.epoch.elapsed().as_secs_f64(),
            thread_cpu_seconds: if whole_process {
                process_cpu_seconds()
            } else {
                thread_cpu_seconds()
            },
            rss_bytes: rss_bytes(),
            running,
            package_joules,
            dram_joules,
            machine_busy_seconds,
            gpu_joules: i.nvml.as_ref().and_then(Nvml::joules),
        }
    }
}

/// The energy meter of one task. Start and stop it on the same thread: the CPU time it
/// reads is the calling thread's.
#[derive(Debug)]
pub struct TaskMeter {
    ledger: Ledger,
    start: Sample,
    whole_process: bool,
}

impl TaskMeter {
    /// Starts metering a task on the calling thread.
    pub fn start(ledger: &Ledger) -> TaskMeter {
        Self::starting(ledger, false)
    }

    /// Starts metering work that spreads over threads of its own (a training): the CPU
    /// time read is the whole process's, so nothing else should run in it meanwhile.
    pub fn start_process(ledger: &Ledger) -> TaskMeter {
        Self::starting(ledger, true)
    }

    fn starting(ledger: &Ledger, whole_process: bool) -> TaskMeter {
        let running = ledger.inner.running.fetch_add(1, Ordering::SeqCst) + 1;
        TaskMeter {
            ledger: ledger.clone(),
            start: ledger.sample(running, whole_process),
            whole_process,
        }
    }

    /// The task's energy so far; the meter runs on.
    pub fn so_far(&self) -> EnergyRecord {
        let running = self.ledger.inner.running.load(Ordering::SeqCst).max(1);
        let now = self.ledger.sample(running, self.whole_process);
        attribute(&self.ledger.inner.model, &self.start, &now)
    }

    /// Stops metering and returns the task's energy.
    pub fn stop(self) -> EnergyRecord {
        let record = self.so_far();
        self.ledger.inner.running.fetch_sub(1, Ordering::SeqCst);
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_that_does_not_measure_estimates() {
        let off = Ledger::new(&BillSettings {
            measure: false,
            cpu_watts_per_core: Some(3.0),
            ..BillSettings::default()
        });
        assert!(!off.measures_cpu() && !off.measures_gpu());
        assert_eq!(off.model().watts_per_core, 3.0);
        assert!(off.describe().contains("estimated at 3.00 W per core"));
    }

    #[test]
    fn meter_counts_running_tasks_and_this_threads_cpu() {
        let ledger = Ledger::estimating(4.0, 0.0);
        let outer = TaskMeter::start(&ledger);
        let inner = TaskMeter::start(&ledger);
        assert_eq!(inner.start.running, 2);
        // Burn a little CPU so the thread clock moves.
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let r = inner.stop();
        assert_eq!(ledger.inner.running.load(Ordering::SeqCst), 1);
        assert!(r.cpu_seconds > 0.0);
        assert!((r.cpu_joules - 4.0 * r.cpu_seconds).abs() < 1e-12);
        assert_eq!(r.memory_joules, 0.0);
        outer.stop();
        assert_eq!(ledger.inner.running.load(Ordering::SeqCst), 0);
    }
}
