//! Any bytes as a token folder: the input up to its first NUL byte is `index.json`, the
//! rest is written to every file the index names (plain names only). Opening and reading
//! every split gives documents or an error naming the file, never a panic.

#![no_main]

use atelier_tokens::{Layout, TokenShards};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (index, shard) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let root = atelier_fuzz::scratch().join("tokens");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.json"), index).unwrap();
    let Ok(shards) = TokenShards::open(&root) else {
        return;
    };
    for entry in &shards.index.shards {
        for name in &entry.files {
            let plain = !name.is_empty()
                && name.len() < 200
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && name != "index.json"
                && !name.starts_with('.');
            if plain {
                std::fs::write(root.join(name), shard).unwrap();
            }
        }
    }
    let splits: Vec<String> = shards
        .index
        .shards
        .iter()
        .map(|s| s.split.clone())
        .collect();
    for split in splits {
        for layout in Layout::ALL {
            let _ = shards.documents(&split, layout);
        }
    }
});
