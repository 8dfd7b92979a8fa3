//! Instruction tuning data: conversations in OpenAI's `messages` shape, one JSON object
//! per line, rendered with the base model's own chat template and tokenizer, of which
//! only the assistant's turns are learned (the loss mask is 1 on their tokens, the
//! template's end of turn included, so the model learns where to stop).
//!
//! An assistant turn's tokens are those between the conversation rendered up to the turn
//! with the generation prompt and rendered through the turn: exactly what the model is
//! asked to produce when served. A conversation whose renderings are not prefixes of
//! one another (a template that rewrites earlier turns) cannot be masked this way and
//! is skipped with its reason, as are lines that are not conversations.

use atelier_lm::{ChatTemplate, Message, Tokenizer};
use serde::Deserialize;
use std::path::{Path, PathBuf};

use crate::LmTrainError;
use crate::data::Stream;

/// Conversations read for training.
#[derive(Debug, Default)]
pub struct Chats {
    /// Training conversations, end to end, with their mask.
    pub train: Stream,
    /// Held-out conversations.
    pub validation: Stream,
    /// Lines skipped, each as `file:line: reason`.
    pub skipped: Vec<String>,
}

#[derive(Deserialize)]
struct Line {
    id: Option<serde_json::Value>,
    messages: Vec<Message>,
}

/// The tokens of one conversation and their mask (1 on the assistant's tokens).
pub fn conversation(
    template: &ChatTemplate,
    tokenizer: &Tokenizer,
    messages: &[Message],
) -> Result<(Vec<u32>, Vec<u8>), String> {
    if !messages.iter().any(|m| m.role == "assistant") {
        return Err("no assistant message to learn".into());
    }
    let render = |upto: usize, prompt: bool| -> Result<Vec<u32>, String> {
        let rendered = template
            .render(&messages[..upto], prompt)
            .map_err(|e| e.to_string())?;
        let ids = rendered.tokens(tokenizer).map_err(|e| e.to_string())?;
        Ok(tokenizer.with_bos(ids))
    };
    let all = render(messages.len(), false)?;
    let mut mask = vec![0u8; all.len()];
    for (i, m) in messages.iter().enumerate() {
        if m.role != "assistant" {
            continue;
        }
        let prompt = render(i, true)?;
        let through = render(i + 1, false)?;
        if !through.starts_with(&prompt) || !all.starts_with(&through) {
            return Err(format!(
                "the chat template does not render turn {} as a continuation of the turns \
                 before it",
                i + 1
            ));
        }
        mask[prompt.len()..through.len()].fill(1);
    }
    Ok((all, mask))
}

/// Reads conversation files; a share `validation` of them (by a hash of each line's
/// `id`, else of its file name and line number) is held out.
pub fn read(
    files: &[PathBuf],
    template: &ChatTemplate,
    tokenizer: &Tokenizer,
    validation: f64,
) -> Result<Chats, LmTrainError> {
    let mut chats = Chats::default();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| LmTrainError::io(file, e))?;
        let name = file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = |reason: String| format!("{}:{}: {reason}", file.display(), n + 1);
            let parsed: Line = match serde_json::from_str(line) {
                Ok(l) => l,
                Err(e) => {
                    chats.skipped.push(at(format!("not a conversation: {e}")));
                    continue;
                }
            };
            let (ids, mask) = match conversation(template, tokenizer, &parsed.messages) {
                Ok(c) => c,
                Err(reason) => {
                    chats.skipped.push(at(reason));
                    continue;
                }
            };
            let id = match &parsed.id {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => format!("{name}:{}", n + 1),
            };
            let stream = match atelier_core::split_of(&id, validation, 0.0) {
                atelier_core::Split::Validation => &mut chats.validation,
                _ => &mut chats.train,
            };
            stream.tokens.extend(ids);
            stream.mask.get_or_insert_with(Vec::new).extend(mask);
            stream.documents += 1;
        }
    }
    if chats.train.documents == 0 {
        return Err(LmTrainError::Data(format!(
            "no conversation to train on in {}{}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            chats
                .skipped
                .first()
                .map_or(String::new(), |s| format!(" (first skipped: {s})"))
        )));
    }
    Ok(chats)
}

/// The chat template of a base model: a GGUF file's own (ChatML when it has none).
pub fn template_of(
    base: &Path,
    gguf: Option<&atelier_lm::GgufFile>,
    tokenizer: &Tokenizer,
) -> Result<ChatTemplate, LmTrainError> {
    match gguf {
        Some(g) => Ok(ChatTemplate::from_gguf(g, tokenizer)?.template),
        None => Err(LmTrainError::BadModel {
            path: base.to_path_buf(),
            message: "instruction tuning needs the base's chat template: give a GGUF base".into(),
        }),
    }
}
