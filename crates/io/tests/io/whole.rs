//! Whole-file formats: text and HTML, including a real sample.

use crate::common::*;
use atelier_core::Format;
use atelier_io::ReadOptions;
use serde_json::json;

#[test]
fn html_gz_with_a_declared_windows_1252_charset() {
    let dir = tempfile::tempdir().unwrap();
    let page = b"<!doctype html><html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1252\"><title>Men\xfa</title></head><body><p>Cr\xe8me br\xfbl\xe9e \x80 5</p></body></html>";
    let path = write(dir.path(), "0001.html.gz", &gzip(page));
    let (docs, errors) = read(&unit(&path, Format::Html));
    assert!(errors.is_empty(), "{errors:?}");
    let d = &docs[0];
    assert_eq!(d.id, "0001");
    assert!(d.text.contains("<title>Menú</title>"), "{}", d.text);
    assert!(d.text.contains("Crème brûlée € 5"), "{}", d.text);
    assert_eq!(d.metadata["charset"], json!("windows-1252"));
    assert_eq!(d.metadata["content_type"], json!("text/html"));
    assert_eq!(d.metadata["source"], json!(path.to_string_lossy()));
}

#[test]
fn undeclared_html_is_guessed() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "page.htm", "<p>déjà vu</p>".as_bytes());
    let (docs, _) = read(&unit(&path, Format::Html));
    assert_eq!(docs[0].metadata["charset"], json!("UTF-8"));
    assert_eq!(docs[0].text, "<p>déjà vu</p>");
}

#[test]
fn text_files_flag_invalid_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.txt", "\u{feff}plain ✓\n".as_bytes());
    let bad = write(dir.path(), "bad.notes.txt.zst", &zstd(b"caf\xe9 ok"));
    let (docs, errors) = read(&unit(&good, Format::Text));
    assert!(errors.is_empty());
    assert_eq!(docs[0].text, "plain ✓\n");
    assert_eq!(docs[0].metadata.get("invalid_utf8"), None);
    assert_eq!(docs[0].metadata["content_type"], json!("text/plain"));
    let (docs, _) = read(&unit(&bad, Format::Text));
    assert_eq!(docs[0].id, "bad");
    assert_eq!(docs[0].text, "caf\u{fffd} ok");
    assert_eq!(docs[0].metadata["invalid_utf8"], json!(true));
}

#[test]
fn oversized_and_truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    let options = ReadOptions {
        max_record_bytes: 100,
    };
    let big = vec![b'a'; 1000];
    for (name, bytes) in [("big.txt", big.clone()), ("big.txt.gz", gzip(&big))] {
        let path = write(dir.path(), name, &bytes);
        let items = items(&unit(&path, Format::Text), &options);
        assert_eq!(items.len(), 1);
        let error = items[0].as_ref().unwrap_err();
        assert_eq!(
            error.message,
            "record of 1000 bytes exceeds max_record_bytes (100)"
        );
    }
    let gz = gzip(&big);
    let path = write(dir.path(), "cut.html.gz", &gz[..gz.len() - 5]);
    let (docs, errors) = read(&unit(&path, Format::Html));
    assert!(docs.is_empty());
    assert!(
        errors[0].message.contains("truncated"),
        "{}",
        errors[0].message
    );
}

/// A few pages of the WCXB dev set, when the shared data is there.
#[test]
fn real_wcxb_pages() {
    let folder = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/extraction/wcxb-dev/html"
    );
    let Ok(listing) = atelier_io::list_source(std::path::Path::new(folder), None) else {
        println!("note: {folder} is absent; skipping the real sample check");
        return;
    };
    assert!(listing.skipped.is_empty(), "{:?}", listing.skipped);
    for file in listing.files.iter().take(8) {
        assert_eq!(file.format, Format::Html);
        let (docs, errors) = read(&unit(file.location.local().unwrap(), Format::Html));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(docs.len(), 1);
        let d = &docs[0];
        assert_eq!(d.id.len(), 4, "{}", d.id);
        assert!(d.text.len() > 200, "{}: {} bytes", d.id, d.text.len());
        assert!(d.text.to_ascii_lowercase().contains("<html") || d.text.contains("<body"));
        let mut raw = Vec::new();
        let file = std::fs::File::open(file.location.local().unwrap()).unwrap();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(file), &mut raw).unwrap();
        if let Ok(page) = String::from_utf8(raw) {
            assert_eq!(d.text, page.trim_start_matches('\u{feff}'), "{}", d.id);
        } else {
            assert!(
                !d.text.contains('\u{fffd}'),
                "{}: replacement characters",
                d.id
            );
        }
    }
}
