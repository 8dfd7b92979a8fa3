//! A barrier step driven by the runner: it sees every document before deciding, its
//! parts exchange only files, and a run resumes stage by stage.

use atelier_core::BoxError;
use atelier_core::{
    Barrier, BarrierContext, BarrierStage, Document, Observer, Recipe, Registry, Step, StepConfig,
    StepError, Verdict,
};
use atelier_runner::{Job, Mode, RunOptions, RunSummary, run};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Keeps the first document of each text length, in input order, across all tasks.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct FirstOfLength {}

impl StepConfig for FirstOfLength {
    const NAME: &'static str = "first_of_length";
    const SUMMARY: &'static str = "Keeps the first document of each length.";
    const VERSION: u32 = 1;
    fn barrier(&self) -> Option<Box<dyn Barrier>> {
        Some(Box::new(FirstOfLength {}))
    }
}

fn observed(work: &Path, rank: usize) -> PathBuf {
    work.join(format!("lengths-{rank}"))
}

fn decisions(work: &Path, rank: usize) -> PathBuf {
    work.join(format!("keep-{rank}"))
}

fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let temp = path.with_extension("tmp");
    std::fs::File::create(&temp)?.write_all(text.as_bytes())?;
    std::fs::rename(temp, path)
}

struct Lengths {
    path: PathBuf,
    lines: String,
}

impl Observer for Lengths {
    fn observe(&mut self, doc: &Document) -> io::Result<()> {
        self.lines
            .push_str(&format!("{}\n", doc.text.chars().count()));
        Ok(())
    }
    fn finish(self: Box<Self>) -> io::Result<()> {
        write_atomic(&self.path, &self.lines)
    }
}

struct Decide {
    flags: std::vec::IntoIter<bool>,
}

impl Step for Decide {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        match self.flags.next() {
            Some(true) => {
                doc.metadata.insert("first".into(), true.into());
                Ok(Verdict::Keep)
            }
            Some(false) => Ok(Verdict::Drop("repeat")),
            None => Err(StepError("more documents than observed".into())),
        }
    }
}

impl Barrier for FirstOfLength {
    fn observer(&self, ctx: &BarrierContext, rank: usize) -> Result<Box<dyn Observer>, BoxError> {
        Ok(Box::new(Lengths {
            path: observed(&ctx.work, rank),
            lines: String::new(),
        }))
    }
    fn stages(&self, ctx: &BarrierContext) -> Vec<BarrierStage> {
        let (work, world) = (ctx.work.clone(), ctx.world);
        let run = Arc::new(move |_rank: usize| {
            let mut seen = std::collections::HashSet::new();
            for r in 0..world {
                let lengths = std::fs::read_to_string(observed(&work, r)).unwrap_or_default();
                let flags: String = lengths
                    .lines()
                    .map(|l| {
                        if seen.insert(l.to_owned()) {
                            "1\n"
                        } else {
                            "0\n"
                        }
                    })
                    .collect();
                write_atomic(&decisions(&work, r), &flags).map_err(|e| e.to_string())?;
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
        let text =
            std::fs::read_to_string(decisions(&ctx.work, rank)).map_err(|e| e.to_string())?;
        let flags: Vec<bool> = text.lines().map(|l| l == "1").collect();
        Ok(Box::new(Decide {
            flags: flags.into_iter(),
        }))
    }
}

/// Drops documents containing `x`, to have a step on each side of the barrier.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct NoX {}

impl StepConfig for NoX {
    const NAME: &'static str = "no_x";
    const SUMMARY: &'static str = "Drops documents with an x.";
    const VERSION: u32 = 1;
    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        Ok(Box::new(NoX {}))
    }
}

impl Step for NoX {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        Ok(if doc.text.contains('x') {
            Verdict::Drop("has_x")
        } else {
            Verdict::Keep
        })
    }
}

fn setup(dir: &Path, texts: &[&str]) -> Recipe {
    write_input(dir, texts);
    recipe(dir, &["no_x", "first_of_length", "no_x"])
}

fn write_input(dir: &Path, texts: &[&str]) {
    let lines: String = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "{}\n",
                serde_json::to_string(&Document::new(format!("d{i}"), *t)).unwrap()
            )
        })
        .collect();
    std::fs::write(dir.join("in.jsonl"), lines).unwrap();
}

fn recipe(dir: &Path, steps: &[&str]) -> Recipe {
    let steps: String = steps
        .iter()
        .map(|s| format!("[[step]]\ntype = \"{s}\"\n\n"))
        .collect();
    let recipe = format!(
        "[dataset]\ntasks = 3\ntask_bytes = 40\nmax_quarantined_fraction = 0.5\n\n\
         [[source]]\npath = \"in.jsonl\"\n\n{steps}[output]\npath = \"out\"\ncompression = \"none\"\n"
    );
    let registry = Registry::new()
        .register::<FirstOfLength>()
        .register::<NoX>();
    Recipe::parse(&recipe, &dir.join("atelier.toml"), &registry).unwrap()
}

fn texts(summary: &RunSummary) -> Vec<String> {
    let mut out = Vec::new();
    for shard in &summary.shards {
        for line in std::fs::read_to_string(shard).unwrap().lines() {
            let doc = Document::from_json_slice(line.as_bytes(), String::new).unwrap();
            assert_eq!(doc.metadata["first"], true);
            out.push(doc.text);
        }
    }
    out
}

const INPUT: [&str; 12] = [
    "aa", "bb", "xx", "ccc", "dd", "eee", "f", "gggg", "hh", "x", "i", "jjjj",
];

#[test]
fn barrier_sees_all_tasks_before_deciding() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = setup(dir.path(), &INPUT);
    let summary = run(&recipe, &OPTIONS).unwrap();
    assert_eq!(texts(&summary), ["aa", "ccc", "f", "gggg"]);
    let names: Vec<&str> = summary
        .stats
        .steps
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["read", "no_x", "first_of_length", "no_x", "write"]);
    let barrier = &summary.stats.steps[2];
    assert_eq!((barrier.documents_in, barrier.kept), (10, 4));
    assert_eq!(barrier.dropped["repeat"], 6);
    assert_eq!(summary.stats.steps[1].dropped["has_x"], 2);
    let work = dir.path().join("out/.atelier/work");
    assert!(!work.exists(), "a finished run keeps no intermediate work");
}

#[test]
fn a_run_resumes_stage_by_stage() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = setup(dir.path(), &INPUT);
    let first = run(&recipe, &OPTIONS).unwrap();
    let shards = bytes_of(&first.shards);
    // As if killed during the last map stage: every stage before it has finished, none
    // of its tasks has.
    std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    run_all_but_the_last_stage(&recipe);
    let again = run(&recipe, &OPTIONS).unwrap();
    assert_eq!(
        again.tasks_resumed, 3,
        "the first map stage is not run again"
    );
    let again_shards = bytes_of(&again.shards);
    assert_eq!(again_shards, shards);
    assert_eq!(again.stats.written(), first.stats.written());
}

const OPTIONS: RunOptions = RunOptions {
    workers: 2,
    progress: false,
    after: None,
};

fn with_workers(workers: usize) -> RunOptions {
    RunOptions { workers, ..OPTIONS }
}

#[test]
fn a_barrier_first_reads_the_sources_again_instead_of_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    write_input(dir.path(), &INPUT);
    // A record that does not read, between two that do.
    let input = dir.path().join("in.jsonl");
    let text = std::fs::read_to_string(&input).unwrap();
    let (head, tail) = text.split_at(text.find("{\"id\":\"d5\"").unwrap());
    std::fs::write(&input, format!("{head}{{not json\n{tail}")).unwrap();
    let recipe = recipe(dir.path(), &["first_of_length", "no_x"]);
    // The first stage alone: a finished run removes `.atelier/work/` whatever it holds.
    let job = Job::new(&recipe, Mode::Plan, None).unwrap();
    for rank in 0..job.stages()[0].tasks {
        job.run_task(0, rank, &|_| {}).unwrap();
    }
    let work = dir.path().join("out/.atelier/work");
    assert!(work.join("step0-first_of_length").is_dir());
    let copies = walk(&work.join("map0"));
    assert!(
        copies.is_empty(),
        "no intermediate copy of the input: {copies:?}"
    );
    drop(job);
    let summary = run(&recipe, &OPTIONS).unwrap();

    assert_eq!(texts(&summary), ["aa", "ccc", "f", "gggg"]);
    assert_eq!(summary.tasks_resumed, 3, "the first stage was done above");
    let steps = &summary.stats.steps;
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["read", "first_of_length", "no_x", "write"]);
    // The bad record is counted and quarantined once, not again by the second read.
    assert_eq!((steps[0].documents_in, steps[0].quarantined), (13, 1));
    assert_eq!((steps[1].documents_in, steps[1].kept), (12, 4));
    let entries: usize = summary
        .quarantine
        .iter()
        .map(|q| std::fs::read_to_string(q).unwrap().lines().count())
        .sum();
    assert_eq!(entries, 1);
}

#[test]
fn an_input_that_changes_between_the_two_reads_stops_the_task() {
    let dir = tempfile::tempdir().unwrap();
    write_input(dir.path(), &INPUT);
    let recipe = recipe(dir.path(), &["first_of_length"]);
    run_all_but_the_last_stage(&recipe);
    // As if the file changed while the last map stage had yet to run: one document
    // fewer in the same bytes and with the same modification time, so the plan is
    // the same and the run resumes.
    let input = dir.path().join("in.jsonl");
    let modified = std::fs::metadata(&input).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(&input).unwrap();
    let first_two = text
        .split_inclusive('\n')
        .take(2)
        .map(str::len)
        .sum::<usize>();
    let merged = format!(
        "{{\"id\":\"d0\",\"text\":\"{}\"}}\n",
        "a".repeat(first_two - 22)
    );
    assert_eq!(merged.len(), first_two);
    std::fs::write(&input, format!("{merged}{}", &text[first_two..])).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&input)
        .unwrap()
        .set_modified(modified)
        .unwrap();

    let error = run(&recipe, &OPTIONS).unwrap_err().to_string();
    assert!(error.contains("changed during the run"), "{error}");
}

/// With `wait = true`, holds the document `wait` until another thread has run the
/// document `late`: the task holding it finishes only if a worker helps it with a
/// later unit. It gives up, failing the document, after a minute.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Rendezvous {
    wait: bool,
}

/// The thread that ran the document `late`.
static LATE: (
    std::sync::Mutex<Option<std::thread::ThreadId>>,
    std::sync::Condvar,
) = (std::sync::Mutex::new(None), std::sync::Condvar::new());

impl StepConfig for Rendezvous {
    const NAME: &'static str = "rendezvous";
    const SUMMARY: &'static str = "Holds a document until another worker runs a later one.";
    const VERSION: u32 = 1;
    fn build(&self) -> Result<Box<dyn Step>, BoxError> {
        Ok(Box::new(self.clone()))
    }
}

impl Step for Rendezvous {
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError> {
        let (late, ran) = &LATE;
        if doc.text == "late" {
            *late.lock().unwrap() = Some(std::thread::current().id());
            ran.notify_all();
        }
        if doc.text == "wait" && self.wait {
            let me = std::thread::current().id();
            let (by, _) = ran
                .wait_timeout_while(
                    late.lock().unwrap(),
                    std::time::Duration::from_secs(60),
                    |by| by.is_none(),
                )
                .unwrap();
            if *by == Some(me) || by.is_none() {
                return Err(StepError("no other worker ran the later unit".into()));
            }
        }
        Ok(Verdict::Keep)
    }
}

#[test]
fn idle_workers_take_units_of_running_tasks_without_changing_the_output() {
    let lines = |texts: &[&str]| -> String {
        texts
            .iter()
            .map(|t| match *t {
                "BAD" => "{not json\n".to_owned(),
                t => format!("{}\n", serde_json::to_string(&Document::new(t, t)).unwrap()),
            })
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    // One task of three units: the first holds `wait` until a helper runs the last.
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.jsonl"), lines(&["aa", "wait", "bb"])).unwrap();
    std::fs::write(input.join("b.jsonl"), lines(&["ccc", "BAD", "dd"])).unwrap();
    std::fs::write(input.join("c.jsonl"), lines(&["late", "eeeee", "x"])).unwrap();
    let run_with = |wait: bool, workers: usize| {
        let text = format!(
            "[dataset]\ntasks = 1\nmax_quarantined_fraction = 0.5\n\n[[source]]\npath = \"in\"\n\n\
             [[step]]\ntype = \"rendezvous\"\nwait = {wait}\n\n\
             [[step]]\ntype = \"first_of_length\"\n\n[[step]]\ntype = \"no_x\"\n\n\
             [output]\npath = \"out-{workers}\"\ncompression = \"gzip\"\n"
        );
        let registry = Registry::new()
            .register::<FirstOfLength>()
            .register::<NoX>()
            .register::<Rendezvous>();
        let recipe = Recipe::parse(&text, &dir.path().join("atelier.toml"), &registry).unwrap();
        let summary = run(&recipe, &with_workers(workers)).unwrap();
        let shards = bytes_of(&summary.shards);
        let quarantine: Vec<String> = summary
            .quarantine
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        (shards, quarantine, summary.stats.steps)
    };
    let (alone, alone_quarantine, alone_steps) = run_with(false, 1);
    *LATE.0.lock().unwrap() = None;
    let (helped, helped_quarantine, helped_steps) = run_with(true, 2);
    assert_eq!(helped, alone, "the same shard, byte for byte");
    assert_eq!(helped_quarantine, alone_quarantine);
    assert_eq!(helped_quarantine.concat().lines().count(), 1);
    let counts = |steps: &[atelier_core::StepStats]| -> Vec<(String, u64, u64)> {
        steps
            .iter()
            .map(|s| (s.name.clone(), s.documents_in, s.kept))
            .collect()
    };
    assert_eq!(counts(&helped_steps), counts(&alone_steps));
    assert_eq!(helped_steps[2].kept, 5, "{helped_steps:?}");
}

/// The bytes of each file.
/// Runs every task of every stage but the last, as a run killed before its last stage.
fn run_all_but_the_last_stage(recipe: &Recipe) {
    let job = Job::new(recipe, Mode::Plan, None).unwrap();
    for stage in 0..job.stages().len() - 1 {
        for rank in 0..job.stages()[stage].tasks {
            job.run_task(stage, rank, &|_| {}).unwrap();
        }
    }
}

fn bytes_of(paths: &[PathBuf]) -> Vec<Vec<u8>> {
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn any_number_of_workers_gives_the_same_shards() {
    // Many small units in few tasks, a barrier and bad records: whichever worker runs
    // which unit, the output is the same.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for f in 0..24 {
        let mut lines = String::new();
        for d in 0..(3 + f % 5) {
            let text = "ab".repeat(1 + (f * 7 + d * 3) % 11) + if d % 4 == 0 { "x" } else { "" };
            let doc = Document::new(format!("f{f}-{d}"), text);
            lines.push_str(&format!("{}\n", serde_json::to_string(&doc).unwrap()));
            if (f + d) % 9 == 0 {
                lines.push_str("{broken\n");
            }
        }
        std::fs::write(input.join(format!("{f:02}.jsonl")), lines).unwrap();
    }
    let registry = Registry::new()
        .register::<FirstOfLength>()
        .register::<NoX>();
    let run_with = |workers: usize| {
        let text = format!(
            "[dataset]\ntasks = 3\nmax_quarantined_fraction = 0.5\n\n[[source]]\npath = \"in\"\n\n\
             [[step]]\ntype = \"no_x\"\n\n[[step]]\ntype = \"first_of_length\"\n\n\
             [output]\npath = \"out-{workers}\"\ncompression = \"zstd\"\n"
        );
        let recipe = Recipe::parse(&text, &dir.path().join("atelier.toml"), &registry).unwrap();
        let summary = run(&recipe, &with_workers(workers)).unwrap();
        (bytes_of(&summary.shards), bytes_of(&summary.quarantine))
    };
    let alone = run_with(1);
    assert!(!alone.0.is_empty() && !alone.1.is_empty());
    for workers in [2, 3, 5] {
        assert_eq!(run_with(workers), alone, "{workers} workers");
    }
}
