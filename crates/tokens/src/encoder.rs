//! A faster encoder for byte-level BPE tokenizers (GPT-2's scheme: SmolLM, Llama 3,
//! Qwen2, and those `atelier tokenizer train` makes), giving the ids of Hugging Face's
//! `tokenizers` at about twice its speed.
//!
//! `tokenizers` builds, for every piece of text, strings with per-byte alignments and an
//! `Encoding` with offsets and token strings, none of which token shards need. This
//! encoder runs the same steps on plain slices: the tokenizer's own split regexes
//! (Oniguruma, through `tokenizers`), the byte-to-character map, and BPE merges in the
//! library's order (lowest rank first, leftmost first), with a cache of the words seen.
//! It takes only tokenizers whose every part it reproduces (no normalizer, splits in
//! `Isolated` mode, `ByteLevel` without prefix space, BPE without dropout, byte fallback
//! or affixes, no added tokens that are not special); the others go through `tokenizers`.
//! The identity is tested on the test texts and on every benchmark text.

use rustc_hash::FxHashMap as HashMap;
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use tokenizers::utils::SysRegex;

/// `tokenizers`' `ByteLevel` split, when its `use_regex` is on.
const BYTE_LEVEL_SPLIT: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// The id of a byte the vocabulary lacks.
const NO_ID: u32 = u32::MAX;

/// Words longer than this (in bytes) are not cached, and go to `tokenizers` whole.
const LONGEST_WORD: usize = 256;

/// The byte-level BPE of one tokenizer, ready to encode.
pub(crate) struct FastBpe {
    /// Split regexes applied one after the other, each to the pieces of the one before.
    splits: Vec<SysRegex>,
    /// The id of each byte's character.
    byte_ids: [u32; 256],
    /// The merges: pair of ids to (rank, merged id).
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// The vocabulary by each token's bytes, for `ignore_merges`.
    whole_words: Option<HashMap<Vec<u8>, u32>>,
}

/// Words already encoded, by their text; one per task.
pub(crate) type WordCache = HashMap<Box<str>, Box<[u32]>>;

impl FastBpe {
    /// The encoder of a `tokenizer.json`, when it has only the parts this one reproduces.
    pub(crate) fn from_json(json: &str) -> Option<FastBpe> {
        let t: Value = serde_json::from_str(json).ok()?;
        if !t["normalizer"].is_null() {
            return None;
        }
        if let Some(added) = t["added_tokens"].as_array()
            && added.iter().any(|a| a["special"] != Value::Bool(true))
        {
            return None;
        }
        let splits = splits(&t["pre_tokenizer"])?;
        let model = &t["model"];
        let empty = |v: &Value| v.is_null() || v.as_str() == Some("");
        if model["type"] != "BPE"
            || !model["dropout"].is_null()
            || model["byte_fallback"] == Value::Bool(true)
            || !empty(&model["continuing_subword_prefix"])
            || !empty(&model["end_of_word_suffix"])
        {
            return None;
        }
        let vocab: HashMap<&str, u32> = model["vocab"]
            .as_object()?
            .iter()
            .map(|(k, v)| Some((k.as_str(), v.as_u64()? as u32)))
            .collect::<Option<_>>()?;
        let chars = byte_chars();
        let mut byte_ids = [0u32; 256];
        for (b, c) in chars.iter().enumerate() {
            // Bytes that never occur in UTF-8 (0xC0, 0xF5...) may have no token.
            byte_ids[b] = vocab.get(c.to_string().as_str()).copied().unwrap_or(NO_ID);
        }
        let mut merges = HashMap::default();
        for (rank, merge) in model["merges"].as_array()?.iter().enumerate() {
            let (a, b) = match merge {
                Value::String(s) => s.split_once(' ')?,
                Value::Array(pair) if pair.len() == 2 => (pair[0].as_str()?, pair[1].as_str()?),
                _ => return None,
            };
            let joined = format!("{a}{b}");
            let ids = (*vocab.get(a)?, *vocab.get(b)?);
            merges.insert(ids, (rank as u32, *vocab.get(joined.as_str())?));
        }
        let whole_words = (model["ignore_merges"] == Value::Bool(true)).then(|| {
            let inverse: HashMap<char, u8> = chars
                .iter()
                .enumerate()
                .map(|(b, c)| (*c, b as u8))
                .collect();
            vocab
                .iter()
                .filter_map(|(token, id)| {
                    let bytes: Option<Vec<u8>> =
                        token.chars().map(|c| inverse.get(&c).copied()).collect();
                    Some((bytes?, *id))
                })
                .collect()
        });
        Some(FastBpe {
            splits,
            byte_ids,
            merges,
            whole_words,
        })
    }

    /// Encodes `text` into `out`; words too long for the cache are handed to `slow`
    /// (`tokenizers` itself, which splits a single word into itself again).
    pub(crate) fn encode(
        &self,
        text: &str,
        cache: &mut WordCache,
        out: &mut Vec<u32>,
        slow: &dyn Fn(&str) -> Result<Vec<u32>, String>,
    ) -> Result<(), String> {
        self.split(0, text, &mut |word| {
            if let Some(ids) = cache.get(word) {
                out.extend_from_slice(ids);
            } else if word.len() > LONGEST_WORD {
                out.extend(slow(word)?);
            } else {
                match self.word(word.as_bytes()) {
                    Some(ids) => {
                        out.extend_from_slice(&ids);
                        cache.insert(word.into(), ids.into_boxed_slice());
                    }
                    None => out.extend(slow(word)?),
                }
            }
            Ok(())
        })
    }

    /// Splits `piece` with regex `level` and the ones after it, as `tokenizers`'
    /// `Split` in `Isolated` mode does: matches and the gaps between them are pieces.
    fn split(
        &self,
        level: usize,
        piece: &str,
        word: &mut dyn FnMut(&str) -> Result<(), String>,
    ) -> Result<(), String> {
        let Some(regex) = self.splits.get(level) else {
            return word(piece);
        };
        let mut at = 0;
        for (start, end) in regex.find_iter(piece) {
            if start > at {
                self.split(level + 1, &piece[at..start], word)?;
            }
            if end > start {
                self.split(level + 1, &piece[start..end], word)?;
            }
            at = end;
        }
        if at < piece.len() {
            self.split(level + 1, &piece[at..], word)?;
        }
        Ok(())
    }

    /// The ids of one word: its bytes' ids merged by rank, lowest first, leftmost first
    /// among equals (as `tokenizers`' `Word::merge_all`).
    /// `None` when a byte has no token: `tokenizers` decides what that gives.
    fn word(&self, bytes: &[u8]) -> Option<Vec<u32>> {
        if let Some(whole) = &self.whole_words
            && let Some(&id) = whole.get(bytes)
        {
            return Some(vec![id]);
        }
        let mut ids: Vec<u32> = bytes.iter().map(|&b| self.byte_ids[b as usize]).collect();
        if ids.contains(&NO_ID) {
            return None;
        }
        let n = ids.len();
        // A linked list over `ids`: merged-away symbols are skipped.
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        let mut queue = BinaryHeap::new();
        for i in 0..n.saturating_sub(1) {
            if let Some(&(rank, new)) = self.merges.get(&(ids[i], ids[i + 1])) {
                queue.push(Reverse((rank, i, new)));
            }
        }
        while let Some(Reverse((_, i, new))) = queue.pop() {
            if !alive[i] || next[i] >= n {
                continue;
            }
            let j = next[i];
            // An entry made stale by an earlier merge at either side.
            if self.merges.get(&(ids[i], ids[j])).map(|m| m.1) != Some(new) {
                continue;
            }
            ids[i] = new;
            alive[j] = false;
            next[i] = next[j];
            if next[i] < n {
                prev[next[i]] = i;
            }
            if prev[i] < n
                && let Some(&(rank, merged)) = self.merges.get(&(ids[prev[i]], ids[i]))
            {
                queue.push(Reverse((rank, prev[i], merged)));
            }
            if next[i] < n
                && let Some(&(rank, merged)) = self.merges.get(&(ids[i], ids[next[i]]))
            {
                queue.push(Reverse((rank, i, merged)));
            }
        }
        Some(
            ids.into_iter()
                .zip(alive)
                .filter_map(|(id, keep)| keep.then_some(id))
                .collect(),
        )
    }
}

/// The split regexes of a pre-tokenizer this encoder reproduces.
fn splits(pre: &Value) -> Option<Vec<SysRegex>> {
    let parts: Vec<&Value> = match pre["type"].as_str()? {
        "Sequence" => pre["pretokenizers"].as_array()?.iter().collect(),
        _ => vec![pre],
    };
    let (last, splits) = parts.split_last()?;
    if last["type"] != "ByteLevel" || last["add_prefix_space"] == Value::Bool(true) {
        return None;
    }
    let mut regexes = Vec::new();
    for split in splits {
        if split["type"] != "Split" || split["behavior"] != "Isolated" || split["invert"] == true {
            return None;
        }
        let pattern = split["pattern"]["Regex"].as_str()?;
        regexes.push(SysRegex::new(pattern).ok()?);
    }
    if last["use_regex"] != Value::Bool(false) {
        regexes.push(SysRegex::new(BYTE_LEVEL_SPLIT).ok()?);
    }
    Some(regexes)
}

/// GPT-2's map from bytes to printable characters.
fn byte_chars() -> [char; 256] {
    let mut chars = ['\0'; 256];
    let mut extra = 0;
    for b in 0..=255u32 {
        let printable = matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
        chars[b as usize] = if printable {
            char::from_u32(b).expect("a Latin-1 character")
        } else {
            extra += 1;
            char::from_u32(255 + extra).expect("a valid character")
        };
    }
    chars
}
