//! The trainable model against the inference engine, LoRA's merge, and the exports.

use atelier_lm::{Lm, LoadOptions};
use atelier_lmtrain::weights::Base;
use atelier_lmtrain::{GgufType, Llama, LoraSettings, export};
use candle_core::{DType, Device, Tensor};

use crate::common::{self, tiny_base};

const IDS: [u32; 12] = [5, 72, 101, 108, 108, 111, 256, 259, 32, 119, 111, 10];

fn logits(model: &Llama) -> Vec<Vec<f32>> {
    let ids = Tensor::new(&IDS[..], &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let l = model.logits(&ids, None).unwrap();
    l.squeeze(0).unwrap().to_vec2().unwrap()
}

fn engine_logits(path: &std::path::Path) -> Vec<Vec<f32>> {
    let lm = Lm::load(path, &LoadOptions::default()).unwrap();
    let mut session = lm.session();
    session.feed(&IDS, true).unwrap().to_vec2().unwrap()
}

fn logit_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn model(base: &Base) -> Llama {
    Llama::new(
        base.config.clone(),
        base.weights.clone(),
        &Device::Cpu,
        DType::F32,
    )
    .unwrap()
}

#[test]
fn the_trainable_model_computes_what_the_inference_engine_computes() {
    // Two implementations (GGUF's interleaved RoPE with cached keys; Hugging Face's
    // halves after un-permuting Q and K) must give the same logits.
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_base(dir.path());
    let base = Base::load(&path).unwrap();
    let ours = logits(&model(&base));
    let engine = engine_logits(&path);
    assert_eq!(ours.len(), engine.len());
    let diff = logit_diff(&ours, &engine);
    assert!(diff < 1e-3, "largest logit difference {diff}");
}

#[test]
fn a_lora_merge_is_the_base_plus_the_scaled_product() {
    let dir = tempfile::tempdir().unwrap();
    let base = Base::load(&tiny_base(dir.path())).unwrap();
    let mut m = model(&base);
    let lora = LoraSettings {
        rank: 4,
        alpha: 8.0,
        targets: vec!["q_proj".into(), "down_proj".into()],
        ..LoraSettings::default()
    };
    m.add_lora(&lora, 7).unwrap();
    // B starts at zero; give it values so the product is not trivially zero.
    for (i, (name, var)) in m.trainable().into_iter().enumerate() {
        if name.ends_with("lora_B.weight") {
            let t = (Tensor::randn(0f32, 1.0, var.dims(), &Device::Cpu).unwrap() * 0.1).unwrap();
            var.set(&t).unwrap();
        }
        assert!(i < 8, "two targets x two layers x (A, B)");
    }
    let merged = m.merged().unwrap();
    let vars: std::collections::BTreeMap<String, Tensor> = m
        .trainable()
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().clone()))
        .collect();
    let name = "model.layers.1.self_attn.q_proj.weight";
    let a = &vars["model.layers.1.self_attn.q_proj.lora_A.weight"];
    let b = &vars["model.layers.1.self_attn.q_proj.lora_B.weight"];
    let want = (&base.weights[name] + (b.matmul(a).unwrap() * 2.0).unwrap()).unwrap();
    let diff = common::max_diff(&merged[name], &want);
    assert!(diff < 1e-6, "merge differs by {diff}");
    // Not-targeted weights are untouched.
    let k = "model.layers.0.self_attn.k_proj.weight";
    assert_eq!(
        merged[k].to_vec2::<f32>().unwrap(),
        base.weights[k].to_vec2::<f32>().unwrap()
    );
    // The merged model computes what the model with adapters computes.
    let merged_model = Llama::new(base.config.clone(), merged, &Device::Cpu, DType::F32).unwrap();
    let diff = logit_diff(&logits(&m), &logits(&merged_model));
    assert!(diff < 1e-4, "logits differ by {diff}");
}

#[test]
fn exports_load_in_the_engine_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_base(dir.path());
    let base = Base::load(&path).unwrap();
    let original = engine_logits(&path);
    let scale = original.iter().flatten().fold(0f32, |m, x| m.max(x.abs()));
    for (ty, tolerance) in [(GgufType::F16, 0.002), (GgufType::Q8_0, 0.05)] {
        let out = dir.path().join(format!("out-{}.gguf", ty.name()));
        export::write_gguf(
            &out,
            &base.config,
            &base.weights,
            base.gguf.as_ref().unwrap(),
            ty,
        )
        .unwrap();
        let diff = logit_diff(&engine_logits(&out), &original) / scale;
        assert!(
            diff < tolerance,
            "{}: logits differ by {diff} of the largest",
            ty.name()
        );
    }
    let hf = dir.path().join("hf");
    let tok = &base.tokenizer;
    export::write_hf(
        &hf,
        &base.config,
        &base.weights,
        &tok.json,
        (tok.tokenizer.bos, tok.tokenizer.eos),
    )
    .unwrap();
    let back = Base::load(&hf).unwrap();
    assert_eq!(back.config, base.config);
    assert_eq!(back.tokenizer.hash, base.tokenizer.hash);
    for (name, t) in &base.weights {
        let same = common::max_diff(t, &back.weights[name]);
        assert_eq!(same, 0.0, "{name} changed through the safetensors export");
    }
}
