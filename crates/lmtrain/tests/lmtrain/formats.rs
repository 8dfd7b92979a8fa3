//! Pinned format: a training checkpoint (`state.json` and the weights' and optimizer's
//! safetensors), as today's code writes it, kept in `tests/data/formats/checkpoints/`. A
//! later build must still resume from it, and today's code must write the same bytes for
//! the same values. A test that fails here means the format changed: bump its version,
//! add a new fixture and keep reading this one.

use atelier_lmtrain::checkpoint::{self, State};
use candle_core::{Device, Tensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats/checkpoints")
}

const FILES: [&str; 3] = ["state.json", "weights.safetensors", "optimizer.safetensors"];

/// BLAKE3 of the pinned tensor files, as `state.json` lists them.
const WEIGHTS_HASH: &str = "be20f2b9df6ef84ebc7c6b5bfaf35bfec20d4eb6f173af15a2242a52075e344f";
const OPTIMIZER_HASH: &str = "fe25709edf8b955322657b8a4a321e857eb1f76de4f9896a2feaad9004ede69f";

fn state() -> State {
    State {
        step: 7,
        total_steps: 20,
        position: 56,
        tokens: 3584,
        seconds: 12.5,
        kwh: 0.000_25,
        eur: 0.000_05,
        loss: 2.75,
        base_loss: Some(3.5),
        fingerprint: "3f1c9e0a7b2d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abcd".into(),
        files: BTreeMap::new(),
    }
}

fn tensor(values: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(values, shape, &Device::Cpu).unwrap()
}

fn weights() -> BTreeMap<String, Tensor> {
    BTreeMap::from([
        (
            "layers.0.attn.q.lora_a".to_owned(),
            tensor(&[0.5, -1.0, 0.25, 2.0, -0.125, 1.5], &[2, 3]),
        ),
        ("norm.weight".to_owned(), tensor(&[1.0, 0.75, 1.25], &[3])),
    ])
}

fn optimizer() -> BTreeMap<String, Tensor> {
    BTreeMap::from([
        (
            "layers.0.attn.q.lora_a.m".to_owned(),
            tensor(&[0.01, -0.02, 0.03, -0.04, 0.05, -0.06], &[2, 3]),
        ),
        (
            "layers.0.attn.q.lora_a.v".to_owned(),
            tensor(&[1e-4, 2e-4, 3e-4, 4e-4, 5e-4, 6e-4], &[2, 3]),
        ),
        ("norm.weight.m".to_owned(), tensor(&[0.0, 0.5, -0.5], &[3])),
        (
            "norm.weight.v".to_owned(),
            tensor(&[1e-6, 1e-5, 1e-4], &[3]),
        ),
    ])
}

fn same_tensors(old: &BTreeMap<String, Tensor>, new: &BTreeMap<String, Tensor>) {
    assert_eq!(
        old.keys().collect::<Vec<_>>(),
        new.keys().collect::<Vec<_>>()
    );
    for (name, a) in old {
        let b = &new[name];
        assert_eq!(a.dims(), b.dims(), "{name}");
        assert_eq!(a.dtype(), b.dtype(), "{name}");
        let (a, b) = (a.flatten_all().unwrap(), b.flatten_all().unwrap());
        assert_eq!(
            a.to_vec1::<f32>().unwrap(),
            b.to_vec1::<f32>().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn a_checkpoint_written_today_still_resumes() {
    let checkpoint::Latest {
        checkpoint: found,
        warnings,
    } = checkpoint::latest(&fixture()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let ck = found.unwrap();
    assert_eq!(ck.dir, fixture().join("step-00000007"));
    let mut expected = state();
    expected.files = BTreeMap::from([
        (
            "optimizer.safetensors".to_owned(),
            OPTIMIZER_HASH.to_owned(),
        ),
        ("weights.safetensors".to_owned(), WEIGHTS_HASH.to_owned()),
    ]);
    assert_eq!(ck.state, expected);
    same_tensors(&ck.weights, &weights());
    same_tensors(&ck.optimizer, &optimizer());
}

#[test]
fn a_checkpoint_is_written_as_pinned() {
    let root = tempfile::tempdir().unwrap();
    let dir = checkpoint::save(root.path(), &state(), &weights(), &optimizer(), 1).unwrap();
    assert_eq!(dir, root.path().join("step-00000007"));
    for name in FILES {
        let today = std::fs::read(dir.join(name)).unwrap();
        let pinned = std::fs::read(fixture().join("step-00000007").join(name)).unwrap();
        assert!(
            today == pinned,
            "today's code writes a checkpoint's {name} differently from the pinned one; a \
             format that changes must bump its version and keep reading the old one"
        );
    }
}
