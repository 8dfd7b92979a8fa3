#!/usr/bin/env bash
# WARC read to JSONL write on one core, beside warcio iterating the same file, and peak
# memory with 2 workers on a 1 GB WARC. Results go to stdout; copy them into RESULTS.md.
#
#   bash bench/warc/run.sh [SIZE_MB=200] [BIG_MB=1000]
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${1:-200}
big=${2:-1000}
work=bench/.work/warc
mkdir -p "$work"

python3 -m venv bench/.venv >/dev/null 2>&1 || true
bench/.venv/bin/pip install -q warcio==1.7.4
cargo build --release -q -p atelier

for ext in warc warc.gz; do
  [ -f "$work/bench.$ext" ] || python3 bench/warc/make_warc.py "$work/bench.$ext" "$size"
done

recipe() { # recipe FILE OUT
  cat > "$work/recipe.toml" <<EOT
[dataset]
tasks = 8
store = false
[[source]]
path = "$(realpath "$1")"
[output]
path = "$(realpath -m "$2")"
compression = "none"
EOT
}

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
for ext in warc warc.gz; do
  file="$work/bench.$ext"
  mb=$(python3 -c "import os;print(os.path.getsize('$file')/1e6)")
  recipe "$file" "$work/out-$ext"
  rm -rf "$work/out-$ext"
  start=$(date +%s.%N)
  target/release/atelier run "$work/recipe.toml" --workers 1 --quiet >/dev/null
  t=$(python3 -c "import time;print(time.time()-$start)")
  python3 - "$work/out-$ext/summary.json" "$mb" "$t" "$ext" <<'EOT'
import json, sys
s = json.load(open(sys.argv[1]))["stats"]
mb, wall, ext = float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
cpu = s["cpu_seconds"]
print(f"atelier  {ext}: {mb:.1f} MB, {s['steps'][-1]['kept']} docs, {wall:.2f} s wall, {cpu:.2f} s CPU: "
      f"{mb / wall:.1f} MB/s wall, {mb / cpu:.1f} MB/s CPU (1 worker, WARC to JSONL)")
EOT
  bench/.venv/bin/python - "$file" <<'EOT'
import sys, time
from warcio.archiveiterator import ArchiveIterator
path = sys.argv[1]
start = time.time(); cpu0 = time.process_time(); n = 0
with open(path, "rb") as f:
    for rec in ArchiveIterator(f):
        if rec.rec_type == "response":
            rec.content_stream().read(); n += 1
t = time.time() - start; cpu = time.process_time() - cpu0
import os
mb = os.path.getsize(path) / 1e6
kind = "warc.gz" if path.endswith(".gz") else "warc"
print(f"warcio   {kind}: {mb:.1f} MB, {n} records, {t:.2f} s wall, {cpu:.2f} s CPU: "
      f"{mb/t:.1f} MB/s wall, {mb/cpu:.1f} MB/s CPU (iterate and read bodies only)")
EOT
done

big_file="$work/big.warc.gz"
[ -f "$big_file" ] || python3 bench/warc/make_warc.py "$big_file" "$big"
recipe "$big_file" "$work/out-big"
rm -rf "$work/out-big"
/usr/bin/time -f "peak RSS %M KiB, %e s wall, 2 workers, $(du -m "$big_file" | cut -f1) MB warc.gz" \
  target/release/atelier run "$work/recipe.toml" --workers 2 --quiet >/dev/null
