#!/usr/bin/env python3
"""Is atelier's MinHash family an unbiased Jaccard estimator? Beside datasketch's.

For every pair of documents with exact Jaccard J >= 0.3 on the shingle sets written by
``quality.py`` (``bench/.work/dedup/quality.shingles.jsonl``), the fraction of equal
signature values (of 112) should average J. This prints mean(fraction - J) over all
pairs and over pairs with 0.6 <= J < 0.9 (where the 14 x 8 LSH threshold lies), for five
hash seeds of each implementation. atelier's signatures are computed here from its
specification (``crates/dedup/src/signature.rs``; ``spec_check.py`` checks the
restatement against the Rust code), vectorized with numpy.

Usage::

    bench/.venv/bin/python bench/dedup/bias.py [SHINGLES.jsonl]
"""

import sys
from pathlib import Path

import numpy as np
import xxhash
from datasketch import MinHash

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402
from spec_check import splitmix64  # noqa: E402


def ours_params(seed, n=112):
    state, a, b = seed, [], []
    for _ in range(n):
        state, x = splitmix64(state)
        a.append(x | 1)
        state, y = splitmix64(state)
        b.append(y)
    return np.array(a, dtype=np.uint64)[:, None], np.array(b, dtype=np.uint64)[:, None]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else str(quality.WORK / "quality.shingles.jsonl")
    ids, sets = quality.load_shingles(path)
    _, _, pairs = quality.true_pairs(ids, sets, with_pairs=True)
    pairs = [(a, b, j) for a, b, j in pairs if j >= 0.3]
    need = sorted({a for a, _, _ in pairs} | {b for _, b, _ in pairs})
    hashes = {i: np.array([xxhash.xxh3_64_intdigest(s.encode()) for s in sets[i]],
                          dtype=np.uint64)[None, :] for i in need}
    print(f"{len(pairs)} pairs with J >= 0.3")
    print("| seed | atelier, all | datasketch, all | atelier, 0.6-0.9 | datasketch, 0.6-0.9 |")
    print("| --- | --- | --- | --- | --- |")
    for seed in range(1, 6):
        a, b = ours_params(seed)
        with np.errstate(over="ignore"):
            ours = {i: ((a * hashes[i] + b) >> np.uint64(32)).min(axis=1) for i in need}
        theirs = {}
        for i in need:
            m = MinHash(num_perm=112, seed=seed)
            m.update_batch([s.encode() for s in sets[i]])
            theirs[i] = m.hashvalues
        sums = np.zeros(4)
        counts = np.zeros(2)
        for x, y, j in pairs:
            o = (ours[x] == ours[y]).mean() - j
            t = (theirs[x] == theirs[y]).mean() - j
            sums[:2] += (o, t)
            counts[0] += 1
            if 0.6 <= j < 0.9:
                sums[2:] += (o, t)
                counts[1] += 1
        m = sums / np.repeat(counts, 2)
        print(f"| {seed} | {m[0]:+.4f} | {m[1]:+.4f} | {m[2]:+.4f} | {m[3]:+.4f} |")


if __name__ == "__main__":
    main()
