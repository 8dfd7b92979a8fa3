#!/usr/bin/env python3
"""atelier's language-model engine against llama.cpp: the reference files that
bench/lm/reference.py wrote (bench/.work/lm/tokens.jsonl, greedy.jsonl) against what the
atelier CLI makes of the same inputs with the same GGUF file.

    bench/.venv/bin/python bench/lm/compare.py [--atelier target/release/atelier] [-m MODEL]
        [--only tokens|generate]

tokens: every text goes to `atelier lm tokenize -m MODEL` as a JSON string on one line of
stdin; each output line is the JSON array of its ids. Counts identical id lists and prints
the first 10 mismatches: both id lists from the first difference, with each id's piece.

generate: every rendered prompt goes to `atelier lm generate -m MODEL --raw --max-tokens
32 --temperature 0 --prompt-logprobs` as a JSON string on one line; each output line is a
JSON object with `text`, `tokens` (generated ids), `prompt_tokens` and `prompt_logprobs`.
Counts prompts tokenized alike and generations identical; for each divergence, where it
is and llama.cpp's gap between its two best logits there (a small gap means the two
engines' rounding can pick either); the largest |prompt logprob difference|.

Prints a summary and writes bench/.work/lm/compare.json.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
WORK = os.path.join(ROOT, "bench", ".work", "lm")
MODEL = os.path.join(WORK, "SmolLM2-135M-Instruct.Q4_1.gguf")
ATELIER = os.path.join(ROOT, "target", "release", "atelier")
MAX_NEW = 32


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run_lines(cmd, texts):
    """Runs cmd with one JSON string per input line; returns its stdout lines as JSON."""
    stdin = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts)
    out = subprocess.run(cmd, input=stdin.encode("utf-8"), capture_output=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr.decode("utf-8", "replace")[-4000:])
        raise SystemExit(f"failed ({out.returncode}): {' '.join(cmd)}")
    lines = [json.loads(l) for l in out.stdout.decode("utf-8").splitlines() if l.strip()]
    if len(lines) != len(texts):
        raise SystemExit(f"{len(texts)} inputs but {len(lines)} output lines: {' '.join(cmd)}")
    return lines


class Pieces:
    """Each id's piece, from llama.cpp's vocabulary (vocab_only: no weights loaded)."""

    def __init__(self, model):
        try:
            from llama_cpp import Llama

            self.llm = Llama(model_path=model, vocab_only=True, verbose=False)
        except Exception as e:  # noqa: BLE001 - pieces are only a help for reading
            print(f"(no pieces: {e})", file=sys.stderr)
            self.llm = None

    def __call__(self, ids):
        if self.llm is None:
            return None
        out = []
        for t in ids:
            try:
                b = self.llm.detokenize([t], special=True)
            except Exception:  # noqa: BLE001 - an id out of the vocabulary
                out.append(f"<bad id {t}>")
                continue
            out.append(b.decode("utf-8", "backslashreplace"))
        return out


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def compare_tokens(args, pieces):
    ref = read_jsonl(os.path.join(WORK, "tokens.jsonl"))
    got = run_lines([args.atelier, "lm", "tokenize", "-m", args.model], [r["text"] for r in ref])
    same = 0
    by_kind = {}
    mismatches = []
    for r, ids in zip(ref, got):
        kind = r.get("kind", "?").split(":")[0]
        k = by_kind.setdefault(kind, [0, 0])
        k[1] += 1
        if ids == r["ids"]:
            same += 1
            k[0] += 1
            continue
        at = first_difference(r["ids"], ids)
        mismatches.append({
            "kind": r.get("kind"),
            "text": r["text"],
            "at": at,
            "llama_cpp": r["ids"],
            "atelier": ids,
            "llama_cpp_pieces": pieces(r["ids"][at:at + 12]),
            "atelier_pieces": pieces(ids[at:at + 12]),
        })
    print(f"tokenize: {same}/{len(ref)} texts identical "
          + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(by_kind.items())))
    for m in mismatches[:10]:
        at = m["at"]
        print(f"  MISMATCH [{m['kind']}] {m['text'][:100]!r}")
        print(f"    first difference at token {at}")
        print(f"    llama.cpp {m['llama_cpp'][at:at + 12]} {m['llama_cpp_pieces']}")
        print(f"    atelier   {m['atelier'][at:at + 12]} {m['atelier_pieces']}")
    return {"texts": len(ref), "identical": same, "by_kind": by_kind, "mismatches": mismatches}


def compare_generate(args, pieces):
    ref = read_jsonl(os.path.join(WORK, "greedy.jsonl"))
    cmd = [args.atelier, "lm", "generate", "-m", args.model, "--raw", "--max-tokens", str(MAX_NEW),
           "--temperature", "0", "--prompt-logprobs"]
    got = run_lines(cmd, [r["prompt"] for r in ref])
    prompts_same = same = 0
    max_lp = 0.0
    sum_lp = n_lp = 0
    rows = []
    for i, (r, g) in enumerate(zip(ref, got)):
        row = {"index": i, "prompt_tokens_identical": g.get("prompt_tokens") == r["prompt_ids"]}
        prompts_same += row["prompt_tokens_identical"]
        if row["prompt_tokens_identical"] and g.get("prompt_logprobs") is not None:
            diffs = [abs(a - b) for a, b in zip(r["prompt_logprobs"][1:], g["prompt_logprobs"][1:])
                     if a is not None and b is not None]
            if diffs:
                row["max_prompt_logprob_diff"] = max(diffs)
                max_lp = max(max_lp, max(diffs))
                sum_lp += sum(diffs)
                n_lp += len(diffs)
        ours = g.get("tokens", [])
        at = first_difference(r["ids"], ours)
        if at is None:
            same += 1
        else:
            gaps = r["top2_gap"]
            row.update({
                "diverges_at": at,
                "llama_cpp_top2_gap": gaps[at] if at < len(gaps) else None,
                "llama_cpp_top2": r["top2"][at] if at < len(r["top2"]) else None,
                "llama_cpp_finish": r["finish"],
                "llama_cpp": r["ids"][at:at + 6],
                "atelier": ours[at:at + 6],
                "llama_cpp_pieces": pieces(r["ids"][at:at + 6]),
                "atelier_pieces": pieces(ours[at:at + 6]),
                "llama_cpp_text": r.get("text"),
                "atelier_text": g.get("text"),
            })
        rows.append(row)
    div = [r for r in rows if "diverges_at" in r]
    print(f"generate: prompt tokens identical {prompts_same}/{len(ref)}; "
          f"greedy generations identical {same}/{len(ref)}")
    if n_lp:
        print(f"  prompt logprobs: max |difference| {max_lp:.3g}, mean {sum_lp / n_lp:.3g} over {n_lp} tokens")
    for r in div:
        gap = r["llama_cpp_top2_gap"]
        gap = "n/a" if gap is None else f"{gap:.4f}"
        print(f"  #{r['index']}: diverges at generated token {r['diverges_at']} (llama.cpp top-2 gap {gap}); "
              f"llama.cpp {r['llama_cpp']} {r['llama_cpp_pieces']} / atelier {r['atelier']} {r['atelier_pieces']}")
    return {
        "prompts": len(ref),
        "prompt_tokens_identical": prompts_same,
        "generations_identical": same,
        "max_prompt_logprob_diff": max_lp if n_lp else None,
        "mean_prompt_logprob_diff": sum_lp / n_lp if n_lp else None,
        "divergences": div,
        "rows": rows,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--atelier", default=ATELIER)
    ap.add_argument("-m", "--model", default=MODEL)
    ap.add_argument("--only", choices=["tokens", "generate"])
    ap.add_argument("--out", default=os.path.join(WORK, "compare.json"))
    args = ap.parse_args()
    if not os.access(args.atelier, os.X_OK):
        raise SystemExit(f"no atelier binary at {args.atelier} (cargo build --release -p atelier)")
    pieces = Pieces(args.model)
    result = {"model": os.path.basename(args.model)}
    if args.only in (None, "tokens"):
        result["tokens"] = compare_tokens(args, pieces)
    if args.only in (None, "generate"):
        result["generate"] = compare_generate(args, pieces)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
    print(f"details: {args.out}")


if __name__ == "__main__":
    sys.exit(main())
