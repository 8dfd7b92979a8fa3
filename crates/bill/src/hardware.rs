//! What the hardware draws and computes: a table of processors (power per core) and a
//! table of GPUs (peak dense bf16 FLOP/s and board power), each row with its source.
//!
//! A processor is recognised by its model name (`/proc/cpuinfo`, or `sysctl` on macOS),
//! else by its CPUID family and model, which virtual machines keep even when they hide
//! the name (`Intel(R) Xeon(R) Processor` with family 6, model 207 is an Emerald Rapids
//! part), else it gets the median power per core of the table.
//!
//! Power per core is the processor's TDP over its physical cores: the sustained power of
//! the whole package when every core is busy, shared among them. It is charged per CPU
//! second of one logical CPU; with both SMT siblings of a core busy this counts the core
//! twice, so the estimate leans high rather than low on such loads.

use std::sync::OnceLock;

/// A processor in the power table.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuPart {
    /// The name fragment looked for in the model name (`Platinum 8592+`).
    pub key: &'static str,
    /// The full name.
    pub name: &'static str,
    /// Thermal design power (or base power), in watts.
    pub tdp_watts: f64,
    /// Physical cores.
    pub cores: u32,
    /// CPUID (vendor, family, first model, last model) of the generation this part
    /// stands for when a virtual machine hides the model name.
    pub cpuid: Option<(&'static str, u32, u32, u32)>,
    /// Where the figures come from.
    pub source: &'static str,
}

impl CpuPart {
    /// Watts per core at full load.
    pub fn watts_per_core(&self) -> f64 {
        self.tdp_watts / f64::from(self.cores)
    }
}

const ARK: &str = "Intel ARK product specifications, https://ark.intel.com";
const AMD_EPYC: &str = "AMD EPYC product specifications, https://www.amd.com/en/products/specifications/server-processor.html";

/// The processor table. TDPs and core counts are the vendors' published specifications
/// (Intel ARK, AMD product pages); Apple publishes no TDP, so its rows take CodeCarbon's
/// table (codecarbon/data/hardware/cpu_power.csv, v3.3.2, 2025).
pub const CPUS: &[CpuPart] = &[
    CpuPart {
        key: "6980P",
        name: "Intel Xeon 6980P (Granite Rapids, 2024)",
        tdp_watts: 500.0,
        cores: 128,
        cpuid: Some(("GenuineIntel", 6, 173, 173)),
        source: ARK,
    },
    CpuPart {
        key: "Platinum 8592+",
        name: "Intel Xeon Platinum 8592+ (Emerald Rapids, 2023)",
        tdp_watts: 350.0,
        cores: 64,
        cpuid: Some(("GenuineIntel", 6, 207, 207)),
        source: ARK,
    },
    CpuPart {
        key: "Platinum 8480+",
        name: "Intel Xeon Platinum 8480+ (Sapphire Rapids, 2023)",
        tdp_watts: 350.0,
        cores: 56,
        cpuid: Some(("GenuineIntel", 6, 143, 143)),
        source: ARK,
    },
    CpuPart {
        key: "Platinum 8380",
        name: "Intel Xeon Platinum 8380 (Ice Lake, 2021)",
        tdp_watts: 270.0,
        cores: 40,
        cpuid: Some(("GenuineIntel", 6, 106, 106)),
        source: ARK,
    },
    CpuPart {
        key: "Platinum 8280",
        name: "Intel Xeon Platinum 8280 (Cascade Lake, 2019)",
        tdp_watts: 205.0,
        cores: 28,
        cpuid: Some(("GenuineIntel", 6, 85, 85)),
        source: ARK,
    },
    CpuPart {
        key: "E5-2699 v4",
        name: "Intel Xeon E5-2699 v4 (Broadwell, 2016)",
        tdp_watts: 145.0,
        cores: 22,
        cpuid: Some(("GenuineIntel", 6, 79, 79)),
        source: ARK,
    },
    CpuPart {
        key: "i9-13900K",
        name: "Intel Core i9-13900K (desktop, 2022; base power)",
        tdp_watts: 125.0,
        cores: 24,
        cpuid: None,
        source: ARK,
    },
    CpuPart {
        key: "i7-1165G7",
        name: "Intel Core i7-1165G7 (laptop, 2020)",
        tdp_watts: 28.0,
        cores: 4,
        cpuid: None,
        source: ARK,
    },
    CpuPart {
        key: "EPYC 9755",
        name: "AMD EPYC 9755 (Turin, 2024)",
        tdp_watts: 500.0,
        cores: 128,
        cpuid: Some(("AuthenticAMD", 26, 0, 31)),
        source: AMD_EPYC,
    },
    CpuPart {
        key: "EPYC 9754",
        name: "AMD EPYC 9754 (Bergamo, 2023)",
        tdp_watts: 360.0,
        cores: 128,
        cpuid: Some(("AuthenticAMD", 25, 160, 175)),
        source: AMD_EPYC,
    },
    CpuPart {
        key: "EPYC 9654",
        name: "AMD EPYC 9654 (Genoa, 2022)",
        tdp_watts: 360.0,
        cores: 96,
        cpuid: Some(("AuthenticAMD", 25, 16, 31)),
        source: AMD_EPYC,
    },
    CpuPart {
        key: "EPYC 7763",
        name: "AMD EPYC 7763 (Milan, 2021)",
        tdp_watts: 280.0,
        cores: 64,
        cpuid: Some(("AuthenticAMD", 25, 0, 15)),
        source: AMD_EPYC,
    },
    CpuPart {
        key: "EPYC 7742",
        name: "AMD EPYC 7742 (Rome, 2019)",
        tdp_watts: 225.0,
        cores: 64,
        cpuid: Some(("AuthenticAMD", 23, 48, 63)),
        source: AMD_EPYC,
    },
    CpuPart {
        key: "Ryzen 9 7950X",
        name: "AMD Ryzen 9 7950X (desktop, 2022)",
        tdp_watts: 170.0,
        cores: 16,
        cpuid: None,
        source: "AMD product specifications, https://www.amd.com/en/products/specifications/processors.html",
    },
    CpuPart {
        key: "Apple M1",
        name: "Apple M1 (2020)",
        tdp_watts: 10.0,
        cores: 8,
        cpuid: None,
        source: "CodeCarbon cpu_power.csv (v3.3.2); Apple publishes no TDP",
    },
    CpuPart {
        key: "Apple M2",
        name: "Apple M2 (2022)",
        tdp_watts: 22.0,
        cores: 8,
        cpuid: None,
        source: "CodeCarbon cpu_power.csv (v3.3.2); Apple publishes no TDP",
    },
    CpuPart {
        key: "Apple M3",
        name: "Apple M3 (2023)",
        tdp_watts: 22.0,
        cores: 8,
        cpuid: None,
        source: "CodeCarbon cpu_power.csv (v3.3.2); Apple publishes no TDP",
    },
    CpuPart {
        key: "Apple M4",
        name: "Apple M4 (2024)",
        tdp_watts: 20.0,
        cores: 10,
        cpuid: None,
        source: "CodeCarbon cpu_power.csv (v3.3.2); Apple publishes no TDP",
    },
];

/// What the machine says about its processor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuInfo {
    /// `GenuineIntel`, `AuthenticAMD`, or empty.
    pub vendor: String,
    /// CPUID family.
    pub family: u32,
    /// CPUID model.
    pub model: u32,
    /// The marketing name.
    pub name: String,
}

impl CpuInfo {
    /// Reads `/proc/cpuinfo` (Linux) or `sysctl machdep.cpu.brand_string` (macOS); an
    /// empty description where neither answers.
    pub fn detect() -> CpuInfo {
        if let Ok(text) = std::fs::read_to_string("/proc/cpuinfo") {
            return CpuInfo::parse(&text);
        }
        let brand = std::process::Command::new("sysctl")
            .args(["-n", "machdep.cpu.brand_string"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        CpuInfo {
            name: brand,
            ..CpuInfo::default()
        }
    }

    /// Parses the first processor of a `/proc/cpuinfo` text.
    pub fn parse(cpuinfo: &str) -> CpuInfo {
        let mut info = CpuInfo::default();
        for line in cpuinfo.lines() {
            if line.trim().is_empty() && !info.name.is_empty() {
                break;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "vendor_id" => info.vendor = value.to_owned(),
                "cpu family" => info.family = value.parse().unwrap_or(0),
                "model" => info.model = value.parse().unwrap_or(0),
                "model name" => info.name = value.to_owned(),
                _ => {}
            }
        }
        info
    }
}

/// The power per core chosen for a processor, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuPower {
    /// Watts per busy core.
    pub watts_per_core: f64,
    /// How it was chosen: the matched part, the CPUID generation, the table median, or
    /// the recipe's setting.
    pub basis: String,
}

/// The median of the table's watts per core: the figure for an unrecognised processor.
pub fn median_watts_per_core() -> f64 {
    static MEDIAN: OnceLock<f64> = OnceLock::new();
    *MEDIAN.get_or_init(|| {
        let mut w: Vec<f64> = CPUS.iter().map(CpuPart::watts_per_core).collect();
        w.sort_by(f64::total_cmp);
        let n = w.len();
        if n % 2 == 1 {
            w[n / 2]
        } else {
            (w[n / 2 - 1] + w[n / 2]) / 2.0
        }
    })
}

/// Finds the power per core of a processor: by name, else by CPUID generation, else
/// the table's median.
pub fn cpu_power(info: &CpuInfo) -> CpuPower {
    let name = info.name.replace("(R)", "").replace("(TM)", "");
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    // Longest key first, so `Platinum 8480+` is not taken for a shorter key.
    let mut by_key: Vec<&CpuPart> = CPUS.iter().collect();
    by_key.sort_by_key(|p| std::cmp::Reverse(p.key.len()));
    if let Some(part) = by_key.iter().find(|p| name.contains(p.key)) {
        return CpuPower {
            watts_per_core: part.watts_per_core(),
            basis: part.name.to_owned(),
        };
    }
    if let Some(part) = CPUS.iter().find(|p| {
        p.cpuid.is_some_and(|(vendor, family, lo, hi)| {
            vendor == info.vendor && family == info.family && (lo..=hi).contains(&info.model)
        })
    }) {
        return CpuPower {
            watts_per_core: part.watts_per_core(),
            basis: format!(
                "{} family {} model {}, taken as {}",
                info.vendor, info.family, info.model, part.name
            ),
        };
    }
    CpuPower {
        watts_per_core: median_watts_per_core(),
        basis: format!(
            "`{}` not in the table: its median power per core",
            info.name
        ),
    }
}

/// The power per core for this machine, detected once.
pub fn local_cpu_power() -> &'static CpuPower {
    static POWER: OnceLock<CpuPower> = OnceLock::new();
    POWER.get_or_init(|| cpu_power(&CpuInfo::detect()))
}

/// A GPU in the compute table.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    /// The identifier used on the command line and in recipes (`h100-sxm`).
    pub id: &'static str,
    /// The full name.
    pub name: &'static str,
    /// Peak dense bf16 tensor throughput, FLOP/s (without structured sparsity).
    pub bf16_flops: f64,
    /// Board power (TDP), watts.
    pub watts: f64,
    /// Where the figures come from.
    pub source: &'static str,
}

/// The GPU table. Datasheets quote bf16 "with sparsity"; dense throughput is half of it.
pub const GPUS: &[Gpu] = &[
    Gpu {
        id: "h100-sxm",
        name: "NVIDIA H100 SXM5 80GB",
        bf16_flops: 989.5e12,
        watts: 700.0,
        source: "NVIDIA H100 Tensor Core GPU datasheet (2023): 1,979 TFLOPS bf16 with sparsity, up to 700 W; https://www.nvidia.com/en-us/data-center/h100/",
    },
    Gpu {
        id: "h100-pcie",
        name: "NVIDIA H100 PCIe 80GB",
        bf16_flops: 756.5e12,
        watts: 350.0,
        source: "NVIDIA H100 Tensor Core GPU datasheet (2023): 1,513 TFLOPS bf16 with sparsity, 300-350 W; https://www.nvidia.com/en-us/data-center/h100/",
    },
    Gpu {
        id: "h200",
        name: "NVIDIA H200 SXM 141GB",
        bf16_flops: 989.5e12,
        watts: 700.0,
        source: "NVIDIA H200 Tensor Core GPU datasheet (2024): 1,979 TFLOPS bf16 with sparsity, up to 700 W; https://www.nvidia.com/en-us/data-center/h200/",
    },
    Gpu {
        id: "a100-40gb",
        name: "NVIDIA A100 SXM4 40GB",
        bf16_flops: 312e12,
        watts: 400.0,
        source: "NVIDIA A100 Tensor Core GPU datasheet (2021): 312 TFLOPS bf16 dense, 400 W; https://www.nvidia.com/en-us/data-center/a100/",
    },
    Gpu {
        id: "a100-80gb",
        name: "NVIDIA A100 SXM4 80GB",
        bf16_flops: 312e12,
        watts: 400.0,
        source: "NVIDIA A100 Tensor Core GPU datasheet (2021): 312 TFLOPS bf16 dense, 400 W; https://www.nvidia.com/en-us/data-center/a100/",
    },
    Gpu {
        id: "l4",
        name: "NVIDIA L4",
        bf16_flops: 121e12,
        watts: 72.0,
        source: "NVIDIA L4 datasheet (2023): 242 TFLOPS bf16 with sparsity, 72 W; https://www.nvidia.com/en-us/data-center/l4/",
    },
    Gpu {
        id: "l40s",
        name: "NVIDIA L40S",
        bf16_flops: 362.05e12,
        watts: 350.0,
        source: "NVIDIA L40S datasheet (2023): 733 TFLOPS bf16 with sparsity (362.05 dense), 350 W; https://www.nvidia.com/en-us/data-center/l40s/",
    },
    Gpu {
        id: "rtx-4090",
        name: "NVIDIA GeForce RTX 4090",
        bf16_flops: 165.2e12,
        watts: 450.0,
        source: "NVIDIA Ada Lovelace GPU architecture whitepaper (2023), appendix: 165.2 TFLOPS bf16 dense with FP32 accumulate, 450 W; https://images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf",
    },
    Gpu {
        id: "mi300x",
        name: "AMD Instinct MI300X",
        bf16_flops: 1307.4e12,
        watts: 750.0,
        source: "AMD Instinct MI300X datasheet (2023): 1,307.4 TFLOPS bf16 dense, 750 W; https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html",
    },
];

/// The GPU with this identifier (case-insensitive; `_` and spaces read as `-`).
pub fn gpu(id: &str) -> Option<&'static Gpu> {
    let id = id.to_ascii_lowercase().replace(['_', ' '], "-");
    GPUS.iter().find(|g| g.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VM: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 207\nmodel name\t: Intel(R) Xeon(R) Processor\n\nprocessor\t: 1\n";

    #[test]
    fn parses_cpuinfo() {
        let info = CpuInfo::parse(VM);
        assert_eq!(info.vendor, "GenuineIntel");
        assert_eq!((info.family, info.model), (6, 207));
        assert_eq!(info.name, "Intel(R) Xeon(R) Processor");
    }

    #[test]
    fn hidden_name_falls_back_to_cpuid_generation() {
        let p = cpu_power(&CpuInfo::parse(VM));
        // Emerald Rapids: 350 W over 64 cores.
        assert!((p.watts_per_core - 5.46875).abs() < 1e-12, "{p:?}");
        assert!(p.basis.contains("8592+"));
    }

    #[test]
    fn name_match_wins_and_prefers_the_longest_key() {
        let info = CpuInfo {
            vendor: "AuthenticAMD".into(),
            family: 25,
            model: 1,
            name: "AMD EPYC 9654 96-Core Processor".into(),
        };
        let p = cpu_power(&info);
        assert!((p.watts_per_core - 3.75).abs() < 1e-12);
        let m1 = cpu_power(&CpuInfo {
            name: "Apple M1".into(),
            ..CpuInfo::default()
        });
        assert!((m1.watts_per_core - 1.25).abs() < 1e-12);
    }

    #[test]
    fn unknown_processor_gets_the_median() {
        let p = cpu_power(&CpuInfo {
            name: "Mystery 9000".into(),
            ..CpuInfo::default()
        });
        assert_eq!(p.watts_per_core, median_watts_per_core());
        // Half the table lies at or below the median, half at or above.
        let below = CPUS
            .iter()
            .filter(|c| c.watts_per_core() <= p.watts_per_core)
            .count();
        let above = CPUS
            .iter()
            .filter(|c| c.watts_per_core() >= p.watts_per_core)
            .count();
        assert!(below * 2 >= CPUS.len() && above * 2 >= CPUS.len());
    }

    #[test]
    fn gpu_lookup_and_dense_figures() {
        assert_eq!(gpu("H100_SXM").unwrap().watts, 700.0);
        assert_eq!(gpu("a100-80gb").unwrap().bf16_flops, 312e12);
        assert!(gpu("tpu-v5").is_none());
        for g in GPUS {
            assert!(g.bf16_flops > 1e14 && g.watts > 50.0, "{}", g.id);
            assert!(g.source.contains("https://"), "{}", g.id);
        }
    }
}
