//! Training runs on the tiny model: learning, resuming, LoRA, from scratch.

use atelier_lmtrain::{
    Event, Job, LmSettings, LoraSettings, NoMeter, Outcome, Shape, Source, Stop,
};
use candle_core::Device;
use std::path::Path;

use crate::common::{job, sentences, shards, tiny_base};

fn run(job: &mut Job, dir: &Path) -> (Outcome, Vec<String>) {
    let mut notes = vec![];
    let outcome = job
        .run(dir, &NoMeter, &mut |e| {
            if let Event::Note(n) = e {
                notes.push(n);
            }
        })
        .unwrap();
    (outcome, notes)
}

fn checkpoint_bytes(dir: &Path, step: usize) -> Vec<u8> {
    std::fs::read(
        dir.join("checkpoints")
            .join(format!("step-{step:08}"))
            .join("weights.safetensors"),
    )
    .unwrap()
}

#[test]
fn fine_tuning_lowers_the_validation_loss() {
    let dir = tempfile::tempdir().unwrap();
    let mut job = job(dir.path(), |s| LmSettings {
        steps: Some(30),
        ..s
    });
    let (out, _) = run(&mut job, &dir.path().join("run"));
    assert_eq!(out.stopped, Stop::Done);
    assert_eq!((out.steps, out.total_steps), (30, 30));
    let (base, after) = (out.base.unwrap(), out.validation.unwrap());
    assert!(
        after.loss < base.loss * 0.7,
        "validation loss {} -> {}",
        base.loss,
        after.loss
    );
    assert_eq!(out.tokens, 30 * 4 * 32);
    assert_eq!(out.trainable_parameters, out.parameters);
    let files = job.export(&dir.path().join("export")).unwrap();
    assert_eq!(files.len(), 3, "hf folder, f16 and q8_0 GGUF: {files:?}");
}

#[test]
fn a_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let (out, _) = run(&mut job(dir.path(), |s| s), &whole);
    assert_eq!(out.steps, 12);

    // Stopped by a budget after its first step (budgets are not part of the run's
    // identity), then resumed without one.
    let split = dir.path().join("split");
    let (first, _) = run(
        &mut job(dir.path(), |s| LmSettings {
            max_hours: Some(0.0),
            ..s
        }),
        &split,
    );
    assert_eq!(first.steps, 1);
    assert_eq!(
        first.stopped,
        Stop::Budget {
            what: "max_hours".into()
        }
    );
    let (second, notes) = run(&mut job(dir.path(), |s| s), &split);
    assert_eq!(second.resumed_from, Some(1));
    assert!(notes.iter().any(|n| n.contains("resuming")), "{notes:?}");
    assert_eq!(second.steps, 12);
    assert_eq!(second.tokens, out.tokens);
    assert!(
        checkpoint_bytes(&whole, 12) == checkpoint_bytes(&split, 12),
        "the resumed run's final weights differ from the uninterrupted run's"
    );
}

#[test]
fn lora_trains_only_the_adapters_and_lowers_the_loss() {
    let dir = tempfile::tempdir().unwrap();
    let mut job = job(dir.path(), |s| LmSettings {
        steps: Some(30),
        lr: 1e-2,
        lora: Some(LoraSettings {
            rank: 8,
            alpha: 16.0,
            dropout: 0.1,
            ..LoraSettings::default()
        }),
        ..s
    });
    let (out, _) = run(&mut job, &dir.path().join("run"));
    assert!(out.trainable_parameters < out.parameters / 2);
    let (base, after) = (out.base.unwrap(), out.validation.unwrap());
    assert!(
        after.loss < base.loss * 0.85,
        "{} -> {}",
        base.loss,
        after.loss
    );
}

#[test]
fn a_model_trained_from_scratch_learns() {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = tiny_base(dir.path());
    let tokens = shards(dir.path(), &tokenizer, &sentences(400), 0.1);
    let settings = LmSettings {
        shape: Shape {
            layers: 2,
            width: 32,
            heads: 4,
            kv_heads: 2,
            ffn: 64,
            context: 32,
        },
        batch: 4,
        steps: Some(40),
        lr: 1e-2,
        warmup_steps: 4,
        eval_every: 40,
        eval_windows: 8,
        checkpoint_every: 40,
        ..LmSettings::default()
    };
    let mut job = Job::new(
        settings,
        &Source::Shards(tokens.clone()),
        Some(&tokenizer),
        &Device::Cpu,
    )
    .unwrap();
    let (out, _) = run(&mut job, &dir.path().join("run"));
    let (base, after) = (out.base.unwrap(), out.validation.unwrap());
    // Fresh weights predict about uniformly: ln(263) = 5.6 nats.
    assert!((base.loss - 263f64.ln()).abs() < 0.3, "{}", base.loss);
    assert!(after.loss < 3.0, "{} -> {}", base.loss, after.loss);
}
