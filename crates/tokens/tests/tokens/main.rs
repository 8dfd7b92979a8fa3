//! atelier-tokens' tests: the layouts read back, tokenizing with a trained tokenizer and
//! with SmolLM2's, bad input, the store cache, and identity with Python `tokenizers`.

mod bad_input;
mod common;
mod layouts;
mod python;
mod tokenize;
