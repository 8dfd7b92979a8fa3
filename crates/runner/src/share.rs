//! Sharing a map task's units between workers of one process.
//!
//! A task runs its units from the head of its list. A worker with no task left takes
//! units from the tail of a running task instead of waiting idle: it runs each into an
//! output of its own, in memory (its member, its counters and quarantine entries, and
//! the documents the barrier must observe), and the task appends that after its own
//! units, in the units' order. Units are independent by design (each gets fresh steps,
//! see the `driver` module), so the shards do not depend on who ran which unit, nor on
//! the number of workers; a task run alone (`atelier task`, Slurm) takes no help.

use atelier_bill::{EnergyRecord, Ledger, TaskMeter};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::measure::Stopwatch;
use crate::run::RunError;

/// A task's units, as a helper runs them (the map driver's).
pub trait Work: Sync {
    /// What running one unit apart gives, for the task to take.
    type Output: Send;
    /// How many units the task has.
    fn units(&self) -> usize;
    /// Runs unit `i` apart from the task.
    fn run_apart(&self, i: usize) -> Result<Self::Output, RunError>;
    /// Its input bytes, for progress.
    fn unit_bytes(&self, i: usize) -> u64;
    /// Its file, for errors.
    fn unit_name(&self, i: usize) -> PathBuf;
}

/// What a helper made of one unit, waiting for its task.
pub(crate) struct Helped<O> {
    pub output: O,
    /// The helper's CPU seconds and energy for it.
    pub cpu_seconds: f64,
    pub energy: EnergyRecord,
}

/// The running tasks of one stage that take help.
pub struct Board<'a, W: Work> {
    ledger: &'a Ledger,
    progress: &'a (dyn Fn(u64) + Sync),
    state: Mutex<BoardState<W>>,
    /// A task opened or finished.
    changed: Condvar,
}

struct BoardState<W: Work> {
    /// Tasks whose units are on offer.
    open: Vec<Arc<Shared<W>>>,
    /// Tasks taken by a worker that have not offered their units yet (nor finished).
    starting: BTreeSet<usize>,
}

impl<'a, W: Work> Board<'a, W> {
    /// A board whose helpers meter their work on `ledger` and report the input bytes
    /// they read to `progress`.
    pub fn new(ledger: &'a Ledger, progress: &'a (dyn Fn(u64) + Sync)) -> Board<'a, W> {
        Board {
            ledger,
            progress,
            state: Mutex::new(BoardState {
                open: Vec::new(),
                starting: BTreeSet::new(),
            }),
            changed: Condvar::new(),
        }
    }

    /// Takes the next task to run (what `next` gives) for the calling worker, until the
    /// guard is dropped. A worker that gets none helps the others ([`Board::help`]).
    pub fn take_task(&self, next: impl FnOnce() -> Option<usize>) -> Option<Taken<'_, 'a, W>> {
        let mut state = lock(&self.state);
        let rank = next()?;
        state.starting.insert(rank);
        Some(Taken { board: self, rank })
    }

    /// Offers the units of task `rank` to helpers until the returned guard is dropped.
    pub(crate) fn open(&self, rank: usize, shared: Arc<Shared<W>>) -> Opened<'_, 'a, W> {
        let mut state = lock(&self.state);
        state.starting.remove(&rank);
        state.open.push(shared.clone());
        drop(state);
        self.changed.notify_all();
        Opened {
            board: self,
            shared,
        }
    }

    /// Runs one unit of the running task with the most units left, waiting while a
    /// task is about to offer its units; false when none has any left to take.
    pub fn help(&self) -> bool {
        let (shared, i) = {
            let mut state = lock(&self.state);
            loop {
                let best = state.open.iter().max_by_key(|s| s.left());
                if let Some(i) = best.and_then(|s| s.take_tail()) {
                    break (best.expect("just taken from").clone(), i);
                }
                if state.starting.is_empty() {
                    return false;
                }
                state = self
                    .changed
                    .wait(state)
                    .expect("no panics holding a board's lock");
            }
        };
        let mut deposit = Deposit {
            shared: &shared,
            unit: i,
            done: false,
        };
        let meter = TaskMeter::start(self.ledger);
        let clock = Stopwatch::start();
        let result = shared.work.run_apart(i).map(|output| Helped {
            output,
            cpu_seconds: clock.elapsed().cpu,
            energy: meter.stop(),
        });
        (self.progress)(shared.work.unit_bytes(i));
        deposit.put(result);
        true
    }
}

/// A task's units as the task and its helpers share them.
pub(crate) struct Shared<W: Work> {
    pub work: W,
    claims: Mutex<Claims<W::Output>>,
    ready: Condvar,
}

struct Claims<O> {
    /// The next unit the task runs itself.
    head: usize,
    /// The first unit taken by a helper: helpers take the one before it.
    tail: usize,
    /// No more units are taken (the task is done with its own, or failed).
    closed: bool,
    /// The helpers' outcomes, by unit from `tail` on.
    helped: Vec<Option<Result<Helped<O>, RunError>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().expect("no panics holding a board's lock")
}

impl<W: Work> Shared<W> {
    pub fn new(work: W) -> Shared<W> {
        let units = work.units();
        Shared {
            work,
            claims: Mutex::new(Claims {
                head: 0,
                tail: units,
                closed: false,
                helped: (0..units).map(|_| None).collect(),
            }),
            ready: Condvar::new(),
        }
    }

    /// The next unit the task runs itself, while helpers have not taken it.
    pub fn take_head(&self) -> Option<usize> {
        let mut claims = lock(&self.claims);
        (claims.head < claims.tail).then(|| {
            claims.head += 1;
            claims.head - 1
        })
    }

    /// Units nobody has taken yet.
    fn left(&self) -> usize {
        let claims = lock(&self.claims);
        if claims.closed {
            0
        } else {
            claims.tail - claims.head
        }
    }

    /// The last unit nobody has taken yet, for a helper.
    fn take_tail(&self) -> Option<usize> {
        let mut claims = lock(&self.claims);
        (!claims.closed && claims.head < claims.tail).then(|| {
            claims.tail -= 1;
            claims.tail
        })
    }

    /// The units helpers took, in order.
    pub fn helped_units(&self) -> std::ops::Range<usize> {
        let claims = lock(&self.claims);
        claims.tail..claims.helped.len()
    }

    /// Waits for a helper's outcome of unit `i`.
    pub fn wait(&self, i: usize) -> Result<Helped<W::Output>, RunError> {
        let mut claims = lock(&self.claims);
        loop {
            if let Some(outcome) = claims.helped[i].take() {
                return outcome;
            }
            claims = self
                .ready
                .wait(claims)
                .expect("no panics holding a board's lock");
        }
    }

    fn put(&self, i: usize, outcome: Result<Helped<W::Output>, RunError>) {
        lock(&self.claims).helped[i] = Some(outcome);
        self.ready.notify_all();
    }
}

/// A task a worker runs; dropping it says it ended (done, failed or panicked), so that
/// no helper waits for its units.
pub struct Taken<'b, 'a, W: Work> {
    board: &'b Board<'a, W>,
    /// The task.
    pub rank: usize,
}

impl<W: Work> Drop for Taken<'_, '_, W> {
    fn drop(&mut self) {
        lock(&self.board.state).starting.remove(&self.rank);
        self.board.changed.notify_all();
    }
}

/// A task's units on offer; dropping it withdraws them.
pub(crate) struct Opened<'b, 'a, W: Work> {
    board: &'b Board<'a, W>,
    shared: Arc<Shared<W>>,
}

impl<W: Work> Drop for Opened<'_, '_, W> {
    fn drop(&mut self) {
        lock(&self.shared.claims).closed = true;
        lock(&self.board.state)
            .open
            .retain(|s| !Arc::ptr_eq(s, &self.shared));
    }
}

/// A helper's promise of a unit's outcome: kept even if the helper panics, so that the
/// task waiting for it fails instead of waiting for ever.
struct Deposit<'s, W: Work> {
    shared: &'s Shared<W>,
    unit: usize,
    done: bool,
}

impl<W: Work> Deposit<'_, W> {
    fn put(&mut self, outcome: Result<Helped<W::Output>, RunError>) {
        self.shared.put(self.unit, outcome);
        self.done = true;
    }
}

impl<W: Work> Drop for Deposit<'_, W> {
    fn drop(&mut self) {
        if !self.done {
            let path = self.shared.work.unit_name(self.unit);
            let error = std::io::Error::other("the worker running this unit panicked");
            self.shared.put(self.unit, Err(RunError::io(&path)(error)));
        }
    }
}
