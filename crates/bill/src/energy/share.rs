//! A task's share of the machine's energy, from the counters read at its start and stop
//! (the rule in the [module docs](super)).

use super::{EnergyRecord, Method};

/// The counters read at a task's start or stop. Cumulative values; `None` where the
/// source is absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Seconds since the ledger was made.
    pub wall_seconds: f64,
    /// CPU seconds of the calling thread (of the whole process for
    /// [`TaskMeter::start_process`](super::TaskMeter::start_process)).
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
}
