//! Prints the bill of a finished run from its `summary.json`, and optionally writes its
//! HTML report: what `atelier bill` and `atelier report` do, before the CLI has them.
//!
//!     cargo run --release -p atelier-bill --example bill -- SUMMARY.json \
//!         [--json] [--country XX] [--report OUT.html] [--watts-per-core W]
//!     cargo run --release -p atelier-bill --example bill -- --local-watts-per-core

use atelier_bill::report::{self, ReportInput};
use atelier_bill::{BillSettings, Summary, render_bill};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut summary_path = None;
    let (mut json, mut country, mut report_path) = (false, None, None);
    let mut settings = BillSettings::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--local-watts-per-core" => {
                println!(
                    "{}",
                    atelier_bill::hardware::local_cpu_power().watts_per_core
                );
                return Ok(());
            }
            "--country" => country = args.next(),
            "--report" => report_path = args.next().map(PathBuf::from),
            "--watts-per-core" => {
                settings.cpu_watts_per_core = Some(args.next().ok_or("a number")?.parse()?)
            }
            _ => summary_path = Some(PathBuf::from(a)),
        }
    }
    let summary = Summary::load(&summary_path.ok_or("usage: bill SUMMARY.json [options]")?)?;
    let mut bill = render_bill(&summary, &settings)?;
    if let Some(c) = &country {
        bill = bill.compare(c)?;
    }
    if json {
        println!("{}", bill.to_json());
    } else {
        print!("{}", bill.to_text());
    }
    if let Some(path) = report_path {
        let scan = report::scan_shards(&summary.shards)?;
        let page = report::html(&ReportInput {
            dataset: &summary.dataset,
            version: None,
            stats: &summary.stats,
            bill: Some(&bill),
            languages: Some(&scan.languages),
            lengths: Some(&scan.lengths),
            evaluation: None,
        })?;
        std::fs::write(&path, page)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
