#!/usr/bin/env python3
"""Quality rules: atelier-refine against datatrove on the same documents, same run.

Documents: the 499 pages of the WCXB dev split, text = `ground_truth.main_content`.
For each rule (Gopher repetition, Gopher quality, C4, FineWeb) the keep/drop decision of
datatrove's filter (default settings, English) is compared with the Rust example
`quality` (default settings); for C4 the text it keeps is compared too. Word lists
(spaCy's blank English tokenizer, which datatrove uses for English) are compared
document by document to explain disagreements.

    bench/.venv/bin/python bench/quality/run.py [--words auto|english|unicode]
"""
import argparse
import collections
import glob
import json
import os
import subprocess
import sys
import time

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.utils.word_tokenizers import load_word_tokenizer

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "..", "shared", "data", "extraction", "wcxb-dev", "ground-truth")
WORK = os.path.join(ROOT, "bench", ".work")
EXAMPLE = os.path.join(ROOT, "target", "release", "examples", "quality")
PREFIX = {
    "gopher_repetition": "gopher_rep:",
    "gopher_quality": "gopher_quality:",
    "c4_quality": "c4:",
    "fineweb_quality": "fineweb:",
}


def documents():
    docs = []
    for path in sorted(glob.glob(os.path.join(DATA, "*.json"))):
        with open(path, encoding="utf-8") as f:
            gt = json.load(f)
        text = (gt.get("ground_truth") or {}).get("main_content") or ""
        docs.append({"id": os.path.basename(path)[:-5], "text": text})
    return docs


def datatrove(docs):
    filters = {
        "gopher_repetition": GopherRepetitionFilter(),
        "gopher_quality": GopherQualityFilter(),
        "c4_quality": C4QualityFilter(),
        "fineweb_quality": FineWebQualityFilter(),
    }
    out = []
    times = collections.Counter()
    for d in docs:
        rec = {"id": d["id"]}
        for name, f in filters.items():
            doc = Document(text=d["text"], id=d["id"])
            t = time.perf_counter()
            try:
                res = f.filter(doc)
            except ZeroDivisionError:
                res = (False, "ZeroDivisionError")
            times[name] += time.perf_counter() - t
            if res is True:
                rec[name] = "keep"
                if name == "c4_quality":
                    rec["c4_text"] = doc.text
            else:
                reason = res[1] if isinstance(res, tuple) else "dropped"
                if name == "gopher_quality":
                    reason = reason.removeprefix("gopher_")
                rec[name] = PREFIX[name] + reason
        out.append(rec)
    return out, times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--words", default="auto")
    ap.add_argument("--show", type=int, default=5, help="disagreements shown per rule")
    args = ap.parse_args()
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "atelier-refine", "--example", "quality"],
        cwd=ROOT,
        check=True,
    )
    docs = documents()
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, "wcxb-dev.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")

    t = time.perf_counter()
    ours = subprocess.run(
        [EXAMPLE, "--words", args.words, path], capture_output=True, text=True, check=True
    ).stdout
    rust_time = time.perf_counter() - t
    ours = [json.loads(l) for l in ours.splitlines()]
    theirs, times = datatrove(docs)

    # Word lists: ours against spaCy's.
    tok = load_word_tokenizer("en")
    our_words = subprocess.run(
        [EXAMPLE, "--words", args.words, "--tokens", path], capture_output=True, text=True, check=True
    ).stdout
    our_words = [json.loads(l)["words"] for l in our_words.splitlines()]
    same_words = 0
    token_diffs = collections.Counter()
    for d, mine in zip(docs, our_words):
        ref = tok.word_tokenize(d["text"])
        if ref == mine:
            same_words += 1
        else:
            a, b = collections.Counter(ref), collections.Counter(mine)
            for w, n in (a - b).items():
                token_diffs["spacy:" + w] += n
            for w, n in (b - a).items():
                token_diffs["ours:" + w] += n

    print(f"documents: {len(docs)}  (words: {args.words})")
    print(f"word lists identical to spaCy's: {same_words}/{len(docs)}")
    all_ok = True
    for name in PREFIX:
        agree = sum(o[name] == t[name] for o, t in zip(ours, theirs))
        decision_agree = sum((o[name] == "keep") == (t[name] == "keep") for o, t in zip(ours, theirs))
        kept = sum(t[name] == "keep" for t in theirs)
        print(
            f"{name:18} decisions agree {decision_agree}/{len(docs)} = {decision_agree / len(docs):.2%}; "
            f"same reason {agree}/{len(docs)}; datatrove keeps {kept}"
        )
        all_ok &= decision_agree / len(docs) >= 0.99
        shown = 0
        for d, o, t in zip(docs, ours, theirs):
            if (o[name] == "keep") != (t[name] == "keep") and shown < args.show:
                shown += 1
                print(f"    {d['id']}: datatrove {t[name]}, atelier {o[name]}")
    c4_same = sum(
        o.get("c4_text") == t.get("c4_text")
        for o, t in zip(ours, theirs)
        if o["c4_quality"] == "keep" and t["c4_quality"] == "keep"
    )
    c4_both = sum(o["c4_quality"] == "keep" and t["c4_quality"] == "keep" for o, t in zip(ours, theirs))
    print(f"c4 kept text identical: {c4_same}/{c4_both}")
    print(f"time: atelier (4 rules, one process, release) {rust_time:.2f}s; datatrove per rule "
          + ", ".join(f"{k} {v:.2f}s" for k, v in times.items()))
    print("most frequent word differences:", token_diffs.most_common(25))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
