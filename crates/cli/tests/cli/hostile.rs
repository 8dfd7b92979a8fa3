//! Hostile conditions, end to end: an output disk that fills up, an input file that
//! cannot be read, an output folder that cannot be written, and SIGKILL at every stage
//! boundary of a run (each map stage, each of dedup's middle stages, the commit of the
//! version, the training of the model).
//!
//! The full disk is a small tmpfs, which only root may mount (as on CI); elsewhere that
//! test says it is skipped. Permissions do not stop root, so as root the unreadable and
//! unwritable cases run `atelier` as the unprivileged user `nobody` (uid 65534), on files
//! that user owns.

use crate::common::*;
use serde_json::Value;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A recipe in `dir` over `data`: extract, length, exact dedup (with its index), and a
/// small `[train]` section.
fn recipe(dir: &Path, data: &Path, min_chars: u32) -> PathBuf {
    let recipe = dir.join("atelier.toml");
    std::fs::write(
        &recipe,
        format!(
            "[dataset]\nname = \"spam\"\ntasks = 3\n\n\
             [[source]]\npath = {data:?}\nformat = \"spamassassin\"\n\n\
             [[step]]\ntype = \"extract\"\n\n\
             [[step]]\ntype = \"length\"\nmin_chars = {min_chars}\n\n\
             [[step]]\ntype = \"dedup\"\nmode = \"exact\"\n\n\
             [output]\npath = \"out/dataset\"\ncompression = \"gzip\"\n\n\
             [train]\nname = \"spam-filter\"\nlabel = \"group\"\n\
             label_pattern = \"(spam|ham)\"\nepoch = 2\ndim = 8\nbucket = 10000\n\
             threads = 1\n"
        ),
    )
    .unwrap();
    recipe
}

/// Two files of the bundled mail, copied into `dir/data`.
fn mail(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for name in ["spam-1.jsonl.gz", "hard-ham-1.jsonl.gz"] {
        std::fs::copy(
            repo().join("examples/spam/data").join(name),
            data.join(name),
        )
        .unwrap();
    }
    data
}

fn run(recipe: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args(["run", recipe.to_str().unwrap(), "--quiet", "--workers", "2"])
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// The manifests of a project, newest last.
fn manifests(project: &Path) -> Vec<Value> {
    let out = atelier(&["versions", "-p", project.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The newest version of `kind`: its files' paths and hashes (what its bytes are).
fn content(project: &Path, kind: &str) -> Vec<(String, String)> {
    let list = manifests(project);
    let newest = list
        .iter()
        .rev()
        .find(|m| m["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} version in {list:?}"));
    let id = newest["id"].as_str().unwrap();
    let out = atelier(&["show", id, "--project", project.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut files: Vec<(String, String)> = manifest["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["hash"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // A model's other files hold timings and bills; its model file is a shard.
    files.sort();
    assert!(!files.is_empty(), "{manifest}");
    files
}

/// The stage names of a run, from `atelier status`.
fn stages(recipe: &Path) -> Vec<String> {
    let out = atelier(&["status", recipe.to_str().unwrap()]);
    stdout(&out)
        .lines()
        .skip(1)
        .filter_map(|l| {
            let columns: Vec<&str> = l.split_whitespace().collect();
            let counts =
                columns.len() == 7 && columns[1..].iter().all(|c| c.parse::<u64>().is_ok());
            counts.then(|| columns[0].to_owned())
        })
        .collect()
}

#[test]
fn sigkill_at_every_stage_boundary_resumes_to_the_same_bytes() {
    // The data lies outside every project, so that each records the same paths.
    let inputs = tempfile::tempdir().unwrap();
    let data = mail(inputs.path());
    let whole = tempfile::tempdir().unwrap();
    let reference = recipe(whole.path(), &data, 20);
    let out = run(&reference, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dataset = content(whole.path(), "dataset");
    let model = content(whole.path(), "model");

    let mut points = stages(&reference);
    for middle in ["buckets", "clusters", "index", "commit"] {
        assert!(
            points
                .iter()
                .any(|s| s.ends_with(&format!("dedup.{middle}"))),
            "no dedup {middle} stage in {points:?}"
        );
    }
    assert!(points.iter().any(|s| s == "map1"), "{points:?}");
    points.extend(["commit".to_owned(), "train".to_owned()]);

    for point in &points {
        let dir = tempfile::tempdir().unwrap();
        let recipe = recipe(dir.path(), &data, 20);
        let killed = run(&recipe, &[("ATELIER_CRASH_AT", point)]);
        assert_eq!(
            killed.status.signal(),
            Some(9),
            "{point}: killed by the crash point: {}",
            stderr(&killed)
        );
        let resumed = run(&recipe, &[]);
        assert!(resumed.status.success(), "{point}: {}", stderr(&resumed));
        assert_eq!(
            content(dir.path(), "dataset"),
            dataset,
            "{point}: the dataset's bytes"
        );
        assert_eq!(
            content(dir.path(), "model"),
            model,
            "{point}: the model's bytes"
        );
        let latest = atelier(&[
            "show",
            "latest",
            "--project",
            dir.path().to_str().unwrap(),
            "--verify",
        ]);
        assert!(latest.status.success(), "{point}: {}", stderr(&latest));
    }
}

/// Whether this process runs as root (then permissions stop nothing).
fn root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// The unprivileged user the permission tests run as, when they run as root.
const NOBODY: u32 = 65534;

/// `atelier run` as a user whom permissions stop: `nobody` when this is root (which
/// then owns everything under `dir`), else this user.
fn run_unprivileged(dir: &Path, recipe: &Path) -> Output {
    let mut program = PathBuf::from(env!("CARGO_BIN_EXE_atelier"));
    if root() {
        // The build folder may lie under a folder `nobody` cannot enter (a checkout in
        // a private temporary folder): run a copy from `dir`, which `nobody` owns.
        let copy = dir.join("atelier-copy");
        std::fs::copy(&program, &copy).unwrap();
        program = copy;
        chown_all(dir, NOBODY);
    }
    let mut command = Command::new(&program);
    command
        .args(["run", recipe.to_str().unwrap(), "--quiet", "--workers", "1"])
        .current_dir(dir)
        .env("HOME", dir);
    if root() {
        // From root, std drops the supplementary groups too.
        command.uid(NOBODY).gid(NOBODY);
    }
    command.output().unwrap()
}

fn chown_all(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_all(&entry.unwrap().path(), uid);
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn an_unreadable_input_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o755);
    let data = mail(dir.path());
    let recipe = recipe(dir.path(), &data, 20);
    let locked = data.join("spam-1.jsonl.gz");
    set_mode(&locked, 0o000);
    let out = run_unprivileged(dir.path(), &recipe);
    set_mode(&locked, 0o644);
    assert!(!out.status.success(), "the run read an unreadable file");
    let err = stderr(&out);
    assert!(
        err.contains(locked.to_str().unwrap()) && err.contains("ermission denied"),
        "the error names the file and says why: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn an_unwritable_output_folder_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o755);
    let data = mail(dir.path());
    let recipe = recipe(dir.path(), &data, 20);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    set_mode(&out_dir, 0o555);
    let out = run_unprivileged(dir.path(), &recipe);
    set_mode(&out_dir, 0o755);
    assert!(
        !out.status.success(),
        "the run wrote into a read-only folder"
    );
    let err = stderr(&out);
    assert!(
        err.contains(out_dir.to_str().unwrap()) && err.contains("ermission denied"),
        "the error names the folder and says why: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A tmpfs mounted for a test, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts one of `size` at `path`; `None` (with a message) where that is not allowed.
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        if !root() {
            eprintln!("skipped: mounting a small tmpfs needs root (as on CI)");
            return None;
        }
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs {
                path: path.to_owned(),
            }),
            Ok(out) => {
                eprintln!("skipped: mount -t tmpfs failed: {}", stderr(&out));
                None
            }
            Err(e) => {
                eprintln!("skipped: no mount command: {e}");
                None
            }
        }
    }

    /// Sets its size.
    fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }

    /// Bytes in use.
    fn used(&self) -> u64 {
        let path = std::ffi::CString::new(self.path.to_str().unwrap()).unwrap();
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a valid C string and a zeroed struct to fill.
        assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut stat) }, 0);
        (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).output();
    }
}

#[test]
fn a_full_output_disk_fails_clearly_keeps_the_last_version_and_a_rerun_completes() {
    let dir = tempfile::tempdir().unwrap();
    let data = mail(dir.path());
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), "64m") else {
        return;
    };
    let project = disk.path.join("project");
    std::fs::create_dir(&project).unwrap();
    let recipe = recipe(&project, &data, 20);
    let out = run(&recipe, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = content(&project, "dataset");

    // Another threshold: every shard is written anew, on a disk with 64 KB left.
    let recipe = self::recipe(&project, &data, 200);
    disk.resize(&format!("{}", disk.used() + (64 << 10)));
    let out = run(&recipe, &[]);
    assert!(!out.status.success(), "the run fit in 64 KB");
    let err = stderr(&out);
    assert!(
        err.contains("No space left on device") && err.contains(project.to_str().unwrap()),
        "the error names the path and says why: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    // The previous version is intact, whole and the only one.
    let ids: Vec<String> = manifests(&project)
        .iter()
        .filter(|m| m["kind"] == "dataset")
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["v1"], "no half-made version");
    assert_eq!(content(&project, "dataset"), before);
    let p = project.to_str().unwrap();
    let verified = atelier(&["show", "v1", "--project", p, "--verify"]);
    assert!(
        stdout(&verified).contains("every file matches its hash"),
        "{}{}",
        stdout(&verified),
        stderr(&verified)
    );

    // With room again, the same run completes.
    disk.resize("64m");
    let out = run(&recipe, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(
        content(&project, "dataset"),
        before,
        "a new dataset version"
    );
    let verified = atelier(&["show", "latest", "--project", p, "--verify"]);
    assert!(verified.status.success(), "{}", stderr(&verified));
}
