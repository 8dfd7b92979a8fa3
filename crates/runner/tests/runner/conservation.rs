//! Property test: whatever the input, the number of tasks and the step outcomes, every
//! record is counted exactly once as kept, dropped or quarantined, and the dataset is the
//! same documents in the same order.

use atelier_core::BoxError;
use atelier_core::{Document, Recipe, Registry, Step, StepConfig, StepError, Verdict};
use atelier_runner::{RunOptions, run};
use proptest::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A test step whose verdict is a function of the text: `drop` keeps, drops or fails.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Chaos {}

fn fate(text: &str) -> u8 {
    text.bytes()
        .fold(0u8, |a, b| a.wrapping_mul(31).wrapping_add(b))
        % 4
}

impl StepConfig for Chaos {
    const NAME: &'static str = "chaos";
    const SUMMARY: &'static str = "Keeps, drops or fails documents by a hash of their text.";
    const VERSION: u32 = 1;
    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        Ok(Box::new(Chaos {}))
    }
}

impl Step for Chaos {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        match fate(&doc.text) {
            0 => Ok(Verdict::Drop("unlucky")),
            1 => Err(StepError("refused".into())),
            _ => {
                doc.text.push('!');
                Ok(Verdict::Keep)
            }
        }
    }
}

fn output_texts(shards: &[std::path::PathBuf]) -> Vec<String> {
    let mut texts = Vec::new();
    for shard in shards {
        let bytes = std::fs::read(shard).unwrap();
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            texts.push(Document::from_json_slice(line, String::new).unwrap().text);
        }
    }
    texts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn every_record_is_counted_once(
        lines in proptest::collection::vec(("[a-z ]{0,40}", any::<bool>()), 0..120),
        tasks in 1usize..6,
        task_bytes in 64u64..2048,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut input = String::new();
        let mut expected = Vec::new();
        let (mut dropped, mut failed, mut broken) = (0u64, 0u64, 0u64);
        for (i, (text, valid)) in lines.iter().enumerate() {
            if *valid {
                input.push_str(&serde_json::to_string(&Document::new(format!("d{i}"), text.clone())).unwrap());
                match fate(text) {
                    0 => dropped += 1,
                    1 => failed += 1,
                    _ => expected.push(format!("{text}!")),
                }
            } else {
                input.push_str("{not json");
                broken += 1;
            }
            input.push('\n');
        }
        std::fs::write(dir.path().join("in.jsonl"), &input).unwrap();
        let recipe_text = format!(
            "[dataset]\ntasks = {tasks}\ntask_bytes = {task_bytes}\nmax_quarantined_fraction = 1.0\n\n\
             [[source]]\npath = \"in.jsonl\"\n\n[[step]]\ntype = \"chaos\"\n\n[output]\npath = \"out\"\ncompression = \"none\"\n"
        );
        let registry = Registry::new().register::<Chaos>();
        let recipe = Recipe::parse(&recipe_text, &dir.path().join("atelier.toml"), &registry).unwrap();
        let summary = run(&recipe, &RunOptions { workers: 2, progress: false, after: None }).unwrap();

        let s = &summary.stats;
        prop_assert_eq!(s.records(), lines.len() as u64);
        prop_assert_eq!(s.steps[0].quarantined, broken);
        prop_assert_eq!(s.steps[1].dropped.get("unlucky").copied().unwrap_or(0), dropped);
        prop_assert_eq!(s.steps[1].quarantined, failed);
        prop_assert_eq!(s.written(), expected.len() as u64);
        prop_assert_eq!(output_texts(&summary.shards), expected);
    }
}
