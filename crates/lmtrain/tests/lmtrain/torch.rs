//! One training step against PyTorch's: the fixture in `tests/data/torch_step` holds a
//! tiny llama in Hugging Face's layout, a batch with a loss mask, and what PyTorch
//! (`transformers`' `LlamaForCausalLM`, float32, CPU) computed for it: the loss, every
//! gradient, and the weights after one clipped AdamW step. `tests/python/torch_step.py`
//! made it.

use atelier_lmtrain::optim::{AdamW, Grads, OptimSettings, accumulate};
use atelier_lmtrain::{Batch, Llama, LlamaConfig};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

use crate::common::{max_abs, max_diff};

fn relative(got: &Tensor, want: &Tensor) -> f32 {
    max_diff(got, want) / max_abs(want).max(1e-12)
}

#[test]
fn one_training_step_matches_pytorch() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/torch_step");
    let config = LlamaConfig::from_hf(&dir.join("config.json")).unwrap();
    let weights = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu)
        .unwrap()
        .into_iter()
        .collect();
    let model = Llama::new(config, weights, &Device::Cpu, DType::F32).unwrap();
    let batch: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("batch.json")).unwrap()).unwrap();
    let rows = |key: &str| -> Vec<Vec<u32>> { serde_json::from_value(batch[key].clone()).unwrap() };
    let mask: Vec<Vec<u8>> = rows("mask")
        .into_iter()
        .map(|r| r.into_iter().map(|m| m as u8).collect())
        .collect();
    let batch = Batch::new(&rows("inputs"), &rows("targets"), Some(&mask), &Device::Cpu).unwrap();
    let s: HashMap<String, f64> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("settings.json")).unwrap()).unwrap();
    let expected =
        candle_core::safetensors::load(dir.join("expected.safetensors"), &Device::Cpu).unwrap();

    let loss = (model.loss(&batch, None).unwrap() / batch.counted as f64).unwrap();
    let got = loss.to_scalar::<f32>().unwrap();
    let want = expected["loss"]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()[0];
    assert!(
        ((got - want) / want).abs() < 1e-5,
        "loss {got}, PyTorch {want}"
    );

    let vars = model.trainable();
    let mut grads = Grads::new();
    accumulate(&mut grads, &loss.backward().unwrap(), &vars).unwrap();
    for (name, g) in &grads {
        let r = relative(g, &expected[&format!("grad.{name}")]);
        assert!(r < 1e-4, "gradient of {name}: relative difference {r}");
    }
    assert_eq!(grads.len(), vars.len());
    let norm = AdamW::norm(&grads).unwrap();
    let want_norm = expected["grad_norm"]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()[0];
    assert!(((norm as f32 - want_norm) / want_norm).abs() < 1e-5);

    let mut optim = AdamW::new(
        vars.clone(),
        OptimSettings {
            lr: s["lr"],
            beta1: s["beta1"],
            beta2: s["beta2"],
            eps: s["eps"],
            weight_decay: s["weight_decay"],
            clip: s["clip"],
            ..OptimSettings::default()
        },
    )
    .unwrap();
    optim.step(&grads, s["lr"], norm).unwrap();
    for (name, var) in &vars {
        let r = relative(var.as_tensor(), &expected[&format!("param.{name}")]);
        assert!(r < 1e-5, "{name} after the step: relative difference {r}");
    }
}
