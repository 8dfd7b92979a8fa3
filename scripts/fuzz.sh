#!/usr/bin/env bash
# Runs every fuzz target (fuzz/, cargo-fuzz with libFuzzer) for SECONDS each (default
# 60), one after the other at low priority, and prints per target its executions, edges
# covered and run time. Fails only when a target finds a crash (saved under
# fuzz/artifacts/<target>/; replay it with `cargo +nightly fuzz run <target> <file>`).
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`); without them it
# says so and exits 0, so CI without nightly is not failed by it.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-60}
shift || true
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "skipped: fuzzing needs a nightly toolchain and cargo-fuzz (cargo install cargo-fuzz)" >&2
  exit 0
fi
# The fuzz crate is its own workspace; it starts from the main lockfile's versions.
[ -f Cargo.lock ] || cp ../Cargo.lock Cargo.lock

dict_of() {
  case $1 in
    warc | warc_gz) echo dicts/warc.dict ;;
    mail | mbox) echo dicts/mime.dict ;;
    spamassassin | jsonl | manifest | marker | unit_record | serve_body | token_shards) echo dicts/json.dict ;;
    recipe) echo dicts/recipe.dict ;;
    chat_template) echo dicts/jinja.dict ;;
    gguf) echo dicts/gguf.dict ;;
    tokenizer) echo dicts/tokenizer.dict ;;
  esac
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
nice -n 19 cargo +nightly fuzz build --release || exit 1

failed=()
printf '%-14s %8s %12s %8s %8s %s\n' target seconds executions edges features result
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "seeds/$target" "artifacts/$target"
  dict=$(dict_of "$target")
  log=$(mktemp)
  start=$(date +%s)
  # -rss_limit_mb: an input that makes a parser allocate beyond it is a finding too.
  nice -n 19 cargo +nightly fuzz run --release "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -max_len=262144 \
    -timeout=20 ${dict:+-dict=$dict} >"$log" 2>&1
  status=$?
  took=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  edges=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  features=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ $status -eq 0 ]; then
    result=ok
  else
    result="CRASH (log: $log)"
    failed+=("$target")
  fi
  printf '%-14s %8s %12s %8s %8s %s\n' "$target" "$took" "${execs:-?}" "${edges:-?}" "${features:-?}" "$result"
  [ $status -eq 0 ] && rm -f "$log"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
