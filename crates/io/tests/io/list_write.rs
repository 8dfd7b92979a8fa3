//! Listing inputs, splitting them, and writing shards.

use crate::common::*;
use atelier_core::format::Compression;
use atelier_core::recipe::SourceSettings;
use atelier_core::{Document, Format};
use atelier_io::{ListError, Listing, ShardWriter, Unit, list, list_source, split};
use std::io::{self, Read};
use std::path::PathBuf;

#[test]
fn folders_are_listed_recursively_and_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("b/deeper")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    for name in [
        "b/deeper/z.warc.gz",
        "b/a.jsonl",
        "a.html",
        "c.txt",
        "README",
        ".hidden.jsonl",
        ".git/x.jsonl",
        "d.json",
    ] {
        write(root, name, b"x");
    }
    let listing = list_source(root, None).unwrap();
    let names: Vec<_> = listing
        .files
        .iter()
        .map(|f| {
            f.location
                .local()
                .unwrap()
                .strip_prefix(root)
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "a.html",
            "b/a.jsonl",
            "b/deeper/z.warc.gz",
            "c.txt",
            "d.json"
        ]
        .map(std::path::PathBuf::from)
    );
    assert_eq!(listing.files[2].format, Format::Warc);
    assert_eq!(listing.files[2].compression, Compression::Gzip);
    assert_eq!(listing.files[2].size, 1);
    assert_eq!(listing.skipped, [root.join("README")]);

    // A set format applies to every file, whatever its extension.
    let spam = list_source(root, Some(Format::Spamassassin)).unwrap();
    let names: Vec<_> = spam
        .files
        .iter()
        .map(|f| f.location.local().unwrap().file_name().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "README",
            "a.html",
            "a.jsonl",
            "z.warc.gz",
            "c.txt",
            "d.json"
        ]
    );
    assert!(spam.files.iter().all(|f| f.format == Format::Spamassassin));
    assert_eq!(spam.files[3].compression, Compression::Gzip);
    assert!(spam.skipped.is_empty());
}

#[test]
fn patterns_select_files_and_a_set_format_reads_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for name in [
        "ham/0001.txt",
        "ham/0002.txt.gz",
        "ham/deep/0003.txt",
        "spam/0004.txt",
        "cmds",
        "notes.md",
    ] {
        write(root, name, b"x");
    }
    let source = |include: &[&str], exclude: &[&str], limit: Option<usize>| SourceSettings {
        format: Some(Format::Mail),
        include: include.iter().map(|s| s.to_string()).collect(),
        exclude: exclude.iter().map(|s| s.to_string()).collect(),
        limit,
        ..SourceSettings::path(root)
    };
    let names = |listing: &Listing| -> Vec<String> {
        listing
            .files
            .iter()
            .map(|f| {
                let path = f.location.local().unwrap().strip_prefix(root).unwrap();
                path.to_string_lossy().into_owned()
            })
            .collect()
    };
    let all = list(&source(&["**/*.txt*"], &[], None)).unwrap();
    assert_eq!(
        names(&all),
        [
            "ham/0001.txt",
            "ham/0002.txt.gz",
            "ham/deep/0003.txt",
            "spam/0004.txt"
        ]
    );
    assert!(all.files.iter().all(|f| f.format == Format::Mail));
    assert_eq!(all.files[1].compression, Compression::Gzip);
    // `*` stays within a folder; `**/` also matches no folder at all.
    let top = list(&source(&["ham/*"], &[], None)).unwrap();
    assert_eq!(names(&top), ["ham/0001.txt", "ham/0002.txt.gz"]);
    let excluded = list(&source(&[], &["spam/**", "*.md", "**/*.gz"], Some(2))).unwrap();
    assert_eq!(names(&excluded), ["cmds", "ham/0001.txt"]);
    assert!(excluded.skipped.is_empty());
    let any_depth = list(&source(&["**/cmds"], &[], None)).unwrap();
    assert_eq!(names(&any_depth), ["cmds"]);
    // Without a format, a file whose name tells none is skipped, not read.
    let detected = list(&SourceSettings {
        include: vec!["*".into()],
        ..SourceSettings::path(root)
    })
    .unwrap();
    assert_eq!(names(&detected), ["notes.md"]);
    assert_eq!(detected.skipped, [root.join("cmds")]);
}

#[test]
fn path_lists_resolve_against_their_base() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "data/a.jsonl", b"{}\n");
    write(root, "data/b/c.jsonl", b"{}\n{}\n");
    write(root, "data/skip.jsonl", b"");
    let list_text = "# a comment\n\na.jsonl\nb/c.jsonl\nskip.jsonl\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, list_text.as_bytes()).unwrap();
    write(root, "lists/paths.gz", &gz.finish().unwrap());
    write(root, "data/paths", list_text.as_bytes());
    let listed = |paths: &str, base: Option<PathBuf>| {
        list(&SourceSettings {
            path: None,
            paths: Some(root.join(paths)),
            base,
            exclude: vec!["skip*".into()],
            ..SourceSettings::path("")
        })
    };
    let expected = [root.join("data/a.jsonl"), root.join("data/b/c.jsonl")];
    for listing in [
        listed("lists/paths.gz", Some(root.join("data"))).unwrap(),
        listed("data/paths", None).unwrap(),
    ] {
        let paths: Vec<_> = listing
            .files
            .iter()
            .map(|f| f.location.local().unwrap().to_path_buf())
            .collect();
        assert_eq!(paths, expected);
        assert_eq!(listing.files[1].size, 6);
    }
    let err = listed("lists/paths.gz", None).unwrap_err().to_string();
    assert!(
        err.contains("2 file(s) of") && err.contains("lists/a.jsonl"),
        "{err}"
    );
}

#[test]
fn single_files_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let readme = write(dir.path(), "README", b"x");
    let err = list_source(&readme, None).unwrap_err();
    assert!(matches!(err, ListError::UnknownFormat(_)));
    assert!(
        err.to_string().contains("README") && err.to_string().contains("set `format`"),
        "{err}"
    );
    let listing = list_source(&readme, Some(Format::Text)).unwrap();
    assert_eq!(listing.files[0].format, Format::Text);
    let missing = list_source(&dir.path().join("nope"), None).unwrap_err();
    assert!(matches!(missing, ListError::Missing(_)), "{missing}");
    let empty = list_source(dir.path(), Some(Format::Html)).unwrap();
    assert_eq!(empty.files.len(), 1);
}

#[test]
fn large_files_split_into_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "big.jsonl", &vec![b'\n'; 10_000]);
    let file = list_source(&path, None).unwrap().files.remove(0);
    let units = split(&file, 3000);
    assert_eq!(units.len(), 4);
    assert_eq!(
        units[0],
        Unit {
            location: path.clone().into(),
            format: Format::Jsonl,
            compression: Compression::None,
            start: 0,
            end: Some(2500)
        }
    );
    assert_eq!(units[3].end, None);
}

fn docs() -> Vec<Document> {
    (0..100)
        .map(|i| Document::new(format!("d{i}"), format!("text {i} é\nline")))
        .collect()
}

/// Writes documents as a shard of one member.
fn write_shard(path: &std::path::Path, compression: Compression, docs: &[Document]) -> ShardWriter {
    let mut writer = ShardWriter::create(path, compression).unwrap();
    let mut member = writer.start(io::sink()).unwrap();
    for doc in docs {
        member.write(doc).unwrap();
    }
    writer.end(member).unwrap();
    writer
}

#[test]
fn shards_round_trip_in_every_compression() {
    let dir = tempfile::tempdir().unwrap();
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let path = dir
            .path()
            .join(format!("out/shard-0.jsonl{}", compression.suffix()));
        let writer = write_shard(&path, compression, &docs());
        assert!(!path.exists());
        let written = writer.finish().unwrap();
        assert_eq!(written.documents, 100);
        assert_eq!(written.bytes, std::fs::metadata(&path).unwrap().len());
        let (back, errors) = read(&Unit::whole(&path, Format::Jsonl));
        assert!(errors.is_empty());
        let mut expected = docs();
        for doc in &mut expected {
            doc.metadata
                .insert("source".into(), path.to_string_lossy().into());
        }
        assert_eq!(back, expected, "{compression:?}");
    }
    // Only the final files are left.
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["shard-0.jsonl", "shard-0.jsonl.gz", "shard-0.jsonl.zst"]
    );
}

#[test]
fn shards_are_deterministic_and_atomic() {
    let dir = tempfile::tempdir().unwrap();
    for compression in [Compression::Gzip, Compression::Zstd] {
        let mut outputs = Vec::new();
        for run in 0..2 {
            let path = dir.path().join(format!("{run}{}", compression.suffix()));
            write_shard(&path, compression, &docs()).finish().unwrap();
            outputs.push(std::fs::read(&path).unwrap());
        }
        assert_eq!(outputs[0], outputs[1], "{compression:?}");
    }
    let gz = std::fs::read(dir.path().join("0.gz")).unwrap();
    assert_eq!(&gz[4..8], &[0, 0, 0, 0], "gzip mtime must be 0");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text.lines().count(), 100);

    let path = dir.path().join("dropped.jsonl");
    let writer = write_shard(&path, Compression::None, &docs()[..1]);
    drop(writer);
    assert!(!path.exists());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("dropped"))
        .collect();
    assert!(left.is_empty(), "a dropped shard leaves nothing: {left:?}");

    // A shard that receives nothing leaves no file.
    let path = dir.path().join("empty.jsonl.gz");
    let written = ShardWriter::create(&path, Compression::Gzip)
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!((written.documents, written.bytes), (0, 0));
    assert!(!path.exists());
}

#[test]
fn members_are_valid_alone_and_concatenated() {
    let dir = tempfile::tempdir().unwrap();
    for compression in [Compression::Gzip, Compression::Zstd] {
        let path = dir
            .path()
            .join(format!("members.jsonl{}", compression.suffix()));
        let mut writer = ShardWriter::create(&path, compression).unwrap();
        let mut copies = Vec::new();
        for part in docs().chunks(40) {
            let mut member = writer.start(Vec::new()).unwrap();
            for doc in part {
                member.write(doc).unwrap();
            }
            copies.push(writer.end(member).unwrap());
        }
        // A kept member is appended byte for byte.
        let kept = dir.path().join("kept");
        std::fs::write(&kept, &copies[0]).unwrap();
        writer.append(&kept).unwrap();
        let written = writer.finish().unwrap();
        assert_eq!(written.documents, 100);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes, [copies.concat(), copies[0].clone()].concat());
        let (back, errors) = read(&Unit::whole(&path, Format::Jsonl));
        assert!(errors.is_empty(), "{compression:?}");
        assert_eq!(back.len(), 140);
    }
}

#[test]
fn members_made_in_memory_append_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let write = |writer: &mut ShardWriter, part: &[Document]| {
            let mut member = writer.start(std::io::sink()).unwrap();
            for doc in part {
                member.write(doc).unwrap();
            }
            writer.end(member).unwrap();
        };
        let docs = docs();
        let direct = dir.path().join(format!("direct{}", compression.suffix()));
        let mut writer = ShardWriter::create(&direct, compression).unwrap();
        for part in docs.chunks(30) {
            write(&mut writer, part);
        }
        writer.finish().unwrap();

        // The second and last parts made apart, in memory, then appended in order.
        let parts: Vec<&[Document]> = docs.chunks(30).collect();
        let apart = dir.path().join(format!("apart{}", compression.suffix()));
        let mut writer = ShardWriter::create(&apart, compression).unwrap();
        write(&mut writer, parts[0]);
        for part in &parts[1..] {
            let mut memory = ShardWriter::in_memory(compression);
            write(&mut memory, part);
            writer
                .append_reader(&memory.into_bytes().unwrap()[..])
                .unwrap();
        }
        writer.finish().unwrap();
        assert_eq!(
            std::fs::read(&apart).unwrap(),
            std::fs::read(&direct).unwrap(),
            "{compression:?}"
        );
        assert!(
            ShardWriter::in_memory(compression)
                .into_bytes()
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn a_shards_members_are_the_bytes_of_members_made_alone() {
    // A shard reuses its zstd context from member to member; each frame must still be
    // the one a fresh encoder makes.
    let dir = tempfile::tempdir().unwrap();
    let docs = docs();
    for level in [1, 3] {
        let path = dir.path().join(format!("shard-{level}.jsonl.zst"));
        let mut writer = ShardWriter::create(&path, Compression::Zstd)
            .unwrap()
            .with_zstd_level(level);
        let mut alone = Vec::new();
        for part in docs.chunks(17) {
            let mut member = writer.start(std::io::sink()).unwrap();
            let mut encoder =
                atelier_io::Encoder::with_zstd_level(Vec::new(), Compression::Zstd, level).unwrap();
            for doc in part {
                member.write(doc).unwrap();
                let mut line = Vec::new();
                doc.write_json_line(&mut line);
                encoder.write_all(&line).unwrap();
            }
            writer.end(member).unwrap();
            alone.extend(encoder.finish().unwrap());
        }
        writer.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), alone, "level {level}");
    }
}
