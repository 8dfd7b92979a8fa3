//! Work reused from the project store gives exactly what computing it again gives:
//! shards, quarantine files and counters, whatever the input, the steps that rewrite,
//! drop or fail documents, the setting that changed, and whether a barrier follows.

use atelier_core::BoxError;
use atelier_core::{
    Barrier, BarrierContext, BarrierStage, Document, Observer, Recipe, Registry, Step, StepConfig,
    StepError, StepStats, Verdict,
};
use atelier_runner::{RunOptions, RunSummary, run};
use proptest::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

fn fate(text: &str, salt: u8) -> u8 {
    text.bytes()
        .fold(salt, |a, b| a.wrapping_mul(31).wrapping_add(b))
        % 5
}

/// Keeps, drops, fails, or rewrites a document, by a hash of its text and `salt`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Chaos {
    salt: u8,
}

impl StepConfig for Chaos {
    const NAME: &'static str = "chaos";
    const SUMMARY: &'static str = "Keeps, drops, fails or rewrites by a hash of the text.";
    const VERSION: u32 = 1;
    // The store keeps documents after it: reuse from a prefix before the last is tested.
    const EXPENSIVE: bool = true;
    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        Ok(Box::new(self.clone()))
    }
}

impl Step for Chaos {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        match fate(&doc.text, self.salt) {
            0 => Ok(Verdict::Drop("unlucky")),
            1 => Err(StepError("refused".into())),
            2 => {
                doc.text.push('!');
                doc.metadata.insert("score".into(), 0.1f64.powi(7).into());
                Ok(Verdict::Keep)
            }
            _ => Ok(Verdict::Keep),
        }
    }
}

/// Drops texts shorter than `min`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Short {
    min: usize,
}

impl StepConfig for Short {
    const NAME: &'static str = "short";
    const SUMMARY: &'static str = "Drops short texts.";
    const VERSION: u32 = 1;
    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        Ok(Box::new(self.clone()))
    }
}

impl Step for Short {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        Ok(if doc.text.len() < self.min {
            Verdict::Drop("short")
        } else {
            Verdict::Keep
        })
    }
}

/// A barrier that drops every document whose text length was seen before (in input
/// order), to have a stage after the cached one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Unique {}

impl StepConfig for Unique {
    const NAME: &'static str = "unique";
    const SUMMARY: &'static str = "Keeps the first document of each length.";
    const VERSION: u32 = 1;
    fn barrier(&self) -> Option<Box<dyn Barrier>> {
        Some(Box::new(Unique {}))
    }
}

struct Lengths(std::path::PathBuf, String);

impl Observer for Lengths {
    fn observe(&mut self, doc: &Document) -> std::io::Result<()> {
        self.1.push_str(&format!("{}\n", doc.text.len()));
        Ok(())
    }
    fn finish(self: Box<Self>) -> std::io::Result<()> {
        std::fs::write(&self.0, &self.1)
    }
}

struct Flags(std::vec::IntoIter<bool>);

impl Step for Flags {
    fn process(&mut self, _: &mut Document) -> Result<Verdict, StepError> {
        match self.0.next() {
            Some(true) => Ok(Verdict::Keep),
            Some(false) => Ok(Verdict::Drop("repeat")),
            None => Err(StepError("more documents than observed".into())),
        }
    }
}

impl Barrier for Unique {
    fn observer(&self, ctx: &BarrierContext, rank: usize) -> Result<Box<dyn Observer>, BoxError> {
        Ok(Box::new(Lengths(
            ctx.work.join(format!("seen-{rank}")),
            String::new(),
        )))
    }
    fn stages(&self, ctx: &BarrierContext) -> Vec<BarrierStage> {
        let (work, world) = (ctx.work.clone(), ctx.world);
        let run = Arc::new(move |_| {
            let mut seen = std::collections::HashSet::new();
            for r in 0..world {
                let text =
                    std::fs::read_to_string(work.join(format!("seen-{r}"))).unwrap_or_default();
                let flags: String = text
                    .lines()
                    .map(|l| {
                        if seen.insert(l.to_owned()) {
                            "1\n"
                        } else {
                            "0\n"
                        }
                    })
                    .collect();
                std::fs::write(work.join(format!("keep-{r}")), flags).map_err(|e| e.to_string())?;
            }
            Ok(())
        });
        vec![BarrierStage {
            name: "decide".into(),
            tasks: 1,
            run,
        }]
    }
    fn decider(&self, ctx: &BarrierContext, rank: usize) -> Result<Box<dyn Step>, BoxError> {
        let text = std::fs::read_to_string(ctx.work.join(format!("keep-{rank}")))
            .map_err(|e| e.to_string())?;
        let flags: Vec<bool> = text.lines().map(|l| l == "1").collect();
        Ok(Box::new(Flags(flags.into_iter())))
    }
}

fn registry() -> Registry {
    Registry::new()
        .register::<Chaos>()
        .register::<Short>()
        .register::<Unique>()
}

/// What a recipe of these tests varies.
#[derive(Clone, Copy)]
struct Setup {
    salt: u8,
    min: usize,
    tasks: usize,
    barrier: bool,
}

/// A recipe over `data` in `dir`; with `store = false` it is a plain run.
fn recipe(dir: &Path, data: &Path, s: &Setup, store: bool) -> Recipe {
    let Setup {
        salt,
        min,
        tasks,
        barrier,
    } = *s;
    let text = format!(
        "[dataset]\ntasks = {tasks}\ntask_bytes = 300\nmax_quarantined_fraction = 1.0\nstore = {store}\n\n\
         [[source]]\npath = {data:?}\n\n\
         [[step]]\ntype = \"chaos\"\nsalt = {salt}\n\n\
         [[step]]\ntype = \"short\"\nmin = {min}\n\n{}\
         [output]\npath = \"out\"\ncompression = \"gzip\"\n",
        if barrier {
            "[[step]]\ntype = \"unique\"\n\n[[step]]\ntype = \"short\"\nmin = 1\n\n"
        } else {
            ""
        }
    );
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("atelier.toml");
    std::fs::write(&path, &text).unwrap();
    Recipe::parse(&text, &path, &registry()).unwrap()
}

fn go(recipe: &Recipe) -> RunSummary {
    run(
        recipe,
        &RunOptions {
            workers: 2,
            progress: false,
            after: None,
        },
    )
    .unwrap()
}

/// Shards and quarantine files by name, with their bytes.
fn output(summary: &RunSummary) -> Vec<(String, Vec<u8>)> {
    summary
        .shards
        .iter()
        .chain(&summary.quarantine)
        .map(|p| {
            let name = p.strip_prefix(&summary.output).unwrap();
            (name.display().to_string(), std::fs::read(p).unwrap())
        })
        .collect()
}

/// The counters without time, reuse and memory, which legitimately differ.
fn counts(summary: &RunSummary) -> Vec<StepStats> {
    summary
        .stats
        .steps
        .iter()
        .map(|s| StepStats {
            wall_seconds: 0.0,
            cpu_seconds: 0.0,
            reused_documents: 0,
            saved_cpu_seconds: 0.0,
            saved_wall_seconds: 0.0,
            ..s.clone()
        })
        .collect()
}

fn write_inputs(data: &Path, files: &[Vec<(String, bool)>]) {
    std::fs::create_dir_all(data).unwrap();
    for (f, lines) in files.iter().enumerate() {
        let mut text = String::new();
        for (i, (t, valid)) in lines.iter().enumerate() {
            if *valid {
                let doc = Document::new(format!("f{f}-{i}"), t.clone());
                text.push_str(&serde_json::to_string(&doc).unwrap());
            } else {
                text.push_str("{broken");
            }
            text.push('\n');
        }
        std::fs::write(data.join(format!("part{f}.jsonl")), text).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn reused_work_equals_work_done_again(
        files in proptest::collection::vec(
            proptest::collection::vec(("[a-z ]{0,30}", proptest::bool::weighted(0.9)), 0..40),
            1..4,
        ),
        extra in proptest::collection::vec(("[a-z ]{0,30}", any::<bool>()), 1..20),
        change_first in any::<bool>(),
        barrier in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        write_inputs(&data, &files);
        let project = dir.path().join("project");
        let first = Setup { salt: 1, min: 8, tasks: 3, barrier };
        let v1 = go(&recipe(&project, &data, &first, true));
        prop_assert_eq!(v1.version.as_deref(), Some("v1"));

        // A new file and a changed setting, of the first step or of the second.
        let mut all = files.clone();
        all.push(extra);
        write_inputs(&data, &all);
        let (salt, min) = if change_first { (2, 8) } else { (1, 12) };
        let second = Setup { salt, min, tasks: 3, barrier };
        let v2 = go(&recipe(&project, &data, &second, true));
        let fresh = go(&recipe(&dir.path().join("fresh"), &data, &second, false));
        prop_assert!(fresh.version.is_none());
        prop_assert_eq!(output(&v2), output(&fresh));
        prop_assert_eq!(counts(&v2), counts(&fresh));

        // Only the new file was read, unless the first step changed (the read is not
        // kept: only what an expensive step made, and each unit's output); the old
        // files' work before the changed step was reused, and none after it.
        let old_records: u64 = files.iter().map(|f| f.len() as u64).sum();
        let old_documents = files.iter().flatten().filter(|(_, valid)| *valid).count() as u64;
        let steps = &v2.stats.steps;
        prop_assert_eq!(v2.stats.files, if change_first { v1.stats.files + 1 } else { 1 });
        prop_assert_eq!(steps[0].reused_documents, if change_first { 0 } else { old_records });
        prop_assert_eq!(steps[1].reused_documents, if change_first { 0 } else { old_documents });
        prop_assert_eq!(steps[2].reused_documents, 0);

        // Another dealing of the same units (another number of tasks): every unit is
        // taken whole from the store, and the shards are those of a run without it.
        let third = Setup { tasks: 2, ..second };
        let v3 = go(&recipe(&project, &data, &third, true));
        let fresh3 = go(&recipe(&dir.path().join("fresh3"), &data, &third, false));
        prop_assert_eq!(output(&v3), output(&fresh3));
        prop_assert_eq!(counts(&v3), counts(&fresh3));
        prop_assert_eq!(v3.stats.files, 0);
        prop_assert!(v3.stats.steps[..3].iter().all(|s| s.reused_documents == s.documents_in));
    }
}

/// Drops documents containing a word of a list file, read when the step is built.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Banned {
    list: std::path::PathBuf,
}

struct BannedStep(Vec<String>);

impl StepConfig for Banned {
    const NAME: &'static str = "banned";
    const SUMMARY: &'static str = "Drops documents with a listed word.";
    const VERSION: u32 = 1;
    fn resolve_paths(&mut self, dir: &Path) {
        self.list = dir.join(&self.list);
    }
    fn inputs(&self) -> Vec<std::path::PathBuf> {
        vec![self.list.clone()]
    }
    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        let text = std::fs::read_to_string(&self.list).map_err(|e| e.to_string())?;
        Ok(Box::new(BannedStep(
            text.split_whitespace().map(str::to_owned).collect(),
        )))
    }
}

impl Step for BannedStep {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        let banned = doc
            .text
            .split_whitespace()
            .any(|w| self.0.iter().any(|b| b == w));
        Ok(if banned {
            Verdict::Drop("banned")
        } else {
            Verdict::Keep
        })
    }
}

#[test]
fn a_changed_input_file_of_a_step_is_new_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_inputs(
        &data,
        &[vec![
            ("a good text".into(), true),
            ("a bad text".into(), true),
            ("an evil text".into(), true),
        ]],
    );
    std::fs::write(dir.path().join("words.txt"), "bad").unwrap();
    let text = format!(
        "[[source]]\npath = {data:?}\n\n[[step]]\ntype = \"banned\"\nlist = \"words.txt\"\n\n\
         [output]\npath = \"out\"\ncompression = \"none\"\n"
    );
    let path = dir.path().join("atelier.toml");
    std::fs::write(&path, &text).unwrap();
    let registry = Registry::new().register::<Banned>();
    let recipe = Recipe::parse(&text, &path, &registry).unwrap();
    let first = go(&recipe);
    assert_eq!(first.stats.steps[1].dropped["banned"], 1);

    // Same settings, another list: the step's key changes with the file's content.
    std::fs::write(dir.path().join("words.txt"), "bad evil").unwrap();
    let second = go(&recipe);
    let step = &second.stats.steps[1];
    assert_eq!(step.reused_documents, 0, "the step runs again");
    assert_eq!(step.dropped["banned"], 2);
    assert_eq!(
        second.stats.steps[0].reused_documents, 0,
        "the read is not kept (reading again costs what reading a copy would)"
    );
}
