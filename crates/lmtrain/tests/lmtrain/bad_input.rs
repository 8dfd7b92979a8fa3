//! Inputs a run must refuse or survive.

use atelier_lmtrain::{Event, Job, LmSettings, LmTrainError, LoraSettings, NoMeter, Source, Stop};
use atelier_tokens::{TrainTokenizer, train};
use candle_core::Device;

use crate::common::{job, sentences, settings, shards, tiny_base};

fn error(result: Result<Job, LmTrainError>) -> String {
    match result {
        Ok(_) => panic!("the job was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn shards_of_another_tokenizer_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let base = tiny_base(dir.path());
    let texts = sentences(50);
    let json = train(
        &TrainTokenizer {
            vocab_size: 300,
            min_frequency: 1,
            special: vec!["<|endoftext|>".into()],
        },
        texts.iter(),
    )
    .unwrap();
    let other = dir.path().join("other.json");
    std::fs::write(&other, json).unwrap();
    let tokens = shards(dir.path(), &other, &texts, 0.0);
    let e = error(Job::new(
        settings(&base),
        &Source::Shards(tokens.clone()),
        None,
        &Device::Cpu,
    ));
    assert!(
        e.contains("another tokenizer") || e.contains("tokenizer"),
        "{e}"
    );
    assert!(e.contains("index.json"), "{e}");
}

#[test]
fn a_context_longer_than_the_models_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = tiny_base(dir.path());
    let tokens = shards(dir.path(), &base, &sentences(50), 0.0);
    let e = error(Job::new(
        LmSettings {
            context: Some(128),
            ..settings(&base)
        },
        &Source::Shards(tokens.clone()),
        None,
        &Device::Cpu,
    ));
    assert!(e.contains("128") && e.contains("64"), "{e}");
}

#[test]
fn a_lora_rank_of_zero_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = tiny_base(dir.path());
    let tokens = shards(dir.path(), &base, &sentences(50), 0.0);
    let e = error(Job::new(
        LmSettings {
            lora: Some(LoraSettings {
                rank: 0,
                ..LoraSettings::default()
            }),
            ..settings(&base)
        },
        &Source::Shards(tokens.clone()),
        None,
        &Device::Cpu,
    ));
    assert!(e.contains("rank 0"), "{e}");
}

#[test]
fn a_corrupt_checkpoint_is_named_and_an_older_one_used() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let done = job(dir.path(), |s| s)
        .run(&out, &NoMeter, &mut |_| {})
        .unwrap();
    assert_eq!(done.steps, 12);
    let newest = out.join("checkpoints/step-00000012/weights.safetensors");
    let mut bytes = std::fs::read(&newest).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(&newest, bytes).unwrap();
    let mut notes = vec![];
    let again = job(dir.path(), |s| s)
        .run(&out, &NoMeter, &mut |e| {
            if let Event::Note(n) = e {
                notes.push(n)
            }
        })
        .unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("step-00000012") && n.contains("does not match")),
        "{notes:?}"
    );
    assert_eq!(again.resumed_from, Some(8));
    assert_eq!(again.steps, 12);
}

#[test]
fn a_diverging_run_stops_and_keeps_its_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut job = job(dir.path(), |s| LmSettings {
        steps: Some(40),
        lr: 50.0,
        warmup_steps: 6,
        clip: 0.0,
        ..s
    });
    let out = job
        .run(&dir.path().join("run"), &NoMeter, &mut |_| {})
        .unwrap();
    match out.stopped {
        Stop::Diverged { step, .. } => assert!(step < 40),
        other => panic!("stopped: {other:?}"),
    }
}
