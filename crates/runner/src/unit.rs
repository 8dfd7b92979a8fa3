//! The first map stage, unit by unit: each input unit takes the longest prefix of the
//! stage's steps that the project store holds for it, and only the steps after that
//! prefix run. A unit whose every step is cached is appended to its shard as stored.
//!
//! Whatever comes from the store is counted as if it had run (so the funnel covers the
//! whole dataset), with `reused_documents` and `saved_cpu_seconds` saying what was not
//! redone; its quarantine entries are replayed. The work done now is kept for next time:
//! a record per new prefix, written after its objects. See [`crate::reuse`] for what a
//! record holds.
//!
//! Each unit's quarantine entries are written together, step by step (read first), so
//! that a quarantine file reads the same whether its entries were computed or replayed.
//!
//! Every unit that runs steps gets fresh runtime objects of them: a step may carry
//! something from one document to the next (the `pii` step rotates its replacements),
//! and a unit's output must depend on nothing but its own bytes and the settings, or
//! work taken from the store would differ from work done now. It also makes a unit's
//! output independent of the task it was dealt to. A unit taken whole from the store
//! builds nothing.

use atelier_core::format::Compression;
use atelier_core::recipe::RecipeStep;
use atelier_core::{Document, Observer, StepStats, TaskStats};
use atelier_io::{ReadOptions, Records, Unit, read_unit};
use atelier_store::{Hash, Store};
use std::io;

use crate::measure::Stopwatch;
use crate::quarantine::Quarantine;
use crate::reuse::{Chain, Docs, Lines, MemberWriter, PrefixWriter, ShardFile, UnitRecord};
use crate::run::RunError;
use crate::task::{
    BATCH_BYTES, BATCH_DOCUMENTS, Built, Layout, MapOutput, MapResult, add_time, apply_step,
    build_steps, crash_point, fill_batch, unit_size,
};

/// The project store and the keys of a task's units, in the task's order (none for a
/// unit whose file could not be hashed).
pub struct Reuse<'a> {
    pub(crate) store: &'a Store,
    pub(crate) chains: Vec<Option<Chain>>,
}

impl std::fmt::Debug for Reuse<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reuse({} units)", self.chains.len())
    }
}

/// A task of the first map stage.
pub(crate) struct FirstStage<'a> {
    pub rank: usize,
    pub units: &'a [Unit],
    pub steps: &'a [RecipeStep],
    pub output: MapOutput,
    pub read: ReadOptions,
    pub reuse: Option<Reuse<'a>>,
}

/// The counters of a unit's work taken from the store: counted, but not as time spent.
fn reused(original: &StepStats) -> StepStats {
    let mut s = original.clone();
    s.reused_documents = original.documents_in;
    s.saved_cpu_seconds = original.cpu_seconds + original.saved_cpu_seconds;
    s.saved_wall_seconds = original.wall_seconds + original.saved_wall_seconds;
    s.cpu_seconds = 0.0;
    s.wall_seconds = 0.0;
    s
}

/// The deepest prefix the store holds for a unit, opened.
struct Hit {
    at: usize,
    record: UnitRecord,
    lines: Lines,
    quarantine: Vec<Vec<u8>>,
}

fn deepest(store: &Store, chain: &Chain, names: &[&str]) -> Option<Hit> {
    for at in (0..chain.keys.len()).rev() {
        let Some(record) = store.record::<UnitRecord>(&chain.keys[at]) else {
            continue;
        };
        let record = record.data;
        let same_steps = record.stats.len() == at + 1
            && record.quarantine.len() == at + 1
            && record
                .stats
                .iter()
                .zip(names)
                .all(|(s, name)| s.name == *name);
        if !same_steps {
            continue;
        }
        let quarantine: Option<Vec<Vec<u8>>> = record
            .quarantine
            .iter()
            .map(|q| match q {
                None => Some(Vec::new()),
                Some(h) => std::fs::read(store.object_path(h)).ok(),
            })
            .collect();
        let (Some(quarantine), Ok(lines)) = (quarantine, Lines::open(store, &record.docs)) else {
            continue;
        };
        return Some(Hit {
            at,
            record,
            lines,
            quarantine,
        });
    }
    None
}

/// Where a task's documents go, and what it counts.
struct Out<'t> {
    compression: Compression,
    /// The sink is the dataset: the `write` step is counted.
    dataset: bool,
    observer: Option<Box<dyn Observer>>,
    shard: ShardFile,
    quarantine: Quarantine,
    keys: &'t mut Vec<Hash>,
}

/// What one unit counted: `read` and each step, `write`, and the quarantine entries of
/// each (read first), kept apart until the unit ends.
struct Counts {
    steps: Vec<StepStats>,
    write: StepStats,
    quarantine: Vec<Vec<u8>>,
}

/// A prefix computed now, to keep in the store.
struct NewPrefix {
    at: usize,
    docs: Docs,
    documents: u64,
    text_bytes: u64,
}

/// The steps of a task and how it reads, unit after unit.
struct Work<'a> {
    configs: &'a [RecipeStep],
    /// The runtime objects for the current unit, built when it first needs them.
    steps: Option<Built>,
    read: ReadOptions,
}

impl FirstStage<'_> {
    /// Runs the task; returns its counters and the store records it used or made.
    pub fn run(
        self,
        layout: &Layout<'_>,
        on_progress: &(dyn Fn(u64) + Sync),
    ) -> Result<MapResult, RunError> {
        let clock = Stopwatch::start();
        let FirstStage {
            rank,
            units,
            steps,
            output,
            read,
            reuse,
        } = self;
        let mut work = Work {
            configs: steps,
            steps: None,
            read,
        };
        let fail = |e: io::Error| RunError::Io(format!("task {rank}: {e}"));
        let mut names = vec!["read"];
        names.extend(steps.iter().map(|s| s.config.name()));
        let (compression, dataset, observer, path) = match output {
            MapOutput::Dataset(path, compression) => (compression, true, None, path),
            MapOutput::Barrier(observer, path) => (Compression::Zstd, false, Some(observer), path),
        };
        let mut stats = TaskStats {
            tasks: 1,
            ..TaskStats::default()
        };
        stats
            .steps
            .extend(names.iter().map(|n| StepStats::named(*n)));
        if dataset {
            stats.steps.push(StepStats::named("write"));
        }
        let mut keys = Vec::new();
        let mut out = Out {
            compression,
            dataset,
            observer,
            shard: ShardFile::new(path),
            quarantine: Quarantine::new(layout.quarantine(0, rank)),
            keys: &mut keys,
        };
        for (i, unit) in units.iter().enumerate() {
            work.steps = None;
            let cache = reuse
                .as_ref()
                .and_then(|r| Some((r.store, r.chains.get(i)?.as_ref()?)));
            let (counts, opened) =
                work.unit(unit, cache, &names, &mut out)
                    .map_err(|e| match e {
                        Failure::Step(e) => e,
                        Failure::Io(e) => {
                            RunError::Io(format!("task {rank}: {}: {e}", unit.path.display()))
                        }
                    })?;
            let unit_steps = counts.steps.iter().chain(dataset.then_some(&counts.write));
            for (mine, theirs) in stats.steps.iter_mut().zip(unit_steps) {
                *mine += theirs;
            }
            stats.files += u64::from(opened && unit.start == 0);
            on_progress(unit_size(unit));
        }
        if let Some(observer) = out.observer.take() {
            observer.finish().map_err(fail)?;
        }
        out.shard.finish().map_err(fail)?;
        out.quarantine.finish().map_err(fail)?;
        crate::task::close_stats(&mut stats, rank, &clock)?;
        Ok(MapResult { stats, keys })
    }
}

/// Why a unit failed.
enum Failure {
    /// A step could not be built.
    Step(RunError),
    /// Reading or writing failed.
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Io(e)
    }
}

impl Work<'_> {
    /// The current unit's runtime objects of the steps, built on first use.
    fn steps(&mut self) -> Result<&mut Built, Failure> {
        if self.steps.is_none() {
            self.steps = Some(build_steps(self.configs).map_err(Failure::Step)?);
        }
        Ok(self.steps.as_mut().expect("just built"))
    }

    /// One unit: what it counted, and whether its file was read.
    fn unit(
        &mut self,
        unit: &Unit,
        cache: Option<(&Store, &Chain)>,
        names: &[&str],
        out: &mut Out<'_>,
    ) -> Result<(Counts, bool), Failure> {
        let n = self.configs.len();
        let mut counts = Counts {
            steps: names.iter().map(|s| StepStats::named(*s)).collect(),
            write: StepStats::named("write"),
            quarantine: vec![Vec::new(); n + 1],
        };
        let hit = cache.and_then(|(store, chain)| deepest(store, chain, names));
        let start = hit.as_ref().map_or(0, |h| h.at + 1);
        let mut original = Vec::new();
        let mut opened = false;
        let prefixes = match hit {
            Some(mut hit) => {
                for (k, (mine, first)) in counts.steps.iter_mut().zip(&hit.record.stats).enumerate()
                {
                    *mine = reused(first);
                    counts.quarantine[k] = std::mem::take(&mut hit.quarantine[k]);
                }
                original.clone_from(&hit.record.stats);
                if hit.at == n {
                    self.replay(hit, cache, out, &mut counts)?
                } else {
                    self.compute(Source::Cached(hit.lines), start, cache, out, &mut counts)?
                }
            }
            None => {
                opened = true;
                let records = read_unit(unit, &self.read);
                let done = self.compute(Source::Read(records), 0, cache, out, &mut counts)?;
                counts.steps[0].bytes_in += unit_size(unit);
                done
            }
        };

        for q in &counts.quarantine {
            out.quarantine.append(q)?;
        }
        let Some((store, chain)) = cache else {
            return Ok((counts, opened));
        };
        if !prefixes.is_empty() {
            let mut objects = Vec::with_capacity(n + 1);
            for (k, q) in counts.quarantine.iter().enumerate() {
                objects.push(match q.is_empty() {
                    true => None,
                    false if k < start => Some(Hash::of(q)),
                    false => Some(store.put_bytes(q).map_err(io::Error::other)?),
                });
            }
            // Counters as first computed: the reused prefix's come from its record.
            original.extend(counts.steps[start.min(n + 1)..].iter().cloned());
            for p in prefixes {
                let record = UnitRecord {
                    docs: p.docs,
                    documents: p.documents,
                    text_bytes: p.text_bytes,
                    stats: original[..=p.at].to_vec(),
                    quarantine: objects[..=p.at].to_vec(),
                    write: (p.at == n && out.dataset).then(|| counts.write.clone()),
                };
                store
                    .put_record(&chain.keys[p.at], &record.into_record())
                    .map_err(io::Error::other)?;
            }
        }
        out.keys
            .extend(chain.keys.iter().filter(|k| store.has_record(k)).copied());
        Ok((counts, opened))
    }

    /// A unit whose every step is cached: its member is appended as stored when it has
    /// the output's compression, else decoded and encoded again (the record then keeps
    /// the new member).
    fn replay(
        &mut self,
        mut hit: Hit,
        cache: Option<(&Store, &Chain)>,
        out: &mut Out<'_>,
        counts: &mut Counts,
    ) -> io::Result<Vec<NewPrefix>> {
        let (store, _) = cache.expect("a hit comes from a store");
        let record = &hit.record;
        let as_stored = match &record.docs {
            Docs::Whole { compression, .. } => *compression == out.compression,
            Docs::Picks { .. } => false,
        };
        let watch = Stopwatch::start();
        let mut member = (!as_stored).then(|| MemberWriter::new(out.compression));
        if out.observer.is_some() || member.is_some() {
            let mut line = Vec::new();
            while hit.lines.next_line(&mut line)? {
                let doc = parse(&line)?;
                if let Some(observer) = &mut out.observer {
                    observer.observe(&doc)?;
                }
                if let Some(member) = &mut member {
                    member.push(&doc, Some(store), &mut out.shard)?;
                }
                crash_point();
            }
        } else {
            for _ in 0..record.documents {
                crash_point();
            }
        }
        if as_stored
            && let Docs::Whole {
                object: Some(object),
                ..
            } = &record.docs
        {
            out.shard.append(&store.object_path(object))?;
        }
        let (wall, cpu) = watch.elapsed();
        let spent = if out.dataset {
            counts.write = match (&record.write, as_stored) {
                (Some(first), true) => reused(first),
                _ => {
                    let mut w = StepStats::named("write");
                    w.documents_in = record.documents;
                    w.kept = record.documents;
                    w.bytes_in = record.text_bytes;
                    w.bytes_out = record.text_bytes;
                    w
                }
            };
            &mut counts.write
        } else {
            &mut counts.steps[0]
        };
        spent.wall_seconds += wall;
        spent.cpu_seconds += cpu;
        Ok(match member {
            None => Vec::new(),
            Some(member) => vec![NewPrefix {
                at: self.configs.len(),
                docs: member.finish(&mut out.shard)?,
                documents: record.documents,
                text_bytes: record.text_bytes,
            }],
        })
    }

    /// Runs the steps after the cached prefix (all of them when `start` is 0) over a
    /// unit's documents; returns the prefixes computed, to keep in the store.
    fn compute(
        &mut self,
        mut source: Source,
        start: usize,
        cache: Option<(&Store, &Chain)>,
        out: &mut Out<'_>,
        counts: &mut Counts,
    ) -> Result<Vec<NewPrefix>, Failure> {
        let n = self.configs.len();
        self.steps()?;
        let store = cache.map(|(s, _)| s);
        let mut prefixes: Vec<Option<PrefixWriter>> = (0..n)
            .map(|k| match cache {
                Some((store, chain)) if k >= start => Some(PrefixWriter::new(
                    store,
                    k.checked_sub(1).map(|b| chain.keys[b]),
                )),
                _ => None,
            })
            .collect();
        let mut member = MemberWriter::new(out.compression);
        // Documents past each position so far: a batch entering step `k` is the last
        // `batch.len()` documents past position `k - 1`.
        let mut passed = vec![0u64; n + 1];
        let mut batch: Vec<Document> = Vec::with_capacity(BATCH_DOCUMENTS);
        let mut kept: Vec<(u32, bool)> = Vec::new();
        let first = start.max(1);
        loop {
            let watch = Stopwatch::start();
            let exhausted = match &mut source {
                Source::Read(records) => fill_batch(
                    &mut batch,
                    records,
                    Some(&mut counts.steps[0]),
                    &mut counts.quarantine[0],
                )
                .map_err(|e| io::Error::other(e.to_string()))?,
                // Reading cached documents is this run's read work.
                Source::Cached(lines) => fill_cached(&mut batch, lines)?,
            };
            add_time(&mut counts.steps[0], &watch);
            passed[first - 1] += batch.len() as u64;
            if let Some(Some(prefix)) = prefixes.get_mut(0) {
                for doc in &batch {
                    prefix.new_document(doc)?;
                }
            }
            for k in first..=n {
                let base = passed[k - 1] - batch.len() as u64;
                let (name, step) = &mut self.steps.as_mut().expect("built")[k - 1];
                let prefix = prefixes.get_mut(k).and_then(Option::as_mut);
                apply_step(
                    &mut batch,
                    name,
                    step.as_mut(),
                    &mut counts.steps[k],
                    &mut counts.quarantine[k],
                    prefix.is_some().then_some(&mut kept),
                )?;
                passed[k] += batch.len() as u64;
                if let Some(prefix) = prefix {
                    for (doc, (at, changed)) in batch.iter().zip(&kept) {
                        if *changed {
                            prefix.new_document(doc)?;
                        } else {
                            prefix.same(base + u64::from(*at), doc.text.len());
                        }
                    }
                }
            }
            let watch = Stopwatch::start();
            for doc in batch.drain(..) {
                if let Some(observer) = &mut out.observer {
                    observer.observe(&doc)?;
                }
                member.push(&doc, store, &mut out.shard)?;
                if out.dataset {
                    let w = &mut counts.write;
                    w.documents_in += 1;
                    w.kept += 1;
                    w.bytes_in += doc.text.len() as u64;
                    w.bytes_out += doc.text.len() as u64;
                }
                crash_point();
            }
            if out.dataset {
                add_time(&mut counts.write, &watch);
            }
            if exhausted {
                break;
            }
        }
        let mut done = Vec::new();
        for (at, prefix) in prefixes.into_iter().enumerate() {
            if let Some(prefix) = prefix {
                let (documents, text_bytes) = (prefix.documents, prefix.text_bytes);
                let docs = prefix.finish()?;
                done.push(NewPrefix {
                    at,
                    docs,
                    documents,
                    text_bytes,
                });
            }
        }
        let (documents, text_bytes) = (member.documents, member.text_bytes);
        let docs = member.finish(&mut out.shard)?;
        if store.is_some() {
            done.push(NewPrefix {
                at: n,
                docs,
                documents,
                text_bytes,
            });
        }
        Ok(done)
    }
}

/// Where a unit's documents come from.
enum Source {
    /// Its file.
    Read(Records),
    /// The store, after a cached prefix.
    Cached(Lines),
}

fn parse(line: &[u8]) -> io::Result<Document> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    Document::from_json_slice(body, String::new)
        .map_err(|e| io::Error::other(format!("a cached document does not read: {e}")))
}

/// Fills a batch from cached documents; true when they are exhausted.
fn fill_cached(batch: &mut Vec<Document>, lines: &mut Lines) -> io::Result<bool> {
    let mut bytes = 0;
    let mut line = Vec::new();
    while batch.len() < BATCH_DOCUMENTS && bytes < BATCH_BYTES {
        if !lines.next_line(&mut line)? {
            return Ok(true);
        }
        let doc = parse(&line)?;
        bytes += doc.text.len();
        batch.push(doc);
    }
    Ok(false)
}
