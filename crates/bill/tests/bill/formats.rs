//! Pinned format: the `bill.json` a model version carries, as today's code writes it,
//! kept in `tests/data/formats/`. It must still read into the same values (a later
//! training that finds the model already made reuses that bill, and `atelier serve`
//! hands it out), and today's code must write the same bytes for those values. A test
//! that fails here means the format changed: bump its version, add a new fixture and
//! keep reading this one.

use atelier_bill::bill::{Comparison, Storage};
use atelier_bill::{Bill, Cost, StepBill};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/formats")
        .join(name)
}

fn cost(scale: f64) -> Cost {
    Cost {
        wall_seconds: 2.0 * scale,
        cpu_seconds: 1.5 * scale,
        gpu_hours: 0.0,
        kwh: 0.000_5 * scale,
        eur: 0.000_125 * scale,
        gco2: 0.025 * scale,
    }
}

fn line(name: &str, documents_in: u64, kept: u64, reused: f64) -> StepBill {
    StepBill {
        name: name.into(),
        documents_in,
        kept,
        dropped: documents_in - kept,
        quarantined: 0,
        total: cost(1.0),
        reused: cost(reused),
    }
}

/// The bill of a dataset run and the training of a model on it.
fn bill() -> Bill {
    Bill {
        dataset: "mail".into(),
        model: Some("spam-classifier".into()),
        country: "FR".into(),
        gco2_per_kwh: 50.0,
        pue: 1.25,
        measured: false,
        energy_basis: "estimated from CPU time and power tables".into(),
        tasks: 2,
        tasks_resumed: 0,
        steps: vec![
            line("read", 10, 10, 0.5),
            line("length", 10, 8, 0.5),
            line("write", 8, 8, 0.0),
            line("train", 8, 8, 0.0),
        ],
        storage: Storage {
            bytes: 4096,
            months: 12.0,
            eur: 0.000_25,
        },
        total: cost(4.0),
        reused: cost(1.0),
        comparison: Some(Comparison {
            country: "PL".into(),
            gco2_per_kwh: 650.0,
            steps_gco2: vec![0.325, 0.325, 0.325, 0.325],
            gco2: 1.3,
        }),
    }
}

#[test]
fn a_bill_written_today_still_reads() {
    let bytes = std::fs::read(fixture("bill.json")).unwrap();
    let old: Bill = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(old, bill());
}

#[test]
fn a_bill_is_written_as_pinned() {
    // As the training writes it into the model version.
    let today = bill().to_json();
    let pinned = std::fs::read_to_string(fixture("bill.json")).unwrap();
    assert!(
        today == pinned,
        "today's code writes bill.json differently from the pinned file:\n{today}\n\
         A format that changes must bump its version and keep reading the old one."
    );
}
