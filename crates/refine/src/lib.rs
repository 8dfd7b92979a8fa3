//! Refining steps: per-document judgements that keep a document or drop it with the
//! name of the rule that removed it.

mod length;

pub use length::LengthConfig;
