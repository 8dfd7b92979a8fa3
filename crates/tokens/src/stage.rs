//! Tokenizing as the runner's stage after the dataset: one task per dataset shard, its
//! units cached in the project store, its folder and report part of the version.

use atelier_core::{BoxError, ShardStage, StageOutcome};
use atelier_store::Store;
use std::path::Path;

use crate::Tokenize;

/// The `[tokenize]` section as a [`ShardStage`].
pub struct TokenizeStage(pub Tokenize);

impl std::fmt::Debug for TokenizeStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TokenizeStage")
            .field(&self.0.tokenizer)
            .finish()
    }
}

/// The stage's folder in the dataset's output.
pub const FOLDER: &str = "tokens";

impl ShardStage for TokenizeStage {
    fn name(&self) -> &str {
        crate::STEP
    }

    fn folder(&self) -> &str {
        FOLDER
    }

    fn fingerprint(&self) -> String {
        self.0.describe().to_string()
    }

    fn settings(&self) -> serde_json::Value {
        self.0.describe()
    }

    fn run(
        &self,
        rank: usize,
        shard: Option<&Path>,
        folder: &Path,
        project: Option<&Path>,
    ) -> Result<StageOutcome, BoxError> {
        let store = project.map(Store::open).transpose()?;
        let inputs: Vec<_> = shard.map(Path::to_path_buf).into_iter().collect();
        let outcome = self
            .0
            .run_task(&inputs, rank, folder, store.as_ref(), &|_| {})?;
        Ok(StageOutcome {
            stats: outcome.stats,
            keys: outcome.keys.iter().map(|k| k.hex()).collect(),
        })
    }

    fn finish(&self, folder: &Path, tasks: usize) -> Result<serde_json::Value, BoxError> {
        let index = crate::finish(&self.0, folder, tasks)?;
        Ok(serde_json::json!({
            "tokenizer": index.tokenizer,
            "dtype": index.dtype,
            "splits": index.splits,
            "histogram": index.histogram,
            "sources": index.sources,
        }))
    }
}
