#!/usr/bin/env python3
"""End-to-end MinHash dedup of a JSONL file by datasketch or by datatrove, for the speed
comparison in ``run.sh`` (which pins each to one core and times it).

Both use atelier's defaults: word 5-gram shingles, 112 hashes as 14 bands of 8, keep the
first document of each cluster.

* ``datasketch``: read, lowercase and split into ``\\w+`` words, shingle, ``MinHash``
  (``update_batch``), ``MinHashLSH(params=(14, 8))`` insert, then query each document,
  union-find over the pairs, write the kept documents.
* ``datatrove``: its four stages with the local executor, one worker:
  ``MinhashDedupSignature``, ``MinhashDedupBuckets`` (14 tasks, one per bucket, as it
  requires), ``MinhashDedupCluster``, ``MinhashDedupFilter`` between a JSONL reader and
  writer.

Usage::

    bench/.venv/bin/python bench/dedup/peers.py datasketch IN.jsonl OUT_DIR
    bench/.venv/bin/python bench/dedup/peers.py datatrove IN.jsonl OUT_DIR

Prints ``{"documents": N, "kept": K, "seconds": S}`` on the last line.
"""

import json
import re
import shutil
import sys
import time
from pathlib import Path

WORD = re.compile(r"\w+")


def datasketch(corpus, out):
    from datasketch import MinHash, MinHashLSH

    start = time.perf_counter()
    lsh = MinHashLSH(num_perm=112, params=(14, 8))
    docs, hashes = [], []
    with open(corpus, encoding="utf-8") as f:
        for i, line in enumerate(f):
            d = json.loads(line)
            words = WORD.findall(d["text"].lower())
            shingles = {" ".join(words[j:j + 5]) for j in range(max(len(words) - 4, 1))}
            shingles.discard("")
            docs.append(line)
            if not shingles:
                hashes.append(None)
                continue
            m = MinHash(num_perm=112)
            m.update_batch([s.encode("utf-8") for s in shingles])
            lsh.insert(i, m)
            hashes.append(m)
    parent = list(range(len(docs)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, m in enumerate(hashes):
        if m is None:
            continue
        for j in lsh.query(m):
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    kept = 0
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "kept.jsonl", "w", encoding="utf-8") as f:
        for i, line in enumerate(docs):
            if find(i) == i:
                f.write(line)
                kept += 1
    return len(docs), kept, time.perf_counter() - start


def datatrove(corpus, out):
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    if out.exists():
        shutil.rmtree(out)
    config = MinhashConfig()  # 5-grams, 14 buckets of 8 hashes
    corpus = Path(corpus)
    reader = lambda: JsonlReader(str(corpus.parent), glob_pattern=corpus.name, compression=None)
    start = time.perf_counter()
    stages = [
        ([reader(), MinhashDedupSignature(output_folder=str(out / "sigs"), config=config)], 1),
        ([MinhashDedupBuckets(input_folder=str(out / "sigs"), output_folder=str(out / "buckets"),
                              config=config)], config.num_buckets),
        ([MinhashDedupCluster(input_folder=str(out / "buckets"), output_folder=str(out / "remove"),
                              config=config)], 1),
        ([reader(), MinhashDedupFilter(input_folder=str(out / "remove")),
          JsonlWriter(str(out / "kept"), compression=None)], 1),
    ]
    for i, (pipeline, tasks) in enumerate(stages):
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1,
                              logging_dir=str(out / f"logs{i}")).run()
    seconds = time.perf_counter() - start
    kept = sum(1 for p in (out / "kept").glob("*.jsonl") for _ in open(p, encoding="utf-8"))
    documents = sum(1 for _ in open(corpus, encoding="utf-8"))
    return documents, kept, seconds


def main():
    which, corpus, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    documents, kept, seconds = {"datasketch": datasketch, "datatrove": datatrove}[which](corpus, out)
    print(json.dumps({"documents": documents, "kept": kept, "seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main()
