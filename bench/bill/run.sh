#!/usr/bin/env bash
# Energy of the bundled example (examples/spam) by atelier's bill and by CodeCarbon 3.3.2,
# on this machine, both estimating (no RAPL here), and the cost of the energy meter.
# Prints per-run JSON lines, then the means; copy them into bench/bill/RESULTS.md.
#
#   bash bench/bill/run.sh [REPEAT=20]
#
# Two CodeCarbon runs are made, each in process mode (it tracks the atelier process):
#   same-constants: CodeCarbon given atelier's power model (force_cpu_power = watts per
#     core x logical CPUs, force_ram_power = 0.375 W/GiB x atelier's peak RSS), so what
#     differs is the accounting: CodeCarbon's whole-process CPU time and wall time
#     against atelier's per-step CPU time on the task threads;
#   defaults: CodeCarbon's own constants (4 W per thread for an unknown CPU, RAM at
#     5 W per DIMM with at least two DIMMs).
set -euo pipefail
cd "$(dirname "$0")/../.."
repeat=${1:-20}
work=$(realpath -m bench/.work/bill)
mkdir -p "$work"

python3 -m venv bench/.venv >/dev/null 2>&1 || true
bench/.venv/bin/pip install -q codecarbon==3.3.2
cargo build --release -q -p atelier
cargo build --release -q -p atelier-bill --example local_power --example meter_cost

sed -e "s#path = \"data\"#path = \"$(realpath examples/spam/data)\"#" \
    -e "s#path = \"out/dataset\"#path = \"$work/out\"#" \
    -e "s#^\[dataset\]#[dataset]\nstore = false  \# every run does the whole work#" \
    examples/spam/atelier.toml > "$work/atelier.toml"

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), family $(lscpu | sed -n 's/^CPU family: *//p') model $(lscpu | sed -n 's/^Model: *//p'), $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB"
if ls /sys/class/powercap/intel-rapl:*/energy_uj >/dev/null 2>&1 && cat /sys/class/powercap/intel-rapl:*/energy_uj >/dev/null 2>&1; then
  echo "rapl: readable"
else
  echo "rapl: not readable (estimates on both sides)"
fi

# A warm-up run, which also gives the peak RSS for CodeCarbon's RAM constant.
rm -rf "$work/out"
target/release/atelier run --quiet "$work/atelier.toml" >/dev/null
wpc=$(target/release/examples/local_power)
cpu_watts=$(python3 -c "print($wpc * $(nproc))")
ram_watts=$(python3 -c "import json;print(0.375*json.load(open('$work/out/summary.json'))['stats']['peak_rss_bytes']/2**30)")
echo "atelier: $wpc W per core; CodeCarbon given force_cpu_power=$cpu_watts force_ram_power=$ram_watts"

run() { # run MODE [codecarbon options]
  local mode=$1; shift
  bench/.venv/bin/python bench/bill/codecarbon_run.py --repeat "$repeat" "$@" \
    --before "rm -rf '$work/out'" \
    --after "target/release/atelier bill '$work/atelier.toml' --json" \
    -- target/release/atelier run --quiet "$work/atelier.toml" > "$work/$mode.jsonl"
  python3 - "$work/$mode.jsonl" "$mode" <<'PY'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cc = [r["codecarbon_kwh"] for r in rows]
ours = [r["after"]["total"]["kwh"] for r in rows]
ratio = [c / o for c, o in zip(cc, ours)]
task_cpu = [r["after"]["total"]["cpu_seconds"] for r in rows]
proc_cpu = [r["child_cpu_seconds"] for r in rows]
print(f"{sys.argv[2]}: {len(rows)} runs")
print(f"  atelier    kWh/run {st.mean(ours):.3e}  (task CPU {st.mean(task_cpu):.3f} s)")
print(f"  CodeCarbon kWh/run {st.mean(cc):.3e}  (process CPU {st.mean(proc_cpu):.3f} s;"
      f" cpu {st.mean(r['codecarbon_cpu_kwh'] for r in rows):.3e}, ram {st.mean(r['codecarbon_ram_kwh'] for r in rows):.3e})")
print(f"  CodeCarbon / atelier: mean {st.mean(ratio):.3f}, median {st.median(ratio):.3f},"
      f" min {min(ratio):.3f}, max {max(ratio):.3f}")
PY
}
run same-constants --cpu-watts "$cpu_watts" --ram-watts "$ram_watts"
run defaults

echo "ledger overhead:"
target/release/examples/meter_cost 200000
python3 -c "
import json
s = json.load(open('$work/out/summary.json'))['stats']
print(f'mean task wall on the example: {s[\"wall_seconds\"] / s[\"tasks\"] * 1e3:.1f} ms over {s[\"tasks\"]} tasks')"
