#!/usr/bin/env bash
# Checks that two builds of atelier write the same bytes: the bundled example's dataset,
# then 680 HTML pages of ../shared/data and the example's mail through every refining step
# and both kinds of dedup (fresh, with one setting changed so that stored work is
# replayed, and again in a fresh project). For refactorings that must not change output.
#
#   scripts/same-output.sh BEFORE_BINARY AFTER_BINARY
#
# Compares the content hashes of every file written, except those holding timings
# (task markers, summary.json) and bills.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=$ROOT/../shared/data/extraction
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

hashes() { # hashes DIR: one line per file, content hash and path
  (cd "$1" && find . -type f ! -name '*.lock' | sort |
    grep -v -E '\.atelier/(tasks|ledger|runs)/|summary\.json|bill' | xargs sha256sum)
}

recipe() { # recipe FILE MIN_CHARS
  cat >"$1" <<EOT
[dataset]
name = "chain"
tasks = 6
max_quarantined_fraction = 0.05
[[source]]
path = "$DATA/scrapinghub/html"
[[source]]
path = "$DATA/wcxb-dev/html"
[[source]]
path = "$WORK/example/data"
format = "spamassassin"
$(for s in extract language url pii gopher_repetition gopher_quality c4_quality fineweb_quality; do
    printf '[[step]]\ntype = "%s"\n' "$s"
  done)
[[step]]
type = "length"
min_chars = $2
[[step]]
type = "dedup"
[[step]]
type = "dedup"
mode = "exact"
[output]
path = "out"
compression = "gzip"
EOT
}

run_all() { # run_all BINARY NAME: every run, its hashes in $WORK/NAME/*.sha
  local bin=$1 out=$WORK/$2
  mkdir -p "$out"
  rm -rf "$WORK/p" && mkdir "$WORK/p" && cp -a "$WORK/example" "$WORK/p/example"
  (cd "$WORK/p/example" && "$bin" run atelier.toml --quiet >/dev/null)
  hashes "$WORK/p/example/out/dataset" >"$out/example.sha"
  mkdir "$WORK/p/chain"
  recipe "$WORK/p/chain/atelier.toml" 20
  (cd "$WORK/p/chain" && "$bin" run atelier.toml --workers 2 --quiet >/dev/null)
  hashes "$WORK/p/chain/out" >"$out/chain.sha"
  recipe "$WORK/p/chain/atelier.toml" 200
  (cd "$WORK/p/chain" && "$bin" run atelier.toml --workers 2 --quiet >/dev/null)
  hashes "$WORK/p/chain/out" >"$out/replayed.sha"
  mkdir "$WORK/p/fresh" && cp "$WORK/p/chain/atelier.toml" "$WORK/p/fresh/"
  (cd "$WORK/p/fresh" && "$bin" run atelier.toml --workers 1 --quiet >/dev/null)
  hashes "$WORK/p/fresh/out" >"$out/fresh.sha"
}

# One copy of the example for both builds, so that paths and times in its plan agree.
cp -a "$ROOT/examples/spam" "$WORK/example"
rm -rf "$WORK/example/out" "$WORK/example/.atelier"
# The chain without [train]: the runs compare datasets.
sed -i '/^\[train\]/,$d' "$WORK/example/atelier.toml"
run_all "$(realpath "$1")" before
run_all "$(realpath "$2")" after
status=0
for f in "$WORK"/before/*.sha; do
  name=$(basename "$f" .sha)
  if cmp -s "$f" "$WORK/after/$name.sha"; then
    echo "$name: $(wc -l <"$f") files, the same bytes"
  else
    echo "$name: DIFFERENT"
    diff "$f" "$WORK/after/$name.sha" | head -10
    status=1
  fi
done
exit $status
