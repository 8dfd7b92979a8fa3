//! Versions that do not start from zero, end to end: new files are the only ones read, a
//! changed threshold reruns only its step and those after it, a killed run leaves the
//! last version intact, a second run of a project is refused, and gc keeps what versions
//! reach.

use crate::common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A project in `dir`: the bundled mail (copied into `data/`) and a recipe with
/// `extract` then `length`.
fn project(dir: &Path, min_chars: u32) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for entry in std::fs::read_dir(repo().join("examples/spam/data")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".jsonl.gz") {
            std::fs::copy(&path, data.join(path.file_name().unwrap())).unwrap();
        }
    }
    write_recipe(dir, "data", min_chars, true)
}

fn write_recipe(dir: &Path, data: &str, min_chars: u32, store: bool) -> PathBuf {
    let recipe = dir.join("atelier.toml");
    std::fs::write(
        &recipe,
        format!(
            "[dataset]\nname = \"spam\"\ntasks = 4\nstore = {store}\n\n\
             [[source]]\npath = {data:?}\nformat = \"spamassassin\"\n\n\
             [[step]]\ntype = \"extract\"\n\n\
             [[step]]\ntype = \"length\"\nmin_chars = {min_chars}\n\n\
             [output]\npath = \"out/dataset\"\n"
        ),
    )
    .unwrap();
    recipe
}

/// `count` messages of the bundled spam, as new ones (other ids), in a new file.
fn add_mail(data: &Path, count: usize) {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(
        std::fs::File::open(repo().join("examples/spam/data/spam-1.jsonl.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for line in text.lines().take(count) {
        let mut message: Value = serde_json::from_str(line).unwrap();
        let id = format!("new-{}", message["id"].as_str().unwrap());
        message["id"] = id.into();
        writeln!(out, "{message}").unwrap();
    }
    std::fs::write(data.join("spam-3.jsonl.gz"), out.finish().unwrap()).unwrap();
}

fn run_ok(args: &[&str]) -> String {
    let out = atelier(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn new_files_are_the_only_ones_read_and_the_dataset_is_a_fresh_runs() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = project(dir.path(), 20);
    let v1 = run_json(&recipe, "2");
    assert_eq!(v1["version"], "v1");
    assert_eq!(step(&v1, "read")["reused_documents"], 0);

    add_mail(&dir.path().join("data"), 40);
    let v2 = run_json(&recipe, "2");
    assert_eq!(v2["version"], "v2");
    assert_eq!(v2["stats"]["files"], 1, "only the new file is read");
    let read = step(&v2, "read");
    assert_eq!(read["documents_in"], 1250, "the funnel covers every record");
    assert_eq!(read["reused_documents"], 1210);
    let extract = step(&v2, "extract");
    assert_eq!(
        extract["documents_in"].as_u64().unwrap() - extract["reused_documents"].as_u64().unwrap(),
        40,
        "only the new mail is extracted"
    );
    assert!(step(&v2, "extract")["saved_cpu_seconds"].as_f64().unwrap() > 0.0);

    // A run over the same files without the store writes the same bytes. Its project
    // holds them in its own data/, as this one: documents name their file relative to
    // the project.
    let fresh = dir.path().join("fresh");
    copy_tree(&dir.path().join("data"), &fresh.join("data"));
    let plain = run_json(&write_recipe(&fresh, "data", 20, false), "2");
    assert!(plain.get("version").is_none());
    assert_eq!(shards(&v2), shards(&plain), "same shards, byte for byte");

    let p = dir.path().to_str().unwrap();
    let diff = run_ok(&["diff", "v1", "v2", "--project", p, "--json"]);
    let diff: Value = serde_json::from_str(&diff).unwrap();
    let added = diff["documents"]["added"].as_array().unwrap();
    assert_eq!(added.len(), 40);
    assert!(
        added
            .iter()
            .all(|id| id.as_str().unwrap().contains("/new-"))
    );
    assert_eq!(diff["documents"]["removed"].as_array().unwrap().len(), 0);
    assert_eq!(diff["sources"]["added"].as_array().unwrap().len(), 1);
    assert_eq!(diff["sources"]["unchanged"], 5);
    let listed = run_ok(&["versions", "-p", recipe.to_str().unwrap()]);
    assert!(listed.contains("v1") && listed.contains("v2"), "{listed}");
}

#[test]
fn a_changed_threshold_reruns_its_step_and_those_after_only() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = project(dir.path(), 20);
    let v1 = run_json(&recipe, "2");
    write_recipe(dir.path(), "data", 200, true);
    let v2 = run_json(&recipe, "2");
    for name in ["read", "extract"] {
        let s = step(&v2, name);
        assert_eq!(s["reused_documents"], s["documents_in"], "{name} is reused");
    }
    assert_eq!(
        step(&v2, "extract")["cpu_seconds"],
        0.0,
        "nothing extracted"
    );
    for name in ["length", "write"] {
        assert_eq!(step(&v2, name)["reused_documents"], 0, "{name} runs again");
    }
    let (kept1, kept2) = (
        step(&v1, "length")["kept"].as_u64().unwrap(),
        step(&v2, "length")["kept"].as_u64().unwrap(),
    );
    assert!(
        kept2 < kept1,
        "a higher threshold keeps fewer: {kept1} -> {kept2}"
    );

    let p = dir.path().to_str().unwrap();
    let diff = run_ok(&["diff", "v1", "latest", "--project", p]);
    assert!(
        diff.contains("step 2 (length).min_chars: 20 -> 200"),
        "{diff}"
    );
    assert!(
        diff.contains(&format!("{} removed, 0 changed", kept1 - kept2)),
        "{diff}"
    );
    // The human summary says what was reused.
    write_recipe(dir.path(), "data", 100, true);
    let text = run_ok(&["run", recipe.to_str().unwrap(), "--quiet"]);
    assert!(text.contains("reused") && text.contains("saved"), "{text}");
    assert!(text.contains("version v3"), "{text}");
}

/// The steps of a recipe with `extract` then exact `dedup` (a barrier).
const EXTRACT_DEDUP: &str =
    "[[step]]\ntype = \"extract\"\n\n[[step]]\ntype = \"dedup\"\nmode = \"exact\"\n";

#[test]
fn behind_dedup_the_chunks_new_mail_leaves_alone_are_copied_not_compressed_again() {
    let dir = tempfile::tempdir().unwrap();
    // Three projects with the same mail: gzip output; gzip output whose kept shard is
    // damaged near its start (the first file's mail, which the new mail does not
    // change); zstd output.
    let mut written = Vec::new();
    for (name, compression) in [("whole", "gzip"), ("damaged", "gzip"), ("zstd", "zstd")] {
        let project_dir = &dir.path().join(name);
        let recipe = project(project_dir, 20);
        write_steps_recipe(project_dir, EXTRACT_DEDUP, true, compression);
        let v1 = run_json(&recipe, "1");
        assert_eq!(step(&v1, "write")["reused_documents"], 0);
        if name == "damaged" {
            // The version's file is a hard link to the store's object.
            let shard = project_dir.join(".atelier/versions/v1/part-00000.jsonl.gz");
            let mut bytes = std::fs::read(&shard).unwrap();
            let at = bytes.len() / 20;
            bytes[at] ^= 0xff;
            let mut permissions = std::fs::metadata(&shard).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            permissions.set_readonly(false);
            std::fs::set_permissions(&shard, permissions).unwrap();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&shard)
                .unwrap()
                .write_all(&bytes)
                .unwrap();
        }
        add_mail(&project_dir.join("data"), 40);
        let v2 = run_json(&recipe, "1");
        let write = step(&v2, "write");
        written.push((
            write["reused_documents"].as_u64().unwrap(),
            write["saved_cpu_seconds"].as_f64().unwrap(),
            write["documents_in"].as_u64().unwrap(),
        ));

        // The same bytes as a run without the store over the same files.
        let fresh = project_dir.join("fresh");
        copy_tree(&project_dir.join("data"), &fresh.join("data"));
        let plain = run_json(
            &write_steps_recipe(&fresh, EXTRACT_DEDUP, false, compression),
            "1",
        );
        assert_eq!(step(&plain, "write")["reused_documents"], 0);
        assert_eq!(shards(&v2), shards(&plain), "same shards, byte for byte");
    }
    let (copied, saved, _) = written[0];
    // The new mail is one file that sorts last, copies of the first 40 messages of
    // `spam-1`: dedup drops it, and writes the copies' count into those 40 messages.
    // Only the chunks that hold them (about 256 KiB each) are compressed again.
    for (copied, _, documents) in [written[0], written[2]] {
        assert!(
            copied * 10 >= documents * 7,
            "{copied} of {documents} documents copied"
        );
    }
    assert!(saved > 0.0);
    let (copied_damaged, ..) = written[1];
    assert!(
        copied_damaged < copied,
        "the damaged chunk is compressed again: {copied_damaged} copied, {copied} without damage"
    );
}

/// A recipe over `data/` with the given steps (TOML), one task, output in `compression`.
fn write_steps_recipe(dir: &Path, steps: &str, store: bool, compression: &str) -> PathBuf {
    let recipe = dir.join("atelier.toml");
    std::fs::write(
        &recipe,
        format!(
            "[dataset]\nname = \"spam\"\ntasks = 1\nstore = {store}\n\n\
             [[source]]\npath = \"data\"\nformat = \"spamassassin\"\n\n{steps}\n\
             [output]\npath = \"out/dataset\"\ncompression = \"{compression}\"\n"
        ),
    )
    .unwrap();
    recipe
}

#[test]
fn a_cached_prefix_that_becomes_the_last_step_gives_a_fresh_runs_bytes() {
    // One file whose extracted text is well over a megabyte, so that the store keeps it
    // compressed (at its own fast zstd level, not the dataset's).
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for copy in 0..3 {
        for entry in std::fs::read_dir(repo().join("examples/spam/data")).unwrap() {
            let path = entry.unwrap().path();
            if !path.to_string_lossy().ends_with(".jsonl.gz") {
                continue;
            }
            let mut text = String::new();
            flate2::read::MultiGzDecoder::new(std::fs::File::open(&path).unwrap())
                .read_to_string(&mut text)
                .unwrap();
            for line in text.lines() {
                let mut message: Value = serde_json::from_str(line).unwrap();
                message["id"] = format!("{copy}-{}", message["id"].as_str().unwrap()).into();
                writeln!(out, "{message}").unwrap();
            }
        }
    }
    std::fs::write(data.join("all.jsonl.gz"), out.finish().unwrap()).unwrap();
    let extract = "[[step]]\ntype = \"extract\"\n";
    let length = "[[step]]\ntype = \"length\"\nmin_chars = 20\n";
    let recipe = write_steps_recipe(dir.path(), &format!("{extract}\n{length}"), true, "zstd");
    run_json(&recipe, "1");
    // Without `length`, `extract` is the last step: its cached output becomes the
    // dataset.
    write_steps_recipe(dir.path(), extract, true, "zstd");
    let v2 = run_json(&recipe, "1");
    let e = step(&v2, "extract");
    assert_eq!(
        e["reused_documents"], e["documents_in"],
        "extract is reused"
    );

    let fresh = dir.path().join("fresh");
    copy_tree(&data, &fresh.join("data"));
    let plain = run_json(&write_steps_recipe(&fresh, extract, false, "zstd"), "1");
    assert_eq!(shards(&v2), shards(&plain), "same shards, byte for byte");
}

fn versions(dir: &Path) -> Vec<String> {
    let out = run_ok(&["versions", "-p", dir.to_str().unwrap(), "--json"]);
    let list: Vec<Value> = serde_json::from_str(&out).unwrap();
    list.iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_killed_run_leaves_the_previous_version_intact() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = project(dir.path(), 20);
    run_json(&recipe, "2");
    let p = dir.path().to_str().unwrap();
    let before = run_ok(&["show", "v1", "--project", p, "--json"]);

    add_mail(&dir.path().join("data"), 40);
    write_recipe(dir.path(), "data", 200, true);
    let killed = Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args(["run", recipe.to_str().unwrap(), "--quiet", "--workers", "2"])
        .env("ATELIER_CRASH_AFTER_DOCUMENTS", "300")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(killed.status.signal(), Some(9), "killed by the crash hook");

    assert_eq!(versions(dir.path()), ["v1"], "no half-made version");
    assert_eq!(
        run_ok(&["show", "latest", "--project", p, "--json"]),
        before
    );
    let verified = run_ok(&["show", "v1", "--project", p, "--verify"]);
    assert!(
        verified.contains("every file matches its hash"),
        "{verified}"
    );

    // The lock died with the process: the next run goes on and makes v2.
    let v2 = run_json(&recipe, "2");
    assert_eq!(v2["version"], "v2");
    assert_eq!(versions(dir.path()), ["v1", "v2"]);
}

#[test]
fn a_second_run_of_a_project_is_refused_with_the_holders_name() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = project(dir.path(), 20);
    let lock =
        atelier_store::ProjectLock::acquire(dir.path(), "another run, for the test").unwrap();
    let out = atelier(&["run", recipe.to_str().unwrap(), "--quiet"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("another atelier process is working on this project")
            && err.contains("another run, for the test"),
        "{err}"
    );
    assert!(
        !dir.path().join("out/dataset").exists(),
        "refused before touching the output"
    );
    drop(lock);
    run_json(&recipe, "2");
    let held = atelier_store::ProjectLock::acquire(dir.path(), "a run").unwrap();
    let gc = atelier(&["gc", "--project", dir.path().to_str().unwrap()]);
    assert!(!gc.status.success() && stderr(&gc).contains("a run"));
    drop(held);
}

#[test]
fn gc_keeps_what_versions_and_aliases_reach() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = project(dir.path(), 20);
    let p = dir.path().to_str().unwrap();
    run_json(&recipe, "2");
    for min in [100, 200] {
        write_recipe(dir.path(), "data", min, true);
        run_json(&recipe, "2");
    }
    assert_eq!(
        run_ok(&["alias", "keep", "v1", "--project", p]).trim(),
        "keep -> v1"
    );

    let dry = run_ok(&["gc", "--project", p, "--dry-run", "--keep-last", "1"]);
    assert!(dry.contains("would remove 1 version(s): v2"), "{dry}");
    assert_eq!(
        versions(dir.path()),
        ["v1", "v2", "v3"],
        "a dry run removes nothing"
    );
    let done = run_ok(&["gc", "--project", p, "--keep-last", "1"]);
    assert!(done.contains("removed 1 version(s): v2"), "{done}");
    assert_eq!(versions(dir.path()), ["v1", "v3"], "keep keeps v1");
    for v in ["keep", "latest"] {
        run_ok(&["show", v, "--project", p, "--verify"]);
    }

    // What v1 and v3 used is still in the store: running either again reads nothing.
    write_recipe(dir.path(), "data", 20, true);
    let again = run_json(&recipe, "2");
    assert_eq!(again["stats"]["files"], 0);
    for s in again["stats"]["steps"].as_array().unwrap() {
        assert_eq!(s["reused_documents"], s["documents_in"], "{s}");
    }
    let unknown = atelier(&["show", "v2", "--project", p]);
    assert!(stderr(&unknown).contains("no version or alias `v2`"));
    run_ok(&["alias", "keep", "--remove", "--project", p]);
    let gone = run_ok(&["gc", "--project", p, "--keep-last", "1"]);
    assert!(gone.contains("removed 2 version(s): v1, v3"), "{gone}");
}

/// The example without its model, in `<dir>/mk` with its data inside the project.
fn example_project(dir: &Path) -> PathBuf {
    let project = dir.join("mk");
    std::fs::create_dir_all(project.join("data")).unwrap();
    for entry in std::fs::read_dir(repo().join("examples/spam/data"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(entry.path(), project.join("data").join(entry.file_name())).unwrap();
    }
    let text = std::fs::read_to_string(repo().join("examples/spam/atelier.toml")).unwrap();
    // Without its model, and without a name: the folder names the dataset.
    let dataset_only = text[..text.find("[train]").unwrap()].replace("name = \"spam\"\n", "");
    std::fs::write(project.join("atelier.toml"), dataset_only).unwrap();
    project
}

#[test]
fn one_project_however_its_recipe_path_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let project = example_project(dir.path());
    let absolute = project.join("atelier.toml");
    let spellings: [(&Path, &str); 4] = [
        (&project, "atelier.toml"),
        (&project.join("data"), "../atelier.toml"),
        (dir.path(), "mk/./atelier.toml"),
        (dir.path(), absolute.to_str().unwrap()),
    ];
    for (i, (cwd, recipe)) in spellings.iter().enumerate() {
        let out = atelier_in(cwd, &["run", recipe, "--json", "--quiet"]);
        assert!(out.status.success(), "{recipe}: {}", stderr(&out));
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["version"], "v1", "{recipe} makes no new version");
        assert_eq!(
            summary["dataset"], "mk",
            "{recipe}: the name is the folder's"
        );
        if i > 0 {
            assert_eq!(summary["tasks_resumed"], 4, "{recipe} reads nothing again");
        }
    }
}

#[test]
fn every_project_command_takes_p_and_finds_the_project_upward() {
    let dir = tempfile::tempdir().unwrap();
    let project = example_project(dir.path());
    let out = atelier_in(&project, &["run", "atelier.toml", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sub = project.join("data");
    for args in [
        vec!["versions", "-p", "atelier.toml"],
        vec!["versions", "-p", "data"],
        vec!["show", "latest", "-p", "data"],
        vec!["diff", "v1", "latest", "-p", "atelier.toml"],
    ] {
        let out = atelier_in(&project, &args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).contains("v1"), "{args:?}: {}", stdout(&out));
    }
    // From a subfolder, with no -p at all.
    let out = atelier_in(&sub, &["versions"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("v1"), "{}", stdout(&out));
}

#[test]
fn an_alias_that_serves_models_is_not_moved_to_a_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let project = example_project(dir.path());
    let out = atelier_in(&project, &["run", "atelier.toml", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = atelier_in(&project, &["alias", "prod", "v1"]);
    assert!(
        !out.status.success(),
        "prod is what `atelier serve` follows"
    );
    let err = stderr(&out);
    assert!(
        err.contains("`prod`") && err.contains("v1 is a dataset version"),
        "{err}"
    );
    let out = atelier_in(&project, &["alias", "staging", "v1"]);
    assert!(
        out.status.success(),
        "a dataset alias is fine: {}",
        stderr(&out)
    );
    let out = atelier_in(&project, &["alias", "prod", "v1", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Copies a folder as `cp -a` would for this purpose: files with their modification
/// times, symbolic links as links.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
            let modified = std::fs::metadata(&src).unwrap().modified().unwrap();
            std::fs::File::options()
                .write(true)
                .open(&dst)
                .unwrap()
                .set_modified(modified)
                .unwrap();
        }
    }
}

#[test]
fn a_project_moved_elsewhere_keeps_its_work() {
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before");
    std::fs::create_dir_all(&before).unwrap();
    copy_tree(&repo().join("examples/spam/data"), &before.join("data"));
    std::fs::copy(
        repo().join("examples/spam/atelier.toml"),
        before.join("atelier.toml"),
    )
    .unwrap();
    let first = run_json(&before.join("atelier.toml"), "2");
    assert_eq!(first["version"], "v1");
    assert_eq!(
        versions(&before),
        ["v1", "v2"],
        "the dataset, then its model"
    );

    // Recipe, data, outputs and store, somewhere else; the old folder gone.
    let after = dir.path().join("elsewhere/after");
    copy_tree(&before, &after);
    std::fs::remove_dir_all(&before).unwrap();
    let again = run_json(&after.join("atelier.toml"), "2");
    assert_eq!(again["version"], "v1", "no new dataset version");
    assert_eq!(again["tasks_resumed"], again["tasks"], "every task resumed");
    assert_eq!(versions(&after), ["v1", "v2"], "nor a new model");
    // Documents name their file relative to the project: they do not change with it.
    let docs = documents(&again);
    assert_eq!(docs[0]["metadata"]["source"], "data/easy-ham-1.jsonl.gz");
    let p = after.to_str().unwrap();
    run_ok(&["show", "v1", "--project", p, "--verify"]);

    // Copied without its modification times, the work is still found in the store.
    let third = dir.path().join("third");
    copy_tree(&after, &third);
    for entry in std::fs::read_dir(third.join("data")).unwrap() {
        std::fs::File::options()
            .write(true)
            .open(entry.unwrap().path())
            .unwrap()
            .set_modified(std::time::SystemTime::now())
            .unwrap();
    }
    let copied = run_json(&third.join("atelier.toml"), "2");
    assert_eq!(copied["version"], "v1");
    assert_eq!(copied["stats"]["files"], 0, "no input refined again");
    assert_eq!(versions(&third), ["v1", "v2"]);
}
