#!/usr/bin/env python3
"""Language ID: atelier-fasttext against fastText (PyPI fasttext-wheel), same model, same
sentences, same run.

Agreement: top label and its probability for every sentence (k=1), and every label and
probability above fastText's floor (k=-1) for the first 20 sentences of each language.
Speed: sentences per second on one core, best of R runs taken in turns: fastText's
batch `model.predict(list_of_sentences, k=1)` against the Rust example `predict --time 1`
(which loads the model and predicts with one `Predictor`; only predicting is timed).

    bench/.venv/bin/python bench/langid/run.py [--repeats 5]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

import fasttext

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "..", "shared", "data", "langid", "lingua-sentences")
MODEL = os.path.join(ROOT, "models", "lid.176.ftz")
EXAMPLE = os.path.join(ROOT, "target", "release", "examples", "predict")


def read_lines(path):
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n")


def rust(files, k, repeats):
    cmd = [EXAMPLE, MODEL, "--k", str(k)] + (["--time", str(repeats)] if repeats else []) + files
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    preds = [json.loads(line) for line in out.stdout.splitlines()]
    return preds, out.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "atelier-fasttext", "--example", "predict"],
        cwd=ROOT,
        check=True,
    )
    files = sorted(glob.glob(os.path.join(DATA, "*.txt")))
    sentences = [s for f in files for s in read_lines(f)]
    model = fasttext.FastText._FastText(MODEL)

    # fastText's own answer per sentence. The low-level `f.predict` returns (prob, label)
    # pairs; the batch API's probability arrays are wrong past the first column with
    # fasttext-wheel 0.9.2 under numpy 2, and its single-string API needs numpy < 2.
    ft_top = [model.f.predict(s + "\n", 1, 0.0, "strict") for s in sentences]
    rs_top, _ = rust(files, 1, 0)
    assert len(rs_top) == len(sentences), (len(rs_top), len(sentences))
    same = 0
    max_diff = 0.0
    mismatches = []
    for s, ft, rs in zip(sentences, ft_top, rs_top):
        ft_label, rs_label = ft[0][1], rs[0][0]
        if ft_label == rs_label:
            same += 1
            max_diff = max(max_diff, abs(ft[0][0] - rs[0][1]))
        else:
            mismatches.append((s, ft, rs))

    # Full distributions on a subset.
    subset_files = []
    subset = []
    for f in files:
        subset.extend(read_lines(f)[:20])
    tmp = os.path.join(ROOT, "bench", ".work", "langid-subset.txt")
    os.makedirs(os.path.dirname(tmp), exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as out:
        out.write("\n".join(subset) + "\n")
    subset_files.append(tmp)
    rs_all, _ = rust(subset_files, -1, 0)
    all_same_labels = 0
    all_max_diff = 0.0
    for s, rs in zip(subset, rs_all):
        ft = model.f.predict(s + "\n", -1, 0.0, "strict")
        if [l for _, l in ft] == [l for l, _ in rs]:
            all_same_labels += 1
        ftd = {l: p for p, l in ft}
        for l, p in rs:
            if l in ftd:
                all_max_diff = max(all_max_diff, abs(ftd[l] - p))

    # Speed: fastText's batch predict and the Rust example, one thread each, taking
    # turns R times (the machine is shared, so its load moves), best of R for each.
    best = float("inf")
    rs_rate = 0.0
    for _ in range(args.repeats):
        t = time.perf_counter()
        labels, _ = model.predict(sentences, k=1)
        best = min(best, time.perf_counter() - t)
        _, log = rust(files, 1, 1)
        rs_rate = max(rs_rate, float(log.strip().splitlines()[-1].split(": ")[1].split(" ")[0]))
    ft_rate = len(sentences) / best
    batch_labels_same = sum(l[0] == r[0][0] for l, r in zip(labels, rs_top))

    print(f"sentences: {len(sentences)} ({len(files)} languages)")
    print(f"top label identical: {same}/{len(sentences)} = {same / len(sentences):.5%}")
    print(f"batch-API top labels identical: {batch_labels_same}/{len(sentences)}")
    print(f"max |prob difference| of the top label: {max_diff:.3g}")
    print(
        f"k=-1 subset: label lists identical {all_same_labels}/{len(subset)}, "
        f"max |prob difference| {all_max_diff:.3g}"
    )
    print(f"fastText batch predict: {ft_rate:,.0f} sentences/s (best of {args.repeats})")
    print(f"atelier-fasttext:       {rs_rate:,.0f} sentences/s (best of {args.repeats})")
    print(f"ratio: {rs_rate / ft_rate:.2f}x")
    for s, ft, rs in mismatches[:10]:
        print("MISMATCH", repr(s[:80]), ft, rs)


if __name__ == "__main__":
    sys.exit(main())
