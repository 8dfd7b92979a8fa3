//! Energy per task: measured where the machine lets us read its counters, estimated
//! elsewhere, and always labelled with how it was obtained.
//!
//! # Sources
//!
//! - **Processor**: Linux RAPL through powercap (`/sys/class/powercap/intel-rapl:N`,
//!   the `package-N` zones, and their `dram` subzones for memory). The counters are
//!   cumulative microjoules that wrap at `max_energy_range_uj`; the [`Ledger`] reads them
//!   at every task start and stop and from a background thread once a minute, so no wrap
//!   is missed (at 500 W a 262 kJ range wraps in about nine minutes). They are usually
//!   readable by root only; unreadable counters fall back to the estimate.
//! - **GPUs**: NVML, loaded at run time from `libnvidia-ml.so.1` with `libloading`
//!   (`nvmlDeviceGetTotalEnergyConsumption`, Volta and later). Machines without the
//!   library need nothing.
//! - **Estimate**: CPU seconds of the task's thread times the power per core of the
//!   processor ([`crate::hardware`], or the recipe's `cpu_watts_per_core`), plus memory
//!   at `memory_watts_per_gb` of the process's resident memory.
//!
//! # Sharing the machine among tasks
//!
//! RAPL measures a whole package, NVML a whole board, and memory belongs to the process,
//! while several tasks run at once on worker threads. A task's share is decided over its
//! own interval, from its start to its stop:
//!
//! - package and DRAM energy `ΔE` go to the task in proportion to its CPU time `c` over
//!   the CPU time of the whole machine `ΔB` (busy time of every CPU, from `/proc/stat`)
//!   in that interval: `ΔE · c / ΔB`. Two tasks that overlap exactly and burn 3 s and
//!   1 s of CPU get 3/4 and 1/4 of the package energy; other processes' share stays
//!   with them. When `ΔB` is zero (an interval shorter than the kernel's tick) the task
//!   gets `ΔE / n`, with `n` the mean number of tasks running (see below);
//! - estimated memory power `P` (watts per GB times the resident set) and GPU energy go
//!   to the tasks running at the same time in equal parts: `P · Δt / n` and `ΔE_gpu / n`,
//!   where `n` is the mean of the number of running tasks seen at start and at stop;
//! - the estimated processor energy is the task's own `c` times the power per core.
//!
//! The rule conserves energy when tasks overlap exactly, and only approximately when
//! they overlap in part (each task uses the average rate over its own interval). The
//! residue (the main thread, other processes) is not charged to any task.

use serde::{Deserialize, Serialize};
use std::ops::{Add, AddAssign};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::hardware;
use crate::settings::BillSettings;

/// How an energy figure was obtained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// From CPU time and power tables.
    #[default]
    Estimated,
    /// Measured by RAPL energy counters.
    Rapl,
    /// Measured by NVML energy counters.
    Nvml,
    /// A sum of records obtained in different ways.
    Mixed,
}

impl Method {
    /// Whether the figure comes from counters rather than tables.
    pub fn measured(self) -> bool {
        matches!(self, Method::Rapl | Method::Nvml)
    }

    fn join(self, other: Method) -> Method {
        if self == other { self } else { Method::Mixed }
    }
}

/// The energy of one task (or, summed, of many), before the building's PUE.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyRecord {
    /// Tasks summed here.
    pub tasks: u64,
    /// Wall-clock seconds of the tasks.
    pub wall_seconds: f64,
    /// CPU seconds of the tasks' threads.
    pub cpu_seconds: f64,
    /// Processor energy, joules.
    pub cpu_joules: f64,
    /// How the processor energy was obtained.
    pub cpu_method: Method,
    /// Memory energy, joules.
    pub memory_joules: f64,
    /// How the memory energy was obtained.
    pub memory_method: Method,
    /// GPU energy, joules.
    pub gpu_joules: f64,
    /// GPU-seconds charged to the tasks (devices times the task's share of the time).
    pub gpu_seconds: f64,
    /// How the GPU energy was obtained; none where no GPU was seen.
    pub gpu_method: Option<Method>,
}

impl EnergyRecord {
    /// All the energy, joules, at the machine (before PUE).
    pub fn joules(&self) -> f64 {
        self.cpu_joules + self.memory_joules + self.gpu_joules
    }

    /// kWh drawn from the grid by the building: joules times PUE.
    pub fn kwh(&self, pue: f64) -> f64 {
        self.joules() * pue / 3.6e6
    }

    /// Whether any part was measured by counters.
    pub fn measured(&self) -> bool {
        self.cpu_method.measured()
            || self.memory_method.measured()
            || self.gpu_method.is_some_and(Method::measured)
    }

    /// A sentence saying how the figures were obtained.
    pub fn describe(&self) -> String {
        let name = |m: Method| match m {
            Method::Estimated => "estimated",
            Method::Rapl => "measured (RAPL)",
            Method::Nvml => "measured (NVML)",
            Method::Mixed => "partly measured",
        };
        let mut s = format!(
            "processor {}, memory {}",
            name(self.cpu_method),
            name(self.memory_method)
        );
        if let Some(g) = self.gpu_method {
            s.push_str(&format!(", GPU {}", name(g)));
        }
        s
    }
}

impl AddAssign<&EnergyRecord> for EnergyRecord {
    fn add_assign(&mut self, other: &EnergyRecord) {
        if other.tasks == 0 && other.joules() == 0.0 {
            return;
        }
        if self.tasks == 0 && self.joules() == 0.0 {
            *self = other.clone();
            return;
        }
        self.tasks += other.tasks;
        self.wall_seconds += other.wall_seconds;
        self.cpu_seconds += other.cpu_seconds;
        self.cpu_joules += other.cpu_joules;
        self.cpu_method = self.cpu_method.join(other.cpu_method);
        self.memory_joules += other.memory_joules;
        self.memory_method = self.memory_method.join(other.memory_method);
        self.gpu_joules += other.gpu_joules;
        self.gpu_seconds += other.gpu_seconds;
        self.gpu_method = match (self.gpu_method, other.gpu_method) {
            (Some(a), Some(b)) => Some(a.join(b)),
            (a, b) => a.or(b),
        };
    }
}

impl Add<&EnergyRecord> for EnergyRecord {
    type Output = EnergyRecord;
    fn add(mut self, other: &EnergyRecord) -> EnergyRecord {
        self += other;
        self
    }
}

/// The counters read at a task's start or stop. Cumulative values; `None` where the
/// source is absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Seconds since the ledger was made.
    pub wall_seconds: f64,
    /// CPU seconds of the calling thread (of the whole process for
    /// [`TaskMeter::start_process`]).
    pub thread_cpu_seconds: f64,
    /// Resident memory of the process, bytes.
    pub rss_bytes: u64,
    /// Tasks running, this one included.
    pub running: usize,
    /// RAPL package energy, joules.
    pub package_joules: Option<f64>,
    /// RAPL DRAM energy, joules.
    pub dram_joules: Option<f64>,
    /// Busy CPU seconds of the whole machine (`/proc/stat`).
    pub machine_busy_seconds: Option<f64>,
    /// NVML energy of all GPUs, joules.
    pub gpu_joules: Option<f64>,
}

/// The constants of the estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerModel {
    /// Watts per busy core.
    pub watts_per_core: f64,
    /// Watts per GB (GiB) of resident memory.
    pub memory_watts_per_gb: f64,
    /// GPUs whose energy NVML reports.
    pub gpu_devices: usize,
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// A task's energy from the samples at its start and stop; see the module docs for the
/// rule.
pub fn attribute(model: &PowerModel, start: &Sample, stop: &Sample) -> EnergyRecord {
    let wall = (stop.wall_seconds - start.wall_seconds).max(0.0);
    let cpu = (stop.thread_cpu_seconds - start.thread_cpu_seconds).max(0.0);
    let running = ((start.running + stop.running) as f64 / 2.0).max(1.0);
    let delta = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some((b - a).max(0.0)),
        _ => None,
    };
    let busy = delta(start.machine_busy_seconds, stop.machine_busy_seconds);
    let share = match busy {
        Some(b) if b > 0.0 => (cpu / b).min(1.0),
        _ => 1.0 / running,
    };
    let package = delta(start.package_joules, stop.package_joules).filter(|_| busy.is_some());
    let dram = delta(start.dram_joules, stop.dram_joules).filter(|_| busy.is_some());
    let (cpu_joules, cpu_method) = match package {
        Some(e) => (e * share, Method::Rapl),
        None => (cpu * model.watts_per_core, Method::Estimated),
    };
    let (memory_joules, memory_method) = match dram {
        Some(e) => (e * share, Method::Rapl),
        None => {
            let gb = (start.rss_bytes + stop.rss_bytes) as f64 / 2.0 / GIB;
            (
                model.memory_watts_per_gb * gb * wall / running,
                Method::Estimated,
            )
        }
    };
    let gpu = delta(start.gpu_joules, stop.gpu_joules);
    EnergyRecord {
        tasks: 1,
        wall_seconds: wall,
        cpu_seconds: cpu,
        cpu_joules,
        cpu_method,
        memory_joules,
        memory_method,
        gpu_joules: gpu.map_or(0.0, |e| e / running),
        gpu_seconds: if gpu.is_some() {
            wall * model.gpu_devices as f64 / running
        } else {
            0.0
        },
        gpu_method: gpu.map(|_| Method::Nvml),
    }
}

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
    /// Probes RAPL and NVML (unless `measure` is off) and sets the power model from the
    /// settings, else from the detected processor.
    pub fn new(settings: &BillSettings) -> Ledger {
        let (watts_per_core, basis) = match settings.cpu_watts_per_core {
            Some(w) => (w, "the recipe's cpu_watts_per_core".to_owned()),
            None => {
                let p = hardware::local_cpu_power();
                (p.watts_per_core, p.basis.clone())
            }
        };
        let (rapl, nvml) = if settings.measure {
            (Rapl::open(Path::new("/sys/class/powercap")), Nvml::open())
        } else {
            (None, None)
        };
        Ledger::with_sources(
            PowerModel {
                watts_per_core,
                memory_watts_per_gb: settings.memory_watts_per_gb,
                gpu_devices: nvml.as_ref().map_or(0, |n| n.devices.len()),
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
            Some(n) => format!("; GPUs measured by NVML ({})", n.names.join(", ")),
            None => String::new(),
        };
        format!("{cpu}; {memory}{gpu}")
    }

    fn sample(&self, running: usize, whole_process: bool) -> Sample {
        let i = &self.inner;
        let (package_joules, dram_joules, machine_busy_seconds) = match &i.rapl {
            Some(r) => {
                let (p, d) = r.read();
                (Some(p), d, machine_busy_seconds())
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

/// CPU seconds consumed so far by the calling thread.
pub fn thread_cpu_seconds() -> f64 {
    clock_seconds(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU seconds consumed so far by the whole process, all threads.
pub fn process_cpu_seconds() -> f64 {
    clock_seconds(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock_seconds(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and the clock id is a Linux constant.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Resident memory of this process now, bytes (`/proc/self/statm`; 0 elsewhere).
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

/// Busy CPU seconds of the whole machine since boot (user, nice, system, irq, softirq
/// of every CPU), from `/proc/stat`.
pub fn machine_busy_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_proc_stat(&text)
}

fn parse_proc_stat(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy: u64 = [0, 1, 2, 5, 6].iter().filter_map(|&i| fields.get(i)).sum();
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(busy as f64 / hz.max(1) as f64)
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

    fn packages(&self) -> usize {
        self.zones
            .lock()
            .map_or(0, |z| z.iter().filter(|z| !z.dram).count())
    }

    fn has_dram(&self) -> bool {
        self.zones.lock().is_ok_and(|z| z.iter().any(|z| z.dram))
    }

    /// Joules since opening, summed over packages, and over DRAM zones if any.
    pub fn read(&self) -> (f64, Option<f64>) {
        let Ok(mut zones) = self.zones.lock() else {
            return (0.0, None);
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
        (package, any_dram.then_some(dram))
    }
}

/// NVIDIA GPUs' energy counters through NVML, loaded at run time.
pub struct Nvml {
    // Kept alive: the function pointers below point into it.
    _library: libloading::Library,
    devices: Vec<NvmlDevice>,
    names: Vec<String>,
    total_energy: NvmlTotalEnergy,
    shutdown: NvmlShutdown,
}

type NvmlDevice = *mut std::ffi::c_void;
type NvmlReturn = std::ffi::c_int;
type NvmlInit = unsafe extern "C" fn() -> NvmlReturn;
type NvmlShutdown = unsafe extern "C" fn() -> NvmlReturn;
type NvmlCount = unsafe extern "C" fn(*mut std::ffi::c_uint) -> NvmlReturn;
type NvmlHandle = unsafe extern "C" fn(std::ffi::c_uint, *mut NvmlDevice) -> NvmlReturn;
type NvmlName =
    unsafe extern "C" fn(NvmlDevice, *mut std::ffi::c_char, std::ffi::c_uint) -> NvmlReturn;
type NvmlTotalEnergy = unsafe extern "C" fn(NvmlDevice, *mut u64) -> NvmlReturn;

// SAFETY: NVML is documented as thread-safe ("it is safe to make simultaneous NVML calls
// from multiple threads"); device handles are opaque tokens valid until nvmlShutdown,
// which only Drop calls.
unsafe impl Send for Nvml {}
// SAFETY: as above.
unsafe impl Sync for Nvml {}

impl Nvml {
    /// Loads `libnvidia-ml.so.1` and opens every device whose energy counter answers;
    /// `None` without the library or such a device.
    pub fn open() -> Option<Nvml> {
        // SAFETY: loading NVML runs its initialisers, which have no preconditions.
        let library = unsafe { libloading::Library::new("libnvidia-ml.so.1") }.ok()?;
        // SAFETY: the symbol types match the NVML C API (nvml.h); the pointers are used
        // only while `library` is alive, which the struct guarantees.
        unsafe {
            let init: NvmlInit = *library.get::<NvmlInit>(b"nvmlInit_v2\0").ok()?;
            let shutdown: NvmlShutdown = *library.get::<NvmlShutdown>(b"nvmlShutdown\0").ok()?;
            let count: NvmlCount = *library.get::<NvmlCount>(b"nvmlDeviceGetCount_v2\0").ok()?;
            let handle: NvmlHandle = *library
                .get::<NvmlHandle>(b"nvmlDeviceGetHandleByIndex_v2\0")
                .ok()?;
            let name: NvmlName = *library.get::<NvmlName>(b"nvmlDeviceGetName\0").ok()?;
            let total_energy: NvmlTotalEnergy = *library
                .get::<NvmlTotalEnergy>(b"nvmlDeviceGetTotalEnergyConsumption\0")
                .ok()?;
            if init() != 0 {
                return None;
            }
            let mut n: std::ffi::c_uint = 0;
            let mut devices = Vec::new();
            let mut names = Vec::new();
            if count(&mut n) == 0 {
                for index in 0..n {
                    let mut device: NvmlDevice = std::ptr::null_mut();
                    let mut mj: u64 = 0;
                    if handle(index, &mut device) != 0 || total_energy(device, &mut mj) != 0 {
                        continue;
                    }
                    let mut buf = [0 as std::ffi::c_char; 96];
                    let label = if name(device, buf.as_mut_ptr(), buf.len() as _) == 0 {
                        std::ffi::CStr::from_ptr(buf.as_ptr())
                            .to_string_lossy()
                            .into_owned()
                    } else {
                        format!("GPU {index}")
                    };
                    devices.push(device);
                    names.push(label);
                }
            }
            if devices.is_empty() {
                shutdown();
                return None;
            }
            Some(Nvml {
                _library: library,
                devices,
                names,
                total_energy,
                shutdown,
            })
        }
    }

    /// The devices' names, as NVML gives them.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Joules consumed by all devices since the driver loaded.
    pub fn joules(&self) -> Option<f64> {
        let mut total = 0u64;
        for &device in &self.devices {
            let mut mj: u64 = 0;
            // SAFETY: `device` came from nvmlDeviceGetHandleByIndex_v2 and NVML is still
            // initialised (shutdown runs only in Drop).
            if unsafe { (self.total_energy)(device, &mut mj) } != 0 {
                return None;
            }
            total += mj;
        }
        Some(total as f64 * 1e-3)
    }
}

impl Drop for Nvml {
    fn drop(&mut self) {
        // SAFETY: matches the successful nvmlInit_v2 in `open`.
        unsafe {
            (self.shutdown)();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: PowerModel = PowerModel {
        watts_per_core: 5.0,
        memory_watts_per_gb: 0.375,
        gpu_devices: 2,
    };

    fn sample(wall: f64, cpu: f64, running: usize) -> Sample {
        Sample {
            wall_seconds: wall,
            thread_cpu_seconds: cpu,
            rss_bytes: 2 * GIB as u64,
            running,
            ..Sample::default()
        }
    }

    #[test]
    fn estimate_by_hand() {
        // 10 s wall, 8 s CPU, alone: 8 * 5 = 40 J processor; 0.375 * 2 GiB * 10 s = 7.5 J.
        let r = attribute(&MODEL, &sample(0.0, 1.0, 1), &sample(10.0, 9.0, 1));
        assert_eq!(r.cpu_method, Method::Estimated);
        assert!((r.cpu_joules - 40.0).abs() < 1e-9);
        assert!((r.memory_joules - 7.5).abs() < 1e-9);
        assert_eq!(r.gpu_method, None);
        assert!((r.kwh(1.5) - 47.5 * 1.5 / 3.6e6).abs() < 1e-15);
        // With a second task running throughout, memory is shared: 3.75 J.
        let r = attribute(&MODEL, &sample(0.0, 1.0, 2), &sample(10.0, 9.0, 2));
        assert!((r.memory_joules - 3.75).abs() < 1e-9);
        assert!((r.cpu_joules - 40.0).abs() < 1e-9);
    }

    #[test]
    fn package_energy_is_shared_by_cpu_time() {
        // Two tasks over the same 10 s: the package used 400 J, the machine was busy
        // 4 s; task A burned 3 s, task B 1 s. A gets 300 J, B 100 J: the package's
        // energy, all of it, split 3:1.
        let rapl = |wall: f64, cpu: f64, joules: f64, busy: f64| Sample {
            package_joules: Some(joules),
            machine_busy_seconds: Some(busy),
            ..sample(wall, cpu, 2)
        };
        let a = attribute(
            &MODEL,
            &rapl(0.0, 0.0, 1000.0, 50.0),
            &rapl(10.0, 3.0, 1400.0, 54.0),
        );
        let b = attribute(
            &MODEL,
            &rapl(0.0, 0.0, 1000.0, 50.0),
            &rapl(10.0, 1.0, 1400.0, 54.0),
        );
        assert_eq!(a.cpu_method, Method::Rapl);
        assert!((a.cpu_joules - 300.0).abs() < 1e-9);
        assert!((b.cpu_joules - 100.0).abs() < 1e-9);
        assert!((a.cpu_joules + b.cpu_joules - 400.0).abs() < 1e-9);
        // No DRAM zone: memory stays estimated.
        assert_eq!(a.memory_method, Method::Estimated);
        // A tick too short to see: the package is split by running tasks.
        let c = attribute(
            &MODEL,
            &rapl(0.0, 0.0, 1000.0, 50.0),
            &rapl(0.001, 0.001, 1001.0, 50.0),
        );
        assert!((c.cpu_joules - 0.5).abs() < 1e-9);
    }

    #[test]
    fn gpu_energy_and_time_are_shared_by_running_tasks() {
        let gpu = |wall: f64, joules: f64, running: usize| Sample {
            gpu_joules: Some(joules),
            ..sample(wall, 0.0, running)
        };
        // Started alone, finished with 3 running: mean 2. 600 J over 6 s, 2 devices.
        let r = attribute(&MODEL, &gpu(0.0, 100.0, 1), &gpu(6.0, 700.0, 3));
        assert_eq!(r.gpu_method, Some(Method::Nvml));
        assert!((r.gpu_joules - 300.0).abs() < 1e-9);
        assert!((r.gpu_seconds - 6.0).abs() < 1e-9);
        assert!(r.measured());
    }

    #[test]
    fn records_add_and_remember_their_methods() {
        let est = attribute(&MODEL, &sample(0.0, 0.0, 1), &sample(1.0, 1.0, 1));
        let mut sum = EnergyRecord::default();
        sum += &est;
        assert_eq!(sum, est);
        sum += &est;
        assert_eq!(sum.tasks, 2);
        assert_eq!(sum.cpu_method, Method::Estimated);
        assert!((sum.cpu_joules - 10.0).abs() < 1e-9);
        let measured = EnergyRecord {
            tasks: 1,
            cpu_joules: 1.0,
            cpu_method: Method::Rapl,
            ..EnergyRecord::default()
        };
        sum += &measured;
        assert_eq!(sum.cpu_method, Method::Mixed);
        assert!(!sum.measured());
        let json = serde_json::to_string(&sum).unwrap();
        assert!(json.contains("\"cpu_method\":\"mixed\""), "{json}");
        assert_eq!(serde_json::from_str::<EnergyRecord>(&json).unwrap(), sum);
    }

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
        assert_eq!(rapl.read(), (0.0, Some(0.0)));
        // Package 0 wraps: 900 -> 1000 (max) -> 0 -> 50 J is 150 J. Package 1 adds 20 J.
        std::fs::write(root.join("intel-rapl:0/energy_uj"), "50000000").unwrap();
        std::fs::write(root.join("intel-rapl:1/energy_uj"), "30000000").unwrap();
        std::fs::write(root.join("intel-rapl:0:0/energy_uj"), "7000000").unwrap();
        let (package, dram) = rapl.read();
        assert!((package - 170.0).abs() < 1e-6, "{package}");
        assert!((dram.unwrap() - 2.0).abs() < 1e-6);
        // And keeps counting after the wrap.
        std::fs::write(root.join("intel-rapl:0/energy_uj"), "60000000").unwrap();
        assert!((rapl.read().0 - 180.0).abs() < 1e-6);
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

    #[test]
    fn proc_stat_busy_time() {
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let text = "cpu  100 20 30 1000 40 5 5 7 0 0\ncpu0 50 10 15 500 20 2 3 3 0 0\n";
        let busy = parse_proc_stat(text).unwrap();
        assert!((busy - 160.0 / hz).abs() < 1e-12);
    }

    #[test]
    fn nvml_is_optional_and_counts_up_where_present() {
        // Without libnvidia-ml.so.1 (CI) this is None; on a GPU machine the counter
        // answers and never goes back.
        if let Some(nvml) = Nvml::open() {
            assert!(!nvml.names().is_empty());
            let a = nvml.joules().unwrap();
            let b = nvml.joules().unwrap();
            assert!(b >= a);
        }
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
