#!/usr/bin/env python3
"""Corpora for the dedup benchmark.

``quality``: real texts with planted near duplicates. Originals are the WCXB dev
ground-truth main contents (English web pages) and documents of 6 to 20 consecutive
lingua sentences in each of its 75 languages (Chinese, Japanese, Thai and Korean
included). A third of the originals get 1 to 3 copies with random word edits
(substitution by another word of the same text, deletion, insertion) at a rate drawn
uniformly in [0, 0.10], so the copies' Jaccard similarity to their original spreads over
roughly 0.3 to 1; some copies are copies of copies, and some have a paragraph of another
text appended. Documents are shuffled. The similarity itself is not planted but measured
exactly on the shingle sets by ``quality.py``.

``generated N``: N documents of 150 to 450 words drawn from a Zipf vocabulary of
50,000 made-up words, 10% of them near copies (5% of words edited) of an earlier one,
for the scale and speed runs.

Usage::

    python3 bench/dedup/make_corpus.py quality OUT.jsonl [--seed 1]
    bench/.venv/bin/python bench/dedup/make_corpus.py generated N OUT.jsonl [--seed 1]
"""

import argparse
import gzip
import json
import os
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("ATELIER_DATA", ROOT.parent / "shared" / "data"))
# Scripts written without spaces: edit characters, not space-separated words.
NO_SPACES = {"zh", "ja", "th"}


def originals():
    """(text, no_spaces) of every original."""
    out = []
    truth = DATA / "extraction" / "wcxb-dev" / "ground-truth"
    for path in sorted(truth.glob("*.json")):
        text = json.loads(path.read_text(encoding="utf-8"))["ground_truth"]["main_content"]
        if len(text.split()) >= 50:
            out.append((text, False))
    rng = random.Random(7)
    for path in sorted((DATA / "langid" / "lingua-sentences").glob("*.txt")):
        lines = [l.strip() for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
        i = 0
        while i < len(lines):
            n = rng.randint(6, 20)
            out.append((" ".join(lines[i:i + n]), path.stem in NO_SPACES))
            i += n
    return out


def tokens(text, no_spaces):
    return list(text) if no_spaces else text.split()


def join(toks, no_spaces):
    return "".join(toks) if no_spaces else " ".join(toks)


def edit(text, no_spaces, rate, rng):
    toks = tokens(text, no_spaces)
    vocab = toks[:] or ["x"]
    out = []
    for t in toks:
        r = rng.random()
        if r < rate / 3:
            out.append(rng.choice(vocab))  # substitute
        elif r < 2 * rate / 3:
            continue  # delete
        elif r < rate:
            out.extend([t, rng.choice(vocab)])  # insert
        else:
            out.append(t)
    return join(out, no_spaces)


def quality(path, seed):
    rng = random.Random(seed)
    base = originals()
    docs = []
    for fam, (text, no_spaces) in enumerate(base):
        docs.append({"text": text, "metadata": {"family": fam, "copy": 0, "rate": 0.0}})
        if rng.random() >= 1 / 3:
            continue
        sources = [text]
        for c in range(rng.randint(1, 3)):
            src = rng.choice(sources)  # sometimes a copy of a copy
            rate = rng.uniform(0.0, 0.10)
            copy = edit(src, no_spaces, rate, rng)
            if rng.random() < 0.15:
                other, other_ns = rng.choice(base)
                copy += "\n" + join(tokens(other, other_ns)[:80], other_ns)
            sources.append(copy)
            docs.append({"text": copy, "metadata": {"family": fam, "copy": c + 1, "rate": round(rate, 4)}})
    rng.shuffle(docs)
    write(path, docs)


def generated(n, path, seed):
    import numpy as np

    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = set()
    while len(vocab) < 50_000:
        vocab.add("".join(rng.choice(letters) for _ in range(rng.randint(2, 9))))
    vocab = sorted(vocab)
    rng.shuffle(vocab)
    cdf = np.cumsum(1.0 / np.arange(1, len(vocab) + 1))
    cdf /= cdf[-1]
    recent = []
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            if recent and rng.random() < 0.10:
                toks = rng.choice(recent).split()
                for j in np.flatnonzero(gen.random(len(toks)) < 0.05).tolist():
                    toks[j] = vocab[int(np.searchsorted(cdf, gen.random()))]
                text = " ".join(toks)
            else:
                idx = np.searchsorted(cdf, gen.random(rng.randint(150, 450)))
                text = " ".join(map(vocab.__getitem__, idx.tolist()))
            if len(recent) < 1000:
                recent.append(text)
            else:
                recent[rng.randrange(1000)] = text
            f.write(json.dumps({"id": f"g{i:08d}", "text": text}) + "\n")


def write(path, docs):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        for i, d in enumerate(docs):
            d.setdefault("id", f"d{i:06d}")
            f.write(json.dumps({"id": d["id"], "text": d["text"], "metadata": d.get("metadata", {})},
                               ensure_ascii=False) + "\n")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="kind", required=True)
    q = sub.add_parser("quality")
    q.add_argument("out")
    q.add_argument("--seed", type=int, default=1)
    g = sub.add_parser("generated")
    g.add_argument("n", type=int)
    g.add_argument("out")
    g.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.kind == "quality":
        quality(args.out, args.seed)
    else:
        generated(args.n, args.out, args.seed)


if __name__ == "__main__":
    main()
