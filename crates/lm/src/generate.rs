//! The generation loop: prompt in, tokens out one at a time to a callback that may stop
//! it, with stop sequences, the token limit, the context limit and log-probabilities.

use serde::Serialize;
use std::time::Instant;

use crate::LmError;
use crate::model::{Session, log_softmax, rows};
use crate::sample::{Sampler, Sampling, TokenLogprob, top_logprobs};
use crate::tokenizer::Tokenizer;

/// Most stop sequences a request may give (OpenAI's limit).
pub const MAX_STOPS: usize = 4;

/// What to generate.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The prompt's tokens.
    pub prompt: Vec<u32>,
    /// Most tokens to generate; `None`: up to the context.
    pub max_tokens: Option<usize>,
    /// How tokens are chosen.
    pub sampling: Sampling,
    /// Texts that end the answer (not included in it).
    pub stop: Vec<String>,
    /// Report the chosen token's log-probability and this many alternatives (`Some(0)`:
    /// the chosen one only).
    pub logprobs: Option<usize>,
    /// Report the log-probability of every prompt token given the ones before it.
    pub prompt_logprobs: bool,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Finish {
    /// The model ended its answer, or a stop sequence came.
    Stop,
    /// The token limit or the context was reached.
    Length,
    /// The callback asked to stop (a client went away).
    Cancelled,
}

impl Finish {
    /// OpenAI's `finish_reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Finish::Stop | Finish::Cancelled => "stop",
            Finish::Length => "length",
        }
    }
}

/// A generated token's log-probabilities.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    /// The chosen token and its log-probability.
    pub chosen: TokenLogprob,
    /// The most likely tokens at that step.
    pub top: Vec<TokenLogprob>,
}

/// One step handed to the callback.
#[derive(Debug)]
pub struct Delta<'a> {
    /// The token generated.
    pub token: u32,
    /// Text that became final with it (may be empty: a partial UTF-8 character or a
    /// possible start of a stop sequence is held back).
    pub text: &'a str,
    /// Its log-probabilities, when asked for.
    pub logprobs: Option<&'a Choice>,
}

/// Timings of one generation, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timing {
    /// Reading the prompt (to the first token's logits).
    pub prefill_seconds: f64,
    /// Generating the rest.
    pub decode_seconds: f64,
    /// From the start to the first generated token.
    pub first_token_seconds: f64,
}

/// A finished generation.
#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    /// The answer (stop sequence excluded).
    pub text: String,
    /// The generated token ids (the end-of-generation token excluded).
    pub tokens: Vec<u32>,
    /// Why it ended.
    pub finish: Finish,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Per generated token, when asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logprobs: Vec<Choice>,
    /// Per prompt token (`None` for the first), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_logprobs: Option<Vec<Option<f32>>>,
    /// How long it took.
    pub timing: Timing,
}

/// Text that is final: complete UTF-8 characters not possibly the start of a stop.
#[derive(Debug, Default)]
struct TextOut {
    bytes: Vec<u8>,
    /// Bytes of `bytes` already handed out.
    sent: usize,
}

impl TextOut {
    /// Adds a token's bytes; returns whether a stop sequence now appears (the text is
    /// cut before it).
    fn push(&mut self, piece: &[u8], stops: &[String]) -> bool {
        self.bytes.extend_from_slice(piece);
        for stop in stops {
            // Only where the new bytes could complete it.
            let from = self.sent.saturating_sub(stop.len());
            if let Some(at) = memfind(&self.bytes[from..], stop.as_bytes()) {
                self.bytes.truncate(from + at);
                return true;
            }
        }
        false
    }

    /// The next final text: up to the last complete character, short of any suffix
    /// that could begin a stop sequence (unless `end`). Bytes that are not UTF-8 are
    /// replaced as `String::from_utf8_lossy` replaces them in the whole text.
    fn take(&mut self, stops: &[String], end: bool) -> std::borrow::Cow<'_, str> {
        let mut upto = self.bytes.len();
        if !end {
            upto = complete_utf8(&self.bytes);
            for stop in stops {
                let s = stop.as_bytes();
                for keep in (1..s.len()).rev() {
                    if upto >= keep && self.bytes[..upto].ends_with(&s[..keep]) {
                        upto -= keep;
                        break;
                    }
                }
            }
        }
        let upto = upto.max(self.sent);
        let start = self.sent;
        self.sent = upto;
        String::from_utf8_lossy(&self.bytes[start..upto])
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The length of the longest prefix of `bytes` that ends on a character boundary.
fn complete_utf8(bytes: &[u8]) -> usize {
    let n = bytes.len();
    for back in 1..=n.min(4) {
        let b = bytes[n - back];
        if b & 0xC0 != 0x80 {
            let width = match b {
                0x00..=0x7F => 1,
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            return if back >= width { n } else { n - back };
        }
    }
    n
}

/// Generates from a prompt on `session` (which must be empty), calling `on_token` for
/// each generated token; `on_token` returning `false` stops at once.
pub fn generate(
    session: &mut Session,
    tokenizer: &Tokenizer,
    context: usize,
    request: &Request,
    mut on_token: impl FnMut(Delta<'_>) -> bool,
) -> Result<Generated, LmError> {
    request.sampling.check().map_err(LmError::Input)?;
    if request.stop.len() > MAX_STOPS {
        return Err(LmError::Input(format!(
            "{} stop sequences; at most {MAX_STOPS}",
            request.stop.len()
        )));
    }
    let prompt = &request.prompt;
    if prompt.is_empty() {
        return Err(LmError::Input("the prompt has no tokens".into()));
    }
    if request.max_tokens == Some(0) {
        return Err(LmError::Input("max_tokens must be at least 1".into()));
    }
    let fits = match request.max_tokens {
        Some(m) => prompt.len() + m <= context,
        None => prompt.len() < context,
    };
    if !fits {
        return Err(LmError::Context {
            prompt: prompt.len(),
            max_tokens: request.max_tokens,
            context,
        });
    }
    let max_tokens = request.max_tokens.unwrap_or(context - prompt.len());
    let stops: Vec<String> = request
        .stop
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
    let started = Instant::now();
    session.reset();
    let logits = session.feed(prompt, request.prompt_logprobs)?;
    let mut table = rows(&logits)?;
    let prompt_logprobs = request.prompt_logprobs.then(|| {
        let mut out = vec![None];
        for (i, row) in table.iter().enumerate().take(prompt.len() - 1) {
            let lp = log_softmax(row);
            out.push(Some(lp[prompt[i + 1] as usize]));
        }
        out
    });
    let mut last = table.pop().expect("one row per fed position");
    let prefill = started.elapsed().as_secs_f64();
    let mut timing = Timing {
        prefill_seconds: prefill,
        ..Timing::default()
    };
    let mut sampler = Sampler::new(request.sampling.clone());
    let mut out = TextOut::default();
    let mut tokens = Vec::new();
    let mut choices = Vec::new();
    let mut history: Vec<u32> = prompt.clone();
    let finish = loop {
        let token = sampler.sample(&last, &history);
        if tokens.is_empty() {
            timing.first_token_seconds = started.elapsed().as_secs_f64();
        }
        if tokenizer.end_of_generation.contains(&token) {
            break Finish::Stop;
        }
        let choice = request.logprobs.map(|n| {
            let lp = log_softmax(&last);
            Choice {
                chosen: TokenLogprob {
                    token,
                    logprob: lp[token as usize],
                },
                top: top_logprobs(&lp, n),
            }
        });
        tokens.push(token);
        history.push(token);
        let piece: &[u8] = if tokenizer.is_control(token) {
            &[]
        } else {
            tokenizer.piece(token)
        };
        let stopped = out.push(piece, &stops);
        let more = on_token(Delta {
            token,
            text: &out.take(&stops, stopped),
            logprobs: choice.as_ref(),
        });
        choices.extend(choice);
        if stopped {
            break Finish::Stop;
        }
        if !more {
            break Finish::Cancelled;
        }
        if tokens.len() >= max_tokens || session.tokens().len() >= context {
            break Finish::Length;
        }
        last = rows(&session.feed(&[token], false)?)?
            .pop()
            .expect("one row");
    };
    // What was held back as a possible stop is final now.
    if finish == Finish::Length {
        let rest = out.take(&stops, true).into_owned();
        if !rest.is_empty() {
            on_token(Delta {
                token: *tokens.last().unwrap_or(&0),
                text: &rest,
                logprobs: None,
            });
        }
    }
    timing.decode_seconds = started.elapsed().as_secs_f64() - prefill;
    Ok(Generated {
        text: out.text(),
        tokens,
        finish,
        prompt_tokens: prompt.len(),
        logprobs: choices,
        prompt_logprobs,
        timing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_held_back_while_it_may_start_a_stop() {
        let stops = vec!["END".to_owned()];
        let mut t = TextOut::default();
        assert!(!t.push(b"hello E", &stops));
        assert_eq!(t.take(&stops, false), "hello ");
        assert!(!t.push(b"N", &stops));
        assert_eq!(t.take(&stops, false), "");
        assert!(t.push(b"D more", &stops));
        assert_eq!(t.take(&stops, true), "");
        assert_eq!(t.text(), "hello ");
    }

    #[test]
    fn a_false_start_is_released() {
        let stops = vec!["END".to_owned()];
        let mut t = TextOut::default();
        t.push(b"EN", &stops);
        assert_eq!(t.take(&stops, false), "");
        t.push(b"x", &stops);
        assert_eq!(t.take(&stops, false), "ENx");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_replaced_as_in_the_whole_text() {
        let mut t = TextOut::default();
        let mut streamed = String::new();
        for piece in [
            &b"5"[..],
            &[0xE2],
            b"*",
            &[0xFF],
            b" w",
            &[0xE2, 0x82],
            &[0xAC],
        ] {
            t.push(piece, &[]);
            streamed.push_str(&t.take(&[], false));
        }
        streamed.push_str(&t.take(&[], true));
        assert_eq!(streamed, t.text());
        assert_eq!(streamed, "5\u{FFFD}*\u{FFFD} w\u{20AC}");
    }

    #[test]
    fn split_characters_wait_for_their_last_byte() {
        let mut t = TextOut::default();
        let e = "é".as_bytes();
        t.push(&e[..1], &[]);
        assert_eq!(t.take(&[], false), "");
        t.push(&e[1..], &[]);
        assert_eq!(t.take(&[], false), "é");
    }
}
