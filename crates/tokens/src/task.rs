//! One tokenize task: JSON-lines files in, one shard set per split out.
//!
//! Documents are read line by line and encoded one at a time, so memory holds one
//! document and the shard's document ends, whatever the dataset's size. With a project
//! store, a file's lines are cut into units where a dataset's compressed chunks end
//! ([`ends_chunk`]: a few hundred kilobytes, wherever the same lines stand), and each
//! unit is keyed by the hash of its lines and of the tokenize settings: a unit seen
//! before is replayed from its cached tokens instead of being encoded again, so a new
//! dataset version tokenizes only the units its new documents fall in, even when they
//! land in every shard. Memory then also holds one unit (at most a few megabytes, or one
//! longer document).

use atelier_core::{Split, StepStats, split_of};
use atelier_io::chunked::ends_chunk;
use atelier_store::{Hash, Record, Store};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::encoder::{FastBpe, WordCache};
use crate::layout::{Dtype, ShardSet, ShardSpec, ShardWriter, write_atomic};
use crate::{Layout, TokenizeSettings, TokenizerFile, TokensError, TooLong};

/// The step name in counters and bills.
pub const STEP: &str = "tokenize";

/// Words kept in a task's cache of encoded words before it is emptied (memory stays
/// bounded on any data).
const CACHED_WORDS: usize = 1 << 20;

/// Texts longer than this are encoded in pieces cut before a space between two ASCII
/// letters, where every pre-tokenizer atelier reads also cuts: the same ids, without the
/// tokenizer's per-byte bookkeeping of a 100 MB string.
const PIECE_BYTES: usize = 1 << 20;

/// A tokenize run made ready: the tokenizer loaded and the special ids resolved.
pub struct Tokenize {
    /// The settings.
    pub settings: TokenizeSettings,
    /// The tokenizer.
    pub tokenizer: TokenizerFile,
    /// The id after every document.
    pub eos: u32,
    /// The id before every document, if any.
    pub bos: Option<u32>,
    /// How ids are stored.
    pub dtype: Dtype,
    /// The fast encoder, when the tokenizer is one it reproduces.
    fast: Option<FastBpe>,
}

/// What one task wrote and counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskOutcome {
    /// The task's rank.
    pub rank: usize,
    /// Documents in, kept, dropped (`empty`, `too_long`), quarantined.
    pub stats: StepStats,
    /// Shard sets by split.
    pub shards: Vec<ShardEntry>,
    /// Documents by their number of tokens: `histogram[k]` counts those with
    /// `2^k ..= 2^(k+1) - 1` tokens.
    pub histogram: Vec<u64>,
    /// Documents and tokens by source (`metadata.source`, else the input file).
    pub sources: BTreeMap<String, Count>,
    /// The store records of its units (made or replayed), when it ran with a store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<Hash>,
    /// The task's quarantine file, if anything went there (relative to the token folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<String>,
}

/// Documents and tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// Documents (pieces of split documents count once each).
    pub documents: u64,
    /// Tokens, BOS and EOS included.
    pub tokens: u64,
}

impl std::ops::AddAssign for Count {
    fn add_assign(&mut self, other: Count) {
        self.documents += other.documents;
        self.tokens += other.tokens;
    }
}

/// One shard set in one layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// Its layout.
    pub layout: Layout,
    /// `train` or `validation`.
    pub split: String,
    /// The task that wrote it.
    pub rank: usize,
    /// Its files, relative to the token folder, the token file first.
    pub files: Vec<String>,
    /// Documents in it.
    pub documents: u64,
    /// Tokens in it.
    pub tokens: u64,
}

/// What is cached for one input unit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct UnitData {
    stats: StepStats,
    histogram: Vec<u64>,
    sources: BTreeMap<String, Count>,
    quarantine: Vec<String>,
    /// Where the unit stood, when what is kept depends on it: replayed only there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    anchor: Option<Anchor>,
}

/// Where a unit stood.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Anchor {
    /// Its file: a document without `metadata.source` is counted under it.
    file: String,
    /// The lines of the file before it: a document without an id is split by its file
    /// and line, a quarantined line is named by them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<u64>,
}

impl Anchor {
    fn holds(&self, file: &str, after: u64) -> bool {
        self.file == file && self.after.is_none_or(|a| a == after)
    }
}

/// One input unit: lines of a file, after `after` lines of it.
struct Unit {
    lines: Vec<u8>,
    after: u64,
}

/// A file's lines as units, cut after each line that would end a dataset's chunk.
struct Units<R> {
    reader: R,
    /// Lines given so far.
    lines: u64,
}

impl<R: BufRead> Units<R> {
    fn next(&mut self) -> io::Result<Option<Unit>> {
        let mut unit = Unit {
            lines: Vec::new(),
            after: self.lines,
        };
        loop {
            let start = unit.lines.len();
            let n = self.reader.read_until(b'\n', &mut unit.lines)?;
            if n == 0 {
                break;
            }
            self.lines += 1;
            let line = &unit.lines[start..];
            if ends_chunk(crc32fast::hash(line), n, unit.lines.len()) {
                break;
            }
        }
        Ok((!unit.lines.is_empty()).then_some(unit))
    }
}

impl Tokenize {
    /// Loads the tokenizer and resolves EOS and BOS.
    pub fn new(settings: TokenizeSettings) -> Result<Tokenize, TokensError> {
        settings.validate().map_err(TokensError::Settings)?;
        let tokenizer = TokenizerFile::load(&settings.tokenizer)?;
        let eos = match &settings.eos {
            Some(text) => tokenizer.id_of(text)?,
            None => tokenizer
                .tokenizer
                .eos
                .ok_or_else(|| TokensError::Tokenizer {
                    path: tokenizer.path.clone(),
                    message: "names no end-of-sequence token: set `eos` to the token's text".into(),
                })?,
        };
        let bos = settings
            .bos
            .as_deref()
            .map(|text| tokenizer.id_of(text))
            .transpose()?;
        let vocab = tokenizer.tokenizer.vocab_size();
        let dtype = match settings.dtype {
            None => Dtype::for_vocab(vocab),
            Some(dtype) if vocab as u64 - 1 > u64::from(dtype.max_id()) => {
                return Err(TokensError::Settings(vec![format!(
                    "`dtype` is {dtype:?} but the tokenizer {} has ids up to {}: use \
                     uint32, or leave `dtype` out",
                    tokenizer.path.display(),
                    vocab - 1
                )]));
            }
            Some(dtype) => dtype,
        };
        let fast = FastBpe::from_json(&tokenizer.json);
        Ok(Tokenize {
            settings,
            tokenizer,
            eos,
            bos,
            dtype,
            fast,
        })
    }

    /// The settings as a version records them: the tokenizer by its hash, the special
    /// ids resolved.
    pub fn describe(&self) -> serde_json::Value {
        let mut settings = serde_json::to_value(&self.settings).expect("settings serialize");
        settings["tokenizer"] = serde_json::json!({
            "path": self.tokenizer.path,
            "hash": self.tokenizer.hash.hex(),
            "vocab_size": self.tokenizer.tokenizer.vocab_size(),
            "eos": self.eos,
            "bos": self.bos,
        });
        settings["dtype"] = serde_json::to_value(self.dtype).expect("dtype serializes");
        settings
    }

    /// The key of everything that decides the tokens of a unit (not the layouts or the
    /// shuffle, which only arrange them). `/2`: units are runs of lines, no longer
    /// compressed members.
    pub fn key(&self) -> Hash {
        let s = &self.settings;
        Hash::key("atelier-tokens-unit/2")
            .hash(&self.tokenizer.hash)
            .number(u64::from(self.eos))
            .number(self.bos.map_or(u64::MAX, u64::from))
            .number(s.max_tokens.unwrap_or(0))
            .number(s.too_long as u64)
            .number(s.validation.to_bits())
            .finish()
    }

    /// Runs one task: reads `inputs` in order, writes shard sets `part-<rank>` under
    /// `root`, and leaves `.tasks/<rank>.json` for [`crate::finish`].
    pub fn run_task(
        &self,
        inputs: &[PathBuf],
        rank: usize,
        root: &Path,
        store: Option<&Store>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<TaskOutcome, TokensError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |e: io::Error| TokensError::Io {
                path: path.clone(),
                error: e,
            }
        };
        let stem = format!("part-{rank:05}");
        let spec = |split: &str| ShardSpec {
            root: root.to_path_buf(),
            split: split.to_owned(),
            stem: stem.clone(),
            layouts: self.settings.layouts.clone(),
            dtype: self.dtype,
            // The file's name, not its folder: the same shards from another folder are
            // the same bytes.
            tokenizer_name: self
                .tokenizer
                .path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            shuffle: self
                .settings
                .seed
                .map(|s| s ^ (rank as u64).wrapping_mul(0x9E37)),
        };
        let mut splits = Splits {
            train: ShardWriter::create(spec("train")).map_err(io(root))?,
            validation: if self.settings.validation > 0.0 {
                Some(ShardWriter::create(spec("validation")).map_err(io(root))?)
            } else {
                None
            },
        };
        let mut outcome = TaskOutcome {
            rank,
            stats: StepStats::named(STEP),
            ..TaskOutcome::default()
        };
        let mut quarantine = Vec::new();
        let key = self.key();
        for path in inputs {
            let reader = open_lines(path).map_err(io(path))?;
            let Some(store) = store else {
                let data = self.encode_unit(path, reader, 0, &mut splits, None, progress)?;
                merge_unit(&mut outcome, &mut quarantine, data, false);
                continue;
            };
            let file_name = path.to_string_lossy();
            let mut units = Units { reader, lines: 0 };
            while let Some(unit) = units.next().map_err(io(path))? {
                let unit_key = Hash::key("atelier-tokens-unit")
                    .hash(&Hash::of(&unit.lines))
                    .hash(&key)
                    .finish();
                outcome.keys.push(unit_key);
                let cached = cached_unit(store, &unit_key).filter(|(data, _)| {
                    data.anchor
                        .as_ref()
                        .is_none_or(|a| a.holds(&file_name, unit.after))
                });
                if let Some((data, pieces)) = cached {
                    progress(unit.lines.len() as u64);
                    replay(&pieces, &mut splits).map_err(io(root))?;
                    merge_unit(&mut outcome, &mut quarantine, data, true);
                    continue;
                }
                let mut pieces = Vec::new();
                let data = self.encode_unit(
                    path,
                    Box::new(unit.lines.as_slice()),
                    unit.after,
                    &mut splits,
                    Some(&mut pieces),
                    progress,
                )?;
                let object = store.put_bytes(&pieces)?;
                store.put_record(
                    &unit_key,
                    &Record {
                        objects: vec![object],
                        records: Vec::new(),
                        data: data.clone(),
                    },
                )?;
                merge_unit(&mut outcome, &mut quarantine, data, false);
            }
        }
        for (split, writer) in [
            ("train", Some(splits.train)),
            ("validation", splits.validation),
        ] {
            let Some(writer) = writer else { continue };
            let set: ShardSet = writer.finish().map_err(io(root))?;
            for (layout, files) in set.files {
                outcome.shards.push(ShardEntry {
                    layout,
                    split: split.to_owned(),
                    rank,
                    files,
                    documents: set.documents,
                    tokens: set.tokens,
                });
            }
        }
        if !quarantine.is_empty() {
            let rel = format!("quarantine/{stem}.jsonl");
            let mut text = quarantine.join("\n");
            text.push('\n');
            write_atomic(&root.join(&rel), text.as_bytes()).map_err(io(root))?;
            outcome.quarantine = Some(rel);
        }
        let json = serde_json::to_vec_pretty(&outcome).expect("outcomes serialize");
        let marker = root.join(".tasks").join(format!("{rank:05}.json"));
        write_atomic(&marker, &json).map_err(io(&marker))?;
        Ok(outcome)
    }

    /// Encodes one unit's documents, the lines after the first `after` of `path`, into
    /// the writers (and the cache, when kept), timed.
    fn encode_unit(
        &self,
        path: &Path,
        mut reader: Box<dyn BufRead + '_>,
        after: u64,
        splits: &mut Splits,
        mut cache: Option<&mut Vec<u8>>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<UnitData, TokensError> {
        let mut data = UnitData {
            stats: StepStats::named(STEP),
            ..UnitData::default()
        };
        let io = |e: io::Error| TokensError::Io {
            path: path.to_path_buf(),
            error: e,
        };
        let cpu = atelier_bill::energy::thread_cpu_seconds();
        let wall = Instant::now();
        let file_name = path.to_string_lossy().into_owned();
        // What the kept data depends on: the file, its lines.
        let (mut on_file, mut on_lines) = (false, false);
        let mut line = Vec::new();
        let mut number = after;
        let mut words = WordCache::default();
        let mut doc = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(io)?;
            if n == 0 {
                break;
            }
            progress(n as u64);
            number += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            data.stats.documents_in += 1;
            data.stats.bytes_in += n as u64;
            let parsed: Result<Line<'_>, String> =
                serde_json::from_slice(&line).map_err(|e| e.to_string());
            let parsed = match parsed {
                Ok(Line {
                    text: Some(text),
                    id,
                    metadata,
                }) => Ok((text, id, metadata)),
                Ok(_) => Err("no `text` string".to_owned()),
                Err(e) => Err(format!("not a JSON document: {e}")),
            };
            let (text, id, metadata) = match parsed {
                Ok(p) => p,
                Err(reason) => {
                    on_lines = true;
                    data.stats.quarantined += 1;
                    data.quarantine.push(
                        serde_json::json!({
                            "file": file_name, "line": number, "step": STEP, "error": reason,
                        })
                        .to_string(),
                    );
                    continue;
                }
            };
            let ids =
                self.encode_cached(&text, &mut words)
                    .map_err(|message| TokensError::Encode {
                        path: path.to_path_buf(),
                        line: number,
                        message,
                    })?;
            if ids.is_empty() {
                *data.stats.dropped.entry("empty".into()).or_default() += 1;
                continue;
            }
            let id_text = match &id {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => {
                    on_lines = true;
                    format!("{file_name}:{number}")
                }
            };
            let split = match split_of(&id_text, self.settings.validation, 0.0) {
                Split::Validation => 1u8,
                _ => 0u8,
            };
            let bos = usize::from(self.bos.is_some());
            let max = self.settings.max_tokens.map_or(usize::MAX, |m| m as usize);
            let budget = max.saturating_sub(bos + 1).max(1);
            if ids.len() > budget && self.settings.too_long == TooLong::Drop {
                *data.stats.dropped.entry("too_long".into()).or_default() += 1;
                continue;
            }
            data.stats.kept += 1;
            data.stats.bytes_out += text.len() as u64;
            let pieces = ids.chunks(budget);
            if pieces.len() > 1 {
                *data.stats.counts.entry("split".into()).or_default() += 1;
                *data.stats.counts.entry("pieces".into()).or_default() += pieces.len() as u64;
            }
            let source = metadata
                .as_ref()
                .and_then(|m| m.source.clone())
                .unwrap_or_else(|| {
                    on_file = true;
                    file_name.clone()
                });
            for piece in ids.chunks(budget) {
                doc.clear();
                doc.extend(self.bos);
                doc.extend_from_slice(piece);
                doc.push(self.eos);
                if let Some(big) = doc.iter().find(|&&id| id > self.dtype.max_id()) {
                    return Err(TokensError::Encode {
                        path: path.to_path_buf(),
                        line: number,
                        message: format!("id {big} does not fit {:?}", self.dtype),
                    });
                }
                splits.push(split, &doc).map_err(io)?;
                atelier_core::fault::crash_point("ATELIER_CRASH_AFTER_TOKENIZED");
                let tokens = doc.len() as u64;
                let bucket = 63 - tokens.leading_zeros() as usize;
                if data.histogram.len() <= bucket {
                    data.histogram.resize(bucket + 1, 0);
                }
                data.histogram[bucket] += 1;
                *data.sources.entry(source.clone()).or_default() += Count {
                    documents: 1,
                    tokens,
                };
                *data.stats.counts.entry("tokens".into()).or_default() += tokens;
                if let Some(cache) = cache.as_deref_mut() {
                    cache.push(split);
                    cache.extend_from_slice(&(doc.len() as u32).to_le_bytes());
                    cache.extend(doc.iter().flat_map(|id| id.to_le_bytes()));
                }
            }
        }
        if on_file || on_lines {
            data.anchor = Some(Anchor {
                file: file_name,
                after: on_lines.then_some(after),
            });
        }
        data.stats.cpu_seconds = atelier_bill::energy::thread_cpu_seconds() - cpu;
        data.stats.wall_seconds = wall.elapsed().as_secs_f64();
        Ok(data)
    }

    /// The ids of a text, encoded as text: special tokens written in it are spelled out,
    /// as llama.cpp does (`tokenizers` would make them specials, letting a web page
    /// end a document early).
    pub fn encode_text(&self, text: &str) -> Result<Vec<u32>, String> {
        self.encode_cached(text, &mut WordCache::default())
    }

    /// Whether the fast byte-level BPE encoder runs (else `tokenizers` itself).
    pub fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    fn encode_cached(&self, text: &str, cache: &mut WordCache) -> Result<Vec<u32>, String> {
        if let Some(fast) = &self.fast {
            if cache.len() > CACHED_WORDS {
                cache.clear();
            }
            let mut ids = Vec::with_capacity(text.len() / 3);
            fast.encode(text, cache, &mut ids, &|word| self.encode_slow(word))?;
            return Ok(ids);
        }
        self.encode_slow(text)
    }

    /// `tokenizers` itself, long texts in pieces.
    fn encode_slow(&self, text: &str) -> Result<Vec<u32>, String> {
        let encode = |t: &str| {
            self.tokenizer
                .tokenizer
                .encode(t)
                .map_err(|e| e.to_string())
        };
        if text.len() <= PIECE_BYTES {
            return encode(text);
        }
        let mut ids = Vec::new();
        let mut rest = text;
        while rest.len() > PIECE_BYTES {
            let bytes = rest.as_bytes();
            let cut = (PIECE_BYTES..bytes.len() - 1).find(|&i| {
                bytes[i] == b' '
                    && bytes[i - 1].is_ascii_alphabetic()
                    && bytes[i + 1].is_ascii_alphabetic()
            });
            let Some(cut) = cut else { break };
            ids.extend(encode(&rest[..cut])?);
            rest = &rest[cut..];
        }
        ids.extend(encode(rest)?);
        Ok(ids)
    }
}

/// The fields of a JSON line that tokenizing reads.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default, borrow)]
    text: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    metadata: Option<LineMetadata>,
}

#[derive(Deserialize)]
struct LineMetadata {
    #[serde(default)]
    source: Option<String>,
}

fn merge_unit(
    outcome: &mut TaskOutcome,
    quarantine: &mut Vec<String>,
    data: UnitData,
    reused: bool,
) {
    let mut stats = data.stats;
    if reused {
        stats.reused_documents = stats.documents_in;
        stats.saved_cpu_seconds = stats.cpu_seconds;
        stats.saved_wall_seconds = stats.wall_seconds;
        stats.cpu_seconds = 0.0;
        stats.wall_seconds = 0.0;
    }
    outcome.stats += &stats;
    if outcome.histogram.len() < data.histogram.len() {
        outcome.histogram.resize(data.histogram.len(), 0);
    }
    for (k, n) in data.histogram.iter().enumerate() {
        outcome.histogram[k] += n;
    }
    for (source, count) in data.sources {
        *outcome.sources.entry(source).or_default() += count;
    }
    quarantine.extend(data.quarantine);
}

/// A cached unit: its counters and its pieces (`split u8, length u32, ids u32...`).
fn cached_unit(store: &Store, key: &Hash) -> Option<(UnitData, Vec<u8>)> {
    let record: Record<UnitData> = store.record(key)?;
    let object = record.objects.first()?;
    let bytes = std::fs::read(store.object_path(object)).ok()?;
    (Hash::of(&bytes) == *object).then_some((record.data, bytes))
}

fn replay(pieces: &[u8], splits: &mut Splits) -> io::Result<()> {
    let mut at = 0;
    let mut ids = Vec::new();
    while at + 5 <= pieces.len() {
        let split = pieces[at];
        let n = u32::from_le_bytes(pieces[at + 1..at + 5].try_into().expect("4")) as usize;
        at += 5;
        let end = at + 4 * n;
        if end > pieces.len() {
            return Err(io::Error::other("a cached unit is truncated"));
        }
        ids.clear();
        ids.extend(
            pieces[at..end]
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4"))),
        );
        at = end;
        splits.push(split, &ids)?;
    }
    Ok(())
}

/// A task's writers: `train`, and `validation` when a share is held out.
struct Splits {
    train: ShardWriter,
    validation: Option<ShardWriter>,
}

impl Splits {
    /// Appends a document to its split: 1 is validation (train when none is held out).
    fn push(&mut self, split: u8, ids: &[u32]) -> io::Result<()> {
        match (split, self.validation.as_mut()) {
            (1, Some(v)) => v.push(ids),
            _ => self.train.push(ids),
        }
    }
}

/// A reader of a file's decompressed lines: every gzip member or zstd frame, one after
/// the other, or the plain file.
fn open_lines(path: &Path) -> io::Result<Box<dyn BufRead>> {
    let reader = BufReader::with_capacity(1 << 16, File::open(path)?);
    Ok(match path.extension().and_then(|e| e.to_str()) {
        Some("gz") => Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(reader))),
        Some("zst" | "zstd") => Box::new(BufReader::new(zstd::stream::read::Decoder::with_buffer(
            reader,
        )?)),
        _ => Box::new(reader),
    })
}
