//! Checkpoints: the trained variables, the optimizer's moments and the run's state
//! (step, data position, spending so far), written to a temporary folder, synced, then
//! renamed into `checkpoints/step-NNNNNNNN`, so a crash or a full disk at any moment
//! leaves the previous checkpoint whole. `state.json` holds each file's BLAKE3; a
//! checkpoint whose files do not match is reported by name and an older one is used.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::LmTrainError;

// `state.json`. Pinned format, with the tensor files (tests/data/formats/checkpoints/),
// with no version field: a change must keep resuming from the checkpoints already
// written (or add a version and keep reading these).
/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Optimizer steps done.
    pub step: usize,
    /// The steps the run is planned for.
    pub total_steps: usize,
    /// Training windows served so far.
    pub position: usize,
    /// Tokens trained on so far (counted positions).
    pub tokens: u64,
    /// Wall seconds spent so far, over every attempt.
    pub seconds: f64,
    /// Energy spent so far, kWh.
    pub kwh: f64,
    /// Money spent so far, EUR.
    pub eur: f64,
    /// The last step's training loss.
    pub loss: f64,
    /// The starting model's validation loss.
    pub base_loss: Option<f64>,
    /// The fingerprint of the run's settings, data and base: a resume must match it.
    pub fingerprint: String,
    /// BLAKE3 of each file of the checkpoint.
    pub files: BTreeMap<String, String>,
}

/// A checkpoint read back.
pub struct Checkpoint {
    /// Its folder.
    pub dir: PathBuf,
    /// The run's state.
    pub state: State,
    /// The trained variables.
    pub weights: BTreeMap<String, Tensor>,
    /// The optimizer's moments.
    pub optimizer: BTreeMap<String, Tensor>,
}

const WEIGHTS: &str = "weights.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const STATE: &str = "state.json";

/// Crash point for the resume tests: the N-th checkpoint written kills the process.
pub const CRASH_AFTER_CHECKPOINTS: &str = "ATELIER_CRASH_AFTER_CHECKPOINTS";
/// Fault for the tests: the N-th checkpoint fails as on a full disk.
pub const DISK_FULL_AT_CHECKPOINT: &str = "ATELIER_DISK_FULL_AT_CHECKPOINT";

fn folder(root: &Path, step: usize) -> PathBuf {
    root.join(format!("step-{step:08}"))
}

/// Writes a checkpoint under `root` and removes all but the newest `keep`.
pub fn save(
    root: &Path,
    state: &State,
    weights: &BTreeMap<String, Tensor>,
    optimizer: &BTreeMap<String, Tensor>,
    keep: usize,
) -> Result<PathBuf, LmTrainError> {
    let dest = folder(root, state.step);
    let tmp = root.join(format!(".step-{:08}.tmp", state.step));
    let result = write(&tmp, state, weights, optimizer).and_then(|()| {
        if dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(|e| LmTrainError::io(&dest, e))?;
        }
        std::fs::rename(&tmp, &dest).map_err(|e| LmTrainError::io(&dest, e))?;
        sync_dir(root)
    });
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    atelier_core::fault::crash_point(CRASH_AFTER_CHECKPOINTS);
    let mut all = list(root)?;
    while all.len() > keep.max(1) {
        let (_, old) = all.remove(0);
        let _ = std::fs::remove_dir_all(old);
    }
    Ok(dest)
}

fn write(
    tmp: &Path,
    state: &State,
    weights: &BTreeMap<String, Tensor>,
    optimizer: &BTreeMap<String, Tensor>,
) -> Result<(), LmTrainError> {
    let _ = std::fs::remove_dir_all(tmp);
    std::fs::create_dir_all(tmp).map_err(|e| LmTrainError::io(tmp, e))?;
    let mut state = state.clone();
    for (name, tensors) in [(WEIGHTS, weights), (OPTIMIZER, optimizer)] {
        let path = tmp.join(name);
        atelier_core::fault::io_fault(DISK_FULL_AT_CHECKPOINT)
            .map_err(|e| LmTrainError::io(&path, e))?;
        let map: HashMap<&String, Tensor> = tensors
            .iter()
            .map(|(k, t)| Ok((k, t.to_device(&Device::Cpu)?)))
            .collect::<Result<_, candle_core::Error>>()?;
        let bytes = safetensors::serialize(map.iter().map(|(k, t)| (k.as_str(), t)), None)
            .map_err(|e| LmTrainError::Write {
                path: path.clone(),
                message: e.to_string(),
            })?;
        state
            .files
            .insert(name.to_owned(), blake3::hash(&bytes).to_hex().to_string());
        write_synced(&path, &bytes)?;
    }
    let json = serde_json::to_vec_pretty(&state).map_err(|e| LmTrainError::Write {
        path: tmp.join(STATE),
        message: e.to_string(),
    })?;
    write_synced(&tmp.join(STATE), &json)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), LmTrainError> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| LmTrainError::io(path, e))?;
    f.write_all(bytes).map_err(|e| LmTrainError::io(path, e))?;
    f.sync_all().map_err(|e| LmTrainError::io(path, e))
}

fn sync_dir(dir: &Path) -> Result<(), LmTrainError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LmTrainError::io(dir, e))
}

/// Checkpoint folders under `root`, oldest first.
fn list(root: &Path) -> Result<Vec<(usize, PathBuf)>, LmTrainError> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(vec![]);
    };
    let mut out = vec![];
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(step) = name.strip_prefix("step-").and_then(|s| s.parse().ok()) {
            out.push((step, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// What [`latest`] found.
pub struct Latest {
    /// The newest valid checkpoint, if any.
    pub checkpoint: Option<Checkpoint>,
    /// A warning for each newer checkpoint that is not valid, naming it and why.
    pub warnings: Vec<String>,
}

/// The newest valid checkpoint under `root`, and a warning for each newer one that is
/// not (naming it and why).
pub fn latest(root: &Path) -> Result<Latest, LmTrainError> {
    let mut warnings = vec![];
    for (_, dir) in list(root)?.into_iter().rev() {
        match read(&dir) {
            Ok(c) => {
                return Ok(Latest {
                    checkpoint: Some(c),
                    warnings,
                });
            }
            Err(e) => warnings.push(format!(
                "checkpoint {} is unusable ({e}); trying an older one",
                dir.display()
            )),
        }
    }
    Ok(Latest {
        checkpoint: None,
        warnings,
    })
}

fn read(dir: &Path) -> Result<Checkpoint, String> {
    let state_path = dir.join(STATE);
    let text = std::fs::read(&state_path).map_err(|e| format!("{STATE}: {e}"))?;
    let state: State = serde_json::from_slice(&text).map_err(|e| format!("{STATE}: {e}"))?;
    let mut loaded = BTreeMap::new();
    for name in [WEIGHTS, OPTIMIZER] {
        let bytes = std::fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
        let hash = blake3::hash(&bytes).to_hex().to_string();
        if state.files.get(name) != Some(&hash) {
            return Err(format!("{name} does not match its hash in {STATE}"));
        }
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| format!("{name}: {e}"))?;
        loaded.insert(name, tensors.into_iter().collect::<BTreeMap<_, _>>());
    }
    Ok(Checkpoint {
        dir: dir.to_path_buf(),
        state,
        weights: loaded.remove(WEIGHTS).unwrap_or_default(),
        optimizer: loaded.remove(OPTIMIZER).unwrap_or_default(),
    })
}
