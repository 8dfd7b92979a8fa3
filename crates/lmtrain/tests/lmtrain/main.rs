//! Tests of language-model training, and the pinned format of its checkpoints.

mod bad_input;
mod chat;
mod common;
mod formats;
mod model;
mod torch;
mod train;
