//! atelier-tokens' tests: the layouts read back, tokenizing with a trained tokenizer and
//! with SmolLM2's, bad input, the store cache, identity with Python `tokenizers`, and the
//! pinned format of the index.

mod bad_input;
mod common;
mod formats;
mod layouts;
mod python;
mod tokenize;
