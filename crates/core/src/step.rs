//! Steps: a typed, validated configuration that builds a runtime object.
//!
//! Most steps are per-document: they may rewrite the document and then keep it or drop
//! it with a named reason. The runner, not the step, counts what goes in and out, so a
//! step only says what happened to one document.

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

use crate::Document;

/// What a step decided for one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Pass the (possibly rewritten) document on.
    Keep,
    /// Remove it; the reason names the rule, for example `too_short`.
    Drop(&'static str),
}

/// A step could not process one document. The runner quarantines that document with
/// this message and goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StepError(pub String);

/// The runtime side of a per-document step. One instance serves one task on one thread.
pub trait Step: Send {
    /// Looks at (and may rewrite) one document.
    fn process(&mut self, doc: &mut Document) -> Result<Verdict, StepError>;
}

/// The configuration side of a step: what a recipe's `[[step]]` table deserializes to.
///
/// Every field has a default (`#[serde(default)]` on the struct) and unknown keys are
/// errors (`#[serde(deny_unknown_fields)]`). Doc comments on the fields become the text of
/// `atelier steps`.
pub trait StepConfig:
    Serialize + DeserializeOwned + Default + JsonSchema + Debug + Send + Sync + 'static
{
    /// The `type` that names this step in a recipe.
    const NAME: &'static str;
    /// One line saying what the step does.
    const SUMMARY: &'static str;
    /// The behaviour version: bumped whenever the same settings would give other output.
    const VERSION: u32;

    /// Checks settings that types alone cannot; pushes every problem found.
    fn validate(&self, _problems: &mut Vec<String>) {}

    /// Builds the runtime object for one task. Settings are already validated.
    fn build(&self) -> Result<Box<dyn Step>, String>;
}

/// A step configuration with its type erased, as a parsed recipe holds it.
pub trait ConfiguredStep: Debug + Send + Sync {
    /// The step's recipe name.
    fn name(&self) -> &'static str;
    /// The step's behaviour version.
    fn version(&self) -> u32;
    /// The full settings, defaults included, as JSON.
    fn settings(&self) -> serde_json::Value;
    /// Builds a runtime object for one task.
    fn build(&self) -> Result<Box<dyn Step>, String>;
}

impl<C: StepConfig> ConfiguredStep for C {
    fn name(&self) -> &'static str {
        C::NAME
    }
    fn version(&self) -> u32 {
        C::VERSION
    }
    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("step settings serialize")
    }
    fn build(&self) -> Result<Box<dyn Step>, String> {
        StepConfig::build(self)
    }
}
