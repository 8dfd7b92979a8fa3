"""Turn the benchmark corpora into fastText files with a fixed split.

    python3 prepare.py sms SMSSpamCollection OUT_DIR
    python3 prepare.py spamassassin DATASET_DIR OUT_DIR

`sms`: the UCI SMS Spam Collection as shared (`label<TAB>text`, a header line).
`spamassassin`: the shards (`*.jsonl.gz`) of an `atelier run` over the SpamAssassin
corpus; the label is `spam` when `metadata.group` starts with `spam`, else `ham`, and
the text is the subject and the body.

Every message goes to test (20%) or train (80%) by the SHA-256 of its id (the SMS
corpus has none: its text), so the split never changes and duplicate SMS texts stay on
one side. Train is split again the same way into train_sub (7/8) and valid (1/8) for
autotuning. Lines are ordered by another hash (the corpora come grouped by label, and
SGD wants them mixed). Text is lowercased, punctuation set apart, whitespace collapsed:
the same files feed every tool. test.jsonl holds the test split's messages as they were
(`{"label": ..., "text": ...}`, one a line, in test.txt's order), for a language model
asked in plain words.
"""

import glob
import gzip
import hashlib
import json
import os
import re
import sys

PUNCT = re.compile(r"([.!?,'\"/()\[\]{}:;<>*=+&%$#@~|\\-])")


def clean(text):
    text = PUNCT.sub(r" \1 ", text.lower())
    return " ".join(text.split())


def bucket(key, n):
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[0] % n


def sms(path):
    with open(path, encoding="utf-8") as f:
        next(f)  # header
        for line in f:
            label, _, text = line.rstrip("\n").partition("\t")
            yield text, label, text


def spamassassin(folder):
    for shard in sorted(glob.glob(os.path.join(folder, "**", "*.jsonl.gz"), recursive=True)):
        with gzip.open(shard, "rt", encoding="utf-8") as f:
            for line in f:
                doc = json.loads(line)
                meta = doc.get("metadata", {})
                group = meta.get("group", "")
                if not group:
                    continue
                label = "spam" if group.startswith("spam") else "ham"
                subject = meta.get("subject") or ""
                yield doc["id"], label, subject + " " + doc["text"]


def main():
    kind, source, out = sys.argv[1:4]
    rows = list(sms(source) if kind == "sms" else spamassassin(source))
    os.makedirs(out, exist_ok=True)
    files = {name: open(os.path.join(out, name + ".txt"), "w", encoding="utf-8")
             for name in ("train", "test", "train_sub", "valid")}
    raw = open(os.path.join(out, "test.jsonl"), "w", encoding="utf-8")
    counts = {name: 0 for name in files}
    # The corpora come grouped by label; SGD wants them mixed. A fixed order: by hash.
    rows.sort(key=lambda r: hashlib.sha256(("order/" + r[0]).encode("utf-8", "surrogatepass")).digest())
    for key, label, text in rows:
        line = f"__label__{label} {clean(text)}\n"
        if bucket(key, 5) == 0:
            names = ["test"]
            raw.write(json.dumps({"label": label, "text": text}, ensure_ascii=False) + "\n")
        else:
            names = ["train", "valid" if bucket("valid/" + key, 8) == 0 else "train_sub"]
        for name in names:
            files[name].write(line)
            counts[name] += 1
    for f in [*files.values(), raw]:
        f.close()
    print(json.dumps({"source": source, **counts}))


if __name__ == "__main__":
    main()
