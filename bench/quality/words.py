#!/usr/bin/env python3
"""Word lists: atelier's English splitter against spaCy's blank English tokenizer (what
datatrove counts as words for English), document by document, on harder inputs than
WCXB: the 74,141 sentences of 75 languages in lingua-sentences (one document each) and
the 181 scrapinghub article bodies.

    bench/.venv/bin/python bench/quality/words.py
"""
import collections
import glob
import json
import os
import subprocess

from datatrove.utils.word_tokenizers import load_word_tokenizer

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.path.join(ROOT, "..", "shared", "data")
WORK = os.path.join(ROOT, "bench", ".work")
EXAMPLE = os.path.join(ROOT, "target", "release", "examples", "quality")


def compare(name, docs):
    path = os.path.join(WORK, f"words-{name}.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for i, text in enumerate(docs):
            f.write(json.dumps({"id": str(i), "text": text}, ensure_ascii=False) + "\n")
    out = subprocess.run(
        [EXAMPLE, "--words", "english", "--tokens", path], capture_output=True, text=True, check=True
    ).stdout
    ours = [json.loads(l)["words"] for l in out.splitlines()]
    tok = load_word_tokenizer("en")
    same, diffs, examples = 0, collections.Counter(), []
    for text, mine in zip(docs, ours):
        ref = tok.word_tokenize(text)
        if ref == mine:
            same += 1
            continue
        a, b = collections.Counter(ref), collections.Counter(mine)
        for w, n in (a - b).items():
            diffs["spacy:" + w] += n
        for w, n in (b - a).items():
            diffs["ours:" + w] += n
        if len(examples) < 5:
            examples.append(text[:120])
    print(f"{name}: word lists identical {same}/{len(docs)} = {same / len(docs):.3%}")
    print("  most frequent differences:", diffs.most_common(12))
    for e in examples:
        print("  e.g.", repr(e))


def main():
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "atelier-refine", "--example", "quality"],
        cwd=ROOT,
        check=True,
    )
    os.makedirs(WORK, exist_ok=True)
    sentences = []
    for path in sorted(glob.glob(os.path.join(SHARED, "langid", "lingua-sentences", "*.txt"))):
        with open(path, encoding="utf-8", newline="") as f:
            sentences.extend(l for l in f.read().split("\n") if l)
    compare("lingua", sentences)
    with open(os.path.join(SHARED, "extraction", "scrapinghub", "ground-truth.json"), encoding="utf-8") as f:
        gt = json.load(f)
    compare("scrapinghub", [v["articleBody"] for v in gt.values()])


if __name__ == "__main__":
    main()
