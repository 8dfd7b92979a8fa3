"""Summarizes bench/lm/gpu.sh's results as a Markdown table: training tokens/s of
atelier (its training steps alone, from the third) and PyTorch (after its warm-up) for
each pair of runs, their ratio, MFU, and atelier's measured energy.

    python3 bench/lm/gpu_summary.py RESULTS_DIR
"""

import json
import pathlib
import sys

PEAK = 989e12  # H100/H200 SXM dense bf16 FLOP/s

out = pathlib.Path(sys.argv[1])


def load(name):
    p = out / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


rows = [("GPU, 135M, bf16, 8 x 1024", "atelier-gpu", "torch-gpu"),
        ("CPU 8 threads, 135M, f32, 2 x 256", "atelier-cpu-135m", "torch-cpu-135m"),
        ("CPU 8 threads, 10M, f32, 8 x 256", "atelier-cpu-10m", "torch-cpu-10m")]
print("| run | atelier tokens/s | PyTorch tokens/s | ratio | atelier MFU | PyTorch MFU | atelier energy |")
print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
for label, ours_name, torch_name in rows:
    ours, torch = load(ours_name), load(torch_name)
    o = ours["outcome"] if ours else None
    ours_tps = o and o.get("step_tokens_per_s")
    torch_tps = torch and torch.get("tokens_per_s")
    ratio = f"{ours_tps / torch_tps:.2f}" if ours_tps and torch_tps else "-"
    mfu = f"{6 * o['parameters'] * ours_tps / PEAK:.1%}" if ours_tps and "gpu" in ours_name else "-"
    tmfu = f"{torch['mfu']:.1%}" if torch and torch.get("mfu") else "-"
    energy = "-"
    if ours:
        e = ours["energy"]
        energy = (f"GPU {e['gpu_joules'] / 3600:.2f} Wh ({e.get('gpu_method') or 'estimated'}), "
                  f"CPU {e['cpu_joules'] / 3600:.2f} Wh, {e['wall_seconds']:.0f} s")
    fmt = lambda x: f"{x:,.0f}" if x else "failed"
    print(f"| {label} | {fmt(ours_tps)} | {fmt(torch_tps)} | {ratio} | {mfu} | {tmfu} | {energy} |")
