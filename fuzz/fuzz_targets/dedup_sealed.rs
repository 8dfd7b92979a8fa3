//! Any bytes as each kind of dedup's sealed files, opened as a stream, a table and a
//! blob: records or an error naming the file, never a panic or a huge allocation.

#![no_main]

use atelier_dedup::files::{
    DECISIONS, IDS, INDEX, OFFSETS, PAIRS, RUN, SealedBlob, SealedReader, SealedTable,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = atelier_fuzz::file("sealed", data);
    for kind in [RUN, INDEX, PAIRS, OFFSETS, IDS, DECISIONS] {
        if let Ok(mut reader) = SealedReader::open(&path, kind) {
            let _ = reader.count();
            let size = (kind.record as usize).max(1);
            while let Ok(Some(_)) = reader.take(size) {}
        }
        if let Ok(mut reader) = SealedReader::open(&path, kind) {
            // Variable-length records: a length, then that many bytes.
            while let Ok(n) = reader.u32() {
                if reader.need(n as usize).is_err() {
                    break;
                }
            }
        }
        if kind.record > 0
            && let Ok(table) = SealedTable::open(&path, kind)
        {
            let mut out = vec![0; kind.record as usize];
            for i in [0, 1, u64::MAX / 2, u64::MAX] {
                let _ = table.get(i, &mut out);
            }
        }
        if let Ok(blob) = SealedBlob::open(&path, kind) {
            let mut out = [0; 16];
            for at in [0, 1, 7, u64::MAX - 3] {
                let _ = blob.read_at(at, &mut out);
            }
        }
    }
});
