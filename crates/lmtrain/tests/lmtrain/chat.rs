//! Instruction tuning: the loss on the assistant's turns only.

use atelier_lm::{ChatTemplate, GgufFile, Message};
use atelier_lmtrain::chat::conversation;
use atelier_lmtrain::weights::Base;
use atelier_lmtrain::{Job, LmSettings, NoMeter, Source};
use candle_core::Device;
use std::path::Path;

use crate::common::{settings, tiny_base};

fn chats(path: &Path, n: usize) {
    let answers = ["hello world", "the cat", "a dog"];
    let mut lines = String::new();
    for i in 0..n {
        let messages = serde_json::json!([
            {"role": "user", "content": format!("question {}", i % 3)},
            {"role": "assistant", "content": answers[i % 3]},
        ]);
        lines.push_str(&serde_json::json!({"id": i, "messages": messages}).to_string());
        lines.push('\n');
    }
    std::fs::write(path, lines).unwrap();
}

#[test]
fn only_the_assistants_turns_are_learned() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_base(dir.path());
    let tokenizer = Base::load(&path).unwrap().tokenizer.tokenizer;
    let gguf = ChatTemplate::from_gguf(&GgufFile::open(&path).unwrap(), &tokenizer).unwrap();
    assert!(gguf.own, "the tiny model carries ChatML");
    let template = gguf.template;
    let messages = [
        Message::new("system", "be brief"),
        Message::new("user", "say hello"),
        Message::new("assistant", "hello world"),
        Message::new("user", "again"),
        Message::new("assistant", "hell"),
    ];
    let (ids, mask) = conversation(&template, &tokenizer, &messages).unwrap();
    assert_eq!(ids.len(), mask.len());
    let learned: Vec<u32> = ids
        .iter()
        .zip(&mask)
        .filter(|(_, m)| **m == 1)
        .map(|(id, _)| *id)
        .collect();
    // The answers and the template's end of turn (a control token, not decoded).
    assert_eq!(tokenizer.decode(&learned), "hello world\nhell\n");
    let end = tokenizer.token_id("<|im_end|>").unwrap();
    assert_eq!(learned.iter().filter(|&&t| t == end).count(), 2);
    assert_eq!(Some(ids[0]), tokenizer.token_id("<|im_start|>"));
    let all = tokenizer.decode(&ids);
    assert!(
        all.starts_with("system\nbe brief\nuser\nsay hello"),
        "{all}"
    );
    assert!(conversation(&template, &tokenizer, &messages[..2]).is_err());
}

#[test]
fn instruction_tuning_learns_the_answers_and_skips_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let base = tiny_base(dir.path());
    let file = dir.path().join("chats.jsonl");
    chats(&file, 300);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("not json\n");
    text.push_str(r#"{"messages": [{"role": "user", "content": "no answer"}]}"#);
    text.push('\n');
    std::fs::write(&file, text).unwrap();
    let settings = LmSettings {
        steps: Some(30),
        context: Some(32),
        validation: 0.2,
        ..settings(&base)
    };
    let mut job = Job::new(
        settings,
        &Source::Chats(vec![file.clone()]),
        None,
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(job.data.skipped.len(), 2, "{:?}", job.data.skipped);
    assert!(job.data.skipped[0].contains("chats.jsonl:301: not a conversation"));
    assert!(job.data.skipped[1].contains("chats.jsonl:302: no assistant message"));
    let held = job.data.validation.as_ref().unwrap().documents;
    assert!((30..90).contains(&held), "{held} of 300 held out");
    let out = job
        .run(&dir.path().join("run"), &NoMeter, &mut |_| {})
        .unwrap();
    let (before, after) = (out.base.unwrap(), out.validation.unwrap());
    assert!(
        after.loss < before.loss * 0.5,
        "{} -> {}",
        before.loss,
        after.loss
    );
    // Only the answers count: fewer tokens than the windows hold.
    assert!(out.tokens < 30 * 4 * 32);
}
