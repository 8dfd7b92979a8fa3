//! End-to-end tests of the `atelier` binary: recipes, versions, the classifier, language
//! models and their training, token shards, the `[train]` section, the Slurm executor and remote sources,
//! each run as a user would run it.

mod classifier;
mod common;
mod fetch_cc;
mod fetch_crawl;
mod hostile;
mod init;
mod lm;
mod lmtrain;
mod recipes;
mod slurm;
mod sources;
mod tokens;
mod train;
mod versions;
