//! Commits a file as a model version of a project, as a trainer would: used by
//! `bench/serve/run.sh` to push a broken model at a server under load.
//!
//! ```sh
//! cargo run --release -p atelier-serve --example commit_model -- PROJECT FILE NAME [ALIAS...]
//! ```

use atelier_store::{Kind, NewVersion, Store};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [project, file, name, aliases @ ..] = args.as_slice() else {
        return Err("usage: commit_model PROJECT FILE NAME [ALIAS...]".into());
    };
    let store = Store::open(&PathBuf::from(project))?;
    let manifest = store.commit(NewVersion {
        kind: Kind::Model,
        name: name.clone(),
        shards: vec![("model.bin".into(), PathBuf::from(file))],
        aliases: aliases.to_vec(),
        ..NewVersion::default()
    })?;
    println!("{}", manifest.id);
    Ok(())
}
