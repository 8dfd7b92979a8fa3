#!/usr/bin/env python3
"""Model formats: small supervised models trained here with fastText (PyPI
`fasttext-wheel`) on the SMS spam collection, one per loss (softmax, hs, ova, ns), with
word bigrams and character n-grams, saved as `.bin` and quantized to `.ftz` (product
quantization with `qnorm`, `qout` and a `cutoff` that prunes the n-gram buckets).
Every model predicts every message (k=-1) with fastText and with atelier-fasttext; label
lists and probabilities are compared.

    bench/.venv/bin/python bench/langid/formats.py
"""
import json
import os
import subprocess

import fasttext

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "..", "shared", "data", "classification", "sms-spam", "SMSSpamCollection")
WORK = os.path.join(ROOT, "bench", ".work", "formats")
EXAMPLE = os.path.join(ROOT, "target", "release", "examples", "predict")


def main():
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "atelier-fasttext", "--example", "predict"],
        cwd=ROOT,
        check=True,
    )
    os.makedirs(WORK, exist_ok=True)
    with open(DATA, encoding="utf-8") as f:
        rows = [l.rstrip("\n").split("\t", 1) for l in f.read().split("\n")[1:] if "\t" in l]
    train = os.path.join(WORK, "train.txt")
    texts = [" ".join(text.split()) for _, text in rows]
    with open(train, "w", encoding="utf-8") as f:
        for (label, _), text in zip(rows, texts):
            f.write(f"__label__{label} {text}\n")
    lines = os.path.join(WORK, "lines.txt")
    with open(lines, "w", encoding="utf-8") as f:
        f.write("\n".join(texts) + "\n")
    for loss in ["softmax", "hs", "ova", "ns"]:
        model = fasttext.train_supervised(
            input=train, dim=16, epoch=3, wordNgrams=2, minn=2, maxn=4, bucket=20000,
            loss=loss, thread=1, verbose=0, seed=1,
        )
        paths = {"bin": os.path.join(WORK, f"{loss}.bin"), "ftz": os.path.join(WORK, f"{loss}.ftz")}
        model.save_model(paths["bin"])
        # qout needs at least 256 output rows; two labels have two.
        model.quantize(input=train, qnorm=True, qout=False, cutoff=5000, retrain=False)
        model.save_model(paths["ftz"])
        for kind, path in paths.items():
            ft = fasttext.FastText._FastText(path)
            out = subprocess.run([EXAMPLE, path, "--k", "-1", lines], capture_output=True, text=True, check=True)
            ours = [json.loads(l) for l in out.stdout.splitlines()]
            same, worst = 0, 0.0
            for text, mine in zip(texts, ours):
                ref = ft.f.predict(text + "\n", -1, 0.0, "strict")
                if [l for _, l in ref] == [l for l, _ in mine]:
                    same += 1
                worst = max([worst] + [abs(p - q) for (p, _), (_, q) in zip(ref, mine)])
            size = os.path.getsize(path)
            print(
                f"{loss:8} .{kind}: {size:>9,} bytes; label lists identical {same}/{len(texts)}, "
                f"max |prob difference| {worst:.2g}"
            )


if __name__ == "__main__":
    main()
