//! Every layout reads back the documents written to it, in both widths; shuffling only
//! reorders; the token payload is the same bytes in every layout.

use atelier_tokens::Layout;
use atelier_tokens::layout::{Dtype, ShardSpec, ShardWriter, read_documents};

fn docs(width: u32) -> Vec<Vec<u32>> {
    (0..50u32)
        .map(|d| {
            (0..(d % 7) + 1)
                .map(|t| 1 + (d * 131 + t * 17) % (width - 1))
                .chain([0])
                .collect()
        })
        .collect()
}

fn write(root: &std::path::Path, dtype: Dtype, shuffle: Option<u64>, docs: &[Vec<u32>]) {
    let mut w = ShardWriter::create(ShardSpec {
        root: root.to_path_buf(),
        split: "train".into(),
        stem: "part-00000".into(),
        layouts: Layout::ALL.to_vec(),
        dtype,
        tokenizer_name: "test".into(),
        shuffle,
    })
    .unwrap();
    for d in docs {
        w.push(d).unwrap();
    }
    let set = w.finish().unwrap();
    assert_eq!(set.documents, docs.len() as u64);
    assert_eq!(set.tokens, docs.iter().map(|d| d.len() as u64).sum::<u64>());
}

fn read(root: &std::path::Path, layout: Layout, dtype: Dtype) -> Vec<Vec<u32>> {
    let name = layout.files("part-00000")[0].clone();
    let file = root.join(layout.name()).join("train").join(name);
    read_documents(layout, &file, dtype, Some(0)).unwrap()
}

#[test]
fn every_layout_reads_back_in_both_widths() {
    for (dtype, width) in [(Dtype::Uint16, 65_536), (Dtype::Uint32, 200_000)] {
        let dir = tempfile::tempdir().unwrap();
        let docs = docs(width);
        write(dir.path(), dtype, None, &docs);
        for layout in Layout::ALL {
            assert_eq!(
                read(dir.path(), layout, dtype),
                docs,
                "{layout:?} {dtype:?}"
            );
        }
        let payload = std::fs::read(dir.path().join("datatrove/train/part-00000.ds")).unwrap();
        assert_eq!(
            payload.len(),
            docs.iter().map(Vec::len).sum::<usize>() * dtype.width()
        );
        for other in [
            "llmc-raw/train/part-00000.bin",
            "megatron/train/part-00000.bin",
        ] {
            assert_eq!(
                std::fs::read(dir.path().join(other)).unwrap(),
                payload,
                "{other}"
            );
        }
        let llmc = std::fs::read(dir.path().join("llmc/train/part-00000.bin")).unwrap();
        assert_eq!(
            &llmc[1024..],
            payload.as_slice(),
            "llm.c: header then payload"
        );
        let magic = i32::from_le_bytes(llmc[..4].try_into().unwrap());
        assert_eq!(
            magic,
            if dtype == Dtype::Uint16 {
                20240520
            } else {
                20240801
            }
        );
        let idx = std::fs::read(dir.path().join("megatron/train/part-00000.idx")).unwrap();
        assert_eq!(&idx[..9], b"MMIDIDX\x00\x00");
        assert_eq!(
            idx[17],
            if dtype == Dtype::Uint16 { 8 } else { 4 },
            "dtype code"
        );
        let index = std::fs::read(dir.path().join("datatrove/train/part-00000.ds.index")).unwrap();
        let last = u64::from_le_bytes(index[index.len() - 8..].try_into().unwrap());
        assert_eq!(
            last as usize * dtype.width(),
            payload.len(),
            "the last end is the size"
        );
    }
}

#[test]
fn shuffling_reorders_deterministically_and_loses_nothing() {
    let docs = docs(65_536);
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write(a.path(), Dtype::Uint16, Some(7), &docs);
    write(b.path(), Dtype::Uint16, Some(7), &docs);
    let shuffled = read(a.path(), Layout::Megatron, Dtype::Uint16);
    assert_eq!(
        shuffled,
        read(b.path(), Layout::Megatron, Dtype::Uint16),
        "same seed"
    );
    assert_ne!(shuffled, docs, "the order changed");
    let (mut x, mut y) = (shuffled.clone(), docs.clone());
    x.sort();
    y.sort();
    assert_eq!(x, y, "the same documents");
    assert_eq!(read(a.path(), Layout::Datatrove, Dtype::Uint16), shuffled);
}

#[test]
fn damaged_files_are_refused_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), Dtype::Uint16, None, &docs(65_536));
    let ds = dir.path().join("datatrove/train/part-00000.ds");
    let bytes = std::fs::read(&ds).unwrap();
    std::fs::write(&ds, &bytes[..bytes.len() - 2]).unwrap();
    let err = read_documents(Layout::Datatrove, &ds, Dtype::Uint16, None).unwrap_err();
    assert!(err.to_string().contains("part-00000.ds"), "{err}");
    let llmc = dir.path().join("llmc/train/part-00000.bin");
    let err = read_documents(Layout::Llmc, &llmc, Dtype::Uint32, None).unwrap_err();
    assert!(err.to_string().contains("magic"), "{err}");
}
