//! The real `openai` Python client against a real server of the real SmolLM2 model
//! (`tests/openai_client.py`): chat, streams, stops, seeds, concurrent streams, a
//! disconnect, bad requests. `scripts/test.sh` provides the model (`ATELIER_SMOLLM2`)
//! and a Python with `openai` (`ATELIER_TEST_PYTHON`); without them the test says it is
//! skipped, unless `ATELIER_REQUIRE_SMOLLM2=1`.

use crate::common::*;
use atelier_store::{Kind, NewVersion};
use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_openai_python_client_works_against_serve() {
    let model = std::env::var_os("ATELIER_SMOLLM2").map(PathBuf::from);
    let python = std::env::var_os("ATELIER_TEST_PYTHON").map(PathBuf::from);
    let (Some(model), Some(python)) = (model.filter(|m| m.is_file()), python) else {
        assert!(
            std::env::var_os("ATELIER_REQUIRE_SMOLLM2").is_none(),
            "ATELIER_REQUIRE_SMOLLM2 is set but ATELIER_SMOLLM2 or ATELIER_TEST_PYTHON is not"
        );
        eprintln!(
            "skipped: set ATELIER_SMOLLM2 (the SmolLM2 GGUF) and ATELIER_TEST_PYTHON (a \
             Python with `openai`); scripts/test.sh does"
        );
        return;
    };
    let p = Project::new();
    p.store
        .commit(NewVersion {
            kind: Kind::Lm,
            name: "smollm2".into(),
            shards: vec![("model.gguf".into(), model)],
            aliases: vec!["prod".into()],
            ..NewVersion::default()
        })
        .unwrap();
    let mut config = p.config();
    config.model.lm.requantize = Some(atelier_lm::Requantize::Q8_0);
    let s = Running::start(config);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openai_client.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(format!("http://{}", s.addr))
        .arg("smollm2")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("ok:"), "{stdout}");
    assert_eq!(s.metrics.generations_now(), 0);
}
