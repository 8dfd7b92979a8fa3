#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, then tests.
# Idempotent; the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "cargo not found: install Rust from rustup.rs" >&2; exit 1; }

# The Slurm executor's tests run against a real single-node Slurm. Starting one needs
# root (as on CI); elsewhere those tests say they are skipped.
if [ "$(id -u)" = 0 ]; then
  bash scripts/slurm-local.sh
  export ATELIER_REQUIRE_SLURM=1
else
  echo "note: not root, so no local Slurm: the Slurm executor's tests are skipped" >&2
fi

if [ ! -d ../shared/data ]; then
  echo "note: ../shared/data is absent; tests that read it are skipped" >&2
fi

cargo test --workspace --locked
