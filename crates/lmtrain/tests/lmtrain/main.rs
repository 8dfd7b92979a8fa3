//! Tests of language-model training.

mod bad_input;
mod chat;
mod common;
mod model;
mod torch;
mod train;
