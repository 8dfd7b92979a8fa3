"""Prefill and decode speed, atelier against llama.cpp, in the same run on the same files.

For each model file and thread count, one fresh process per engine and configuration
(llama.cpp through `reference.py speed --one`, atelier through its `speed` example),
alternating engines; the same 256-token English prompt (the two tokenizers agree), 128
greedy decode steps, best of 3, peak RSS. Prints a Markdown table and writes JSON.

    bench/.venv/bin/python bench/lm/speed.py --atelier target/release/examples/speed \
        --q41 Q4_1.gguf --q8 Q8_0.gguf [--threads 1,2] [--out speed.json]
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TEXT = os.path.join(HERE, "../../../shared/data/langid/lingua-sentences/en.txt")


def llama_cpp(model, threads, prompt, decode, repeats):
    cmd = [sys.executable, os.path.join(HERE, "reference.py"), "speed", "--one", "-m", model,
           "--threads-one", str(threads), "--prompt-tokens", str(prompt),
           "--decode-tokens", str(decode), "--repeats", str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def atelier(binary, model, threads, requantize, prompt, decode, repeats):
    cmd = [binary, model, str(threads), requantize or "-", str(prompt), str(decode),
           str(repeats), TEXT]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--atelier", required=True)
    ap.add_argument("--q41", required=True, help="the shipped Q4_1 file")
    ap.add_argument("--q8", required=True, help="a Q8_0 re-quantization of it")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--prompt", type=int, default=256)
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out")
    args = ap.parse_args()
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        for label, model, ours in [
            ("Q4_1 as shipped", args.q41, [("as shipped", None), ("re-quantized to Q8_0 at load", "q8_0")]),
            ("Q8_0 file", args.q8, [("as is", None)]),
        ]:
            ref = llama_cpp(model, threads, args.prompt, args.decode, args.repeats)
            for how, requantize in ours:
                mine = atelier(args.atelier, model, threads, requantize, args.prompt,
                               args.decode, args.repeats)
                rows.append({"file": label, "atelier": how, "threads": threads,
                             "llama_cpp": ref, "ours": mine,
                             "prefill_ratio": mine["prefill_tok_s"] / ref["prefill_tok_s"],
                             "decode_ratio": mine["decode_tok_s"] / ref["decode_tok_s"]})
                r = rows[-1]
                print(f"  {label}, atelier {how}, {threads} thread(s): prefill "
                      f"{mine['prefill_tok_s']:.0f} vs {ref['prefill_tok_s']:.0f} tok/s, decode "
                      f"{mine['decode_tok_s']:.1f} vs {ref['decode_tok_s']:.1f} tok/s", file=sys.stderr)
    print("| file | atelier loads it | threads | prefill tok/s atelier / llama.cpp (ratio) "
          "| decode tok/s atelier / llama.cpp (ratio) | peak RSS MiB atelier / llama.cpp |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        o, l = r["ours"], r["llama_cpp"]
        print(f"| {r['file']} | {r['atelier']} | {r['threads']} | {o['prefill_tok_s']:.0f} / "
              f"{l['prefill_tok_s']:.0f} ({r['prefill_ratio']:.2f}x) | {o['decode_tok_s']:.1f} / "
              f"{l['decode_tok_s']:.1f} ({r['decode_ratio']:.2f}x) | {o['peak_rss_mib']:.0f} / "
              f"{l['peak_rss_mib']:.0f} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
