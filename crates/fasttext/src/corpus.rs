//! Training data: words and labels counted into a dictionary, then every line encoded
//! once into input rows and label indexes, so that epochs do not read text again.
//!
//! Lines are fastText's: tokens split on ASCII whitespace and NUL, a label is a token
//! that starts with `__label__` (or the training's `-label` prefix), and each line ends with the word `</s>`. fastText reads
//! its training file again at every epoch; encoding it once trades memory (four bytes
//! per input row of every line) for not hashing the same text `epoch` times.

use crate::dictionary::{Dictionary, EOS, EntryKind, LineBuffers, LineEnd, hash};

/// fastText's vocabulary limit; past three quarters of it, rare entries are dropped.
const MAX_VOCAB_SIZE: usize = 30_000_000;

/// Whether a byte separates words (fastText's `readWord`).
#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c | 0)
}

/// Splits `data` into at most `parts` pieces that end at newlines.
pub(crate) fn split_lines(data: &[u8], parts: usize) -> Vec<&[u8]> {
    let mut pieces = Vec::with_capacity(parts);
    let mut start = 0;
    for part in 1..=parts {
        if start >= data.len() {
            break;
        }
        let mut end = if part == parts {
            data.len()
        } else {
            (data.len() * part / parts).max(start)
        };
        while end < data.len() && data[end - 1] != b'\n' {
            end += 1;
        }
        if end > start {
            pieces.push(&data[start..end]);
        }
        start = end;
    }
    pieces
}

#[derive(Debug, Clone, Copy)]
struct Counted<'a> {
    word: &'a [u8],
    hash: u32,
    count: i64,
}

/// Counts of every distinct token, in order of first occurrence.
#[derive(Debug)]
pub(crate) struct Counter<'a> {
    entries: Vec<Counted<'a>>,
    /// Open addressing over `entries`; `u32::MAX` is empty.
    table: Vec<u32>,
    ntokens: i64,
    /// Raised as fastText raises it when the vocabulary grows too large.
    min_threshold: i64,
}

impl<'a> Counter<'a> {
    pub(crate) fn new() -> Self {
        Counter {
            entries: Vec::new(),
            table: vec![u32::MAX; 1024],
            ntokens: 0,
            min_threshold: 1,
        }
    }

    /// Counts the tokens of `data`, on `threads` threads.
    pub(crate) fn count(data: &'a [u8], threads: usize) -> Self {
        let pieces = split_lines(data, threads.max(1));
        if pieces.len() <= 1 {
            let mut counter = Counter::new();
            counter.count_piece(data);
            return counter;
        }
        let partial: Vec<Counter<'a>> = std::thread::scope(|s| {
            let handles: Vec<_> = pieces
                .iter()
                .map(|&piece| {
                    s.spawn(move || {
                        let mut counter = Counter::new();
                        counter.count_piece(piece);
                        counter
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a counting thread panicked"))
                .collect()
        });
        let mut total = Counter::new();
        for part in partial {
            total.ntokens += part.ntokens;
            for e in part.entries {
                total.add(e.word, e.hash, e.count);
            }
        }
        total
    }

    fn count_piece(&mut self, data: &'a [u8]) {
        let eos = EOS.as_bytes();
        let eos_hash = hash(eos);
        let mut pos = 0;
        while pos < data.len() {
            let b = data[pos];
            if b == b'\n' {
                self.add(eos, eos_hash, 1);
                self.ntokens += 1;
                pos += 1;
            } else if is_space(b) {
                pos += 1;
            } else {
                let start = pos;
                while pos < data.len() && !is_space(data[pos]) {
                    pos += 1;
                }
                let word = &data[start..pos];
                self.add(word, hash(word), 1);
                self.ntokens += 1;
            }
        }
        // A last line without a newline still ends with `</s>`, as lines are encoded.
        if data.last().is_some_and(|&b| b != b'\n') {
            self.add(eos, eos_hash, 1);
            self.ntokens += 1;
        }
    }

    /// Adds `count` to `word`.
    pub(crate) fn add(&mut self, word: &'a [u8], h: u32, count: i64) {
        let mask = self.table.len() - 1;
        let mut slot = h as usize & mask;
        loop {
            let id = self.table[slot];
            if id == u32::MAX {
                break;
            }
            let e = &mut self.entries[id as usize];
            if e.hash == h && e.word == word {
                e.count += count;
                return;
            }
            slot = (slot + 1) & mask;
        }
        self.table[slot] = self.entries.len() as u32;
        self.entries.push(Counted {
            word,
            hash: h,
            count,
        });
        if self.entries.len() * 2 > self.table.len() {
            self.rehash(self.table.len() * 2);
        }
        if self.entries.len() > MAX_VOCAB_SIZE / 4 * 3 {
            // fastText's guard against a vocabulary that will not fit.
            self.min_threshold += 1;
            let t = self.min_threshold;
            self.entries.retain(|e| e.count >= t);
            self.rehash(self.table.len());
        }
    }

    fn rehash(&mut self, capacity: usize) {
        self.table = vec![u32::MAX; capacity];
        let mask = capacity - 1;
        for (id, e) in self.entries.iter().enumerate() {
            let mut slot = e.hash as usize & mask;
            while self.table[slot] != u32::MAX {
                slot = (slot + 1) & mask;
            }
            self.table[slot] = id as u32;
        }
    }

    /// Tokens counted, `</s>` included.
    pub(crate) fn ntokens(&self) -> i64 {
        self.ntokens
    }

    /// fastText's `threshold`: words then labels (tokens that start with `label`), each
    /// by decreasing count (ties in order of first occurrence), without words seen fewer
    /// than `min_count` times and labels seen fewer than `min_count_label` times.
    pub(crate) fn entries(
        &self,
        min_count: i64,
        min_count_label: i64,
        label: &[u8],
    ) -> Vec<(&'a [u8], i64, EntryKind)> {
        let mut entries: Vec<(&'a [u8], i64, EntryKind)> = self
            .entries
            .iter()
            .map(|e| {
                let kind = if e.word.starts_with(label) {
                    EntryKind::Label
                } else {
                    EntryKind::Word
                };
                (e.word, e.count, kind)
            })
            .filter(|&(_, count, kind)| match kind {
                EntryKind::Word => count >= min_count,
                EntryKind::Label => count >= min_count_label,
            })
            .collect();
        entries
            .sort_by_key(|&(_, count, kind)| (kind == EntryKind::Label, std::cmp::Reverse(count)));
        entries
    }
}

/// One training example, a labelled line, as [`Corpus::example`] gives it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Example<'a> {
    /// Its input rows (words, subwords, n-gram buckets).
    pub rows: &'a [i32],
    /// Its label indexes.
    pub labels: &'a [i32],
    /// Tokens read for the line, labels and `</s>` included.
    pub ntokens: u32,
}

/// How a [`Corpus`] stores an example: where its rows and labels end, and how many
/// tokens it had.
#[derive(Debug, Clone, Copy)]
struct ExampleEnds {
    rows_end: usize,
    labels_end: usize,
    ntokens: u32,
}

/// What encoding found in the lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineCounts {
    /// Lines read (a literal `</s>` token starts a new line, as in fastText).
    pub lines: u64,
    /// Lines with at least one known label: the training examples.
    pub examples: u64,
    /// Lines with words but no known label, left out of training.
    pub unlabeled: u64,
    /// Empty lines (nothing but whitespace), left out of training.
    pub empty: u64,
}

impl std::ops::Add for LineCounts {
    type Output = LineCounts;
    fn add(self, o: LineCounts) -> LineCounts {
        LineCounts {
            lines: self.lines + o.lines,
            examples: self.examples + o.examples,
            unlabeled: self.unlabeled + o.unlabeled,
            empty: self.empty + o.empty,
        }
    }
}

/// Every labelled line of the training data as input rows and label indexes.
#[derive(Debug, Default)]
pub(crate) struct Corpus {
    rows: Vec<i32>,
    labels: Vec<i32>,
    examples: Vec<ExampleEnds>,
    /// Tokens of the examples, which the learning rate decays over.
    ntokens: i64,
    pub(crate) counts: LineCounts,
}

impl Corpus {
    /// Encodes `data` with `dict`, on `threads` threads.
    pub(crate) fn encode(dict: &Dictionary, data: &[u8], threads: usize) -> Self {
        let pieces = split_lines(data, threads.max(1));
        if pieces.len() <= 1 {
            return Corpus::encode_piece(dict, data);
        }
        let parts: Vec<Corpus> = std::thread::scope(|s| {
            let handles: Vec<_> = pieces
                .iter()
                .map(|&piece| s.spawn(move || Corpus::encode_piece(dict, piece)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("an encoding thread panicked"))
                .collect()
        });
        let mut all = Corpus::default();
        for part in parts {
            let (rows, labels) = (all.rows.len(), all.labels.len());
            all.rows.extend_from_slice(&part.rows);
            all.labels.extend_from_slice(&part.labels);
            all.examples
                .extend(part.examples.iter().map(|e| ExampleEnds {
                    rows_end: e.rows_end + rows,
                    labels_end: e.labels_end + labels,
                    ntokens: e.ntokens,
                }));
            all.ntokens += part.ntokens;
            all.counts = all.counts + part.counts;
        }
        all
    }

    fn encode_piece(dict: &Dictionary, data: &[u8]) -> Self {
        let mut corpus = Corpus::default();
        let (mut rows, mut labels) = (Vec::new(), Vec::new());
        let mut bufs = LineBuffers::default();
        let mut pos = 0;
        while pos < data.len() {
            let LineEnd { next, ntokens } =
                dict.read_line(data, pos, &mut rows, Some(&mut labels), &mut bufs);
            let blank = data[pos..next].iter().all(|&b| is_space(b));
            pos = next;
            corpus.counts.lines += 1;
            if labels.is_empty() {
                if blank {
                    corpus.counts.empty += 1;
                } else {
                    corpus.counts.unlabeled += 1;
                }
                continue;
            }
            if rows.is_empty() {
                // Only labels and no `</s>` row (a dictionary without `</s>`): nothing to
                // learn from, as fastText skips it.
                corpus.counts.unlabeled += 1;
                continue;
            }
            corpus.counts.examples += 1;
            corpus.rows.extend_from_slice(&rows);
            corpus.labels.extend_from_slice(&labels);
            let ntokens = u32::try_from(ntokens).unwrap_or(u32::MAX);
            corpus.ntokens += i64::from(ntokens);
            corpus.examples.push(ExampleEnds {
                rows_end: corpus.rows.len(),
                labels_end: corpus.labels.len(),
                ntokens,
            });
        }
        corpus
    }

    /// Number of examples.
    pub(crate) fn len(&self) -> usize {
        self.examples.len()
    }

    /// Tokens of all examples.
    pub(crate) fn ntokens(&self) -> i64 {
        self.ntokens
    }

    /// The first example at or after `token` tokens from the start (0 past the end).
    pub(crate) fn example_at_token(&self, token: i64) -> usize {
        let mut seen = 0i64;
        for (i, e) in self.examples.iter().enumerate() {
            if seen >= token {
                return i;
            }
            seen += i64::from(e.ntokens);
        }
        0
    }

    /// Example `i`.
    #[inline]
    pub(crate) fn example(&self, i: usize) -> Example<'_> {
        let e = self.examples[i];
        let (rows_start, labels_start) = match i {
            0 => (0, 0),
            _ => {
                let p = self.examples[i - 1];
                (p.rows_end, p.labels_end)
            }
        };
        Example {
            rows: &self.rows[rows_start..e.rows_end],
            labels: &self.labels[labels_start..e.labels_end],
            ntokens: e.ntokens,
        }
    }

    /// Marks in `used` every input row some example reads.
    pub(crate) fn mark_rows(&self, used: &mut [bool]) {
        for &r in &self.rows {
            used[r as usize] = true;
        }
    }

    /// Renumbers the input rows: row `r` becomes `map[r]`.
    pub(crate) fn remap_rows(&mut self, map: &[u32]) {
        for r in &mut self.rows {
            *r = map[*r as usize] as i32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dictionary::LABEL_PREFIX;

    #[test]
    fn pieces_end_at_newlines_and_cover_everything() {
        let data = b"aa\nbbbb\nc\n\nddd";
        for parts in 1..6 {
            let pieces = split_lines(data, parts);
            assert!(pieces.len() <= parts);
            assert_eq!(pieces.concat(), data);
            for p in &pieces[..pieces.len() - 1] {
                assert_eq!(p.last(), Some(&b'\n'));
            }
        }
        assert!(split_lines(b"", 3).is_empty());
    }

    #[test]
    fn counts_words_labels_and_line_ends() {
        let data = b"__label__a x y\n\n__label__b y\tz";
        for threads in 1..4 {
            let counter = Counter::count(data, threads);
            // x y </s>, </s> (the empty line), y z </s>, and two labels.
            assert_eq!(counter.ntokens(), 9);
            let entries = counter.entries(1, 0, LABEL_PREFIX.as_bytes());
            let get = |w: &str| entries.iter().find(|e| e.0 == w.as_bytes()).map(|e| e.1);
            assert_eq!(get("</s>"), Some(3));
            assert_eq!(get("y"), Some(2));
            assert_eq!(get("__label__b"), Some(1));
            // Words first by decreasing count, then labels.
            assert_eq!(entries[0].0, b"</s>");
            assert_eq!(entries[1].0, b"y");
            assert_eq!(entries[4].2, EntryKind::Label);
            assert_eq!(entries.len(), 6);
            // min_count drops the rare words, not the labels.
            assert_eq!(counter.entries(2, 0, LABEL_PREFIX.as_bytes()).len(), 4);
        }
    }
}
