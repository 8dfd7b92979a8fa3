//! Running a barrier in this process, without the runner: every observer, then every
//! stage's tasks, then every decider. Tests, benchmarks and one-shot commands use it.

use atelier_core::{Barrier, BarrierContext, Document, StepConfig, Verdict};
use std::path::Path;

use crate::DedupConfig;

/// Runs `barrier` over `ctx.world` data tasks. `open(rank)` gives the documents of a
/// task; it is called twice per task (to observe, then to decide) and must give the same
/// documents in the same order. `emit(rank, document, verdict)` receives each document
/// as the decider left it.
pub fn run_local<I, O, E>(
    barrier: &dyn Barrier,
    ctx: &BarrierContext,
    mut open: O,
    mut emit: E,
) -> Result<(), String>
where
    I: IntoIterator<Item = Document>,
    O: FnMut(usize) -> Result<I, String>,
    E: FnMut(usize, Document, Verdict) -> Result<(), String>,
{
    std::fs::create_dir_all(&ctx.work).map_err(|e| format!("{}: {e}", ctx.work.display()))?;
    for rank in 0..ctx.world {
        let mut observer = barrier.observer(ctx, rank).map_err(|e| e.to_string())?;
        for doc in open(rank)? {
            observer.observe(&doc).map_err(|e| e.to_string())?;
        }
        observer.finish().map_err(|e| e.to_string())?;
    }
    for stage in barrier.stages(ctx) {
        for task in 0..stage.tasks {
            (stage.run)(task).map_err(|e| format!("stage `{}` task {task}: {e}", stage.name))?;
        }
    }
    for rank in 0..ctx.world {
        let mut decider = barrier.decider(ctx, rank).map_err(|e| e.to_string())?;
        for mut doc in open(rank)? {
            let verdict = decider.process(&mut doc).map_err(|e| e.0)?;
            emit(rank, doc, verdict)?;
        }
    }
    Ok(())
}

/// A document and what the step decided for it.
pub type Outcome = (Document, Verdict);

/// Deduplicates documents held in memory, one `Vec` per data task, keeping its files
/// under `work` and its index under `output/index/`. Returns every document with its
/// verdict, task by task.
pub fn dedup_in_memory(
    config: &DedupConfig,
    work: &Path,
    output: &Path,
    tasks: &[Vec<Document>],
) -> Result<Vec<Vec<Outcome>>, String> {
    let mut problems = Vec::new();
    config.validate(&mut problems);
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let barrier = config.barrier().expect("dedup is a barrier");
    let ctx = BarrierContext {
        work: work.to_owned(),
        world: tasks.len(),
        output: output.to_owned(),
    };
    let mut out: Vec<Vec<Outcome>> = tasks.iter().map(|_| Vec::new()).collect();
    run_local(
        barrier.as_ref(),
        &ctx,
        |rank| Ok(tasks[rank].iter().cloned()),
        |rank, doc, verdict| {
            out[rank].push((doc, verdict));
            Ok(())
        },
    )?;
    Ok(out)
}
