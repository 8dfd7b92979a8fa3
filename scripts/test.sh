#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, then tests.
# Idempotent; the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests need only the Rust toolchain today. Later suites (browser, Slurm) add their
# installs here, so that this one command stays the whole set-up.
command -v cargo >/dev/null || { echo "cargo not found: install Rust from rustup.rs" >&2; exit 1; }

if [ ! -d ../shared/data ]; then
  echo "note: ../shared/data is absent; tests that read it are skipped" >&2
fi

cargo test --workspace --locked
