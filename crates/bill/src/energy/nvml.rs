//! NVML: the energy counter of the NVIDIA GPU the process's CUDA work runs on, from
//! `libnvidia-ml.so.1` loaded at run time.
//!
//! atelier's GPU work runs on the first CUDA device, so that is the one metered: the
//! first entry of `CUDA_VISIBLE_DEVICES` (an index, or a `GPU-` UUID or its prefix, as
//! CUDA reads them; device 0 when unset). Eight jobs on an eight-GPU node, each given
//! one GPU by Slurm, are each billed their own board, not all eight. An index is taken
//! in NVML's order, the PCI bus order: CUDA's too under `CUDA_DEVICE_ORDER=PCI_BUS_ID`,
//! which clusters set. A MIG instance is not metered (its board's counter is shared).

/// The energy counter of the GPU the process's CUDA work runs on, through NVML.
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
type NvmlUuid = NvmlName;

/// The first device `CUDA_VISIBLE_DEVICES` shows the process.
#[derive(Debug, PartialEq)]
enum FirstVisible {
    Index(u32),
    /// A `GPU-` UUID, or a prefix of one.
    Uuid(String),
    /// No device (an empty list), or one NVML cannot meter alone (a MIG instance).
    Unmetered,
}

fn first_visible(var: Option<&str>) -> FirstVisible {
    let Some(var) = var else {
        return FirstVisible::Index(0);
    };
    let first = var.split(',').next().unwrap_or("").trim();
    if let Ok(index) = first.parse() {
        FirstVisible::Index(index)
    } else if first.starts_with("GPU-") {
        FirstVisible::Uuid(first.to_owned())
    } else {
        FirstVisible::Unmetered
    }
}

// SAFETY: NVML is documented as thread-safe ("it is safe to make simultaneous NVML calls
// from multiple threads"); device handles are opaque tokens valid until nvmlShutdown,
// which only Drop calls.
unsafe impl Send for Nvml {}
// SAFETY: as above.
unsafe impl Sync for Nvml {}

impl Nvml {
    /// Loads `libnvidia-ml.so.1` and opens the device the process's CUDA work runs on
    /// (see the module's doc); `None` without the library, without that device, or
    /// when its energy counter does not answer.
    pub fn open() -> Option<Nvml> {
        let wanted = first_visible(std::env::var("CUDA_VISIBLE_DEVICES").ok().as_deref());
        if wanted == FirstVisible::Unmetered {
            return None;
        }
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
            let uuid: NvmlUuid = *library.get::<NvmlUuid>(b"nvmlDeviceGetUUID\0").ok()?;
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
                let text = |f: NvmlName, device: NvmlDevice| {
                    let mut buf = [0 as std::ffi::c_char; 96];
                    (f(device, buf.as_mut_ptr(), buf.len() as _) == 0).then(|| {
                        std::ffi::CStr::from_ptr(buf.as_ptr())
                            .to_string_lossy()
                            .into_owned()
                    })
                };
                for index in 0..n {
                    let mut device: NvmlDevice = std::ptr::null_mut();
                    if handle(index, &mut device) != 0 {
                        continue;
                    }
                    let chosen = match &wanted {
                        FirstVisible::Index(i) => *i == index,
                        FirstVisible::Uuid(prefix) => {
                            text(uuid, device).is_some_and(|u| u.starts_with(prefix.as_str()))
                        }
                        FirstVisible::Unmetered => false,
                    };
                    let mut mj: u64 = 0;
                    if !chosen || total_energy(device, &mut mj) != 0 {
                        continue;
                    }
                    devices.push(device);
                    names.push(text(name, device).unwrap_or_else(|| format!("GPU {index}")));
                    break;
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

    /// Joules the device has consumed since the driver loaded.
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
    fn the_metered_device_is_the_first_cuda_sees() {
        assert_eq!(first_visible(None), FirstVisible::Index(0));
        assert_eq!(first_visible(Some("3,1")), FirstVisible::Index(3));
        assert_eq!(first_visible(Some(" 2 ")), FirstVisible::Index(2));
        assert_eq!(
            first_visible(Some("GPU-8a1f,GPU-77")),
            FirstVisible::Uuid("GPU-8a1f".into())
        );
        assert_eq!(first_visible(Some("")), FirstVisible::Unmetered);
        assert_eq!(first_visible(Some("-1")), FirstVisible::Unmetered);
        assert_eq!(first_visible(Some("MIG-4b2e/1/0")), FirstVisible::Unmetered);
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
    }
}
