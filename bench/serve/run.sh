#!/usr/bin/env bash
# Benchmarks `atelier serve` with wrk on loopback (see RESULTS.md):
#   throughput  req/s and p50/p99 at 1 and 64 connections, single texts and batches of 32
#   swaps       20 hot swaps (admin activate) during a 60 s load run: zero non-2xx wanted
#   broken      a broken model pushed during load (alias moved to it, then activated):
#               refused, zero failed requests
#   soak        a long load run (SOAK_SECONDS, default 600) with a swap a minute and the
#               server's resident memory sampled every 10 s: flat wanted
# Usage: bash bench/serve/run.sh [all|throughput|swaps|broken|soak]...   (default: all)
# The model is the bundled spam example's (`atelier run examples/spam/atelier.toml`).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export BENCH_DIR=$ROOT/bench/serve
WORK=$ROOT/bench/.work/serve
PORT=${PORT:-18181}
URL=http://127.0.0.1:$PORT
SECONDS_EACH=${SECONDS_EACH:-20}
SOAK_SECONDS=${SOAK_SECONDS:-600}
PHASES=("$@")
[ ${#PHASES[@]} -eq 0 ] && PHASES=(throughput swaps broken soak)

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null; else
    echo "wrk not found: apt-get install wrk" >&2; exit 1; fi
fi

# Two commands: `--example` alone would select no binary of `-p atelier`.
cargo build --release --locked -p atelier --bin atelier
cargo build --release --locked -p atelier-serve --example commit_model
ATELIER=$ROOT/target/release/atelier
COMMIT=$ROOT/target/release/examples/commit_model

rm -rf "$WORK" && mkdir -p "$WORK/project"
RESULTS=$WORK/results.txt
say() { echo "$*" | tee -a "$RESULTS"; }

say "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "wrk: $(wrk -v 2>&1 | head -1)"

# The project: dataset v1, model v2 (prod), model v3 (other epochs), prod back on v2.
cp -r examples/spam/atelier.toml examples/spam/data "$WORK/project/"
(cd "$WORK/project" && "$ATELIER" run atelier.toml --quiet >/dev/null)
sed 's/^epoch = 25/epoch = 20/' "$WORK/project/atelier.toml" > "$WORK/project/atelier-b.toml"
(cd "$WORK/project" && "$ATELIER" train atelier-b.toml >/dev/null)
"$ATELIER" alias prod v2 -p "$WORK/project" >/dev/null
say "project: $("$ATELIER" versions -p "$WORK/project" | tail -n +2 | awk '{print $1, $3, $7}' | paste -sd ';')"

TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
ATELIER_ADMIN_TOKEN=$TOKEN "$ATELIER" serve -p "$WORK/project" --addr "127.0.0.1:$PORT" \
  2>"$WORK/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$URL/readyz" >/dev/null || { cat "$WORK/server.log"; exit 1; }

# wrk's RESULT line of a run, printed with its label.
load() { # label script connections threads seconds
  local out
  out=$(wrk -t"$4" -c"$3" -d"$5"s --latency -s "$BENCH_DIR/$2" "$URL/v1/classify")
  echo "$out" > "$WORK/wrk-$1.txt"
  say "$1: $(echo "$out" | sed -n 's/^RESULT //p')"
}
admin() { # path body
  curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' -d "$2" "$URL$1"
}
metric() { curl -s "$URL/metrics" | grep -E "^$1" || true; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$SERVER/status"; }

for phase in "${PHASES[@]}"; do
  case $phase in
  throughput)
    load single-c1 single.lua 1 1 "$SECONDS_EACH"
    load single-c64 single.lua 64 2 "$SECONDS_EACH"
    load batch32-c1 batch.lua 1 1 "$SECONDS_EACH"
    load batch32-c64 batch.lua 64 2 "$SECONDS_EACH"
    ;;
  swaps)
    before=$(metric 'atelier_serve_swaps_total\{trigger="activate"\}' | awk '{print $2}')
    load swaps-c64 single.lua 64 2 60 &
    WRK=$!
    codes=""
    for i in $(seq 20); do
      sleep 2.5
      if [ $((i % 2)) = 1 ]; then v=v3; else v=v2; fi
      codes="$codes $(admin /v1/admin/activate "{\"version\": \"$v\"}")"
    done
    wait $WRK
    after=$(metric 'atelier_serve_swaps_total\{trigger="activate"\}' | awk '{print $2}')
    say "swaps: activate answers:$codes; swaps counted: $((after - before))"
    ;;
  broken)
    printf 'not a fastText model' > "$WORK/broken.bin"
    load broken-c64 single.lua 64 2 30 &
    WRK=$!
    sleep 5
    bad=$("$COMMIT" "$WORK/project" "$WORK/broken.bin" spam-filter)
    "$ATELIER" alias prod "$bad" -p "$WORK/project" >/dev/null   # as a trainer would
    sleep 5
    code=$(admin /v1/admin/activate "{\"version\": \"$bad\"}")
    live=$(curl -s "$URL/readyz")
    sleep 5
    good=$(admin /v1/admin/activate '{"version": "v3"}')
    wait $WRK
    say "broken: pushed $bad and moved prod to it; activate $bad answered $code; live meanwhile: $live; activate v3 after: $good"
    say "broken: $(metric 'atelier_serve_swap_failures_total\{reason="load"\}')"
    ;;
  soak)
    : > "$WORK/soak-rss.csv"
    load soak-c64 single.lua 64 2 "$SOAK_SECONDS" &
    WRK=$!
    start=$(date +%s)
    n=0
    while kill -0 $WRK 2>/dev/null; do
      now=$(($(date +%s) - start))
      echo "$now,$(rss_kib)" >> "$WORK/soak-rss.csv"
      n=$((n + 1))
      if [ $((n % 6)) = 0 ]; then   # a swap a minute
        if [ $((n / 6 % 2)) = 1 ]; then v=v3; else v=v2; fi
        admin /v1/admin/activate "{\"version\": \"$v\"}" >/dev/null
      fi
      sleep 10
    done
    wait $WRK || true
    say "soak: RSS KiB every 10 s: $(cut -d, -f2 "$WORK/soak-rss.csv" | paste -sd ' ')"
    say "soak: $(metric 'atelier_serve_swaps_total\{trigger="activate"\}')"
    ;;
  *) echo "unknown phase $phase" >&2; exit 1 ;;
  esac
done
say "server log: $WORK/server.log; wrk outputs: $WORK/wrk-*.txt"
