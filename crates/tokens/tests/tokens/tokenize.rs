//! Tokenizing files: ids are the tokenizer's, documents land in their split, long ones
//! are cut or dropped, counters add up, and a store replays units instead of encoding.

use atelier_core::{Split, split_of};
use atelier_store::Store;
use atelier_tokens::{
    Layout, TokenShards, Tokenize, TokenizeSettings, TokenizerFile, TooLong, tokenize_files,
};
use std::path::Path;

use crate::common::{TEXTS, jsonl, smollm2, trained};

fn settings(tokenizer: &Path) -> TokenizeSettings {
    TokenizeSettings {
        tokenizer: tokenizer.to_path_buf(),
        eos: Some("<|endoftext|>".into()),
        layouts: Layout::ALL.to_vec(),
        ..TokenizeSettings::default()
    }
}

fn expected(tokenizer: &Path, text: &str) -> Vec<u32> {
    let file = TokenizerFile::load(tokenizer).unwrap();
    let mut ids = file.tokenizer.encode(text).unwrap();
    ids.push(file.id_of("<|endoftext|>").unwrap());
    ids
}

#[test]
fn documents_become_their_ids_then_eos_in_every_layout() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    jsonl(&input, TEXTS);
    let out = dir.path().join("tokens");
    let tokenize = Tokenize::new(settings(trained())).unwrap();
    let index = tokenize_files(&tokenize, &[input], &out, 1, 1, &|_| {}).unwrap();
    assert_eq!(index.stats.documents_in, TEXTS.len() as u64);
    assert_eq!(index.stats.kept, TEXTS.len() as u64);
    let shards = TokenShards::open(&out).unwrap();
    shards
        .expect_tokenizer(&tokenize.tokenizer.hash.hex())
        .unwrap();
    let want: Vec<Vec<u32>> = TEXTS.iter().map(|t| expected(trained(), t)).collect();
    for layout in Layout::ALL {
        assert_eq!(
            shards.documents("train", layout).unwrap(),
            want,
            "{layout:?}"
        );
    }
    let tokens: u64 = want.iter().map(|d| d.len() as u64).sum();
    assert_eq!(index.splits["train"].tokens, tokens);
    assert_eq!(index.histogram.iter().sum::<u64>(), TEXTS.len() as u64);
    // The tokenizer kept beside the shards is the one used.
    let kept = TokenizerFile::load(&out.join("tokenizer.json")).unwrap();
    assert_eq!(kept.hash, tokenize.tokenizer.hash);
}

#[test]
fn validation_share_follows_the_id_hash() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let texts: Vec<&str> = TEXTS.iter().cycle().take(70).copied().collect();
    jsonl(&input, &texts);
    let out = dir.path().join("tokens");
    let tokenize = Tokenize::new(TokenizeSettings {
        validation: 0.3,
        ..settings(trained())
    })
    .unwrap();
    let index = tokenize_files(&tokenize, &[input], &out, 1, 1, &|_| {}).unwrap();
    let held: Vec<usize> = (0..texts.len())
        .filter(|i| split_of(&format!("doc-{i}"), 0.3, 0.0) == Split::Validation)
        .collect();
    assert!(!held.is_empty() && held.len() < texts.len());
    assert_eq!(index.splits["validation"].documents, held.len() as u64);
    let shards = TokenShards::open(&out).unwrap();
    let want: Vec<Vec<u32>> = held
        .iter()
        .map(|&i| expected(trained(), texts[i]))
        .collect();
    assert_eq!(
        shards.documents("validation", Layout::Datatrove).unwrap(),
        want
    );
}

#[test]
fn long_documents_are_cut_or_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    jsonl(&input, TEXTS);
    let whole: Vec<Vec<u32>> = TEXTS.iter().map(|t| expected(trained(), t)).collect();
    let max = 12;
    let longer = whole.iter().filter(|d| d.len() > max).count() as u64;
    assert!(longer > 0);
    for too_long in [TooLong::Split, TooLong::Drop] {
        let out = dir.path().join(format!("{too_long:?}"));
        let tokenize = Tokenize::new(TokenizeSettings {
            max_tokens: Some(max as u64),
            too_long,
            ..settings(trained())
        })
        .unwrap();
        let index =
            tokenize_files(&tokenize, std::slice::from_ref(&input), &out, 1, 1, &|_| {}).unwrap();
        let docs = TokenShards::open(&out)
            .unwrap()
            .documents("train", Layout::Datatrove)
            .unwrap();
        assert!(docs.iter().all(|d| d.len() <= max && d.last() == Some(&0)));
        match too_long {
            TooLong::Drop => {
                assert_eq!(index.stats.dropped["too_long"], longer);
                assert_eq!(docs.len() as u64, TEXTS.len() as u64 - longer);
            }
            TooLong::Split => {
                assert_eq!(index.stats.counts["split"], longer);
                // The pieces, without their EOS, are the whole document's ids.
                let joined: Vec<u32> = docs
                    .iter()
                    .flat_map(|d| d[..d.len() - 1].iter().copied())
                    .collect();
                let all: Vec<u32> = whole
                    .iter()
                    .flat_map(|d| d[..d.len() - 1].iter().copied())
                    .collect();
                assert_eq!(joined, all);
            }
        }
    }
}

#[test]
fn tasks_split_the_files_and_a_store_replays_units() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<_> = (0..3)
        .map(|i| {
            let p = dir.path().join(format!("in{i}.jsonl"));
            jsonl(&p, &TEXTS[i..i + 3]);
            p
        })
        .collect();
    let tokenize = Tokenize::new(settings(trained())).unwrap();
    let index = tokenize_files(&tokenize, &inputs, &dir.path().join("two"), 2, 2, &|_| {}).unwrap();
    assert_eq!(
        index
            .shards
            .iter()
            .filter(|s| s.layout == Layout::Megatron)
            .count(),
        2
    );
    assert_eq!(index.stats.kept, 9);

    let store = Store::open(dir.path()).unwrap();
    let run = |name: &str| {
        let out = dir.path().join(name);
        let outcome = tokenize
            .run_task(&inputs, 0, &out, Some(&store), &|_| {})
            .unwrap();
        (
            outcome,
            std::fs::read(out.join("megatron/train/part-00000.bin")).unwrap(),
        )
    };
    let (first, bytes) = run("first");
    assert_eq!(first.stats.reused_documents, 0);
    let (second, again) = run("second");
    assert_eq!(
        second.stats.reused_documents, 9,
        "every unit came from the store"
    );
    assert_eq!(second.stats.cpu_seconds, 0.0);
    assert_eq!(again, bytes, "replayed units give the same bytes");
}

/// Documents `0..n` with `extra` inserted before document `at`, as one gzip member (a
/// dataset shard's form); with ids `d<i>` and sources, as a dataset's, or neither.
fn shard(path: &Path, n: usize, at: usize, extra: usize, ids: bool) {
    let mut lines = String::new();
    let mut push = |name: String| {
        let text = format!("{} ({name})", TEXTS[name.len() % TEXTS.len()]);
        let doc = match ids {
            true => serde_json::json!({"id": name, "text": text, "metadata": {"source": "mail"}}),
            false => serde_json::json!({"text": text}),
        };
        lines.push_str(&doc.to_string());
        lines.push('\n');
    };
    for i in 0..n {
        if i == at {
            (0..extra).for_each(|k| push(format!("new-{k}")));
        }
        push(format!("d{i}"));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, lines.as_bytes()).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

#[test]
fn a_new_version_tokenizes_again_only_the_units_its_new_documents_fall_in() {
    let dir = tempfile::tempdir().unwrap();
    let tokenize = Tokenize::new(TokenizeSettings {
        validation: 0.5,
        ..settings(trained())
    })
    .unwrap();
    let store = Store::open(dir.path()).unwrap();
    let run = |input: &Path, name: &str, store: Option<&Store>| {
        let out = dir.path().join(name);
        let outcome = tokenize
            .run_task(&[input.to_path_buf()], 0, &out, store, &|_| {})
            .unwrap();
        let bytes: Vec<Vec<u8>> = ["train", "validation"]
            .iter()
            .map(|split| {
                std::fs::read(out.join(format!("megatron/{split}/part-00000.bin"))).unwrap()
            })
            .collect();
        (outcome, bytes)
    };
    let n = 12_000;
    // A dataset's shard is written again at the same place.
    let input = dir.path().join("part-00000.jsonl.gz");
    for ids in [true, false] {
        shard(&input, n, 0, 0, ids);
        let (made, _) = run(&input, "made", Some(&store));
        assert!(made.keys.len() >= 4, "{} units", made.keys.len());
        assert_eq!(made.stats.reused_documents, 0);
        let (again, _) = run(&input, "again", Some(&store));
        assert_eq!(
            again.stats.reused_documents, n as u64,
            "the same file replays"
        );

        // A new version: 10 documents in the middle, one unit's worth of change.
        shard(&input, n, n / 2, 10, ids);
        let (next, bytes) = run(&input, "next", Some(&store));
        let (_, fresh) = run(&input, "fresh", None);
        assert_eq!(
            bytes, fresh,
            "replayed units give a store-free run's tokens"
        );
        let encoded = next.stats.documents_in - next.stats.reused_documents;
        if ids {
            assert!(
                encoded > 10 && encoded < n as u64 / 2,
                "{encoded} documents encoded again of {}",
                next.stats.documents_in
            );
        } else {
            // Without ids a document's split follows its line: every unit after the
            // new documents stands at other lines and is encoded again.
            assert!(encoded > n as u64 / 2, "{encoded} encoded again");
        }
    }
}

#[test]
fn a_huge_document_is_encoded_in_pieces_with_the_same_ids() {
    let Some(model) = smollm2().or_else(|| Some(trained().to_path_buf())) else {
        return;
    };
    let tokenize = Tokenize::new(TokenizeSettings {
        eos: None,
        ..settings(&model)
    })
    .or_else(|_| Tokenize::new(settings(&model)))
    .unwrap();
    let text: String = TEXTS
        .iter()
        .cycle()
        .take(40_000)
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(text.len() > 3 << 20);
    let pieces = tokenize.encode_text(&text).unwrap();
    let whole = tokenize.tokenizer.tokenizer.encode(&text).unwrap();
    assert_eq!(pieces, whole);
}

#[test]
fn the_fast_encoder_runs_for_byte_level_tokenizers_and_gives_tokenizers_ids() {
    let mut models = vec![trained().to_path_buf()];
    models.extend(smollm2());
    for model in models {
        let tokenize = Tokenize::new(settings(&model)).unwrap();
        assert!(
            tokenize.is_fast(),
            "{} takes the fast path",
            model.display()
        );
        let tricky = [
            "",
            " ",
            "  leading and trailing  ",
            "\t\tb",
            "x\n\n\ny",
            "1234567 digits 3.14",
            "don't we'll THEY'RE",
            "\u{0}\u{7f} control",
            "😀😀😀",
            "a\u{301}",
            "<|endoftext|> literal",
        ];
        for text in TEXTS.iter().chain(&tricky) {
            assert_eq!(
                tokenize.encode_text(text).unwrap(),
                tokenize.tokenizer.tokenizer.encode(text).unwrap(),
                "{text:?} with {}",
                model.display()
            );
        }
    }
}

#[test]
fn smollm2_tokenizer_from_gguf_matches_its_exported_json() {
    let Some(model) = smollm2() else { return };
    let from_gguf = TokenizerFile::load(&model).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("tokenizer.json");
    std::fs::write(&json, &from_gguf.json).unwrap();
    let from_json = TokenizerFile::load(&json).unwrap();
    assert_eq!(
        from_json.hash, from_gguf.hash,
        "the export is a fixed point"
    );
    for text in TEXTS {
        assert_eq!(
            from_json.tokenizer.encode(text).unwrap(),
            from_gguf.tokenizer.encode(text).unwrap()
        );
    }
    assert_eq!(from_gguf.id_of("<|endoftext|>").unwrap(), 0);
}
