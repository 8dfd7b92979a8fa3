#!/usr/bin/env python3
"""Reproduces atelier's MinHash band keys from the specification in
``crates/dedup/src/signature.rs`` alone, in Python, and compares them with the keys the
Rust code writes (``dedup_shingles ... KEYS.tsv``) for ASCII documents, whose
normalization is simple to restate: lowercase, digits to ``0``, words are runs of ASCII
letters and digits.

Usage::

    bench/.venv/bin/python bench/dedup/spec_check.py KEYS.tsv CORPUS.jsonl [LIMIT]
"""

import json
import re
import sys

import xxhash

MASK = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def band_keys(text, k=5, bands=14, rows=8, seed=1):
    words = re.findall(r"[a-z0-9]+", re.sub(r"[0-9]", "0", text.lower()))
    if not words:
        return []
    state, a, b = seed, [], []
    for _ in range(bands * rows):
        state, x = splitmix64(state)
        a.append(x | 1)
        state, y = splitmix64(state)
        b.append(y)
    if len(words) < k:
        shingles = [" ".join(words)]
    else:
        shingles = [" ".join(words[i:i + k]) for i in range(len(words) - k + 1)]
    xs = [xxhash.xxh3_64_intdigest(s.encode()) for s in shingles]
    mins = [min(((ai * x + bi) & MASK) >> 32 for x in xs) for ai, bi in zip(a, b)]
    return [
        xxhash.xxh3_64_intdigest(b"".join(v.to_bytes(4, "little") for v in mins[j * rows:(j + 1) * rows]))
        for j in range(bands)
    ]


def main():
    keys_path, corpus = sys.argv[1], sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    rust = {}
    with open(keys_path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            rust[parts[0]] = [int(x) for x in parts[1:]]
    checked = 0
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if not d["text"].isascii():
                continue
            ours = band_keys(d["text"])
            assert ours == rust[d["id"]], f"keys differ for {d['id']}"
            checked += 1
            if checked == limit:
                break
    print(f"{checked} documents: the Python restatement gives the same {14 * checked} band keys")


if __name__ == "__main__":
    main()
