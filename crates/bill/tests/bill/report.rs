//! The report: every plot present, nothing loaded from the network, shards scanned.

use atelier_bill::report::{self, ReportInput, scan_shards, titles};
use atelier_bill::{BillSettings, Evaluation, LengthHistogram, Summary, render_bill};
use atelier_core::{StepStats, TaskStats};
use std::collections::BTreeMap;
use std::io::Write;

fn stats() -> TaskStats {
    let mut read = StepStats::named("read");
    read.documents_in = 1210;
    read.kept = 1208;
    read.quarantined = 2;
    read.cpu_seconds = 0.09;
    read.wall_seconds = 0.09;
    let mut extract = StepStats::named("extract");
    extract.documents_in = 1208;
    extract.kept = 1200;
    extract.dropped.insert("no_text".into(), 8);
    extract.cpu_seconds = 0.16;
    extract.wall_seconds = 0.16;
    let mut length = StepStats::named("length");
    length.documents_in = 1200;
    length.kept = 1100;
    length.dropped.insert("too_short".into(), 60);
    length.dropped.insert("too_long".into(), 40);
    length.cpu_seconds = 0.01;
    length.wall_seconds = 0.01;
    TaskStats {
        tasks: 4,
        files: 5,
        steps: vec![read, extract, length],
        wall_seconds: 0.26,
        cpu_seconds: 0.26,
        peak_rss_bytes: 12 << 20,
    }
}

fn full_report() -> String {
    let stats = stats();
    let summary = Summary {
        dataset: "spam <demo>".into(),
        tasks: 4,
        tasks_resumed: 1,
        stats: stats.clone(),
        ..Summary::default()
    };
    let settings = BillSettings {
        cpu_watts_per_core: Some(5.0),
        ..BillSettings::default()
    };
    let bill = render_bill(&summary, &settings).unwrap();
    let languages: BTreeMap<String, u64> = [
        ("en".to_owned(), 1000),
        ("fr".to_owned(), 80),
        ("de".to_owned(), 20),
    ]
    .into();
    let mut lengths = LengthHistogram::default();
    for n in [30, 200, 900, 900, 4000, 20_000] {
        lengths.add(n);
    }
    let evaluation = Evaluation {
        model: "spam-classifier".into(),
        metrics: [("accuracy".to_owned(), 0.97), ("f1".to_owned(), 0.95)].into(),
        curve_label: "validation loss".into(),
        curve: vec![(0.0, 0.9), (100.0, 0.5), (200.0, 0.3)],
    };
    report::html(&ReportInput {
        dataset: &summary.dataset,
        version: Some("v2"),
        stats: &stats,
        bill: Some(&bill),
        languages: Some(&languages),
        lengths: Some(&lengths),
        tokens: None,
        evaluation: Some(&evaluation),
    })
    .unwrap()
}

#[test]
fn report_has_every_plot() {
    let page = full_report();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(page.matches("<svg").count(), 5, "five plots");
    for title in [
        titles::FUNNEL,
        titles::LANGUAGES,
        titles::LENGTHS,
        titles::BILL,
        titles::EVALUATION,
    ] {
        // Each plot carries its title as the SVG's <title> and as its caption.
        let svg_title = format!("<title>{title}</title>");
        assert!(page.contains(&svg_title), "no SVG titled {title}");
        assert!(page.contains(&format!("<figcaption>{title}</figcaption>")));
    }
    for id in ["funnel", "languages", "lengths", "bill", "evaluation"] {
        assert!(page.contains(&format!("<figure id=\"plot-{id}\">")), "{id}");
    }
    // The funnel names every step and every drop reason.
    for label in [
        "extract",
        "length",
        "dropped: too_short",
        "dropped: too_long",
        "quarantined",
    ] {
        assert!(page.contains(label), "{label}");
    }
    // The dataset's name is escaped.
    assert!(page.contains("spam &lt;demo&gt; v2"));
    assert!(!page.contains("<demo>"));
}

#[test]
fn report_loads_nothing_from_the_network() {
    let page = full_report();
    assert!(!page.contains("http://"), "an http URL in the report");
    assert!(!page.contains("https://"), "an https URL in the report");
    for tag in ["<script", "<link", "<img", "<iframe", "@import", "url("] {
        assert!(!page.contains(tag), "{tag} in the report");
    }
}

#[test]
fn missing_inputs_are_said_not_drawn() {
    let stats = stats();
    let page = report::html(&ReportInput {
        dataset: "bare",
        version: None,
        stats: &stats,
        bill: None,
        languages: None,
        lengths: None,
        tokens: None,
        evaluation: None,
    })
    .unwrap();
    assert_eq!(page.matches("<svg").count(), 1, "only the funnel");
    assert!(page.contains("No language counts"));
    assert!(page.contains("No model has been evaluated"));
}

#[test]
fn shards_are_scanned_in_every_compression() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"id":"a","text":"hello","metadata":{"language":"en"}}"#,
        r#"{"id":"b","text":"été","metadata":{"language":"fr"}}"#,
        r#"{"id":"c","text":"","metadata":{}}"#,
        "not json",
    ]
    .join("\n");
    let plain = dir.path().join("part-00000.jsonl");
    std::fs::write(&plain, &lines).unwrap();
    let gz = dir.path().join("part-00001.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(lines.as_bytes()).unwrap();
    enc.finish().unwrap();
    let zst = dir.path().join("part-00002.jsonl.zst");
    std::fs::write(&zst, zstd::encode_all(lines.as_bytes(), 3).unwrap()).unwrap();

    let scan = scan_shards(&[plain, gz, zst]).unwrap();
    assert_eq!(scan.documents, 9);
    assert_eq!(scan.unreadable, 3);
    assert_eq!(scan.languages["en"], 3);
    assert_eq!(scan.languages["fr"], 3);
    // Lengths in characters: "hello" 5 -> bin 2, "été" 3 -> bin 1, "" -> bin 0.
    assert_eq!(scan.lengths.counts, vec![3, 3, 3]);
    assert!(scan_shards(&[dir.path().join("absent.jsonl")]).is_err());
}
