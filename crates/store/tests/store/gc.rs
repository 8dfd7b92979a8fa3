//! Property test: whatever the store holds (objects, records naming objects and other
//! records, versions naming both, aliases, removed versions), gc keeps everything a
//! remaining version reaches, intact, removes everything else, and never removes an
//! aliased version.

use atelier_store::{GcOptions, Hash, NewVersion, Record, Store};
use proptest::prelude::*;
use std::collections::HashSet;

#[derive(Debug, Clone)]
struct World {
    objects: usize,
    /// Per record: the objects and earlier records it names.
    records: Vec<(Vec<usize>, Vec<usize>)>,
    /// Per version: its shards (objects) and keys (records).
    versions: Vec<(Vec<usize>, Vec<usize>)>,
    /// Versions removed by hand before gc.
    removed: Vec<usize>,
    /// Aliases: version index.
    aliases: Vec<usize>,
    keep_last: Option<usize>,
}

fn world() -> impl Strategy<Value = World> {
    (1usize..12, 0usize..10, 1usize..5).prop_flat_map(|(objects, records, versions)| {
        let record = |i: usize| {
            (
                proptest::collection::vec(0..objects, 0..3),
                if i == 0 {
                    Just(Vec::new()).boxed()
                } else {
                    proptest::collection::vec(0..i, 0..3).boxed()
                },
            )
        };
        let records_strategy: Vec<_> = (0..records).map(record).collect();
        let version = (
            proptest::collection::vec(0..objects, 0..3),
            if records == 0 {
                Just(Vec::new()).boxed()
            } else {
                proptest::collection::vec(0..records, 0..3).boxed()
            },
        );
        (
            records_strategy,
            proptest::collection::vec(version, versions),
            proptest::collection::vec(0..versions, 0..2),
            proptest::collection::vec(0..versions, 0..3),
            proptest::option::of(0usize..3),
        )
            .prop_map(
                move |(records, versions, removed, aliases, keep_last)| World {
                    objects,
                    records,
                    versions,
                    removed,
                    aliases,
                    keep_last,
                },
            )
    })
}

fn blob(i: usize) -> Vec<u8> {
    format!("object number {i}\n").into_bytes()
}

fn key(i: usize) -> Hash {
    Hash::key("test-record").number(i as u64).finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    #[test]
    fn gc_keeps_exactly_what_versions_reach(w in world(), dry_run in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let hashes: Vec<Hash> = (0..w.objects).map(|i| store.put_bytes(&blob(i)).unwrap()).collect();
        for (i, (objects, records)) in w.records.iter().enumerate() {
            let record = Record {
                objects: objects.iter().map(|&o| hashes[o]).collect(),
                records: records.iter().map(|&r| key(r)).collect(),
                data: i,
            };
            store.put_record(&key(i), &record).unwrap();
        }
        let mut ids = Vec::new();
        for (v, (shards, keys)) in w.versions.iter().enumerate() {
            let files: Vec<(String, std::path::PathBuf)> = shards
                .iter()
                .enumerate()
                .map(|(n, &o)| {
                    let path = dir.path().join(format!("out-{v}-{n}"));
                    std::fs::write(&path, blob(o)).unwrap();
                    (format!("part-{n:05}"), path)
                })
                .collect();
            let m = store.commit(NewVersion {
                name: "p".into(),
                shards: files,
                keys: keys.iter().map(|&r| key(r)).collect(),
                ..NewVersion::default()
            }).unwrap();
            ids.push(m.id);
        }
        let mut aliased = HashSet::new();
        for (n, &v) in w.aliases.iter().enumerate() {
            store.set_alias(&format!("alias{n}"), &ids[v]).unwrap();
            aliased.insert(ids[v].clone());
        }
        for &v in &w.removed {
            if !aliased.contains(&ids[v]) && store.resolve(&ids[v]).is_ok() {
                store.remove_version(&ids[v]).unwrap();
            }
        }
        let before: Vec<String> = store.versions().unwrap().into_iter().map(|m| m.id).collect();

        let report = store.gc(&GcOptions { dry_run, keep_last: w.keep_last }).unwrap();

        let after = store.versions().unwrap();
        let remaining: Vec<String> = after.iter().map(|m| m.id.clone()).collect();
        for id in &aliased {
            prop_assert!(remaining.contains(id), "aliased {} removed", id);
        }
        if dry_run {
            prop_assert_eq!(&remaining, &before);
        }
        // What the versions that stay (in a dry run: those gc would keep) reach.
        let kept_versions: Vec<_> = after
            .iter()
            .filter(|m| !report.versions_removed.contains(&m.id))
            .collect();
        let mut objects = HashSet::new();
        let mut records = HashSet::new();
        let mut pending: Vec<Hash> = Vec::new();
        for m in &kept_versions {
            objects.extend(m.shards.iter().map(|f| f.hash));
            pending.extend(m.keys.iter().copied());
            prop_assert!(store.verify(m).is_empty(), "{} damaged", m.id);
        }
        while let Some(k) = pending.pop() {
            if records.insert(k) {
                let i = (0..w.records.len()).find(|&i| key(i) == k).unwrap();
                objects.extend(w.records[i].0.iter().map(|&o| hashes[o]));
                pending.extend(w.records[i].1.iter().map(|&r| key(r)));
            }
        }
        for (i, h) in hashes.iter().enumerate() {
            let path = store.object_path(h);
            if objects.contains(h) {
                prop_assert!(path.is_file(), "reachable object {} removed", i);
                prop_assert_eq!(Hash::of_file(&path).unwrap(), *h);
            } else {
                prop_assert_eq!(path.is_file(), dry_run, "unreachable object {} kept", i);
            }
        }
        for i in 0..w.records.len() {
            let present = store.has_record(&key(i));
            if records.contains(&key(i)) {
                prop_assert!(present, "reachable record {} removed", i);
            } else {
                prop_assert_eq!(present, dry_run, "unreachable record {} kept", i);
            }
        }
    }
}
