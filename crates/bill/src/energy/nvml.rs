//! NVML: the NVIDIA GPUs' energy counters, from `libnvidia-ml.so.1` loaded at run time.

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

    /// The number of devices whose energy counter answers.
    pub(super) fn devices(&self) -> usize {
        self.devices.len()
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
    }
}
