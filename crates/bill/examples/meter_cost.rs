//! The ledger's overhead: the cost of one `TaskMeter::start` + `stop` pair, on this
//! machine's sources (RAPL and NVML where readable), printed in microseconds.
//!
//!     cargo run --release -p atelier-bill --example meter_cost [-- PAIRS]

use atelier_bill::{BillSettings, Ledger, TaskMeter};
use std::time::Instant;

fn main() {
    let pairs: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let ledger = Ledger::new(&BillSettings::default());
    // Warm up the page cache and the clocks.
    for _ in 0..100 {
        std::hint::black_box(TaskMeter::start(&ledger).stop());
    }
    let start = Instant::now();
    for _ in 0..pairs {
        std::hint::black_box(TaskMeter::start(&ledger).stop());
    }
    let per_pair = start.elapsed().as_secs_f64() / f64::from(pairs);
    println!("sources: {}", ledger.describe());
    println!("pairs: {pairs}");
    println!("us_per_task: {:.2}", per_pair * 1e6);
}
