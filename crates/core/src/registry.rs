//! The one list of steps. It drives recipe parsing, `atelier steps`, the docs and the
//! example recipe, so a step registered here is usable everywhere at once.

use serde::de::IntoDeserializer;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;
use toml::Spanned;
use toml::de::DeValue;

use crate::step::{ConfiguredStep, StepConfig};

/// Parses one step table (without its `type` key) into a validated configuration, paths
/// resolved against the recipe's folder.
type ParseFn = fn(Spanned<DeValue<'_>>, &Path) -> Result<Box<dyn ConfiguredStep>, ParseError>;

/// Why a step table did not parse.
#[derive(Debug)]
pub enum ParseError {
    /// The TOML did not fit the step's settings (unknown key, wrong type).
    Toml(toml::de::Error),
    /// The settings fit but do not make sense together.
    Invalid(Vec<String>),
}

/// One registered step type.
#[derive(Clone, Copy)]
pub struct StepKind {
    /// The `type` name in recipes.
    pub name: &'static str,
    /// What the step does, in one line.
    pub summary: &'static str,
    /// The behaviour version.
    pub version: u32,
    parse: ParseFn,
    defaults: fn() -> Value,
    schema: fn() -> Value,
}

/// One setting of a step, as `atelier steps` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The key in the step's table.
    pub key: String,
    /// The JSON schema type (`integer`, `string`, ...), or `value` when mixed.
    pub kind: String,
    /// The default, as TOML.
    pub default: String,
    /// The field's doc comment.
    pub doc: String,
}

impl StepKind {
    /// The kind for one configuration type.
    pub fn of<C: StepConfig>() -> Self {
        StepKind {
            name: C::NAME,
            summary: C::SUMMARY,
            version: C::VERSION,
            parse: parse_config::<C>,
            defaults: || serde_json::to_value(C::default()).expect("defaults serialize"),
            schema: || schemars::schema_for!(C).to_value(),
        }
    }

    /// Parses and validates a step table (without `type`); relative paths in its
    /// settings resolve against `recipe_dir`.
    pub fn parse(
        &self,
        table: Spanned<DeValue<'_>>,
        recipe_dir: &Path,
    ) -> Result<Box<dyn ConfiguredStep>, ParseError> {
        (self.parse)(table, recipe_dir)
    }

    /// The settings with their types, defaults and docs, in alphabetical order.
    pub fn settings(&self) -> Vec<Setting> {
        let defaults = (self.defaults)();
        let schema = (self.schema)();
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            return Vec::new();
        };
        properties
            .iter()
            .map(|(key, prop)| Setting {
                key: key.clone(),
                kind: schema_kind(prop),
                default: defaults
                    .get(key)
                    .map(toml_literal)
                    .unwrap_or_else(|| "(none)".into()),
                doc: prop
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .replace('\n', " "),
            })
            .collect()
    }
}

fn parse_config<C: StepConfig>(
    table: Spanned<DeValue<'_>>,
    recipe_dir: &Path,
) -> Result<Box<dyn ConfiguredStep>, ParseError> {
    let mut config = C::deserialize(table.into_deserializer()).map_err(ParseError::Toml)?;
    config.resolve_paths(recipe_dir);
    let mut problems = Vec::new();
    config.validate(&mut problems);
    if problems.is_empty() {
        Ok(Box::new(config))
    } else {
        Err(ParseError::Invalid(problems))
    }
}

fn schema_kind(prop: &Value) -> String {
    match prop.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => {
            let named: Vec<&str> = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            match named.as_slice() {
                [one] => format!("{one} (optional)"),
                _ => "value".into(),
            }
        }
        _ if prop.get("enum").is_some()
            || prop.get("oneOf").is_some()
            || prop.get("$ref").is_some() =>
        {
            "choice".into()
        }
        _ => "value".into(),
    }
}

/// Renders a JSON value as the TOML a user would write.
pub fn toml_literal(value: &Value) -> String {
    match value {
        Value::Null => "(none)".into(),
        Value::String(s) => toml::Value::String(s.clone()).to_string(),
        Value::Array(items) => {
            format!(
                "[{}]",
                items
                    .iter()
                    .map(toml_literal)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Value::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(k, v)| format!("{k} = {}", toml_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// The set of step kinds a program knows.
#[derive(Default, Clone)]
pub struct Registry {
    kinds: Vec<StepKind>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one step type. Panics on a duplicate name: that is a programming error.
    pub fn register<C: StepConfig>(mut self) -> Self {
        assert!(
            self.get(C::NAME).is_none(),
            "step `{}` registered twice",
            C::NAME
        );
        self.kinds.push(StepKind::of::<C>());
        self
    }

    /// The kind with this name.
    pub fn get(&self, name: &str) -> Option<&StepKind> {
        self.kinds.iter().find(|k| k.name == name)
    }

    /// Every kind, in registration order.
    pub fn kinds(&self) -> &[StepKind] {
        &self.kinds
    }

    /// The registered name closest to a misspelled one, if any is close.
    pub fn suggest(&self, name: &str) -> Option<&'static str> {
        self.kinds
            .iter()
            .map(|k| (strsim::jaro_winkler(name, k.name), k.name))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, n)| n)
    }

    /// One `[[step]]` table per registered step, every setting at its default and
    /// documented; a test parses it.
    pub fn example_steps(&self) -> String {
        let mut out = String::new();
        for kind in &self.kinds {
            let _ = writeln!(
                out,
                "# {}\n[[step]]\ntype = \"{}\"",
                kind.summary, kind.name
            );
            for s in kind.settings() {
                if s.default == "(none)" {
                    let _ = writeln!(out, "# {} = ...  # {}", s.key, s.doc);
                } else {
                    let _ = writeln!(out, "{} = {}  # {}", s.key, s.default, s.doc);
                }
            }
            out.push('\n');
        }
        out
    }
}
