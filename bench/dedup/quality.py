#!/usr/bin/env python3
"""Precision and recall of duplicate pairs: atelier's dedup beside datasketch's MinHashLSH.

Truth: every pair of documents whose word 5-gram shingle sets (as atelier normalizes and
cuts them, exported by the ``dedup_shingles`` example) have exact Jaccard similarity
>= 0.75. Pairs are unordered; documents with no shingles are left out.

Predictions, each scored by precision and recall against the truth:

* ``candidates``: pairs that share at least one LSH band. atelier: its own band keys
  (exported by ``dedup_shingles``); datasketch: ``MinHashLSH(num_perm=112,
  params=(14, 8))`` queried with each document's ``MinHash`` over the same shingles
  (UTF-8 bytes, ``update_batch``).
* ``clusters``: pairs inside one cluster, the connected components of the candidates,
  which is what deduplication acts on. atelier: the ``dedup_cluster`` metadata of its
  actual output (``dedup_jsonl --all``); datasketch: union-find over its candidates.

Usage (from the repository root)::

    bench/.venv/bin/python bench/dedup/quality.py [--corpus bench/.work/dedup/quality.jsonl]
"""

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench" / ".work" / "dedup"
THRESHOLD = 0.75


def run(cmd):
    print("$", " ".join(str(c) for c in cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)


def load_shingles(path):
    ids, sets = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            ids.append(d["id"])
            sets.append(set(d["shingles"]))
    return ids, sets


def true_pairs(ids, sets, with_pairs=False):
    """Pairs with Jaccard >= THRESHOLD, through an inverted index of shingles; the
    similarity of every pair that shares a shingle; and, if asked, those pairs as
    ``(index, index, jaccard)``."""
    postings = defaultdict(list)
    for i, s in enumerate(sets):
        for sh in s:
            postings[sh].append(i)
    shared = defaultdict(int)
    for docs in postings.values():
        if len(docs) > 200:
            # A boilerplate shingle: pairs that share only such shingles are far apart.
            continue
        for x in range(len(docs)):
            for y in range(x + 1, len(docs)):
                shared[(docs[x], docs[y])] += 1
    truth = set()
    sims = []
    pairs = [] if with_pairs else None
    for (a, b), inter in shared.items():
        union = len(sets[a]) + len(sets[b]) - inter
        j = inter / union
        sims.append(j)
        if with_pairs:
            pairs.append((a, b, j))
        if j >= THRESHOLD:
            truth.add(frozenset((ids[a], ids[b])))
    return truth, sims, pairs


def cluster_pairs(groups):
    out = set()
    for members in groups:
        members = sorted(members)
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                out.add(frozenset((members[x], members[y])))
    return out


def union_find_groups(ids, pairs):
    parent = {i: i for i in ids}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        a, b = tuple(p)
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups = defaultdict(list)
    for i in ids:
        groups[find(i)].append(i)
    return [g for g in groups.values() if len(g) > 1]


def datasketch_candidates(ids, sets):
    from datasketch import MinHash, MinHashLSH

    start = time.perf_counter()
    lsh = MinHashLSH(num_perm=112, params=(14, 8))
    hashes = {}
    for i, s in zip(ids, sets):
        if not s:
            continue
        m = MinHash(num_perm=112)
        m.update_batch([sh.encode("utf-8") for sh in s])
        hashes[i] = m
        lsh.insert(i, m)
    pairs = set()
    for i, m in hashes.items():
        for j in lsh.query(m):
            if j != i:
                pairs.add(frozenset((i, j)))
    return pairs, time.perf_counter() - start


def score(pred, truth):
    hit = len(pred & truth)
    p = hit / len(pred) if pred else 1.0
    r = hit / len(truth) if truth else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"pairs": len(pred), "precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(WORK / "quality.jsonl"))
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    corpus = Path(args.corpus)
    if not corpus.exists():
        run([sys.executable, ROOT / "bench/dedup/make_corpus.py", "quality", corpus])
    run(["cargo", "build", "--release", "-q", "-p", "atelier-dedup", "--examples"])
    examples = ROOT / "target" / "release" / "examples"
    shingles, ours_cand = WORK / "quality.shingles.jsonl", WORK / "quality.candidates.tsv"
    run([examples / "dedup_shingles", corpus, shingles, ours_cand])
    out_dir = WORK / "quality-out"
    out_dir.mkdir(parents=True, exist_ok=True)
    run([examples / "dedup_jsonl", "--input", corpus, "--output", out_dir / "all.jsonl", "--all",
         "--tasks", "4"])

    ids, sets = load_shingles(shingles)
    keyed = [i for i, s in zip(ids, sets) if s]
    truth, sims, _ = true_pairs(ids, sets)
    bins = defaultdict(int)
    for j in sims:
        if j >= 0.3:
            bins[min(int(j * 10), 9) / 10] += 1

    ours_candidates = set()
    with open(ours_cand, encoding="utf-8") as f:
        for line in f:
            a, b = line.rstrip("\n").split("\t")
            ours_candidates.add(frozenset((a, b)))
    keyed_set = set(keyed)
    clusters = defaultdict(list)
    with open(out_dir / "all.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if d["id"] in keyed_set:
                clusters[d["metadata"]["dedup_cluster"]].append(d["id"])
    ours_clusters = cluster_pairs([g for g in clusters.values() if len(g) > 1])

    ds_candidates, ds_seconds = datasketch_candidates(ids, sets)
    ds_clusters = cluster_pairs(union_find_groups(keyed, ds_candidates))

    result = {
        "documents": len(ids),
        "true_pairs": len(truth),
        "pairs_by_jaccard": {f"{k:.1f}": v for k, v in sorted(bins.items())},
        "atelier": {"candidates": score(ours_candidates, truth), "clusters": score(ours_clusters, truth)},
        "datasketch": {"candidates": score(ds_candidates, truth), "clusters": score(ds_clusters, truth),
                       "seconds": round(ds_seconds, 2)},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
