//! Packs: a task's small objects and records in one file, compressed in blocks. What a
//! committed pack holds reads back, from any block in any order; a damaged one is never
//! read as something else; gc removes a pack only when nothing in it is reached.

use atelier_store::{BLOCK_BYTES, GcOptions, Hash, NewVersion, PACK_MAGIC, Record, Store};
use std::io::Read;

fn key(i: u64) -> Hash {
    Hash::key("test-record").number(i).finish()
}

fn read(store: &Store, hash: &Hash) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    store.open_object(hash)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A pack of two objects and a record naming them; returns the record's key.
fn packed(store: &Store, n: u64) -> (Hash, std::path::PathBuf) {
    let pack = store.pack();
    let a = pack.put_bytes(format!("object {n} a").as_bytes()).unwrap();
    let mut w = pack.writer();
    std::io::Write::write_all(&mut w, format!("object {n} b").as_bytes()).unwrap();
    let (b, _) = w.finish().unwrap();
    let record = Record {
        objects: vec![a, b],
        records: vec![],
        data: n,
    };
    pack.put_record(&key(n), &record).unwrap();
    assert!(pack.has_record(&key(n)), "a pending record counts as kept");
    assert!(
        !store.has_record(&key(n)),
        "but is not visible before the commit"
    );
    (key(n), pack.commit().unwrap().expect("a pack with entries"))
}

#[test]
fn a_committed_pack_reads_back_in_this_process_and_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(
        store.pack().commit().unwrap().is_none(),
        "an empty pack leaves no file"
    );
    // Load the (empty) index first: a commit must add to it.
    assert!(store.record::<u64>(&key(9)).is_none());
    let (k, path) = packed(&store, 1);
    assert!(path.starts_with(dir.path().join(".atelier/store/packs")));
    assert_eq!(std::fs::read(&path).unwrap()[..8], PACK_MAGIC[..]);
    for store in [store.clone(), Store::open(dir.path()).unwrap()] {
        let record = store.record::<u64>(&k).unwrap();
        assert_eq!(record.data, 1);
        assert_eq!(read(&store, &record.objects[0]).unwrap(), b"object 1 a");
        assert_eq!(read(&store, &record.objects[1]).unwrap(), b"object 1 b");
        assert!(store.has_object(&record.objects[0]) && store.has_record(&k));
    }
    assert_eq!(
        std::fs::read_dir(dir.path().join(".atelier/store/tmp"))
            .unwrap()
            .count(),
        0,
        "no temporary left"
    );
}

#[test]
fn entries_over_many_blocks_read_back_in_any_order_and_are_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let pack = store.pack();
    // Mail-like objects of a few kilobytes, three blocks' worth, and a record each.
    let objects: Vec<Vec<u8>> = (0..(3 * BLOCK_BYTES / 3000) as u64)
        .map(|i| {
            format!(
                "{{\"id\":\"mail-{i}\",\"text\":\"{}\"}}\n",
                "Dear list, the meeting moved. ".repeat(100)
            )
            .into_bytes()
        })
        .collect();
    let mut raw = 0;
    for (i, bytes) in objects.iter().enumerate() {
        let hash = pack.put_bytes(bytes).unwrap();
        let record = Record {
            objects: vec![hash],
            records: vec![],
            data: i as u64,
        };
        pack.put_record(&key(i as u64), &record).unwrap();
        raw += bytes.len();
    }
    let path = pack.commit().unwrap().unwrap();
    let size = std::fs::metadata(&path).unwrap().len() as usize;
    assert!(
        size * 4 < raw,
        "{size} bytes on disk for {raw} bytes of entries"
    );
    let fresh = Store::open(dir.path()).unwrap();
    for (i, bytes) in objects.iter().enumerate().rev() {
        let record = fresh.record::<u64>(&key(i as u64)).unwrap();
        assert_eq!(record.data, i as u64);
        assert_eq!(
            &read(&fresh, &record.objects[0]).unwrap(),
            bytes,
            "object {i}"
        );
    }
}

#[test]
fn damaged_packs_are_not_read_as_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (k, path) = packed(&store, 1);
    let bytes = std::fs::read(&path).unwrap();
    let object = Hash::of(b"object 1 a");

    // Any byte of the blocks flipped: each entry reads as it was written or not at all
    // (a block that fails its checksum or no longer decompresses).
    let writable: std::fs::Permissions = std::os::unix::fs::PermissionsExt::from_mode(0o644);
    std::fs::set_permissions(&path, writable).unwrap();
    let index_at = u64::from_le_bytes(
        bytes[bytes.len() - 24..bytes.len() - 16]
            .try_into()
            .unwrap(),
    );
    let original = store.record::<u64>(&k).unwrap();
    let mut failed = 0;
    for at in PACK_MAGIC.len()..index_at as usize {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x10;
        std::fs::write(&path, &flipped).unwrap();
        let fresh = Store::open(dir.path()).unwrap();
        match read(&fresh, &object) {
            Ok(read) => assert_eq!(read, b"object 1 a", "byte {at} flipped"),
            Err(_) => failed += 1,
        }
        if let Some(record) = fresh.record::<u64>(&k) {
            assert_eq!(record, original, "byte {at} flipped");
        }
    }
    assert!(failed > 0, "no flip was noticed");

    // A block table that claims more bytes than its frames hold (up to 4 GiB): the
    // blocks are refused, with memory for what each frame holds only.
    let mut claims = bytes.clone();
    let at = index_at as usize;
    let blocks = u64::from_le_bytes(claims[at..at + 8].try_into().unwrap()) as usize;
    assert_eq!(blocks, 2, "the object's block and the record's");
    for b in 0..blocks {
        let len_at = at + 8 + 16 * b + 12;
        claims[len_at..len_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    }
    std::fs::write(&path, &claims).unwrap();
    let fresh = Store::open(dir.path()).unwrap();
    assert!(read(&fresh, &object).is_err());
    assert!(fresh.record::<u64>(&k).is_none());

    // Cut short (a torn write): the whole pack is unreadable, so absent.
    std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
    let fresh = Store::open(dir.path()).unwrap();
    assert!(fresh.record::<u64>(&k).is_none());
    assert!(!fresh.has_object(&object));
    let report = fresh.gc(&GcOptions::default()).unwrap();
    assert_eq!(report.packs_removed, 1);
    assert!(!path.exists());
}

#[test]
fn gc_removes_a_pack_only_when_nothing_in_it_is_reached() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (k1, p1) = packed(&store, 1);
    let (_, p2) = packed(&store, 2);
    let shard = dir.path().join("part-00000.jsonl");
    std::fs::write(&shard, "{}\n").unwrap();
    store
        .commit(NewVersion {
            name: "p".into(),
            shards: vec![("part-00000.jsonl".into(), shard)],
            keys: vec![k1],
            ..NewVersion::default()
        })
        .unwrap();
    let dry = store
        .gc(&GcOptions {
            dry_run: true,
            keep_last: None,
        })
        .unwrap();
    assert!(p2.exists(), "a dry run removes nothing");
    let report = store.gc(&GcOptions::default()).unwrap();
    assert_eq!(report, dry);
    assert_eq!((report.packs_removed, report.packs_kept), (1, 1));
    assert_eq!((report.records_removed, report.objects_removed), (1, 2));
    assert_eq!(report.packed_garbage, 0);
    assert!(p1.exists() && !p2.exists());
    assert_eq!(store.record::<u64>(&k1).unwrap().data, 1);
    assert!(
        store.record::<u64>(&key(2)).is_none(),
        "gc forgets the removed pack"
    );
}
