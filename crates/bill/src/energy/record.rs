//! The energy record of a task (or, summed, of many) and how each figure was obtained.

use serde::{Deserialize, Serialize};
use std::ops::{Add, AddAssign};

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

    pub(super) fn join(self, other: Method) -> Method {
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
