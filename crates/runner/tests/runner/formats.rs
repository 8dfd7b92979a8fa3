//! Pinned formats: a task's completion marker and a run's `summary.json`, as today's code
//! writes them, kept in `tests/data/formats/`. They must still read into the same values,
//! and today's code must write the same bytes for those values. A test that fails here
//! means a format changed: bump its version, add a new fixture and keep reading this one.
//! (The unit records the runner keeps in the project store, and its quarantine entries,
//! are pinned by the crate's unit tests: their types are internal.)

use atelier_bill::{EnergyRecord, Method, Summary};
use atelier_core::{StepStats, TaskStats};
use atelier_runner::RunSummary;
use atelier_runner::layout::Marker;
use atelier_store::Hash;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/formats")
        .join(name)
}

/// Fails unless `today` is byte for byte the pinned fixture `name`.
fn assert_writes_fixture(name: &str, today: &[u8]) {
    let pinned = std::fs::read(fixture(name)).unwrap();
    assert!(
        pinned == today,
        "today's code writes {name} differently from the pinned file:\n{}\n\
         A format that changes must bump its version and keep reading the old one.",
        String::from_utf8_lossy(today)
    );
}

fn step(name: &str, documents_in: u64, kept: u64, quarantined: u64) -> StepStats {
    let mut s = StepStats::named(name);
    s.documents_in = documents_in;
    s.kept = kept;
    s.quarantined = quarantined;
    let dropped = documents_in - kept - quarantined;
    if dropped > 0 {
        s.dropped.insert("too_short".into(), dropped);
    }
    s.bytes_in = 100 * documents_in;
    s.bytes_out = 100 * kept;
    s.wall_seconds = 0.5;
    s.cpu_seconds = 0.25;
    s
}

/// A task's counters: read (one record quarantined), a filter with extra counts that
/// reused work from the store, write.
fn stats() -> TaskStats {
    let mut filter = step("length", 9, 7, 0);
    filter.counts.insert("short_lines".into(), 3);
    filter.reused_documents = 9;
    filter.saved_cpu_seconds = 0.125;
    filter.saved_wall_seconds = 0.375;
    TaskStats {
        tasks: 1,
        files: 1,
        steps: vec![step("read", 10, 9, 1), filter, step("write", 7, 7, 0)],
        wall_seconds: 1.5,
        cpu_seconds: 0.75,
        peak_rss_bytes: 52_428_800,
    }
}

fn energy() -> EnergyRecord {
    EnergyRecord {
        tasks: 1,
        wall_seconds: 1.5,
        cpu_seconds: 0.75,
        cpu_joules: 12.5,
        cpu_method: Method::Rapl,
        memory_joules: 1.25,
        memory_method: Method::Estimated,
        gpu_joules: 0.0,
        gpu_seconds: 0.0,
        gpu_method: None,
    }
}

/// `.atelier/tasks/map0/00003.json`.
fn marker() -> Marker {
    Marker {
        fingerprint: Hash::key("atelier-plan").text("pinned").finish().hex(),
        stage: "map0".into(),
        rank: 3,
        stats: stats(),
        energy: energy(),
        keys: vec![
            Hash::key("atelier-unit").text("a").finish(),
            Hash::key("atelier-step").text("b").finish(),
        ],
    }
}

#[test]
fn task_markers_written_today_still_read() {
    let bytes = std::fs::read(fixture("marker.json")).unwrap();
    let old: Marker = serde_json::from_slice(&bytes).unwrap();
    let new = marker();
    assert_eq!(
        (old.fingerprint, old.stage, old.rank, old.keys),
        (new.fingerprint, new.stage, new.rank, new.keys)
    );
    assert_eq!(old.stats, new.stats);
    assert_eq!(old.energy, new.energy);
}

#[test]
fn task_markers_are_written_as_pinned() {
    // As `Job::run_task` writes them.
    let today = serde_json::to_vec_pretty(&marker()).unwrap();
    assert_writes_fixture("marker.json", &today);
}

/// A run's `summary.json`, committed as a version.
fn summary() -> RunSummary {
    let mut stats = stats();
    stats.tasks = 2;
    RunSummary {
        dataset: "mail".into(),
        output: "/project/out".into(),
        tasks: 2,
        tasks_resumed: 1,
        shards: vec!["/project/out/part-00000.jsonl.gz".into()],
        quarantine: vec!["/project/out/quarantine/part-00000.jsonl".into()],
        skipped_files: vec!["/project/data/notes.pdf".into()],
        unversioned_files: Vec::new(),
        stats,
        energy: energy(),
        version: Some("v2".into()),
        fetched: Vec::new(),
    }
}

#[test]
fn run_summaries_written_today_still_read() {
    // The bill reads a run's summary (and a version's, to bill a training on it).
    let old = Summary::load(&fixture("summary.json")).unwrap();
    let new = summary();
    assert_eq!(
        old,
        Summary {
            dataset: new.dataset,
            tasks: new.tasks as u64,
            tasks_resumed: new.tasks_resumed as u64,
            shards: new.shards,
            stats: new.stats,
            energy: Some(new.energy),
            reused: None,
            fetched: Vec::new(),
        }
    );
}

#[test]
fn run_summaries_are_written_as_pinned() {
    // As `Job::summarize` writes them.
    let today = serde_json::to_vec_pretty(&summary()).unwrap();
    assert_writes_fixture("summary.json", &today);
}
