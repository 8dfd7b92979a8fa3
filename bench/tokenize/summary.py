"""Print the summary tables of bench/tokenize/run.sh from its result files.

  summary.py RESULTS_DIR

Reads speed-<tool>-t<tasks>-r<k>.json (measure.py / datatrove_tokenize.py), mem-*.json,
train-*.json, bigdoc-*.json, compare-*.json. Speed: the run with the best wall time of each tool and
task count; tokens per CPU-second is tokens / (user + sys seconds of the process tree).
"""

import json
import re
import sys
from pathlib import Path


def load(p: Path):
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def fmt(x, nd=2):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def table(rows, head):
    w = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(head)] if rows else [len(h) for h in head]
    line = lambda r: "  ".join(str(c).rjust(w[i]) if i else str(c).ljust(w[i]) for i, c in enumerate(r))
    print(line(head))
    print("  ".join("-" * x for x in w))
    for r in rows:
        print(line(r))


def main():
    res = Path(sys.argv[1])
    # ---- speed
    best = {}
    for p in sorted(res.glob("speed-*-t*-r*.json")):
        m = re.match(r"speed-(.+)-t(\d+)-r(\d+)\.json", p.name)
        d = load(p)
        if not m or not d or d.get("rc", 0) != 0:
            continue
        key = (m.group(1), int(m.group(2)))
        runs = best.setdefault(key, [])
        runs.append(d)
    rows, by = [], {}
    for (tool, tasks), runs in sorted(best.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        d = min(runs, key=lambda r: r["wall_s"])
        tok = d.get("tokens")
        tps = tok / d["wall_s"] if tok and d["wall_s"] else None
        tpc = tok / d["cpu_s"] if tok and d["cpu_s"] else None
        by[(tool, tasks)] = (tps, tpc)
        rows.append([tool, tasks, len(runs), fmt(d["wall_s"]), fmt(d["cpu_s"]), fmt(tok), fmt(d.get("documents")),
                     fmt(tps, 0), fmt(tpc, 0), fmt(d.get("max_rss_mib"), 0), fmt(d.get("peak_tree_rss_mib"), 0)])
    if rows:
        print("\n## speed (best wall of the runs; same tokenizer, same input, datatrove layout only)\n")
        table(rows, ["tool", "tasks", "runs", "wall s", "CPU s", "tokens", "docs", "tok/s", "tok/CPU-s", "maxRSS MiB", "tree RSS MiB"])
        for tasks in sorted({t for _, t in by}):
            a, d = by.get(("atelier", tasks)), by.get(("datatrove", tasks))
            if a and d and a[0] and d[0]:
                print(f"tasks {tasks}: atelier / datatrove  tokens/s x{a[0] / d[0]:.2f}, tokens per CPU-second x{a[1] / d[1]:.2f}")

    # ---- memory
    rows = []
    for tool in ("atelier", "datatrove"):
        one, ten = load(res / f"mem-{tool}-x1.json"), load(res / f"mem-{tool}-x10.json")
        if one and ten:
            ok = ten.get("tokens") == 10 * (one.get("tokens") or 0) and ten.get("documents") == 10 * (one.get("documents") or 0)
            rows.append([tool, fmt(one.get("tokens")), fmt(ten.get("tokens")), "yes" if ok else "NO",
                         fmt(one.get("max_rss_mib"), 0), fmt(ten.get("max_rss_mib"), 0),
                         fmt(ten["max_rss_mib"] / one["max_rss_mib"] if one.get("max_rss_mib") else None),
                         fmt(one.get("wall_s")), fmt(ten.get("wall_s"))])
    if rows:
        print("\n## memory: corpus x1 vs x10 (tasks 1)\n")
        table(rows, ["tool", "tokens x1", "tokens x10", "10x tokens", "maxRSS x1", "maxRSS x10", "ratio", "wall x1", "wall x10"])

    # ---- one 100 MB document
    rows = []
    bi = load(res / "bigdoc-input.json")
    for tool in ("atelier", "datatrove"):
        d = load(res / f"bigdoc-{tool}.json")
        if d:
            tok = d.get("tokens")
            rows.append([tool, "stopped: " + d["stopped"] if d.get("stopped") else ("finished" if d.get("rc", 0) == 0 else f"exit {d.get('rc')}"),
                         fmt(d.get("wall_s")), fmt(d.get("cpu_s")), fmt(tok),
                         fmt(tok / d["wall_s"] if tok and d.get("wall_s") else None, 0),
                         fmt(d.get("max_rss_mib"), 0), fmt(d.get("peak_tree_rss_mib"), 0)])
    if rows:
        size = f"{bi['text_bytes']:,} bytes, {bi['characters']:,} characters" if bi else "?"
        print(f"\n## one document of {size} (tasks 1, datatrove layout)\n")
        table(rows, ["tool", "outcome", "wall s", "CPU s", "tokens", "tok/s", "maxRSS MiB", "tree RSS MiB"])
        ids = load(res / "compare-bigdoc-ids.json")
        if ids:
            print(f"ids vs Python tokenizers (encode_special_tokens=True, {ids.get('chunks')} chunks cut where exact): "
                  f"{'identical' if ids.get('ok') else 'DIFFERENT'}, {fmt(ids.get('tokens_atelier'))} vs {fmt(ids.get('tokens_tokenizers'))} tokens; "
                  f"Python {ids.get('python_s')} s, {fmt(ids.get('python_max_rss_mib'))} MiB")

    # ---- train
    rows = []
    for tool in ("atelier", "tokenizers"):
        d = load(res / f"train-{tool}.json")
        if d:
            rows.append([tool, fmt(d.get("wall_s")), fmt(d.get("cpu_s")), fmt(d.get("max_rss_mib"), 0)])
    ec = load(res / "export-compare.json")
    if ec:
        print(f"\n## tokenizer export (GGUF -> tokenizer.json) vs export_reference.py\n\nvocab+merges+added tokens identical: "
              f"{'yes' if ec.get('identical') else 'NO'}; settings that differ: {ec.get('settings_differ') or 'none'}; "
              f"texts with other ids {ec.get('texts_differ')}/{ec.get('texts')}")
    tc = load(res / "train-compare.json")
    if rows:
        print("\n## tokenizer training (vocab 4096, min frequency 2)\n")
        table(rows, ["tool", "wall s", "CPU s", "maxRSS MiB"])
    if tc:
        print(f"vocab+merges identical: {'yes' if tc.get('identical') else 'NO'}; vocab {tc.get('vocab_a')} vs {tc.get('vocab_b')}, "
              f"merges {tc.get('merges_a')} vs {tc.get('merges_b')}, first merge difference {tc.get('merges_first_difference')}, "
              f"texts with other ids {tc.get('texts_differ')}/{tc.get('texts')}")

    # ---- compare
    rows = []
    for p in sorted(res.glob("compare-*.json")):
        d = load(p)
        if d:
            mode = "per document" if d.get("literal_specials_may_differ") else ("ids only" if "tokens_atelier" in d else "bytes")
            rows.append([p.stem[len("compare-"):], "PASS" if d.get("ok") else "FAIL", fmt(d.get("documents")),
                         fmt(d.get("tokens", d.get("tokens_atelier"))), fmt(d.get("literal_special_documents")), mode,
                         ", ".join(d.get("failures", []))[:100]])
    if rows:
        print("\n## output checks (compare.py)\n")
        table(rows, ["run", "result", "documents", "tokens", "literal specials", "vs datatrove", "failures"])


if __name__ == "__main__":
    main()
