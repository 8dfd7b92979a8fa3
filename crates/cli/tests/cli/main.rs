//! End-to-end tests of the `atelier` binary: recipes, versions, the classifier, language
//! models and their training, token shards, the `[train]` section and the Slurm executor,
//! each run as a user would run it.

mod classifier;
mod common;
mod hostile;
mod init;
mod lm;
mod lmtrain;
mod recipes;
mod slurm;
mod tokens;
mod train;
mod versions;
