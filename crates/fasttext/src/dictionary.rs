//! The dictionary: words and labels with their counts, the hashing of words and
//! character n-grams, and the turning of a line of text into input rows.

use crate::Error;
use crate::read::{Cursor, count};

/// The word that ends every line.
pub const EOS: &str = "</s>";
/// The prefix that marks a label in training data and in the dictionary.
pub const LABEL_PREFIX: &str = "__label__";
const BOW: u8 = b'<';
const EOW: u8 = b'>';
/// No more entries than fastText's own vocabulary limit.
const MAX_ENTRIES: usize = 30_000_000;

/// fastText's string hash: 32-bit FNV-1a over the bytes taken as *signed* chars, so a
/// byte of 0x80 or above is sign-extended to 32 bits before the xor.
///
/// ```
/// assert_eq!(atelier_fasttext::hash(b""), 2_166_136_261);
/// assert_eq!(atelier_fasttext::hash(b"a"), 0xe40c_292c);
/// ```
pub fn hash(bytes: &[u8]) -> u32 {
    bytes.iter().fold(OFFSET, |h, &b| step(h, b))
}

const OFFSET: u32 = 2_166_136_261;

#[inline]
fn step(h: u32, byte: u8) -> u32 {
    (h ^ (byte as i8 as i32 as u32)).wrapping_mul(16_777_619)
}

/// Whether a byte separates words (fastText's `readWord`).
#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c | 0)
}

/// What a dictionary entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A word of the input.
    Word,
    /// A label (starts with `__label__`, or the training's `-label` prefix).
    Label,
}

/// One dictionary entry, borrowed from the dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The word's bytes (fastText does not require UTF-8).
    pub word: &'a [u8],
    /// How often it occurred in the training data.
    pub count: i64,
    /// Word or label.
    pub kind: EntryKind,
}

/// Maps pruned n-gram buckets to their rows in a quantized model.
#[derive(Debug, Clone)]
enum Prune {
    /// Not pruned: bucket `b` is row `nwords + b`.
    None,
    /// Pruned: only the buckets listed keep a row.
    Map(IntMap),
}

/// A small open-addressing map from `i32` to `i32`, keys non-negative; key and value
/// share a slot, so a lookup touches one cache line.
#[derive(Debug, Clone)]
struct IntMap {
    slots: Vec<(i32, i32)>,
    shift: u32,
}

impl IntMap {
    fn new(pairs: &[(i32, i32)]) -> Self {
        let capacity = (pairs.len() * 2).next_power_of_two().max(16);
        let mut map = IntMap {
            slots: vec![(-1, 0); capacity],
            shift: 32 - capacity.trailing_zeros(),
        };
        for &(k, v) in pairs {
            let mut slot = map.slot(k);
            while map.slots[slot].0 != -1 && map.slots[slot].0 != k {
                slot = (slot + 1) & (capacity - 1);
            }
            // A repeated key keeps its last value, as std::unordered_map's `[]=` does.
            map.slots[slot] = (k, v);
        }
        map
    }

    #[inline]
    fn slot(&self, key: i32) -> usize {
        ((key as u32).wrapping_mul(0x9e37_79b1) >> self.shift) as usize
    }

    #[inline]
    fn get(&self, key: i32) -> Option<i32> {
        let mask = self.slots.len() - 1;
        let mut slot = self.slot(key);
        loop {
            match self.slots[slot] {
                (k, v) if k == key => return Some(v),
                (-1, _) => return None,
                _ => slot = (slot + 1) & mask,
            }
        }
    }
}

/// Words and labels of a model, and how text becomes rows of its input matrix.
#[derive(Debug, Clone)]
pub struct Dictionary {
    nwords: usize,
    nlabels: usize,
    ntokens: i64,
    /// All entry words, one after another.
    text: Vec<u8>,
    /// `text[starts[i]..starts[i + 1]]` is entry `i`.
    starts: Vec<u32>,
    counts: Vec<i64>,
    kinds: Vec<EntryKind>,
    /// Open-addressing table of entry ids by word hash; `u32::MAX` is empty.
    table: Vec<u32>,
    prune: Prune,
    /// The pruned-bucket pairs as stored, kept for writing the model back.
    prune_pairs: Option<Vec<(i32, i32)>>,
    /// `subwords[sub_starts[i]..sub_starts[i + 1]]`: entry `i` and its n-gram rows.
    subwords: Vec<i32>,
    sub_starts: Vec<u32>,
    minn: usize,
    maxn: usize,
    bucket: u32,
    word_ngrams: usize,
    /// What starts a label among unknown tokens (fastText's `-label`): the training's
    /// prefix while it trains, `__label__` in a model read from a file, which does not
    /// keep it.
    label: Box<[u8]>,
}

/// Where [`Dictionary::read_line`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineEnd {
    /// The position after the line.
    pub next: usize,
    /// Tokens read, labels and `</s>` included.
    pub ntokens: usize,
}

/// Reusable buffers for turning lines into rows.
#[derive(Debug, Default, Clone)]
pub(crate) struct LineBuffers {
    hashes: Vec<i32>,
    word: Vec<u8>,
}

impl Dictionary {
    pub(crate) fn read(
        cur: &mut Cursor<'_>,
        minn: i32,
        maxn: i32,
        bucket: i32,
        word_ngrams: i32,
    ) -> Result<Self, Error> {
        const PART: &str = "the dictionary";
        // An entry takes at least ten bytes (NUL, count, type): a size the rest of the
        // file cannot hold is refused before anything is allocated for it.
        let limit = MAX_ENTRIES.min(cur.remaining() / 10);
        let size = count(cur.i32(PART)?.into(), limit, "the dictionary size")?;
        let nwords = count(cur.i32(PART)?.into(), size, "the word count")?;
        let nlabels = count(cur.i32(PART)?.into(), size, "the label count")?;
        if nwords + nlabels != size {
            return Err(Error::Invalid(format!(
                "{nwords} words and {nlabels} labels do not make {size} entries"
            )));
        }
        let ntokens = cur.i64(PART)?;
        let prune_size = cur.i64(PART)?;
        let mut text = Vec::new();
        let mut starts = Vec::with_capacity(size + 1);
        let mut counts = Vec::with_capacity(size);
        let mut kinds = Vec::with_capacity(size);
        starts.push(0);
        for _ in 0..size {
            text.extend_from_slice(cur.c_string(PART)?);
            starts.push(
                u32::try_from(text.len())
                    .map_err(|_| Error::Invalid("dictionary over 4 GiB".into()))?,
            );
            counts.push(cur.i64(PART)?);
            kinds.push(match cur.u8(PART)? {
                0 => EntryKind::Word,
                1 => EntryKind::Label,
                other => return Err(Error::Invalid(format!("unknown entry type {other}"))),
            });
        }
        // Rows are numbered by entry: a word stored among the labels (or a label among
        // the words) would ask the input matrix for a row past the words.
        let expected = |i: usize| {
            if i < nwords {
                EntryKind::Word
            } else {
                EntryKind::Label
            }
        };
        if let Some(i) = (0..size).find(|&i| kinds[i] != expected(i)) {
            return Err(Error::Invalid(format!(
                "dictionary entry {i} is a {}, but the header counts {nwords} words \
                 before {nlabels} labels",
                if kinds[i] == EntryKind::Word {
                    "word"
                } else {
                    "label"
                }
            )));
        }
        let (prune, prune_pairs) = if prune_size < 0 {
            (Prune::None, None)
        } else {
            let n = count(prune_size, cur.remaining() / 8, "the prune index size")?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                pairs.push((cur.i32("the prune index")?, cur.i32("the prune index")?));
            }
            (Prune::Map(IntMap::new(&pairs)), Some(pairs))
        };
        let mut dict = Dictionary {
            nwords,
            nlabels,
            ntokens,
            text,
            starts,
            counts,
            kinds,
            table: Vec::new(),
            prune,
            prune_pairs,
            subwords: Vec::new(),
            sub_starts: Vec::new(),
            minn: minn.max(0) as usize,
            maxn: maxn.max(0) as usize,
            bucket: bucket.max(0) as u32,
            word_ngrams: word_ngrams.max(1) as usize,
            label: LABEL_PREFIX.as_bytes().into(),
        };
        dict.index();
        Ok(dict)
    }

    /// A dictionary from its entries, words first and then labels, as a model file
    /// holds them; `prune_pairs` maps kept n-gram buckets to their rows past the words
    /// (quantized models with a cutoff).
    pub(crate) fn from_entries(
        entries: &[(&[u8], i64, EntryKind)],
        ntokens: i64,
        prune_pairs: Option<Vec<(i32, i32)>>,
        args: &crate::Args,
    ) -> Result<Self, Error> {
        let nwords = entries
            .iter()
            .take_while(|e| e.2 == EntryKind::Word)
            .count();
        if entries[nwords..].iter().any(|e| e.2 == EntryKind::Word) {
            return Err(Error::Invalid("a word after the labels".into()));
        }
        let mut text = Vec::new();
        let mut starts = Vec::with_capacity(entries.len() + 1);
        starts.push(0);
        for (word, _, _) in entries {
            if word.contains(&0) {
                return Err(Error::Invalid("a dictionary word holds a NUL byte".into()));
            }
            text.extend_from_slice(word);
            starts.push(
                u32::try_from(text.len())
                    .map_err(|_| Error::Invalid("dictionary over 4 GiB".into()))?,
            );
        }
        let prune = match &prune_pairs {
            Some(pairs) => Prune::Map(IntMap::new(pairs)),
            None => Prune::None,
        };
        let mut dict = Dictionary {
            nwords,
            nlabels: entries.len() - nwords,
            ntokens,
            text,
            starts,
            counts: entries.iter().map(|e| e.1).collect(),
            kinds: entries.iter().map(|e| e.2).collect(),
            table: Vec::new(),
            prune,
            prune_pairs,
            subwords: Vec::new(),
            sub_starts: Vec::new(),
            minn: args.minn.max(0) as usize,
            maxn: args.maxn.max(0) as usize,
            bucket: args.bucket.max(0) as u32,
            word_ngrams: args.word_ngrams.max(1) as usize,
            label: LABEL_PREFIX.as_bytes().into(),
        };
        dict.index();
        Ok(dict)
    }

    /// The prefix that makes an unknown token a label rather than a word.
    pub fn label_prefix(&self) -> &[u8] {
        &self.label
    }

    /// Sets the label prefix (a training's `-label`).
    pub(crate) fn set_label_prefix(&mut self, prefix: &[u8]) {
        self.label = prefix.into();
    }

    /// Appends the dictionary as fastText's `Dictionary::save` writes it.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend((self.len() as i32).to_le_bytes());
        out.extend((self.nwords as i32).to_le_bytes());
        out.extend((self.nlabels as i32).to_le_bytes());
        out.extend(self.ntokens.to_le_bytes());
        let prune_size = self.prune_pairs.as_ref().map_or(-1, |p| p.len() as i64);
        out.extend(prune_size.to_le_bytes());
        for id in 0..self.len() {
            out.extend_from_slice(self.word(id));
            out.push(0);
            out.extend(self.counts[id].to_le_bytes());
            out.push(match self.kinds[id] {
                EntryKind::Word => 0,
                EntryKind::Label => 1,
            });
        }
        for &(bucket, row) in self.prune_pairs.iter().flatten() {
            out.extend(bucket.to_le_bytes());
            out.extend(row.to_le_bytes());
        }
    }

    /// Builds the word table and each entry's n-gram rows (fastText's `initNgrams`).
    fn index(&mut self) {
        let size = self.len();
        let capacity = (size * 2).next_power_of_two().max(16);
        self.table = vec![u32::MAX; capacity];
        for id in 0..size {
            let word = self.word(id);
            let mut slot = hash(word) as usize & (capacity - 1);
            loop {
                let other = self.table[slot];
                if other == u32::MAX {
                    self.table[slot] = id as u32;
                    break;
                }
                if self.word(other as usize) == word {
                    // A duplicate word: fastText's table also keeps the last one.
                    self.table[slot] = id as u32;
                    break;
                }
                slot = (slot + 1) & (capacity - 1);
            }
        }
        let mut subwords = Vec::new();
        let mut sub_starts = Vec::with_capacity(size + 1);
        let mut word = Vec::new();
        sub_starts.push(0);
        for id in 0..size {
            subwords.push(id as i32);
            if self.word(id) != EOS.as_bytes() {
                word.clear();
                word.push(BOW);
                word.extend_from_slice(self.word(id));
                word.push(EOW);
                self.char_ngrams(&word, &mut subwords);
            }
            sub_starts.push(subwords.len() as u32);
        }
        self.subwords = subwords;
        self.sub_starts = sub_starts;
    }

    /// Number of entries (words and labels).
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether the dictionary has no entries.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Number of words; words are entries `0..nwords`.
    pub fn nwords(&self) -> usize {
        self.nwords
    }

    /// Number of labels; labels are entries `nwords..nwords + nlabels`.
    pub fn nlabels(&self) -> usize {
        self.nlabels
    }

    /// Number of tokens seen in training.
    pub fn ntokens(&self) -> i64 {
        self.ntokens
    }

    /// Whether n-gram buckets were pruned (quantized with a cutoff).
    pub fn is_pruned(&self) -> bool {
        matches!(self.prune, Prune::Map(_))
    }

    /// The pruned buckets and their new indexes, as stored (`None`: not pruned).
    pub fn prune_pairs(&self) -> Option<&[(i32, i32)]> {
        self.prune_pairs.as_deref()
    }

    fn word(&self, id: usize) -> &[u8] {
        &self.text[self.starts[id] as usize..self.starts[id + 1] as usize]
    }

    /// Entry `id`.
    pub fn entry(&self, id: usize) -> Entry<'_> {
        Entry {
            word: self.word(id),
            count: self.counts[id],
            kind: self.kinds[id],
        }
    }

    /// The id of a word or label, if the dictionary has it.
    pub fn id(&self, word: &[u8]) -> Option<usize> {
        self.find(word, hash(word))
    }

    #[inline]
    fn find(&self, word: &[u8], h: u32) -> Option<usize> {
        let mask = self.table.len() - 1;
        let mut slot = h as usize & mask;
        loop {
            let id = self.table[slot];
            if id == u32::MAX {
                return None;
            }
            if self.word(id as usize) == word {
                return Some(id as usize);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The input rows of entry `id`: itself, then its character n-grams.
    pub fn subwords(&self, id: usize) -> &[i32] {
        &self.subwords[self.sub_starts[id] as usize..self.sub_starts[id + 1] as usize]
    }

    /// The input rows of a word as fastText's `getSubwords(word)` gives them: a word
    /// of the dictionary its row and those of its character n-grams, another word the
    /// rows of its character n-grams (none for `</s>`, none without n-grams).
    pub fn word_rows(&self, word: &[u8], rows: &mut Vec<i32>) {
        rows.clear();
        if let Some(id) = self.id(word) {
            rows.extend_from_slice(self.subwords(id));
        } else if word != EOS.as_bytes() {
            let mut bounded = Vec::with_capacity(word.len() + 2);
            bounded.push(BOW);
            bounded.extend_from_slice(word);
            bounded.push(EOW);
            self.char_ngrams(&bounded, rows);
        }
    }

    /// The counts of the labels in label order (the hierarchical softmax tree is built
    /// from them).
    pub fn label_counts(&self) -> &[i64] {
        &self.counts[self.nwords..]
    }

    /// Adds the row of n-gram bucket `id`, if the model keeps it (`pushHash`).
    #[inline]
    fn push_bucket(&self, rows: &mut Vec<i32>, id: i32) {
        match &self.prune {
            Prune::None => rows.push(self.nwords as i32 + id),
            Prune::Map(map) => {
                if let Some(row) = map.get(id) {
                    rows.push(self.nwords as i32 + row);
                }
            }
        }
    }

    /// Character n-grams of `word` (already within `<` and `>`), as fastText's
    /// `computeSubwords`: lengths counted in UTF-8 characters, the lone `<` and `>` left
    /// out. Hashes grow one byte at a time, which FNV-1a allows.
    fn char_ngrams(&self, word: &[u8], rows: &mut Vec<i32>) {
        if self.maxn == 0 || self.bucket == 0 {
            return;
        }
        let len = word.len();
        for i in 0..len {
            if word[i] & 0xc0 == 0x80 {
                continue;
            }
            let mut h = OFFSET;
            let mut j = i;
            let mut n = 1;
            while j < len && n <= self.maxn {
                h = step(h, word[j]);
                j += 1;
                while j < len && word[j] & 0xc0 == 0x80 {
                    h = step(h, word[j]);
                    j += 1;
                }
                if n >= self.minn && !(n == 1 && (i == 0 || j == len)) {
                    self.push_bucket(rows, (h % self.bucket) as i32);
                }
                n += 1;
            }
        }
    }

    /// The input rows of one line of text, as fastText's supervised `getLine`: words
    /// split on whitespace, reading stops at the first newline (or at a literal `</s>`),
    /// and `</s>` ends the line. Known words give their precomputed rows, unknown ones
    /// their character n-grams, tokens that look like labels nothing; word n-grams
    /// follow.
    pub fn line_rows(&self, text: &str) -> Vec<i32> {
        let mut rows = Vec::new();
        self.fill_line(text.as_bytes(), &mut rows, &mut LineBuffers::default());
        rows
    }

    pub(crate) fn fill_line(&self, text: &[u8], rows: &mut Vec<i32>, bufs: &mut LineBuffers) {
        self.read_line(text, 0, rows, None, bufs);
    }

    /// Reads one line of `text` from `pos`, as fastText's supervised `getLine`: fills
    /// `rows` (and, when asked, `labels` with the label indexes of known labels) and
    /// returns the position after the line and the number of tokens read, labels and
    /// `</s>` included. The line ends after a newline (consumed), at the end of `text`,
    /// or after a literal `</s>` token; each end counts as a `</s>` token.
    pub(crate) fn read_line(
        &self,
        text: &[u8],
        mut pos: usize,
        rows: &mut Vec<i32>,
        mut labels: Option<&mut Vec<i32>>,
        bufs: &mut LineBuffers,
    ) -> LineEnd {
        rows.clear();
        bufs.hashes.clear();
        if let Some(labels) = labels.as_deref_mut() {
            labels.clear();
        }
        let mut ntokens = 0;
        loop {
            // Skip separators; a newline met between words ends the line.
            while pos < text.len() && is_space(text[pos]) && text[pos] != b'\n' {
                pos += 1;
            }
            let token: &[u8] = if pos >= text.len() || text[pos] == b'\n' {
                pos = (pos + 1).min(text.len());
                EOS.as_bytes()
            } else {
                let start = pos;
                while pos < text.len() && !is_space(text[pos]) {
                    pos += 1;
                }
                &text[start..pos]
            };
            ntokens += 1;
            let h = hash(token);
            let id = self.find(token, h);
            let is_word = match id {
                Some(id) => self.kinds[id] == EntryKind::Word,
                None => !token.starts_with(&self.label),
            };
            if is_word {
                match id {
                    Some(id) if self.maxn == 0 => rows.push(id as i32),
                    Some(id) => rows.extend_from_slice(self.subwords(id)),
                    None if token == EOS.as_bytes() => {}
                    None => {
                        bufs.word.clear();
                        bufs.word.push(BOW);
                        bufs.word.extend_from_slice(token);
                        bufs.word.push(EOW);
                        self.char_ngrams(&bufs.word, rows);
                    }
                }
                bufs.hashes.push(h as i32);
            } else if let (Some(id), Some(labels)) = (id, labels.as_deref_mut()) {
                labels.push((id - self.nwords) as i32);
            }
            if token == EOS.as_bytes() {
                break;
            }
        }
        self.word_ngrams(rows, &bufs.hashes);
        LineEnd { next: pos, ntokens }
    }

    /// fastText's `addWordNgrams`: 32-bit word hashes, sign-extended, mixed in 64 bits.
    fn word_ngrams(&self, rows: &mut Vec<i32>, hashes: &[i32]) {
        if self.word_ngrams < 2 || self.bucket == 0 {
            return;
        }
        for i in 0..hashes.len() {
            let mut h = hashes[i] as i64 as u64;
            for &next in hashes.iter().take(i + self.word_ngrams).skip(i + 1) {
                h = h.wrapping_mul(116_049_371).wrapping_add(next as i64 as u64);
                self.push_bucket(rows, (h % u64::from(self.bucket)) as i32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_sign_extends_high_bytes() {
        // FNV-1a of "a" is the published 0xe40c292c; for "é" (c3 a9) fastText xors
        // the sign-extended bytes, which plain FNV-1a does not.
        assert_eq!(hash(b"a"), 0xe40c_292c);
        let unsigned = b"\xc3\xa9"
            .iter()
            .fold(OFFSET, |h, &b| (h ^ u32::from(b)).wrapping_mul(16_777_619));
        assert_ne!(hash("é".as_bytes()), unsigned);
        let by_hand = [0xffff_ffc3_u32, 0xffff_ffa9]
            .iter()
            .fold(OFFSET, |h, &b| (h ^ b).wrapping_mul(16_777_619));
        assert_eq!(hash("é".as_bytes()), by_hand);
    }

    #[test]
    fn int_map_finds_what_it_holds() {
        let pairs: Vec<(i32, i32)> = (0..1000).map(|i| (i * 7919 % 2_000_000, i)).collect();
        let map = IntMap::new(&pairs);
        for &(k, v) in &pairs {
            assert_eq!(map.get(k), Some(v));
        }
        assert_eq!(map.get(1), None);
    }
}
