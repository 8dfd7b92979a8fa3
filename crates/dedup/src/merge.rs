//! The k-way merge of sorted key files: observer runs and index bands, read in
//! `(key, document key)` order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;
use std::path::Path;

use crate::files::{INDEX, RUN, SealedReader, u32_at, u64_at};
use crate::{DedupError, key};

/// One record of the merged stream: a key and the document that has it. Ordered by key,
/// then document, as the files are sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct KeyEntry {
    /// The key (a hash of the text, or of one band of its signature).
    pub key: u64,
    /// The document's key (see [`crate::key`]).
    pub doc: u64,
}

/// One sorted file.
struct Source {
    reader: SealedReader,
    /// `Some(rank)` for an observer run, `None` for an index band.
    rank: Option<usize>,
    previous: Option<KeyEntry>,
}

impl Source {
    fn next(&mut self) -> Result<Option<KeyEntry>, DedupError> {
        let Some(record) = self.reader.take(12)? else {
            return Ok(None);
        };
        let k = u64_at(record, 0);
        let n = u32_at(record, 8);
        let doc = match self.rank {
            Some(rank) => key::new(rank, n),
            None => key::index(n),
        };
        let entry = KeyEntry { key: k, doc };
        if self.previous.is_some_and(|p| p >= entry) {
            return Err(self.reader.corrupt("records are not sorted".into()));
        }
        self.previous = Some(entry);
        Ok(Some(entry))
    }
}

/// Merges sorted files into one stream of [`KeyEntry`], smallest first.
pub(crate) struct Merger {
    sources: Vec<Source>,
    /// The next entry of each source that has one, with the source's index.
    heap: BinaryHeap<Reverse<(KeyEntry, usize)>>,
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
        if let Some(entry) = source.next()? {
            self.heap.push(Reverse((entry, self.sources.len())));
        }
        self.sources.push(source);
        Ok(())
    }

    /// The next entry.
    pub(crate) fn next(&mut self) -> Result<Option<KeyEntry>, DedupError> {
        let Some(mut top) = self.heap.peek_mut() else {
            return Ok(None);
        };
        let Reverse((entry, i)) = *top;
        match self.sources[i].next()? {
            // Replacing the top in place sifts it down once, instead of a pop and a push.
            Some(next) => *top = Reverse((next, i)),
            None => {
                PeekMut::pop(top);
            }
        }
        Ok(Some(entry))
    }
}
