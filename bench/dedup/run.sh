#!/usr/bin/env bash
# Dedup benchmark: quality beside datasketch, speed on one core beside datasketch and
# datatrove, index bytes per document, and scale (10k, 100k, 1M documents). Results go
# to stdout; copy them into bench/dedup/RESULTS.md.
#
#   bash bench/dedup/run.sh [quality] [speed] [scale]     (all three by default)
#
# Times are wall and CPU (user + sys, from /usr/bin/time) with the process pinned to one
# core by taskset; on a shared machine CPU seconds are the steadier figure, and
# speed_repeat.sh alternates atelier and datasketch to compare them under the same load.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$root/bench/.work/dedup
mkdir -p "$work"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(quality speed scale)
want() { [[ " ${parts[*]} " == *" $1 "* ]]; }

python3 -m venv bench/.venv >/dev/null 2>&1 || true
# datatrove 0.10 passes str to xxhash, which xxhash 4 refuses.
bench/.venv/bin/pip install -q datasketch==2.0.0 datatrove==0.10.1 "xxhash<4" orjson nltk \
  tokenizers numpy
cargo build --release -q -p atelier
cargo build --release -q -p atelier-dedup --examples
py=bench/.venv/bin/python

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"

[ -f "$work/quality.jsonl" ] || python3 bench/dedup/make_corpus.py quality "$work/quality.jsonl"
for n in 10000 100000 1000000; do
  [ -f "$work/gen-$n.jsonl" ] || $py bench/dedup/make_corpus.py generated $n "$work/gen-$n.jsonl"
done

# recipe NAME INPUT TASKS [EXTRA SETTINGS]: a recipe with one dedup step.
recipe() {
  cat > "$work/$1.toml" <<EOT
[dataset]
tasks = $3
store = false
[[source]]
path = "$2"
[output]
path = "$work/out-$1"
compression = "none"
[[step]]
type = "dedup"
${4:-}
EOT
  rm -rf "$work/out-$1"
}

# timed LABEL DOCS COMMAND...: pinned to core 0; prints wall, CPU, docs/s and peak RSS.
timed() {
  local label=$1 docs=$2
  shift 2
  /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" taskset -c 0 "$@" >"$work/log.txt" 2>&1 ||
    { cat "$work/log.txt"; return 1; }
  read -r wall user sys rss <"$work/time.txt"
  awk -v l="$label" -v d="$docs" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
    c = u + s; printf "| %s | %d | %.2f | %.2f | %.0f | %.0f | %.0f |\n", l, d, w, c, d / w, d / c, r / 1024 }'
}

if want quality; then
  echo
  echo "## quality (threshold 0.75; bench/dedup/quality.py), three corpus seeds"
  for seed in 1 2 3; do
    corpus=$work/quality.jsonl
    if [ $seed != 1 ]; then
      corpus=$work/quality-s$seed.jsonl
      [ -f "$corpus" ] || python3 bench/dedup/make_corpus.py quality "$corpus" --seed $seed
    fi
    echo "### seed $seed"
    $py bench/dedup/quality.py --corpus "$corpus" --json "$work/quality-s$seed.json" 2>/dev/null
  done
  echo
  echo "## estimator bias, seed-3 corpus (bench/dedup/bias.py)"
  $py bench/dedup/bias.py
  echo
  echo "## the key specification, restated in Python (bench/dedup/spec_check.py)"
  target/release/examples/dedup_shingles "$work/quality.jsonl" "$work/spec.shingles.jsonl" \
    "$work/spec.pairs.tsv" "$work/spec.keys.tsv"
  $py bench/dedup/spec_check.py "$work/spec.keys.tsv" "$work/quality.jsonl" 100000
fi

if want speed; then
  echo
  echo "## speed, one core"
  echo "| run | documents | wall s | CPU s | docs/s (wall) | docs/s (CPU) | peak RSS MiB |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  for corpus in quality gen-10000; do
    docs=$(wc -l <"$work/$corpus.jsonl")
    recipe "speed-$corpus" "$work/$corpus.jsonl" 1
    timed "atelier run, $corpus" "$docs" target/release/atelier run "$work/speed-$corpus.toml" --workers 1
    mkdir -p "$work/out-example-$corpus"
    timed "dedup_jsonl example, $corpus" "$docs" target/release/examples/dedup_jsonl \
      --input "$work/$corpus.jsonl" --output "$work/out-example-$corpus/kept.jsonl"
    timed "datasketch, $corpus" "$docs" $py bench/dedup/peers.py datasketch "$work/$corpus.jsonl" "$work/out-ds-$corpus"
    tail -1 "$work/log.txt" | sed 's/^/  datasketch: /' >&2
    timed "datatrove, $corpus" "$docs" $py bench/dedup/peers.py datatrove "$work/$corpus.jsonl" "$work/out-dt-$corpus"
    tail -1 "$work/log.txt" | sed 's/^/  datatrove: /' >&2
  done
fi

if want scale; then
  echo
  echo "## scale: generated documents, one task, one worker, one core"
  echo "| run | documents | wall s | CPU s | docs/s (wall) | docs/s (CPU) | peak RSS MiB | index bytes/doc |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for n in 10000 100000 1000000; do
    for mem in 128 16; do
      recipe "scale-$n-$mem" "$work/gen-$n.jsonl" 1 "memory_mb = $mem"
      line=$(timed "memory_mb = $mem" "$n" target/release/atelier run "$work/scale-$n-$mem.toml" --workers 1)
      bpd=$(python3 -c "import json;print(round(json.load(open('$work/out-scale-$n-$mem/index/minhash/index.json'))['bytes_per_document'],1))")
      echo "$line $bpd |"
      rm -rf "$work/out-scale-$n-$mem"
    done
  done
fi
