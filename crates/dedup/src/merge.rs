//! The k-way merge of sorted key files: observer runs and index bands, read in
//! `(key, document key)` order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;
use std::path::Path;

use crate::files::{INDEX, RUN, SealedReader, u32_at, u64_at};
use crate::{DedupError, key};

/// One sorted file.
struct Source {
    reader: SealedReader,
    /// `Some(rank)` for an observer run, `None` for an index band.
    rank: Option<usize>,
    previous: Option<(u64, u64)>,
}

impl Source {
    fn next(&mut self) -> Result<Option<(u64, u64)>, DedupError> {
        let Some(record) = self.reader.take(12)? else {
            return Ok(None);
        };
        let k = u64_at(record, 0);
        let n = u32_at(record, 8);
        let doc = match self.rank {
            Some(rank) => key::new(rank, n),
            None => key::index(n),
        };
        if self.previous.is_some_and(|p| p >= (k, doc)) {
            return Err(self.reader.corrupt("records are not sorted".into()));
        }
        self.previous = Some((k, doc));
        Ok(Some((k, doc)))
    }
}

/// Merges sorted files into one stream of `(key, document key)`, smallest first.
pub(crate) struct Merger {
    sources: Vec<Source>,
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
}

impl Merger {
    /// An empty merge.
    pub(crate) fn new() -> Self {
        Merger {
            sources: Vec::new(),
            heap: BinaryHeap::new(),
        }
    }

    /// Adds an index band file.
    pub(crate) fn add_index(&mut self, path: &Path) -> Result<(), DedupError> {
        self.add(SealedReader::open(path, INDEX)?, None)
    }

    /// Adds a run of data task `rank`.
    pub(crate) fn add_run(&mut self, path: &Path, rank: usize) -> Result<(), DedupError> {
        self.add(SealedReader::open(path, RUN)?, Some(rank))
    }

    fn add(&mut self, reader: SealedReader, rank: Option<usize>) -> Result<(), DedupError> {
        let mut source = Source {
            reader,
            rank,
            previous: None,
        };
        if let Some((k, doc)) = source.next()? {
            self.heap.push(Reverse((k, doc, self.sources.len())));
        }
        self.sources.push(source);
        Ok(())
    }

    /// The next `(key, document key)`.
    pub(crate) fn next(&mut self) -> Result<Option<(u64, u64)>, DedupError> {
        let Some(mut top) = self.heap.peek_mut() else {
            return Ok(None);
        };
        let Reverse((k, doc, i)) = *top;
        match self.sources[i].next()? {
            // Replacing the top in place sifts it down once, instead of a pop and a push.
            Some((nk, ndoc)) => *top = Reverse((nk, ndoc, i)),
            None => {
                PeekMut::pop(top);
            }
        }
        Ok(Some((k, doc)))
    }
}
