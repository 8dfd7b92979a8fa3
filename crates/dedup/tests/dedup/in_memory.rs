//! End-to-end tests of the `dedup` step: observers, stages and deciders driven in this
//! process over documents in memory, as the runner drives them over files.

use atelier_core::{Barrier, BarrierContext, Document, StepConfig, Verdict};
use atelier_dedup::{
    CLUSTER_KEY, CLUSTER_SIZE_KEY, DUPLICATE, DUPLICATE_OF_INDEX, DedupConfig, IndexManifest, Keep,
    Mode, Outcome, Signer, dedup_in_memory, find_index,
};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

/// A distinct word for each number, in letters (digits all normalize to `0`).
fn word(mut n: usize) -> String {
    let mut w = String::new();
    loop {
        w.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            return w;
        }
    }
}

/// A text of `len` words drawn from a seeded generator.
fn text(seed: u64, len: usize) -> String {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word((state % 50_000) as usize)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` with one word in `every` replaced.
fn edited(text: &str, every: usize) -> String {
    text.split(' ')
        .enumerate()
        .map(|(i, w)| {
            if i % every == every / 2 {
                "edited".to_owned()
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn doc(id: &str, text: impl Into<String>) -> Document {
    Document::new(id, text)
}

struct Run {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Run {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        Run { _dir: dir, root }
    }

    fn dataset(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn dedup(&self, name: &str, config: &DedupConfig, tasks: &[Vec<Document>]) -> Vec<Outcome> {
        self.try_dedup(name, config, tasks).unwrap()
    }

    fn try_dedup(
        &self,
        name: &str,
        config: &DedupConfig,
        tasks: &[Vec<Document>],
    ) -> Result<Vec<Outcome>, String> {
        let out = self.dataset(name);
        let work = self.root.join(format!("{name}.work"));
        Ok(dedup_in_memory(config, &work, &out, tasks)?
            .into_iter()
            .flatten()
            .collect())
    }
}

fn kept_ids(outcomes: &[Outcome]) -> Vec<&str> {
    outcomes
        .iter()
        .filter(|(_, v)| *v == Verdict::Keep)
        .map(|(d, _)| d.id.as_str())
        .collect()
}

fn verdict_of<'a>(outcomes: &'a [Outcome], id: &str) -> &'a Outcome {
    outcomes.iter().find(|(d, _)| d.id == id).unwrap()
}

fn split(docs: &[Document], tasks: usize) -> Vec<Vec<Document>> {
    let per = docs.len().div_ceil(tasks.max(1)).max(1);
    let mut out: Vec<Vec<Document>> = docs.chunks(per).map(<[Document]>::to_vec).collect();
    out.resize(tasks.max(out.len()), Vec::new());
    out
}

/// Families of near copies: `a0` the original, `a1`.. edited copies; plus loners.
fn corpus() -> Vec<Document> {
    let mut docs = Vec::new();
    for family in 0..5u64 {
        let base = text(family, 300);
        docs.push(doc(&format!("f{family}-loner"), text(1000 + family, 200)));
        docs.push(doc(&format!("f{family}-orig"), base.clone()));
        docs.push(doc(&format!("f{family}-near"), edited(&base, 60)));
        docs.push(doc(&format!("f{family}-upper"), base.to_uppercase()));
    }
    docs
}

#[test]
fn near_copies_keep_the_first_and_carry_their_cluster() {
    let run = Run::new();
    let out = run.dedup("v1", &DedupConfig::default(), &split(&corpus(), 3));
    assert_eq!(out.len(), 20);
    for family in 0..5 {
        let (orig, verdict) = verdict_of(&out, &format!("f{family}-orig"));
        assert_eq!(*verdict, Verdict::Keep);
        assert_eq!(orig.metadata[CLUSTER_KEY], format!("f{family}-orig"));
        assert_eq!(orig.metadata[CLUSTER_SIZE_KEY], 3);
        for copy in ["near", "upper"] {
            let (d, v) = verdict_of(&out, &format!("f{family}-{copy}"));
            assert_eq!(*v, Verdict::Drop(DUPLICATE), "{}", d.id);
            assert_eq!(d.metadata[CLUSTER_KEY], format!("f{family}-orig"));
        }
        let (loner, v) = verdict_of(&out, &format!("f{family}-loner"));
        assert_eq!(*v, Verdict::Keep);
        assert_eq!(loner.metadata[CLUSTER_KEY], loner.id.as_str());
        assert_eq!(loner.metadata[CLUSTER_SIZE_KEY], 1);
    }
    let manifest = index_of(&run.dataset("v1"));
    assert_eq!(manifest.documents, 10);
    // 14 bands × 12 bytes a document, and a 32-byte footer per band file.
    assert_eq!(manifest.bytes, 10 * 168 + 14 * 32);
}

#[test]
fn keep_none_drops_every_copy_and_exact_mode_needs_equal_text() {
    let run = Run::new();
    let none = DedupConfig {
        keep: Keep::None,
        ..DedupConfig::default()
    };
    let out = run.dedup("none", &none, &split(&corpus(), 2));
    let mut kept = kept_ids(&out);
    kept.sort_unstable();
    assert_eq!(
        kept,
        ["f0-loner", "f1-loner", "f2-loner", "f3-loner", "f4-loner"]
    );

    let exact = DedupConfig {
        mode: Mode::Exact,
        ..DedupConfig::default()
    };
    let out = run.dedup("exact", &exact, &split(&corpus(), 2));
    assert_eq!(
        verdict_of(&out, "f1-upper").1,
        Verdict::Drop(DUPLICATE),
        "case is normalized"
    );
    assert_eq!(
        verdict_of(&out, "f1-near").1,
        Verdict::Keep,
        "one edit is not exact"
    );
    let index = find_index(&run.dataset("exact"), "exact").unwrap().1;
    assert_eq!(
        (index.documents, index.bytes),
        (15, 15 * 12 + 32),
        "12 bytes a document"
    );
}

fn index_of(dataset: &Path) -> IndexManifest {
    find_index(dataset, "minhash").unwrap().1
}

#[test]
fn empty_and_one_word_documents() {
    let run = Run::new();
    let docs = vec![
        doc("empty", ""),
        doc("spaces", "  \n\t "),
        doc("punct", "!!! ... ???"),
        doc("empty-again", ""),
        doc("one", "Hello"),
        doc("one-copy", "hello!"),
        doc("other", "goodbye"),
        doc("three", "three small words"),
        doc("three-copy", "Three, small words."),
    ];
    let out = run.dedup("v1", &DedupConfig::default(), &[docs]);
    let verdicts: Vec<(&str, Verdict)> = out.iter().map(|(d, v)| (d.id.as_str(), *v)).collect();
    assert_eq!(
        verdicts,
        [
            ("empty", Verdict::Keep),
            ("spaces", Verdict::Keep),
            ("punct", Verdict::Keep),
            ("empty-again", Verdict::Keep),
            ("one", Verdict::Keep),
            ("one-copy", Verdict::Drop(DUPLICATE)),
            ("other", Verdict::Keep),
            ("three", Verdict::Keep),
            ("three-copy", Verdict::Drop(DUPLICATE)),
        ],
        "texts without words never match; short texts match as a whole"
    );
    assert_eq!(out[0].0.metadata[CLUSTER_SIZE_KEY], 1);
    let index = index_of(&run.dataset("v1"));
    assert_eq!((index.documents, index.keyed), (7, 3));

    // No data task at all, and tasks without documents: an empty index.
    assert!(
        run.dedup("nothing", &DedupConfig::default(), &[])
            .is_empty()
    );
    assert_eq!(index_of(&run.dataset("nothing")).documents, 0);
    assert!(
        run.dedup("hollow", &DedupConfig::default(), &[vec![], vec![]])
            .is_empty()
    );
    assert_eq!(index_of(&run.dataset("hollow")).documents, 0);
}

#[test]
fn thousands_of_identical_documents() {
    let run = Run::new();
    let body = text(7, 50);
    let docs: Vec<Document> = (0..3000)
        .map(|i| {
            doc(
                &format!("d{i:04}"),
                if i % 3 == 0 {
                    body.to_uppercase()
                } else {
                    body.clone()
                },
            )
        })
        .collect();
    for keep in [Keep::One, Keep::None] {
        let config = DedupConfig {
            keep,
            ..DedupConfig::default()
        };
        let out = run.dedup(&format!("{keep:?}"), &config, &split(&docs, 4));
        let kept = kept_ids(&out);
        match keep {
            Keep::One => assert_eq!(kept, ["d0000"]),
            Keep::None => assert!(kept.is_empty()),
        }
        for (d, _) in &out {
            assert_eq!(d.metadata[CLUSTER_KEY], "d0000");
            assert_eq!(d.metadata[CLUSTER_SIZE_KEY], 3000);
        }
    }
}

#[test]
fn against_an_earlier_dataset_its_documents_win_and_indexes_chain() {
    let run = Run::new();
    let v1_docs: Vec<Document> = (0..6)
        .map(|i| doc(&format!("old{i}"), text(i, 120)))
        .collect();
    run.dedup("v1", &DedupConfig::default(), &[v1_docs]);
    assert_eq!(index_of(&run.dataset("v1")).documents, 6);

    let against_v1 = DedupConfig {
        against: Some(run.dataset("v1")),
        ..DedupConfig::default()
    };
    let v2_docs = vec![
        doc("copy-of-old2", edited(&text(2, 120), 40)),
        doc("new-a", text(100, 120)),
        doc("new-a-copy", text(100, 120)),
        doc("new-b", text(101, 120)),
        doc("copy-of-old5", text(5, 120).to_uppercase()),
    ];
    let out = run.dedup("v2", &against_v1, &split(&v2_docs, 2));
    assert_eq!(kept_ids(&out), ["new-a", "new-b"]);
    let (copy, verdict) = verdict_of(&out, "copy-of-old2");
    assert_eq!(*verdict, Verdict::Drop(DUPLICATE_OF_INDEX));
    assert!(
        !copy.metadata.contains_key(CLUSTER_KEY),
        "the index keeps no ids"
    );
    assert_eq!(copy.metadata[CLUSTER_SIZE_KEY], 2);
    assert_eq!(verdict_of(&out, "new-a-copy").1, Verdict::Drop(DUPLICATE));
    let v2 = index_of(&run.dataset("v2"));
    assert_eq!(v2.documents, 8, "6 from v1 and the 2 kept");
    assert_eq!(v2.bytes, 8 * 168 + 14 * 32);

    // v3 against v2 meets copies of both earlier versions; a new copy drops too.
    let against_v2 = DedupConfig {
        against: Some(run.dataset("v2")),
        ..DedupConfig::default()
    };
    let v3_docs = vec![
        doc("again-old0", text(0, 120)),
        doc("again-new-b", text(101, 120)),
        doc("fresh", text(200, 120)),
    ];
    let out = run.dedup("v3", &against_v2, &[v3_docs]);
    assert_eq!(kept_ids(&out), ["fresh"]);
    assert_eq!(index_of(&run.dataset("v3")).documents, 9);

    // The index folder itself is accepted too.
    let direct = DedupConfig {
        against: Some(run.dataset("v1").join("index/minhash")),
        ..DedupConfig::default()
    };
    let out = run.dedup("v2b", &direct, &split(&v2_docs, 3));
    assert_eq!(kept_ids(&out), ["new-a", "new-b"]);
}

#[test]
fn an_index_made_with_other_settings_is_refused() {
    let run = Run::new();
    run.dedup(
        "v1",
        &DedupConfig::default(),
        &[vec![doc("a", text(1, 50))]],
    );
    let other = DedupConfig {
        against: Some(run.dataset("v1")),
        seed: 2,
        ..DedupConfig::default()
    };
    let err = run
        .try_dedup("v2", &other, &[vec![doc("b", text(1, 50))]])
        .unwrap_err();
    assert!(
        err.contains("other settings") && err.contains("v1"),
        "{err}"
    );
    let missing = DedupConfig {
        against: Some(run.dataset("nothing-here")),
        ..DedupConfig::default()
    };
    let err = run
        .try_dedup("v3", &missing, &[vec![doc("b", "x")]])
        .unwrap_err();
    assert!(
        err.contains("no index at") && err.contains("nothing-here"),
        "{err}"
    );
    let own = DedupConfig {
        against: Some(run.dataset("v1")),
        ..DedupConfig::default()
    };
    let err = run
        .try_dedup("v1", &own, &[vec![doc("b", "x")]])
        .unwrap_err();
    assert!(err.contains("own index"), "{err}");
}

/// The parts of a run, driven one by one, for failure injection.
struct Parts {
    barrier: Box<dyn Barrier>,
    ctx: BarrierContext,
    tasks: Vec<Vec<Document>>,
}

impl Parts {
    fn new(root: &Path, config: &DedupConfig, tasks: Vec<Vec<Document>>) -> Self {
        let ctx = BarrierContext {
            work: root.join("work"),
            world: tasks.len(),
            output: root.join("out"),
        };
        std::fs::create_dir_all(&ctx.work).unwrap();
        Parts {
            barrier: config.barrier().unwrap(),
            ctx,
            tasks,
        }
    }

    fn observe(&self, rank: usize) {
        let mut observer = self.barrier.observer(&self.ctx, rank).unwrap();
        for d in &self.tasks[rank] {
            observer.observe(d).unwrap();
        }
        observer.finish().unwrap();
    }

    fn stage(&self, name: &str) -> Result<(), String> {
        let stage = self
            .barrier
            .stages(&self.ctx)
            .into_iter()
            .find(|s| s.name == name)
            .unwrap();
        (0..stage.tasks).try_for_each(|t| (stage.run)(t).map_err(|e| e.to_string()))
    }

    fn all_stages(&self) -> Result<(), String> {
        for stage in self.barrier.stages(&self.ctx) {
            (0..stage.tasks).try_for_each(|t| (stage.run)(t).map_err(|e| e.to_string()))?;
        }
        Ok(())
    }

    fn decide(&self) -> Result<Vec<Outcome>, String> {
        let mut out = Vec::new();
        for (rank, docs) in self.tasks.iter().enumerate() {
            let mut decider = self
                .barrier
                .decider(&self.ctx, rank)
                .map_err(|e| e.to_string())?;
            for d in docs {
                let mut d = d.clone();
                let v = decider.process(&mut d).map_err(|e| e.0)?;
                out.push((d, v));
            }
        }
        Ok(out)
    }
}

#[test]
fn a_damaged_run_file_is_named_and_a_killed_observer_just_reruns() {
    let dir = tempfile::tempdir().unwrap();
    let parts = Parts::new(dir.path(), &DedupConfig::default(), split(&corpus(), 2));

    // Task 0's observer dies midway: its files are temporary, and a rerun starts over.
    {
        let mut observer = parts.barrier.observer(&parts.ctx, 0).unwrap();
        observer.observe(&parts.tasks[0][0]).unwrap();
    }
    let err = parts.stage("buckets").unwrap_err();
    assert!(err.contains("task 0 has not finished observing"), "{err}");
    parts.observe(0);
    parts.observe(1);

    let run = parts.ctx.work.join("observe/r00001/b003-s0000.run");
    let bytes = std::fs::read(&run).unwrap();
    std::fs::write(&run, &bytes[..bytes.len() - 7]).unwrap();
    let err = parts.stage("buckets").unwrap_err();
    assert!(
        err.contains("r00001/b003-s0000.run") && err.contains("truncated"),
        "{err}"
    );

    let mut flipped = bytes.clone();
    flipped[3] ^= 1;
    std::fs::write(&run, &flipped).unwrap();
    let err = parts.stage("buckets").unwrap_err();
    assert!(
        err.contains("b003-s0000.run") && err.contains("checksum"),
        "{err}"
    );

    // Recompute the task that wrote it, and everything goes through.
    parts.observe(1);
    parts.all_stages().unwrap();
    let out = parts.decide().unwrap();
    assert_eq!(kept_ids(&out).len(), 10);

    // A stage that runs twice (killed after its rename) gives the same files.
    let decisions = parts.ctx.work.join("decisions/r00000.dec");
    let before = std::fs::read(&decisions).unwrap();
    parts.all_stages().unwrap();
    assert_eq!(std::fs::read(&decisions).unwrap(), before);

    // Damaged pairs and decision files are named too.
    let pairs = parts.ctx.work.join("pairs/b000.pairs");
    std::fs::write(&pairs, b"garbage").unwrap();
    let err = parts.stage("clusters").unwrap_err();
    assert!(err.contains("b000.pairs"), "{err}");
    std::fs::write(&decisions, &before[..before.len() / 2]).unwrap();
    let err = parts.decide().unwrap_err();
    assert!(err.contains("r00000.dec"), "{err}");
}

#[test]
fn the_decider_checks_it_sees_what_the_observer_saw() {
    let dir = tempfile::tempdir().unwrap();
    let mut parts = Parts::new(dir.path(), &DedupConfig::default(), vec![corpus()]);
    parts.observe(0);
    parts.all_stages().unwrap();
    parts.tasks[0].swap(3, 4);
    let err = parts.decide().unwrap_err();
    assert!(
        err.contains("at position 3 where its observer saw"),
        "{err}"
    );
    parts.tasks[0].swap(3, 4);
    parts.tasks[0].push(doc("extra", "one more"));
    let err = parts.decide().unwrap_err();
    assert!(err.contains("more than the 20 documents"), "{err}");
}

#[test]
fn spilling_under_a_small_memory_budget_changes_nothing() {
    let run = Run::new();
    // 1 MiB holds 65,536 keys: 4,681 documents of 14 bands; 12,000 documents spill twice.
    let mut docs = Vec::new();
    for i in 0..12_000u64 {
        let t = text(i % 9_000, 12);
        docs.push(doc(&format!("d{i:05}"), t));
    }
    let small = DedupConfig {
        memory_mb: 1,
        ..DedupConfig::default()
    };
    let spilled = run.dedup("small", &small, &[docs.clone()]);
    let runs = std::fs::read_dir(run.root.join("small.work/observe/r00000"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("b000-")
        })
        .count();
    assert_eq!(runs, 3);
    let big = run.dedup("big", &DedupConfig::default(), &split(&docs, 5));
    assert_eq!(kept_ids(&spilled), kept_ids(&big));
    assert_eq!(kept_ids(&big).len(), 9_000);
}

/// Documents from a few families of near copies, with ids in input order.
fn families() -> impl Strategy<Value = Vec<Document>> {
    prop::collection::vec((0u64..12, 0usize..4, any::<bool>()), 1..60).prop_map(|picks| {
        picks
            .into_iter()
            .enumerate()
            .map(|(i, (family, edit, upper))| {
                let base = text(family, 40 + family as usize * 7);
                let mut t = if edit == 0 {
                    base
                } else {
                    edited(&base, 5 + edit * 9)
                };
                if upper {
                    t = t.to_uppercase();
                }
                doc(&format!("d{i:03}"), t)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The result does not depend on the number of tasks; no two kept documents share a
    /// key; every dropped document names an earlier, kept representative.
    #[test]
    fn dedup_invariants(docs in families(), tasks in 1usize..6, keep_one in any::<bool>()) {
        let run = Run::new();
        let config = DedupConfig {
            keep: if keep_one { Keep::One } else { Keep::None },
            ..DedupConfig::default()
        };
        let one = run.dedup("one", &config, std::slice::from_ref(&docs));
        let many = run.dedup("many", &config, &split(&docs, tasks));
        prop_assert_eq!(&one, &many);

        let mut signer = Signer::new(&config);
        let mut seen = std::collections::HashMap::new();
        let mut keys = Vec::new();
        for (position, (d, v)) in one.iter().enumerate() {
            let representative = d.metadata[CLUSTER_KEY].as_str().unwrap();
            let rep_position = one.iter().position(|(x, _)| x.id == representative).unwrap();
            prop_assert!(rep_position <= position);
            match v {
                Verdict::Keep => {
                    prop_assert_eq!(representative, d.id.as_str());
                    signer.keys(&d.text, &mut keys);
                    for (band, k) in keys.iter().enumerate() {
                        let clash = seen.insert((band, *k), d.id.clone());
                        prop_assert!(clash.is_none(), "{} and {:?} share a key", d.id, clash);
                    }
                }
                Verdict::Drop(reason) => {
                    prop_assert_eq!(*reason, DUPLICATE);
                    if keep_one {
                        prop_assert_eq!(one[rep_position].1, Verdict::Keep);
                    }
                }
            }
        }
    }
}
