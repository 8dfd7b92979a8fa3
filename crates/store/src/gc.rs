//! Garbage collection: remove the objects and records that no version reaches.
//!
//! Every version is a root (aliases point at versions, so they add none): its files'
//! objects, its records, and, through each record, the objects and records it names.
//! Everything else in `store/objects` and `store/records` goes, and so do temporaries
//! left by killed processes and aliases whose version is gone. A pack (`store/packs`)
//! goes when none of its entries is reached; one that still holds something reached is
//! kept whole, its unreached entries with it ([`GcReport::packed_garbage`]), until a
//! repack (which gc does not do yet), and so is their space. The caller holds the
//! [`crate::ProjectLock`], so no run of this project writes meanwhile.

use serde::de::IgnoredAny;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::{Hash, Store, StoreError};

/// What gc should do.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Report only; remove nothing.
    pub dry_run: bool,
    /// Also remove the versions older than the newest `n`, except aliased ones.
    pub keep_last: Option<usize>,
}

/// What gc removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct GcReport {
    /// Versions removed because of `keep_last`.
    pub versions_removed: Vec<String>,
    /// Aliases removed because their version is gone.
    pub aliases_removed: Vec<String>,
    /// Objects removed.
    pub objects_removed: u64,
    /// Records removed.
    pub records_removed: u64,
    /// Leftover temporary files and folders removed.
    pub temporaries_removed: u64,
    /// Bytes of the objects and records removed (an object also linked from an output
    /// folder keeps its space until that file goes too).
    pub bytes_removed: u64,
    /// Objects kept.
    pub objects_kept: u64,
    /// Records kept.
    pub records_kept: u64,
    /// Packs removed: nothing in them was reached (their entries count in
    /// `objects_removed` and `records_removed`, their size in `bytes_removed`).
    pub packs_removed: u64,
    /// Packs kept.
    pub packs_kept: u64,
    /// Entries of kept packs that nothing reaches: kept until a repack.
    pub packed_garbage: u64,
}

/// Temporaries younger than this may belong to a task still running (a detached Slurm
/// array holds no lock), so they are left alone.
const TEMPORARY_AGE: Duration = Duration::from_secs(3600);

impl Store {
    /// Removes the objects and records no version reaches, leftover temporaries, aliases
    /// of removed versions and, with `keep_last`, older versions no alias names.
    pub fn gc(&self, options: &GcOptions) -> Result<GcReport, StoreError> {
        let mut report = GcReport::default();
        let aliases = self.aliases()?;
        let mut numbers = self.version_numbers()?;
        if let Some(keep) = options.keep_last {
            let cut = numbers.len().saturating_sub(keep);
            let (old, _) = numbers.split_at(cut);
            for n in old {
                let id = format!("v{n}");
                if !aliases.values().any(|v| *v == id) {
                    report.versions_removed.push(id);
                }
            }
            numbers.retain(|n| !report.versions_removed.contains(&format!("v{n}")));
        }
        let live: HashSet<String> = numbers.iter().map(|n| format!("v{n}")).collect();
        for (alias, target) in &aliases {
            if !live.contains(target) {
                report.aliases_removed.push(alias.clone());
            }
        }

        // What the remaining versions reach.
        let mut objects: HashSet<Hash> = HashSet::new();
        let mut records: HashSet<Hash> = HashSet::new();
        let mut pending: Vec<Hash> = Vec::new();
        for n in &numbers {
            let manifest = self.resolve(&format!("v{n}"))?;
            objects.extend(
                manifest
                    .shards
                    .iter()
                    .chain(&manifest.files)
                    .chain(&manifest.lists)
                    .map(|f| f.hash),
            );
            pending.extend(manifest.keys);
        }
        while let Some(key) = pending.pop() {
            if !records.insert(key) {
                continue;
            }
            if let Some(record) = self.record::<IgnoredAny>(&key) {
                objects.extend(record.objects);
                pending.extend(record.records);
            }
        }

        if !options.dry_run {
            for id in &report.versions_removed {
                self.remove_version(id)?;
            }
            for alias in &report.aliases_removed {
                let path = self.versions_dir().join(alias);
                std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            }
        }
        sweep(
            &self.objects_dir(),
            options.dry_run,
            &mut |name| {
                let hash: Hash = name.parse().ok()?;
                Some(objects.contains(&hash))
            },
            &mut report.objects_removed,
            &mut report.objects_kept,
            &mut report.bytes_removed,
        )?;
        let mut record_bytes = 0;
        sweep(
            &self.records_dir(),
            options.dry_run,
            &mut |name| {
                let hash: Hash = name.strip_suffix(".json")?.parse().ok()?;
                Some(records.contains(&hash))
            },
            &mut report.records_removed,
            &mut report.records_kept,
            &mut record_bytes,
        )?;
        report.bytes_removed += record_bytes;
        self.sweep_packs(options.dry_run, &objects, &records, &mut report)?;
        report.temporaries_removed = self.remove_temporaries(options.dry_run)?;
        Ok(report)
    }

    /// Removes the packs of which no entry is reached; a pack whose index does not read
    /// (damaged) holds nothing usable and goes too.
    fn sweep_packs(
        &self,
        dry_run: bool,
        objects: &HashSet<Hash>,
        records: &HashSet<Hash>,
        report: &mut GcReport,
    ) -> Result<(), StoreError> {
        let dir = self.packs_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for entry in entries {
            let path = entry.map_err(|e| StoreError::io(&dir, e))?.path();
            if path.extension().is_none_or(|e| e != "pack") {
                continue;
            }
            let reached = |e: &crate::pack::Entry| match e.kind {
                crate::pack::Kind::Object => objects.contains(&e.key),
                crate::pack::Kind::Record => records.contains(&e.key),
            };
            let entries = crate::pack::read_index(&path)
                .map(|(_, e)| e)
                .unwrap_or_default();
            let live = entries.iter().filter(|e| reached(e)).count() as u64;
            if live > 0 {
                report.packs_kept += 1;
                report.packed_garbage += entries.len() as u64 - live;
                for e in entries.iter().filter(|e| reached(e)) {
                    match e.kind {
                        crate::pack::Kind::Object => report.objects_kept += 1,
                        crate::pack::Kind::Record => report.records_kept += 1,
                    }
                }
                continue;
            }
            report.packs_removed += 1;
            for e in &entries {
                match e.kind {
                    crate::pack::Kind::Object => report.objects_removed += 1,
                    crate::pack::Kind::Record => report.records_removed += 1,
                }
            }
            report.bytes_removed += std::fs::metadata(&path).map_or(0, |m| m.len());
            if !dry_run {
                std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            }
        }
        if !dry_run {
            self.reload_packs();
        }
        Ok(())
    }

    fn remove_temporaries(&self, dry_run: bool) -> Result<u64, StoreError> {
        let mut removed = 0;
        let old = |path: &Path| {
            std::fs::symlink_metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .is_some_and(|age| age >= TEMPORARY_AGE)
        };
        for dir in [self.tmp_dir(), self.versions_dir()] {
            for entry in std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))? {
                let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let temporary = dir == self.tmp_dir() || name.starts_with('.');
                let path = entry.path();
                if !temporary || !old(&path) {
                    continue;
                }
                removed += 1;
                if dry_run {
                    continue;
                }
                let gone = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                gone.map_err(|e| StoreError::io(&path, e))?;
            }
        }
        Ok(removed)
    }
}

/// Walks a fan-out folder (`ab/<name>`): `keep` says, per file name, whether to keep it
/// (`None`: not ours, left alone).
fn sweep(
    dir: &Path,
    dry_run: bool,
    keep: &mut dyn FnMut(&str) -> Option<bool>,
    removed: &mut u64,
    kept: &mut u64,
    bytes: &mut u64,
) -> Result<(), StoreError> {
    for fan in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let fan = fan.map_err(|e| StoreError::io(dir, e))?.path();
        if !fan.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&fan).map_err(|e| StoreError::io(&fan, e))? {
            let entry = entry.map_err(|e| StoreError::io(&fan, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match keep(&name) {
                None => {}
                Some(true) => *kept += 1,
                Some(false) => {
                    *removed += 1;
                    let path = entry.path();
                    *bytes += std::fs::metadata(&path).map_or(0, |m| m.len());
                    if !dry_run {
                        std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::tests::dataset;

    #[test]
    fn keep_last_spares_aliased_versions_and_dry_runs_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for text in ["a", "b", "c", "d"] {
            dataset(
                &store,
                dir.path(),
                &format!("{{\"id\":\"{text}\",\"text\":\"{text}\"}}\n"),
            );
        }
        store.set_alias("prod", "v1").unwrap();
        let options = GcOptions {
            dry_run: true,
            keep_last: Some(1),
        };
        let dry = store.gc(&options).unwrap();
        assert_eq!(dry.versions_removed, ["v2", "v3"]);
        assert_eq!(dry.objects_removed, 4, "their shards and lists");
        assert_eq!(
            store.versions().unwrap().len(),
            4,
            "a dry run removes nothing"
        );

        let done = store
            .gc(&GcOptions {
                dry_run: false,
                ..options
            })
            .unwrap();
        assert_eq!(done, dry);
        let left: Vec<String> = store
            .versions()
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(left, ["v1", "v4"]);
        for v in store.versions().unwrap() {
            assert!(store.verify(&v).is_empty());
            let lists = v.lists.as_ref().expect("a version with sources has lists");
            assert!(store.has_object(&lists.hash), "{}: lists kept", v.id);
            assert_eq!(v.sources.len(), 1);
        }
    }
}
