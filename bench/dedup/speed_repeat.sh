#!/usr/bin/env bash
# Speed on one core, atelier (through the binary) and datasketch alternately, N times
# each; prints every run and the best (least CPU) of each, so that a machine shared with
# other work hurts both sides alike. Expects the corpora and recipes that run.sh made.
#
#   bash bench/dedup/speed_repeat.sh [N=5] [CORE=1]
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$PWD/bench/.work/dedup
n=${1:-5}
core=${2:-1}
py=bench/.venv/bin/python
cpu() { # cpu COMMAND...: CPU seconds (user + sys) of the command
  /usr/bin/time -f "%U %S" -o "$work/t.txt" taskset -c "$core" "$@" >/dev/null 2>&1
  awk '{print $1 + $2}' "$work/t.txt"
}
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
for corpus in quality gen-10000; do
  docs=$(wc -l <"$work/$corpus.jsonl")
  best_a=999 best_d=999
  for i in $(seq "$n"); do
    rm -rf "$work/out-speed-$corpus"
    a=$(cpu target/release/atelier run "$work/speed-$corpus.toml" --workers 1)
    d=$(cpu $py bench/dedup/peers.py datasketch "$work/$corpus.jsonl" "$work/out-ds-$corpus")
    echo "$corpus run $i: atelier $a s, datasketch $d s"
    best_a=$(awk -v x="$a" -v y="$best_a" 'BEGIN{print (x < y) ? x : y}')
    best_d=$(awk -v x="$d" -v y="$best_d" 'BEGIN{print (x < y) ? x : y}')
  done
  awk -v c="$corpus" -v n="$docs" -v a="$best_a" -v d="$best_d" 'BEGIN {
    printf "| %s | %d | %.2f | %.0f | %.2f | %.0f | %.1fx |\n", c, n, a, n / a, d, n / d, d / a }'
done
