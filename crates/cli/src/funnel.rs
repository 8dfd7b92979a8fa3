//! The funnel of a run, as a table: what each step took in, kept, dropped and
//! quarantined. `atelier run` prints it after a run, `atelier show` for a version.

use atelier_core::TaskStats;
use std::io::Write;

/// Prints the funnel: per step, documents in, kept, dropped, quarantined and CPU time;
/// with the documents and CPU time reused from the project store when there are any.
pub fn print(out: &mut impl Write, stats: &TaskStats) -> std::io::Result<()> {
    let reuse = stats.steps.iter().any(|step| step.reused_documents > 0);
    let reuse_columns = |documents: &str, saved: &str| {
        if reuse {
            format!(" {documents:>10} {saved:>9}")
        } else {
            String::new()
        }
    };
    writeln!(
        out,
        "{:<12} {:>10} {:>10} {:>10} {:>11} {:>9}{}  dropped by reason",
        "step",
        "in",
        "kept",
        "dropped",
        "quarantined",
        "cpu s",
        reuse_columns("reused", "saved s")
    )?;
    for step in &stats.steps {
        let reasons: Vec<String> = step
            .dropped
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect();
        writeln!(
            out,
            "{:<12} {:>10} {:>10} {:>10} {:>11} {:>9.3}{}  {}",
            step.name,
            step.documents_in,
            step.kept,
            step.dropped_total(),
            step.quarantined,
            step.cpu_seconds,
            reuse_columns(
                &step.reused_documents.to_string(),
                &format!("{:.3}", step.saved_cpu_seconds)
            ),
            reasons.join(", ")
        )?;
    }
    for step in stats.steps.iter().filter(|step| !step.counts.is_empty()) {
        let counts: Vec<String> = step
            .counts
            .iter()
            .map(|(what, n)| format!("{what} {n}"))
            .collect();
        writeln!(out, "{} counted: {}", step.name, counts.join(", "))?;
    }
    Ok(())
}
