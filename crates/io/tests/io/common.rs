//! Helpers shared by the integration tests: building fixtures and reading them back.

#![allow(dead_code)]

use atelier_core::format::Compression;
use atelier_core::{Document, Format};
use atelier_io::{InputFile, ReadOptions, RecordError, Unit, read_unit};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `dir/name`, making its folders, and returns the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// One gzip member holding `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// One zstd frame holding `bytes`.
pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

/// A whole-file unit of `path`.
pub fn unit(path: &Path, format: Format) -> Unit {
    Unit::whole(path, format)
}

/// Every item of a unit.
pub fn items(unit: &Unit, options: &ReadOptions) -> Vec<Result<Document, RecordError>> {
    read_unit(unit, options).collect()
}

/// The documents and the errors of a unit, with default options.
pub fn read(unit: &Unit) -> (Vec<Document>, Vec<RecordError>) {
    split_items(items(unit, &ReadOptions::default()))
}

/// Separates documents from errors.
pub fn split_items(items: Vec<Result<Document, RecordError>>) -> (Vec<Document>, Vec<RecordError>) {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        match item {
            Ok(doc) => docs.push(doc),
            Err(e) => errors.push(e),
        }
    }
    (docs, errors)
}

/// The ids of documents.
pub fn ids(docs: &[Document]) -> Vec<&str> {
    docs.iter().map(|d| d.id.as_str()).collect()
}

/// Reads `path` cut into ranges of `size` bytes, one unit after the other.
pub fn read_in_ranges(path: &Path, format: Format, size: u64) -> Vec<Document> {
    let len = std::fs::metadata(path).unwrap().len();
    let compression = Compression::detect(path);
    let mut docs = Vec::new();
    let mut start = 0;
    while start < len.max(1) {
        let end = (start + size < len).then_some(start + size);
        let unit = Unit {
            location: path.into(),
            format,
            compression,
            start,
            end,
        };
        for item in read_unit(&unit, &ReadOptions::default()) {
            docs.push(item.unwrap_or_else(|e| panic!("range {start}+{size}: {e}")));
        }
        start += size;
    }
    docs
}

/// Checks that reading `path` in ranges of many sizes (and as `split` cuts it) gives
/// exactly the documents of a whole read, in order.
pub fn assert_ranges_match(path: &Path, format: Format) {
    let (whole, errors) = read(&unit(path, format));
    assert!(errors.is_empty(), "{errors:?}");
    assert!(whole.len() >= 3, "fixture too small");
    let len = std::fs::metadata(path).unwrap().len();
    let mut sizes: Vec<u64> = vec![
        1,
        2,
        3,
        7,
        13,
        50,
        64,
        100,
        333,
        1000,
        len / 2,
        len - 1,
        len,
    ];
    sizes.retain(|&s| s > 0);
    for size in sizes {
        let ranged = read_in_ranges(path, format, size);
        assert_eq!(ids(&ranged), ids(&whole), "range size {size}");
        assert_eq!(ranged, whole, "range size {size}");
    }
    for task_bytes in [1, 17, 256, len / 3 + 1] {
        let file = InputFile::local(path.into(), format, len);
        let mut docs = Vec::new();
        for unit in atelier_io::split(&file, task_bytes) {
            docs.extend(read_unit(&unit, &ReadOptions::default()).map(Result::unwrap));
        }
        assert_eq!(docs, whole, "split at {task_bytes}");
    }
}
