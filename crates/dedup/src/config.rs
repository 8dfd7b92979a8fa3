//! The `dedup` step's settings.

use atelier_core::{Barrier, StepConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::normalize::NormalizeOptions;

/// How documents are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Near duplicates: MinHash over word shingles, banded (LSH).
    Minhash,
    /// Exact duplicates of the normalized text.
    Exact,
}

/// What happens to the copies of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    /// Keep the first copy (in input order; a copy in the `against` index comes first),
    /// drop the others.
    One,
    /// Drop every copy of a duplicated document.
    None,
}

/// Removes exact or near-duplicate documents, in this run and against an earlier
/// dataset's index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DedupConfig {
    /// `minhash` (near duplicates, MinHash-LSH over word shingles) or `exact` (same
    /// normalized text).
    pub mode: Mode,
    /// `one` keeps the first copy of each cluster (input order; the `against` index wins)
    /// and drops the others as `duplicate`; `none` drops every copy.
    pub keep: Keep,
    /// Words per shingle (minhash). Texts with fewer words are one shingle.
    pub shingle_words: usize,
    /// LSH bands (minhash): documents sharing one band are duplicates.
    pub bands: usize,
    /// Hashes per band (minhash); the signature has `bands × rows` hashes.
    pub rows: usize,
    /// Seed of the hash functions (minhash). Runs compare only with equal seeds.
    pub seed: u64,
    /// Unicode NFKC before anything else (full-width forms, ligatures).
    pub nfkc: bool,
    /// Lowercase the text.
    pub lowercase: bool,
    /// Strip diacritics from Latin, Greek and Cyrillic letters.
    pub strip_accents: bool,
    /// Punctuation and symbols separate words and are dropped; else words split on
    /// whitespace only.
    pub remove_punctuation: bool,
    /// Every digit becomes `0`.
    pub zero_digits: bool,
    /// An earlier dataset folder (or its index folder) to deduplicate against: its
    /// documents win over new ones. Relative to the recipe.
    pub against: Option<PathBuf>,
    /// Write this run's index (the `against` index plus the documents kept here) under
    /// `<output>/index/<index_name>/`.
    pub write_index: bool,
    /// The index's folder name under `<output>/index/`; unset, the mode's name
    /// (`minhash` or `exact`).
    pub index_name: Option<String>,
    /// Memory per data task for buffered keys, in MiB; beyond it sorted runs go to disk.
    pub memory_mb: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            mode: Mode::Minhash,
            keep: Keep::One,
            shingle_words: 5,
            bands: 14,
            rows: 8,
            seed: 1,
            nfkc: true,
            lowercase: true,
            strip_accents: true,
            remove_punctuation: true,
            zero_digits: true,
            against: None,
            write_index: true,
            index_name: None,
            memory_mb: 128,
        }
    }
}

impl DedupConfig {
    /// The normalization these settings ask for.
    pub fn normalize_options(&self) -> NormalizeOptions {
        NormalizeOptions {
            nfkc: self.nfkc,
            lowercase: self.lowercase,
            strip_accents: self.strip_accents,
            remove_punctuation: self.remove_punctuation,
            zero_digits: self.zero_digits,
        }
    }

    /// Keys per document: one per band (minhash) or one (exact).
    pub fn key_count(&self) -> usize {
        match self.mode {
            Mode::Minhash => self.bands,
            Mode::Exact => 1,
        }
    }

    /// The index's folder name under `<output>/index/`.
    pub fn index_folder_name(&self) -> &str {
        match (&self.index_name, self.mode) {
            (Some(name), _) => name,
            (None, Mode::Minhash) => "minhash",
            (None, Mode::Exact) => "exact",
        }
    }

    /// Index bytes per document with these settings: 12 per key.
    pub fn index_bytes_per_document(&self) -> usize {
        12 * self.key_count()
    }
}

/// The most hash functions a signature may have.
const MAX_HASHES: usize = 4096;

impl StepConfig for DedupConfig {
    const NAME: &'static str = "dedup";
    const SUMMARY: &'static str =
        "Drop exact or near-duplicate documents (MinHash-LSH), also against an earlier dataset.";
    const VERSION: u32 = 1;

    fn resolve_paths(&mut self, recipe_dir: &Path) {
        if let Some(against) = &mut self.against
            && against.is_relative()
        {
            *against = recipe_dir.join(&*against);
        }
    }

    fn validate(&self, problems: &mut Vec<String>) {
        if self.mode == Mode::Minhash {
            for (name, value) in [
                ("shingle_words", self.shingle_words),
                ("bands", self.bands),
                ("rows", self.rows),
            ] {
                if value == 0 {
                    problems.push(format!("{name} must be at least 1"));
                }
            }
            if self.bands.saturating_mul(self.rows) > MAX_HASHES {
                problems.push(format!(
                    "bands × rows = {} hashes; at most {MAX_HASHES}",
                    self.bands.saturating_mul(self.rows)
                ));
            }
        }
        if self.memory_mb == 0 {
            problems.push("memory_mb must be at least 1".into());
        }
        if let Some(name) = &self.index_name {
            let plain = !name.is_empty()
                && !name.starts_with('.')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !plain {
                problems.push(format!(
                    "index_name `{name}` must be a plain folder name (letters, digits, `-`, \
                     `_`, `.`)"
                ));
            }
        }
    }

    fn barrier(&self) -> Option<Box<dyn Barrier>> {
        Some(Box::new(crate::DedupBarrier::new(self.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_fineweb_and_fit_the_index_budget() {
        let c = DedupConfig::default();
        assert_eq!((c.shingle_words, c.bands, c.rows), (5, 14, 8));
        assert_eq!(c.index_bytes_per_document(), 168);
        assert!(c.index_bytes_per_document() <= 200);
        let mut problems = Vec::new();
        c.validate(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn every_bad_setting_is_reported() {
        let c = DedupConfig {
            bands: 0,
            rows: 0,
            shingle_words: 0,
            memory_mb: 0,
            index_name: Some("../x".into()),
            ..DedupConfig::default()
        };
        let mut problems = Vec::new();
        c.validate(&mut problems);
        assert_eq!(problems.len(), 5, "{problems:?}");
    }

    #[test]
    fn against_resolves_relative_to_the_recipe() {
        let mut c = DedupConfig {
            against: Some("v1".into()),
            ..DedupConfig::default()
        };
        c.resolve_paths(Path::new("/data/recipes"));
        assert_eq!(c.against.as_deref(), Some(Path::new("/data/recipes/v1")));
        let mut abs = DedupConfig {
            against: Some("/abs/v1".into()),
            ..DedupConfig::default()
        };
        abs.resolve_paths(Path::new("/data"));
        assert_eq!(abs.against.as_deref(), Some(Path::new("/abs/v1")));
    }

    #[test]
    fn settings_round_trip_and_unknown_keys_fail() {
        let c: DedupConfig =
            toml::from_str("mode = \"exact\"\nkeep = \"none\"\nagainst = \"old\"\n").unwrap();
        assert_eq!((c.mode, c.keep), (Mode::Exact, Keep::None));
        let back: DedupConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert!(toml::from_str::<DedupConfig>("bandz = 3").is_err());
        assert!(toml::from_str::<DedupConfig>("mode = \"fuzzy\"").is_err());
    }
}
