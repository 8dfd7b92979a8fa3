//! Planning: the tasks a recipe asks for all get work, whatever the inputs' sizes.

use atelier_core::{Document, Recipe, Registry};
use atelier_runner::plan::plan;

#[test]
fn tasks_asked_for_all_get_work_from_one_large_file() {
    let dir = tempfile::tempdir().unwrap();
    // One JSON-lines file of about 3 MB: far below `task_bytes` (64 MiB).
    let mut lines = String::new();
    for i in 0..30_000 {
        let doc = Document::new(
            format!("d{i}"),
            format!("document number {i} {}", "x".repeat(64)),
        );
        lines.push_str(&serde_json::to_string(&doc).unwrap());
        lines.push('\n');
    }
    std::fs::write(dir.path().join("in.jsonl"), lines).unwrap();
    let recipe = |tasks: usize| {
        let text = format!(
            "[dataset]\ntasks = {tasks}\n\n[[source]]\npath = \"in.jsonl\"\n\n[output]\npath = \"out\"\n"
        );
        Recipe::parse(&text, &dir.path().join("atelier.toml"), &Registry::new()).unwrap()
    };
    let two = plan(&recipe(2), Some(dir.path())).unwrap();
    assert_eq!(two.tasks.len(), 2);
    assert!(
        two.tasks.iter().all(|t| !t.units.is_empty()),
        "{:?}",
        two.tasks
    );
    // Every byte once: the units tile the file.
    let mut ranges: Vec<(u64, Option<u64>)> = two
        .tasks
        .iter()
        .flat_map(|t| t.units.iter().map(|u| (u.start, u.end)))
        .collect();
    ranges.sort();
    assert_eq!(ranges[0].0, 0);
    assert_eq!(ranges.last().unwrap().1, None);
    for pair in ranges.windows(2) {
        assert_eq!(pair[0].1, Some(pair[1].0));
    }
    // One task: the file stays one unit.
    let one = plan(&recipe(1), Some(dir.path())).unwrap();
    assert_eq!(one.tasks[0].units.len(), 1);
}
