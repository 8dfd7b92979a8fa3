//! The funnel of a run, as a table: what each step took in, kept, dropped and
//! quarantined. `atelier run` prints it after a run, `atelier show` for a version.

use atelier_core::TaskStats;
use std::io::Write;

/// The narrowest the step column gets, so that short names line up as they always have.
const MIN_STEP_WIDTH: usize = 12;

/// Prints the funnel: per step, documents in, kept, dropped, quarantined and CPU time;
/// with the documents and CPU time reused from the project store when there are any.
/// The step column is as wide as the longest step name.
pub fn print(out: &mut impl Write, stats: &TaskStats) -> std::io::Result<()> {
    let reuse = stats.steps.iter().any(|step| step.reused_documents > 0);
    let reuse_columns = |documents: &str, saved: &str| {
        if reuse {
            format!(" {documents:>10} {saved:>9}")
        } else {
            String::new()
        }
    };
    let width = stats
        .steps
        .iter()
        .map(|step| step.name.chars().count())
        .fold(MIN_STEP_WIDTH, usize::max);
    writeln!(
        out,
        "{:<width$} {:>10} {:>10} {:>10} {:>11} {:>9}{}  dropped by reason",
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
            "{:<width$} {:>10} {:>10} {:>10} {:>11} {:>9.3}{}  {}",
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

#[cfg(test)]
mod tests {
    use super::*;
    use atelier_core::StepStats;

    fn step(name: &str, documents_in: u64, kept: u64) -> StepStats {
        let mut step = StepStats::named(name);
        step.documents_in = documents_in;
        step.kept = kept;
        if kept < documents_in {
            step.dropped
                .insert("some_reason".into(), documents_in - kept);
        }
        step
    }

    /// Where each whitespace-separated word of a line ends.
    fn word_ends(line: &str) -> Vec<usize> {
        let mut ends = Vec::new();
        let mut previous = ' ';
        for (i, c) in line.char_indices() {
            if c == ' ' && previous != ' ' {
                ends.push(i);
            }
            previous = c;
        }
        if previous != ' ' {
            ends.push(line.len());
        }
        ends
    }

    fn table(stats: &TaskStats) -> Vec<String> {
        let mut out = Vec::new();
        print(&mut out, stats).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn columns_line_up_under_long_step_names() {
        for reused in [0, 7] {
            let mut stats = TaskStats {
                steps: vec![
                    step("read", 1210, 1210),
                    step("gopher_repetition", 1210, 1100),
                    step("fineweb_quality", 1100, 1050),
                    step("write", 1050, 1050),
                ],
                ..TaskStats::default()
            };
            stats.steps[0].reused_documents = reused;
            let lines = table(&stats);
            // The header's in, kept, dropped and quarantined columns, then each row's.
            let header = word_ends(&lines[0])[1..5].to_vec();
            for row in &lines[1..5] {
                assert_eq!(word_ends(row)[1..5], header, "{row:?} under {:?}", lines[0]);
            }
            assert!(lines[2].starts_with("gopher_repetition "), "{}", lines[2]);
        }
    }

    #[test]
    fn short_names_keep_the_usual_width() {
        let stats = TaskStats {
            steps: vec![step("read", 3, 3), step("write", 3, 3)],
            ..TaskStats::default()
        };
        let lines = table(&stats);
        assert!(lines[0].starts_with("step         "), "{:?}", lines[0]);
        assert_eq!(word_ends(&lines[0])[1], MIN_STEP_WIDTH + 11);
        assert_eq!(word_ends(&lines[1])[1], MIN_STEP_WIDTH + 11);
    }
}
