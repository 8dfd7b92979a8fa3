#!/usr/bin/env bash
# The FineWeb-style chain (extract, language label, Gopher repetition and quality, C4
# without the terminal-punctuation rule, FineWeb quality, JSONL) on a WARC of every page
# of ../shared/data/extraction, by atelier and by datatrove (peer.py), one task on one
# core each, then atelier with `tasks = 2` on both cores. Prints documents per second,
# the ratio, and each side's per-step split; copy them into RESULTS.md.
#
#   bash bench/chain/run.sh [ATELIER_BINARY=target/release/atelier] [CORE=1]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "${1:-target/release/atelier}")
core=${2:-1}
work=$(realpath -m bench/.work/chain)
mkdir -p "$work/warc"

if [ ! -x bench/.venv-chain/bin/python ]; then
  python3 -m venv bench/.venv-chain
  bench/.venv-chain/bin/pip install -q -r bench/chain/requirements.txt
fi
[ -x "$bin" ] || cargo build --release -q -p atelier
warc="$work/warc/pages.warc.gz"
[ -f "$warc" ] || python3 bench/warc/make_warc.py "$warc" 0 scrapinghub wcxb-dev

recipe() { # recipe TASKS
  cat <<EOT
[dataset]
name = "chain"
tasks = $1
store = false
[[source]]
path = "$warc"
[[step]]
type = "extract"
[[step]]
type = "language"
label_only = true
[[step]]
type = "gopher_repetition"
[[step]]
type = "gopher_quality"
[[step]]
type = "c4_quality"
filter_no_terminal_punct = false
[[step]]
type = "fineweb_quality"
[output]
path = "$work/atelier-$1"
compression = "gzip"
EOT
}

atelier() { # atelier TASKS WORKERS CPUS
  recipe "$1" >"$work/recipe-$1.toml"
  rm -rf "$work/atelier-$1"
  local start end
  start=$(date +%s.%N)
  taskset -c "$3" "$bin" run "$work/recipe-$1.toml" --workers "$2" --quiet >/dev/null
  end=$(date +%s.%N)
  python3 - "$work/atelier-$1/summary.json" "$start" "$end" <<'EOT'
import json, sys
s = json.load(open(sys.argv[1]))["stats"]
wall = float(sys.argv[3]) - float(sys.argv[2])
steps = [{"name": t["name"], "seconds": t["cpu_seconds"], "in": t["documents_in"], "kept": t["kept"]}
         for t in s["steps"]]
print(json.dumps({"read": s["steps"][0]["kept"], "written": s["steps"][-1]["kept"],
                  "wall": wall, "cpu": s["cpu_seconds"], "steps": steps}))
EOT
}

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "atelier: $("$bin" --version)"
echo "datatrove: $(bench/.venv-chain/bin/pip show datatrove | sed -n 's/^Version: //p'), trafilatura $(bench/.venv-chain/bin/pip show trafilatura | sed -n 's/^Version: //p')"

one=$(atelier 1 1 "$core")
rm -rf "$work/datatrove"
peer=$(taskset -c "$core" bench/.venv-chain/bin/python bench/chain/peer.py "$work/warc" "$work/datatrove" \
  "$(realpath models/lid.176.ftz)" 2>"$work/datatrove.log")
two=$(atelier 2 2 0-1)

python3 - "$one" "$peer" "$two" <<'EOT'
import json, sys
one, peer, two = (json.loads(a) for a in sys.argv[1:4])
def rate(r): return r["read"] / r["wall"]
print(f"\n| run | documents read | written | wall s | CPU s | documents/s |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for name, r in (("atelier, tasks = 1, 1 core", one), ("datatrove, 1 task, 1 core", peer),
                ("atelier, tasks = 2, 2 cores", two)):
    print(f"| {name} | {r['read']} | {r['written']} | {r['wall']:.2f} | {r['cpu']:.2f} | {rate(r):.1f} |")
print(f"\natelier / datatrove, one core: {rate(one) / rate(peer):.1f}x documents/s")
print(f"atelier tasks = 2 / tasks = 1: {rate(two) / rate(one):.2f}x")
for name, r in (("atelier (CPU s)", one), ("datatrove (s)", peer)):
    total = sum(s["seconds"] for s in r["steps"]) or 1
    print(f"\n{name}: " + ", ".join(
        f"{s['name']} {s['seconds']:.2f} ({100 * s['seconds'] / total:.0f}%)" for s in r["steps"]))
EOT
