//! Tokenizers: Hugging Face's `tokenizers` built from a GGUF file's `tokenizer.ggml.*`
//! metadata the way llama.cpp reads it, or loaded from a `tokenizer.json`.
//!
//! Two ways to encode, as in llama.cpp:
//! - [`Tokenizer::encode`]: text is text. Control tokens (`<|im_start|>`) written in it
//!   are spelled out piece by piece, never produced: what users type goes through here.
//! - [`Tokenizer::encode_special`]: control tokens written in the text become their
//!   ids, the rest is encoded as above: for chat templates and raw prompts.
//!
//! Pre-tokenization is llama.cpp's per `tokenizer.ggml.pre`: a sequence of regexes, each
//! splitting the pieces of the one before (matches and gaps both kept), then byte-level
//! BPE on each piece. candle's GGUF tokenizer ignores `tokenizer.ggml.pre` and prepends
//! a space; this one does not.

use aho_corasick::{AhoCorasick, MatchKind};
use std::collections::HashMap;
use std::path::Path;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior};

use crate::LmError;
use crate::gguf::GgufFile;

/// GGUF token types (`tokenizer.ggml.token_type`).
const TYPE_CONTROL: i64 = 3;
const TYPE_USER_DEFINED: i64 = 4;

/// llama.cpp's pre-tokenizer regexes for the `tokenizer.ggml.pre` values supported.
fn pre_regexes(pre: &str) -> Option<&'static [&'static str]> {
    const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
    Some(match pre {
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva" => {
            &[r"\p{N}", GPT2]
        }
        "gpt-2" | "gpt2" | "mpt" | "olmo" | "jais" => &[GPT2],
        "llama-bpe" | "llama3" | "falcon3" | "pixtral" => &[
            r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ],
        "qwen2" | "deepseek-r1-qwen" => &[
            r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ],
        "default" => &[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"],
        _ => return None,
    })
}

/// The `tokenizer.ggml.pre` values this engine tokenizes exactly as llama.cpp does.
pub const SUPPORTED_PRE: &str =
    "smollm, starcoder, gpt2, llama-bpe, qwen2, default (and absent: default)";

/// Text that ends generation when a model emits it as a control token, as llama.cpp's
/// end-of-generation list.
const END_OF_GENERATION: [&str; 8] = [
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "<|end_of_text|>",
];

/// A tokenizer with what generation and chat templates need to know about it.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Control tokens by their text, for [`Tokenizer::encode_special`].
    controls: Option<(AhoCorasick, Vec<u32>)>,
    /// The bytes each token stands for when decoded (control tokens: their text).
    pieces: Vec<Vec<u8>>,
    control: Vec<bool>,
    /// Beginning-of-sequence token, if the model has one.
    pub bos: Option<u32>,
    /// End-of-sequence token, if the model has one.
    pub eos: Option<u32>,
    /// Whether prompts start with BOS (`tokenizer.ggml.add_bos_token`).
    pub add_bos: bool,
    /// Tokens that end generation.
    pub end_of_generation: Vec<u32>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab", &self.pieces.len())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish_non_exhaustive()
    }
}

fn tk_err(path: &Path) -> impl Fn(tokenizers::Error) -> LmError + '_ {
    move |e| LmError::Tokenizer {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// GPT-2's map from bytes to printable characters, inverted.
fn byte_level_inverse() -> HashMap<char, u8> {
    let mut printable: Vec<u32> = (b'!'..=b'~')
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .map(u32::from)
        .collect();
    let mut chars: Vec<u32> = printable.clone();
    let mut n = 0;
    for b in 0..=255u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + n);
            n += 1;
        }
    }
    printable
        .into_iter()
        .zip(chars)
        .map(|(b, c)| (char::from_u32(c).expect("valid"), b as u8))
        .collect()
}

/// The bytes of a byte-level BPE token (`Ġworld` is ` world`).
fn byte_level_bytes(token: &str, inverse: &HashMap<char, u8>) -> Vec<u8> {
    token
        .chars()
        .map(|c| inverse.get(&c).copied())
        .collect::<Option<Vec<u8>>>()
        .unwrap_or_else(|| token.as_bytes().to_vec())
}

/// The bytes of a SentencePiece token (`▁world` is ` world`, `<0x0A>` a newline).
fn sentencepiece_bytes(token: &str) -> Vec<u8> {
    if let Some(hex) = token
        .strip_prefix("<0x")
        .and_then(|t| t.strip_suffix('>'))
        .filter(|h| h.len() == 2)
        && let Ok(b) = u8::from_str_radix(hex, 16)
    {
        return vec![b];
    }
    token.replace('\u{2581}', " ").into_bytes()
}

impl Tokenizer {
    /// The tokenizer a GGUF file describes.
    pub fn from_gguf(gguf: &GgufFile) -> Result<Tokenizer, LmError> {
        let path = gguf.path.as_path();
        let missing = |key: &str| LmError::Metadata {
            path: path.to_path_buf(),
            key: key.to_owned(),
            message: "is missing: the file carries no tokenizer (put a tokenizer.json \
                      beside it)"
                .into(),
        };
        let model = gguf
            .string("tokenizer.ggml.model")?
            .ok_or_else(|| missing("tokenizer.ggml.model"))?;
        let tokens = gguf
            .strings("tokenizer.ggml.tokens")?
            .ok_or_else(|| missing("tokenizer.ggml.tokens"))?;
        let types = gguf
            .ints("tokenizer.ggml.token_type")?
            .unwrap_or_else(|| vec![1; tokens.len()]);
        if types.len() != tokens.len() {
            return Err(LmError::Metadata {
                path: path.to_path_buf(),
                key: "tokenizer.ggml.token_type".into(),
                message: format!("has {} entries for {} tokens", types.len(), tokens.len()),
            });
        }
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| ((*t).to_owned(), i as u32))
            .collect();
        let id = |key: &str| -> Result<Option<u32>, LmError> {
            Ok(gguf
                .uint(key)?
                .map(|n| n as u32)
                .filter(|&n| (n as usize) < tokens.len()))
        };
        let (mut inner, pieces) = match model {
            "gpt2" => {
                let merges = gguf
                    .strings("tokenizer.ggml.merges")?
                    .ok_or_else(|| missing("tokenizer.ggml.merges"))?;
                let merges = merges
                    .iter()
                    .map(|m| {
                        m.split_once(' ')
                            .map(|(a, b)| (a.to_owned(), b.to_owned()))
                            .ok_or_else(|| LmError::Metadata {
                                path: path.to_path_buf(),
                                key: "tokenizer.ggml.merges".into(),
                                message: format!("merge {m:?} is not two tokens"),
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let pre = gguf.string("tokenizer.ggml.pre")?.unwrap_or("default");
                let regexes = pre_regexes(pre).ok_or_else(|| LmError::Unsupported {
                    path: path.to_path_buf(),
                    what: format!(
                        "tokenizer.ggml.pre = `{pre}`; supported: {SUPPORTED_PRE} (or put \
                         a tokenizer.json beside the model)"
                    ),
                })?;
                let bpe = BPE::builder()
                    .vocab_and_merges(vocab, merges)
                    .ignore_merges(matches!(pre, "llama-bpe" | "llama3"))
                    .build()
                    .map_err(|e| LmError::Tokenizer {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    })?;
                let mut steps: Vec<PreTokenizerWrapper> = Vec::new();
                for r in regexes {
                    let split = Split::new(
                        SplitPattern::Regex((*r).to_owned()),
                        SplitDelimiterBehavior::Isolated,
                        false,
                    )
                    .map_err(tk_err(path))?;
                    steps.push(split.into());
                }
                steps.push(ByteLevel::new(false, false, false).into());
                let mut t = tokenizers::Tokenizer::new(bpe);
                t.with_pre_tokenizer(Some(Sequence::new(steps)));
                t.with_decoder(Some(ByteLevelDecoder::default()));
                let inverse = byte_level_inverse();
                let pieces = tokens
                    .iter()
                    .zip(&types)
                    .map(|(t, &ty)| match ty {
                        TYPE_CONTROL | TYPE_USER_DEFINED => t.as_bytes().to_vec(),
                        _ => byte_level_bytes(t, &inverse),
                    })
                    .collect();
                (t, pieces)
            }
            "llama" => {
                let scores = gguf
                    .floats("tokenizer.ggml.scores")?
                    .ok_or_else(|| missing("tokenizer.ggml.scores"))?;
                let merges = sentencepiece_merges(&tokens, &scores, &types);
                let unk = id("tokenizer.ggml.unknown_token_id")?
                    .map_or_else(|| "<unk>".to_owned(), |i| tokens[i as usize].to_owned());
                let bpe = BPE::builder()
                    .vocab_and_merges(vocab, merges)
                    .byte_fallback(true)
                    .unk_token(unk)
                    .build()
                    .map_err(|e| LmError::Tokenizer {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    })?;
                let mut t = tokenizers::Tokenizer::new(bpe);
                let space = Replace::new(" ", "\u{2581}").map_err(tk_err(path))?;
                let normalizer = if gguf
                    .bool("tokenizer.ggml.add_space_prefix")?
                    .unwrap_or(true)
                {
                    NormalizerSequence::new(vec![
                        Prepend::new("\u{2581}".into()).into(),
                        space.into(),
                    ])
                } else {
                    NormalizerSequence::new(vec![space.into()])
                };
                t.with_normalizer(Some(normalizer));
                let pieces = tokens
                    .iter()
                    .zip(&types)
                    .map(|(t, &ty)| match ty {
                        TYPE_CONTROL | TYPE_USER_DEFINED => t.as_bytes().to_vec(),
                        _ => sentencepiece_bytes(t),
                    })
                    .collect();
                (t, pieces)
            }
            other => {
                return Err(LmError::Unsupported {
                    path: path.to_path_buf(),
                    what: format!(
                        "tokenizer.ggml.model = `{other}`; supported: gpt2 (byte-level \
                         BPE) and llama (SentencePiece)"
                    ),
                });
            }
        };
        // Control tokens are special (matched only by `encode_special`); user-defined
        // tokens are always matched, as llama.cpp does.
        let added: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, ty)| matches!(**ty, TYPE_CONTROL | TYPE_USER_DEFINED))
            .map(|(t, ty)| AddedToken::from((*t).to_owned(), *ty == TYPE_CONTROL))
            .collect();
        inner.add_tokens(&added);
        inner.set_encode_special_tokens(true);
        let control: Vec<bool> = types.iter().map(|&t| t == TYPE_CONTROL).collect();
        let bos = id("tokenizer.ggml.bos_token_id")?;
        let eos = id("tokenizer.ggml.eos_token_id")?;
        let mut end_of_generation: Vec<u32> = [
            eos,
            id("tokenizer.ggml.eot_token_id")?,
            id("tokenizer.ggml.eom_token_id")?,
        ]
        .into_iter()
        .flatten()
        .collect();
        for (i, t) in tokens.iter().enumerate() {
            if control[i] && END_OF_GENERATION.contains(t) {
                end_of_generation.push(i as u32);
            }
        }
        end_of_generation.sort_unstable();
        end_of_generation.dedup();
        let control_texts: Vec<(String, u32)> = tokens
            .iter()
            .enumerate()
            .filter(|(i, t)| control[*i] && !t.is_empty())
            .map(|(i, t)| ((*t).to_owned(), i as u32))
            .collect();
        Ok(Tokenizer {
            controls: control_matcher(control_texts),
            add_bos: gguf
                .bool("tokenizer.ggml.add_bos_token")?
                .unwrap_or(model == "llama"),
            inner,
            pieces,
            control,
            bos,
            eos,
            end_of_generation,
        })
    }

    /// A tokenizer from a `tokenizer.json`; special token ids come from the GGUF file
    /// when one is given.
    pub fn from_json(path: &Path, gguf: Option<&GgufFile>) -> Result<Tokenizer, LmError> {
        // The tokenizers library panics on some files it cannot parse (found by
        // fuzzing: a malformed decoder, a subword prefix longer than a merge): a panic
        // there is this file's error, not ours.
        let loaded = std::panic::catch_unwind(|| tokenizers::Tokenizer::from_file(path))
            .unwrap_or_else(|panic| {
                let why = crate::panic_message(panic.as_ref());
                Err(format!("the tokenizers library failed to parse it: {why}").into())
            });
        let mut inner = loaded.map_err(|e| LmError::Tokenizer {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        inner.set_encode_special_tokens(true);
        let size = inner.get_vocab_size(true);
        let added = inner.get_added_tokens_decoder();
        let byte_level = inner
            .get_decoder()
            .and_then(|d| serde_json::to_string(d).ok())
            .is_some_and(|d| d.contains("ByteLevel"));
        let inverse = byte_level_inverse();
        let mut pieces = vec![Vec::new(); size];
        let mut control = vec![false; size];
        for (id, piece) in pieces.iter_mut().enumerate() {
            let id = id as u32;
            if let Some(a) = added.get(&id) {
                *piece = a.content.as_bytes().to_vec();
                control[id as usize] = a.special;
            } else if let Some(t) = inner.id_to_token(id) {
                *piece = if byte_level {
                    byte_level_bytes(&t, &inverse)
                } else {
                    sentencepiece_bytes(&t)
                };
            }
        }
        let from_gguf = |key: &str| -> Result<Option<u32>, LmError> {
            Ok(match gguf {
                Some(g) => g.uint(key)?.map(|n| n as u32),
                None => None,
            })
        };
        let named = |names: &[&str]| {
            names.iter().find_map(|n| {
                // An added token's id may lie past the vocabulary (found by fuzzing).
                inner
                    .token_to_id(n)
                    .filter(|id| control.get(*id as usize).copied().unwrap_or(false))
            })
        };
        let bos = from_gguf("tokenizer.ggml.bos_token_id")?
            .or_else(|| named(&["<|begin_of_text|>", "<s>", "<|im_start|>"]));
        let eos = from_gguf("tokenizer.ggml.eos_token_id")?
            .or_else(|| named(&["<|im_end|>", "<|eot_id|>", "</s>", "<|endoftext|>"]));
        let mut end_of_generation: Vec<u32> = eos.into_iter().collect();
        for (id, a) in &added {
            if a.special && END_OF_GENERATION.contains(&a.content.as_str()) {
                end_of_generation.push(*id);
            }
        }
        end_of_generation.sort_unstable();
        end_of_generation.dedup();
        let control_texts = added
            .iter()
            .filter(|(_, a)| a.special && !a.content.is_empty())
            .map(|(id, a)| (a.content.clone(), *id))
            .collect();
        Ok(Tokenizer {
            controls: control_matcher(control_texts),
            add_bos: match gguf {
                Some(g) => g.bool("tokenizer.ggml.add_bos_token")?.unwrap_or(false),
                None => false,
            },
            inner,
            pieces,
            control,
            bos,
            eos,
            end_of_generation,
        })
    }

    /// Encodes text as text: control tokens written in it are not produced.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        self.inner
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| LmError::Input(format!("tokenizing: {e}")))
    }

    /// Encodes text in which control tokens (`<|im_start|>`) stand for themselves.
    pub fn encode_special(&self, text: &str) -> Result<Vec<u32>, LmError> {
        let Some((matcher, ids)) = &self.controls else {
            return self.encode(text);
        };
        let mut out = Vec::new();
        let mut at = 0;
        for m in matcher.find_iter(text) {
            out.extend(self.encode(&text[at..m.start()])?);
            out.push(ids[m.pattern().as_usize()]);
            at = m.end();
        }
        out.extend(self.encode(&text[at..])?);
        Ok(out)
    }

    /// The bytes a token stands for (a control token's text); empty for unknown ids.
    pub fn piece(&self, id: u32) -> &[u8] {
        self.pieces.get(id as usize).map_or(&[], Vec::as_slice)
    }

    /// Whether a token is a control token.
    pub fn is_control(&self, id: u32) -> bool {
        self.control.get(id as usize).copied().unwrap_or(false)
    }

    /// The text of tokens (control tokens left out; invalid UTF-8 replaced).
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .filter(|&&id| !self.is_control(id))
            .flat_map(|&id| self.piece(id).iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The text of a token as a chat template names it (`bos_token`).
    pub fn token_text(&self, id: Option<u32>) -> String {
        id.map(|id| String::from_utf8_lossy(self.piece(id)).into_owned())
            .unwrap_or_default()
    }

    /// The tokenizer as a `tokenizer.json` (Hugging Face's format, which Python
    /// `tokenizers` and `transformers` load as it is).
    pub fn to_json(&self) -> Result<String, LmError> {
        self.inner
            .to_string(false)
            .map_err(|e| LmError::Input(format!("serializing the tokenizer: {e}")))
    }

    /// The id of a token written as its text (`<|endoftext|>`), if the vocabulary has it.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.inner.token_to_id(text)
    }

    /// `ids` with BOS first when the model wants it and they do not start with it.
    pub fn with_bos(&self, mut ids: Vec<u32>) -> Vec<u32> {
        if let Some(bos) = self.bos
            && self.add_bos
            && ids.first() != Some(&bos)
        {
            ids.insert(0, bos);
        }
        ids
    }

    /// The number of tokens.
    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }
}

fn control_matcher(texts: Vec<(String, u32)>) -> Option<(AhoCorasick, Vec<u32>)> {
    if texts.is_empty() {
        return None;
    }
    let (patterns, ids): (Vec<String>, Vec<u32>) = texts.into_iter().unzip();
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .build(&patterns)
        .ok()
        .map(|m| (m, ids))
}

/// BPE merges equivalent to SentencePiece's score order: every split of a token into two
/// tokens is a merge, ranked by the merged token's score (highest first), as Hugging
/// Face's converter derives them.
fn sentencepiece_merges(tokens: &[&str], scores: &[f32], types: &[i64]) -> Vec<(String, String)> {
    let index: HashMap<&str, usize> = tokens.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let mut merges: Vec<(f32, usize, usize, String, String)> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if types.get(i).copied().unwrap_or(1) != 1 {
            continue;
        }
        for (cut, _) in token.char_indices().skip(1) {
            let (a, b) = token.split_at(cut);
            if let (Some(&ia), Some(&ib)) = (index.get(a), index.get(b)) {
                merges.push((
                    scores.get(i).copied().unwrap_or(0.0),
                    ia,
                    ib,
                    a.into(),
                    b.into(),
                ));
            }
        }
    }
    merges.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    merges.into_iter().map(|m| (m.3, m.4)).collect()
}
