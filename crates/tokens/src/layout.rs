//! Token files in the layouts the field's trainers memory-map, written and read back.
//!
//! Every layout holds the same payload: the documents' token ids one after the other,
//! little-endian, two bytes each when every id fits (`uint16`), four otherwise. They
//! differ in what tells documents apart:
//!
//! - `datatrove` (datatrove, nanotron): `X.ds` is the payload, `X.ds.index` the end of
//!   each document in tokens (`uint64`), `X.ds.metadata` the tokenizer and token count.
//! - `llmc` (llm.c, nanoGPT): `X.bin` is a header of 256 `int32` (magic, version, token
//!   count) then the payload; documents are separated by their EOS token only.
//!   Version 1 (magic 20240520) holds `uint16` ids, version 7 (magic 20240801) `uint32`.
//! - `llmc-raw`: the payload alone, as nanoGPT's `prepare.py` writes it.
//! - `megatron` (Megatron-LM, NeMo): `X.bin` is the payload, `X.idx` the `MMIDIDX`
//!   index: version 1, dtype code, then each document's length and byte offset, and the
//!   document boundaries. Megatron has no unsigned 32-bit code: wide ids are `int32`.
//!
//! A shard set is written to temporary files and renamed into place when complete; the
//! payload is written once and hard-linked to every layout that holds it unchanged.

use atelier_core::atomic::AtomicFile;
pub(crate) use atelier_core::atomic::write_atomic;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// llm.c's header: 256 little-endian `int32`.
const LLMC_HEADER_INTS: usize = 256;
/// Megatron's index magic.
const MEGATRON_MAGIC: &[u8; 9] = b"MMIDIDX\x00\x00";

/// A file layout of token shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layout {
    /// datatrove's `.ds`, `.ds.index`, `.ds.metadata`.
    Datatrove,
    /// llm.c's `.bin` with its 256-int header.
    Llmc,
    /// The bare payload, headerless (nanoGPT).
    LlmcRaw,
    /// Megatron's `.bin` and `.idx`.
    Megatron,
}

impl Layout {
    /// Every layout, in a fixed order.
    pub const ALL: [Layout; 4] = [
        Layout::Datatrove,
        Layout::Llmc,
        Layout::LlmcRaw,
        Layout::Megatron,
    ];

    /// Its name in recipes, on the command line and in folder names.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Datatrove => "datatrove",
            Layout::Llmc => "llmc",
            Layout::LlmcRaw => "llmc-raw",
            Layout::Megatron => "megatron",
        }
    }

    /// The layout of a name.
    pub fn parse(name: &str) -> Result<Layout, String> {
        Layout::ALL
            .into_iter()
            .find(|l| l.name() == name)
            .ok_or_else(|| {
                format!(
                    "unknown token layout `{name}`; known: {}",
                    Layout::ALL.map(Layout::name).join(", ")
                )
            })
    }

    /// The files of shard `stem` (`part-00000`) in this layout, the token file first.
    pub fn files(self, stem: &str) -> Vec<String> {
        match self {
            Layout::Datatrove => vec![
                format!("{stem}.ds"),
                format!("{stem}.ds.index"),
                format!("{stem}.ds.metadata"),
            ],
            Layout::Llmc | Layout::LlmcRaw => vec![format!("{stem}.bin")],
            Layout::Megatron => vec![format!("{stem}.bin"), format!("{stem}.idx")],
        }
    }
}

impl serde::Serialize for Layout {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Layout {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Layout, D::Error> {
        let name = String::deserialize(d)?;
        Layout::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// How token ids are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// Two bytes: vocabularies of up to 65,536 tokens.
    Uint16,
    /// Four bytes.
    Uint32,
}

impl Dtype {
    /// The narrowest type that holds every id of a vocabulary.
    pub fn for_vocab(size: usize) -> Dtype {
        if size <= 1 << 16 {
            Dtype::Uint16
        } else {
            Dtype::Uint32
        }
    }

    /// Bytes per token.
    pub fn width(self) -> usize {
        match self {
            Dtype::Uint16 => 2,
            Dtype::Uint32 => 4,
        }
    }

    /// The largest id it holds.
    pub fn max_id(self) -> u32 {
        match self {
            Dtype::Uint16 => u16::MAX as u32,
            Dtype::Uint32 => u32::MAX,
        }
    }

    fn encode(self, ids: &[u32], out: &mut Vec<u8>) {
        match self {
            Dtype::Uint16 => out.extend(ids.iter().flat_map(|&id| (id as u16).to_le_bytes())),
            Dtype::Uint32 => out.extend(ids.iter().flat_map(|&id| id.to_le_bytes())),
        }
    }

    fn decode(self, bytes: &[u8]) -> Vec<u32> {
        match self {
            Dtype::Uint16 => bytes
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as u32)
                .collect(),
            Dtype::Uint32 => bytes
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        }
    }

    /// Megatron's dtype code (`uint16` is 8; `int32`, 4, holds the wide ids).
    fn megatron_code(self) -> u8 {
        match self {
            Dtype::Uint16 => 8,
            Dtype::Uint32 => 4,
        }
    }

    fn from_megatron_code(code: u8) -> Option<Dtype> {
        match code {
            8 => Some(Dtype::Uint16),
            4 => Some(Dtype::Uint32),
            _ => None,
        }
    }
}

/// Where one shard set goes and how it is written.
#[derive(Debug, Clone)]
pub struct ShardSpec {
    /// The token folder (`<output>/tokens`); files go to `<layout>/<split>/<stem>.*`.
    pub root: PathBuf,
    /// `train` or `validation`.
    pub split: String,
    /// The shard's file stem, `part-00000`.
    pub stem: String,
    /// The layouts to write.
    pub layouts: Vec<Layout>,
    /// How ids are stored.
    pub dtype: Dtype,
    /// What `.ds.metadata` names as the tokenizer.
    pub tokenizer_name: String,
    /// Shuffle the documents with this seed (`None`: keep their order).
    pub shuffle: Option<u64>,
}

/// What a finished shard set holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSet {
    /// Documents in it.
    pub documents: u64,
    /// Tokens in it.
    pub tokens: u64,
    /// Its files, relative to the token folder, per layout.
    pub files: Vec<(Layout, Vec<String>)>,
}

/// Writes one shard set, document by document, in every chosen layout.
pub struct ShardWriter {
    spec: ShardSpec,
    payload: BufWriter<File>,
    payload_path: PathBuf,
    /// Each document's end, in tokens.
    ends: Vec<u64>,
    tokens: u64,
    buffer: Vec<u8>,
}

impl ShardWriter {
    /// Starts a shard set (its folders are created).
    pub fn create(spec: ShardSpec) -> io::Result<ShardWriter> {
        let dir = spec.root.join(".building");
        std::fs::create_dir_all(&dir)?;
        let payload_path = dir.join(format!("{}-{}.payload.tmp", spec.split, spec.stem));
        let payload = BufWriter::with_capacity(1 << 20, File::create(&payload_path)?);
        Ok(ShardWriter {
            spec,
            payload,
            payload_path,
            ends: Vec::new(),
            tokens: 0,
            buffer: Vec::new(),
        })
    }

    /// Appends one document (its ids, EOS included).
    pub fn push(&mut self, ids: &[u32]) -> io::Result<()> {
        self.buffer.clear();
        self.spec.dtype.encode(ids, &mut self.buffer);
        self.payload.write_all(&self.buffer)?;
        self.tokens += ids.len() as u64;
        self.ends.push(self.tokens);
        Ok(())
    }

    /// Documents written so far.
    pub fn documents(&self) -> u64 {
        self.ends.len() as u64
    }

    /// Completes every layout's files and renames them into place.
    pub fn finish(mut self) -> io::Result<ShardSet> {
        self.payload.flush()?;
        let payload = self.payload.into_inner().map_err(|e| e.into_error())?;
        payload.sync_all()?;
        drop(payload);
        let (payload_path, ends) = match self.spec.shuffle {
            Some(seed) => shuffled(&self.payload_path, &self.ends, self.spec.dtype, seed)?,
            None => (self.payload_path.clone(), self.ends),
        };
        let spec = &self.spec;
        let width = spec.dtype.width() as u64;
        let mut files = Vec::new();
        for &layout in &spec.layouts {
            let rel_dir = format!("{}/{}", layout.name(), spec.split);
            let dir = spec.root.join(&rel_dir);
            std::fs::create_dir_all(&dir)?;
            let names = layout.files(&spec.stem);
            let token_file = dir.join(&names[0]);
            match layout {
                Layout::Datatrove => {
                    link_or_copy(&payload_path, &token_file)?;
                    let index: Vec<u8> = ends.iter().flat_map(|e| e.to_le_bytes()).collect();
                    write_atomic(&dir.join(&names[1]), &index)?;
                    let metadata = format!(
                        "{}|{}\n{}\n{}",
                        spec.tokenizer_name,
                        spec.dtype.width(),
                        self.tokens,
                        metric(self.tokens, "T")
                    );
                    write_atomic(&dir.join(&names[2]), metadata.as_bytes())?;
                }
                Layout::LlmcRaw => link_or_copy(&payload_path, &token_file)?,
                Layout::Llmc => {
                    let (magic, version) = match spec.dtype {
                        Dtype::Uint16 => (20240520, 1),
                        Dtype::Uint32 => (20240801, 7),
                    };
                    let mut header = [0i32; LLMC_HEADER_INTS];
                    header[0] = magic;
                    header[1] = version;
                    header[2] = i32::try_from(self.tokens).map_err(|_| {
                        io::Error::other(format!(
                            "{}: {} tokens do not fit llm.c's 32-bit count; use more tasks",
                            token_file.display(),
                            self.tokens
                        ))
                    })?;
                    let mut out = BufWriter::new(AtomicFile::create(&token_file)?);
                    for v in header {
                        out.write_all(&v.to_le_bytes())?;
                    }
                    io::copy(&mut File::open(&payload_path)?, &mut out)?;
                    out.into_inner().map_err(|e| e.into_error())?.commit()?;
                }
                Layout::Megatron => {
                    link_or_copy(&payload_path, &token_file)?;
                    let n = ends.len() as u64;
                    let mut idx = Vec::with_capacity(34 + 20 * ends.len());
                    idx.extend_from_slice(MEGATRON_MAGIC);
                    idx.extend_from_slice(&1u64.to_le_bytes());
                    idx.push(spec.dtype.megatron_code());
                    idx.extend_from_slice(&n.to_le_bytes());
                    idx.extend_from_slice(&(n + 1).to_le_bytes());
                    let mut start = 0;
                    let mut sizes = Vec::with_capacity(ends.len());
                    for &end in &ends {
                        let size = i32::try_from(end - start)
                            .map_err(|_| io::Error::other("a document of more than 2^31 tokens"))?;
                        sizes.push(size);
                        start = end;
                    }
                    for size in &sizes {
                        idx.extend_from_slice(&size.to_le_bytes());
                    }
                    let mut offset = 0u64;
                    for &size in &sizes {
                        idx.extend_from_slice(&(offset * width).to_le_bytes());
                        offset += size as u64;
                    }
                    for d in 0..=n {
                        idx.extend_from_slice(&d.to_le_bytes());
                    }
                    write_atomic(&dir.join(&names[1]), &idx)?;
                }
            }
            files.push((
                layout,
                names.iter().map(|n| format!("{rel_dir}/{n}")).collect(),
            ));
        }
        std::fs::remove_file(&payload_path)?;
        if payload_path != self.payload_path {
            std::fs::remove_file(&self.payload_path)?;
        }
        Ok(ShardSet {
            documents: ends.len() as u64,
            tokens: self.tokens,
            files,
        })
    }
}

/// A count with an SI prefix and three significant digits (`68.0 T`, `7.14 MT`), as
/// datatrove's `.ds.metadata` writes it (Python `humanize.metric`).
fn metric(value: u64, unit: &str) -> String {
    const PREFIXES: [&str; 11] = ["", "k", "M", "G", "T", "P", "E", "Z", "Y", "R", "Q"];
    let mut exponent = if value == 0 {
        0
    } else {
        value.ilog10() as usize
    };
    loop {
        let ordinal = (exponent / 3).min(PREFIXES.len() - 1);
        let scaled = value as f64 / 10f64.powi(3 * ordinal as i32);
        let decimals = 2usize.saturating_sub(exponent - 3 * ordinal);
        let text = format!("{scaled:.decimals$}");
        // 999,999 rounds to `1000 k`: written `1.00 M`.
        if text
            .parse::<f64>()
            .is_ok_and(|v| v >= 10f64.powi((exponent % 3 + 1) as i32))
        {
            exponent += 1;
            continue;
        }
        return format!("{text} {}{unit}", PREFIXES[ordinal]);
    }
}

/// The payload with its documents in a seeded random order (Fisher-Yates on SplitMix64),
/// read back one document at a time so that memory does not grow with the shard.
fn shuffled(
    payload: &Path,
    ends: &[u64],
    dtype: Dtype,
    seed: u64,
) -> io::Result<(PathBuf, Vec<u64>)> {
    let mut order: Vec<usize> = (0..ends.len()).collect();
    let mut state = seed;
    for i in (1..order.len()).rev() {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        order.swap(i, (z % (i as u64 + 1)) as usize);
    }
    let width = dtype.width() as u64;
    let out_path = payload.with_extension("shuffled.tmp");
    let mut input = File::open(payload)?;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&out_path)?);
    let mut new_ends = Vec::with_capacity(ends.len());
    let mut total = 0;
    let mut buffer = Vec::new();
    for d in order {
        let start = if d == 0 { 0 } else { ends[d - 1] };
        let len = ends[d] - start;
        input.seek(SeekFrom::Start(start * width))?;
        buffer.resize((len * width) as usize, 0);
        input.read_exact(&mut buffer)?;
        out.write_all(&buffer)?;
        total += len;
        new_ends.push(total);
    }
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok((out_path, new_ends))
}

fn temporary(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Puts `from`'s bytes at `to`: a hard link (the payload is written once for every
/// layout), or a copy where links are not possible.
fn link_or_copy(from: &Path, to: &Path) -> io::Result<()> {
    let tmp = temporary(to);
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(from, &tmp).is_err() {
        std::fs::copy(from, &tmp)?;
    }
    std::fs::rename(&tmp, to)
}

/// Why token files could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

fn read_error(path: &Path, message: impl Into<String>) -> ReadError {
    ReadError {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, ReadError> {
    std::fs::read(path).map_err(|e| read_error(path, e.to_string()))
}

/// Reads one shard's documents back from a layout's files (for `llmc` and `llmc-raw`,
/// which keep no boundaries, documents end at each `eos`).
pub fn read_documents(
    layout: Layout,
    token_file: &Path,
    dtype: Dtype,
    eos: Option<u32>,
) -> Result<Vec<Vec<u32>>, ReadError> {
    let bytes = read_file(token_file)?;
    let payload_of = |bytes: &[u8]| -> Result<Vec<u32>, ReadError> {
        if !bytes.len().is_multiple_of(dtype.width()) {
            return Err(read_error(
                token_file,
                format!(
                    "{} bytes is not a whole number of {dtype:?} ids",
                    bytes.len()
                ),
            ));
        }
        Ok(dtype.decode(bytes))
    };
    let split_at = |ids: Vec<u32>, ends: &[u64]| -> Result<Vec<Vec<u32>>, ReadError> {
        let mut out = Vec::with_capacity(ends.len());
        let mut start = 0;
        for &end in ends {
            let end = end as usize;
            if end < start || end > ids.len() {
                return Err(read_error(
                    token_file,
                    format!("document end {end} outside 0..={}", ids.len()),
                ));
            }
            out.push(ids[start..end].to_vec());
            start = end;
        }
        if start != ids.len() {
            return Err(read_error(
                token_file,
                format!("the index ends at {start} of {} tokens", ids.len()),
            ));
        }
        Ok(out)
    };
    match layout {
        Layout::Datatrove => {
            let index_path = PathBuf::from(format!("{}.index", token_file.display()));
            let index = read_file(&index_path)?;
            if !index.len().is_multiple_of(8) {
                return Err(read_error(&index_path, "not a whole number of uint64 ends"));
            }
            let ends: Vec<u64> = index
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect();
            split_at(payload_of(&bytes)?, &ends)
        }
        Layout::Llmc | Layout::LlmcRaw => {
            let ids = if layout == Layout::Llmc {
                let header_bytes = LLMC_HEADER_INTS * 4;
                if bytes.len() < header_bytes {
                    return Err(read_error(token_file, "shorter than llm.c's header"));
                }
                let int =
                    |i: usize| i32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4"));
                let expected = match dtype {
                    Dtype::Uint16 => (20240520, 1),
                    Dtype::Uint32 => (20240801, 7),
                };
                if (int(0), int(1)) != expected {
                    return Err(read_error(
                        token_file,
                        format!(
                            "llm.c header magic {} version {}, expected {} {} for {dtype:?}",
                            int(0),
                            int(1),
                            expected.0,
                            expected.1
                        ),
                    ));
                }
                let ids = payload_of(&bytes[header_bytes..])?;
                if ids.len() as i64 != int(2) as i64 {
                    return Err(read_error(
                        token_file,
                        format!("header says {} tokens, file holds {}", int(2), ids.len()),
                    ));
                }
                ids
            } else {
                payload_of(&bytes)?
            };
            let Some(eos) = eos else {
                return Ok(vec![ids]);
            };
            let mut docs = Vec::new();
            let mut doc = Vec::new();
            for id in ids {
                doc.push(id);
                if id == eos {
                    docs.push(std::mem::take(&mut doc));
                }
            }
            if !doc.is_empty() {
                docs.push(doc);
            }
            Ok(docs)
        }
        Layout::Megatron => {
            let idx_path = token_file.with_extension("idx");
            let idx = read_file(&idx_path)?;
            let bad = |m: &str| read_error(&idx_path, m);
            if idx.len() < 34 || &idx[..9] != MEGATRON_MAGIC {
                return Err(bad("not a Megatron index (no MMIDIDX header)"));
            }
            let u64_at = |at: usize| u64::from_le_bytes(idx[at..at + 8].try_into().expect("8"));
            if u64_at(9) != 1 {
                return Err(bad("Megatron index version is not 1"));
            }
            let code = idx[17];
            if Dtype::from_megatron_code(code) != Some(dtype) {
                return Err(bad(&format!(
                    "dtype code {code} where {dtype:?} was expected"
                )));
            }
            let n = u64_at(18) as usize;
            let doc_count = u64_at(26) as usize;
            let need = 34 + 4 * n + 8 * n + 8 * doc_count;
            if idx.len() != need {
                return Err(bad(&format!(
                    "{} bytes where {need} were expected",
                    idx.len()
                )));
            }
            let ids = payload_of(&bytes)?;
            let mut docs = Vec::with_capacity(n);
            let width = dtype.width() as u64;
            for i in 0..n {
                let size = i32::from_le_bytes(idx[34 + 4 * i..38 + 4 * i].try_into().expect("4"));
                let pointer = u64_at(34 + 4 * n + 8 * i);
                let start = (pointer / width) as usize;
                let end = start + size.max(0) as usize;
                if !pointer.is_multiple_of(width) || end > ids.len() {
                    return Err(bad(&format!("document {i} points outside the .bin")));
                }
                docs.push(ids[start..end].to_vec());
            }
            Ok(docs)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn metric_counts_read_as_datatrove_writes_them() {
        let cases = [
            (0, "0.00 T"),
            (7, "7.00 T"),
            (68, "68.0 T"),
            (999, "999 T"),
            (1_000, "1.00 kT"),
            (7_140_000, "7.14 MT"),
            (71_350_970, "71.4 MT"),
            (999_999, "1.00 MT"),
            (9_995, "9.99 kT"),
        ];
        for (n, text) in cases {
            assert_eq!(super::metric(n, "T"), text, "{n}");
        }
    }
}
