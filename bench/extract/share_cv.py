#!/usr/bin/env python3
"""How the choice between the extractor's two passes depends on its two thresholds and
its listing rule, and whether that choice holds on pages it was not tuned on.

The `extract` step keeps the main pass when it holds at least a share of the page's
content: 0.35 on a page that declares itself an article (`og:type`, JSON-LD), 0.65 on
other pages (`ARTICLE_MAIN_SHARE`, `OTHER_MAIN_SHARE` in crates/extract/src/lib.rs),
where it must also not have left out the page's repeated items (`ItemsHeld::missed`).
This script scores both candidate texts of every page of ../shared/data/extraction once
(`extract_bench --mode passes`), then:

1. the committed rule, the rule without its listing check, and one threshold for every
   page (0.35, the first rule);
2. a grid of both thresholds over all pages;
3. 30 random halves: thresholds tuned on one half (best WCXB whose ScrapingHub F1
   stays within 0.003 of the one-threshold rule's on that half), scored on the other
   half against the one-threshold rule;
4. the listing check on each of the same 30 halves: what it adds to the thresholds.

    python3 bench/extract/share_cv.py [--no-build]
"""

import json
import random
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import run as bench  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ARTICLE, OTHER = 0.35, 0.65


def passes(pages, build):
    if build:
        subprocess.run(["cargo", "build", "--release", "-p", "atelier-extract",
                        "--example", "extract_bench"], cwd=ROOT, check=True)
    exe = ROOT / "target" / "release" / "examples" / "extract_bench"
    listing = "".join(p["path"] + "\n" for p in pages)
    out = subprocess.run([str(exe), "--mode", "passes"], input=listing,
                         capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        row = json.loads(line)
        rows[row["path"]] = json.loads(row["text"])
    return rows


def text(lines):
    return "\n".join(line.split("|", 2)[2] for line in lines)


def scored(pages, rows):
    """Per page: both candidates' scores, the main pass's share, the declared type."""
    out = []
    for page in pages:
        row = rows[page["path"]]
        main, full = text(row["main"]), text(row["full"])
        item = {"dataset": page["dataset"], "has_main": bool(row["main"]),
                "share": row["main_share"], "article": row["article"],
                "missed": row["items_missed"]}
        if page["dataset"] == "wcxb":
            item["main"] = bench.bow_f1(page["truth"], main)[0]
            item["full"] = bench.bow_f1(page["truth"], full)[0]
        else:
            item["main"] = bench.shingle_scores(page["truth"], main)
            item["full"] = bench.shingle_scores(page["truth"], full)
        out.append(item)
    return out


def evaluate(items, article, other, listings=True):
    wcxb, sh = [], []
    for item in items:
        needed = article if item["article"] else other
        use_main = item["has_main"] and item["share"] >= needed
        if listings and not item["article"] and item["missed"]:
            use_main = False
        chosen = item["main"] if use_main else item["full"]
        (wcxb if item["dataset"] == "wcxb" else sh).append(chosen)
    return bench.scrapinghub_f1(sh)["f1"], statistics.mean(wcxb)


def main():
    pages = bench.load_pages()
    items = scored(pages, passes(pages, "--no-build" not in sys.argv))
    rules = [("committed rule", ARTICLE, OTHER, True), ("no listing check", ARTICLE, OTHER, False),
             ("one threshold", 0.35, 0.35, False)]
    for name, a, o, listings in rules:
        sh, wcxb = evaluate(items, a, o, listings)
        print(f"{name:16} article {a:.2f} other {o:.2f}: SH {sh:.4f} WCXB {wcxb:.4f}")
    grid = [(a, o) for a in (0.25, 0.3, 0.35, 0.4, 0.5) for o in (0.35, 0.5, 0.6, 0.65, 0.7, 0.8, 0.9)]
    print("best of the grid on all pages (WCXB, SH, article, other):")
    ranked = sorted(((*reversed(evaluate(items, a, o)), a, o) for a, o in grid), reverse=True)
    for wcxb, sh, a, o in ranked[:5]:
        print(f"  {wcxb:.4f} {sh:.4f} {a:.2f} {o:.2f}")
    gains, sh_changes, listing_gains, listing_sh = [], [], [], []
    for seed in range(30):
        random.seed(seed)
        shuffled = items[:]
        random.shuffle(shuffled)
        tune, test = shuffled[: len(items) // 2], shuffled[len(items) // 2:]
        floor = evaluate(tune, 0.35, 0.35, False)[0] - 0.003
        candidates = [(evaluate(tune, a, o)[1], a, o) for a, o in grid
                      if evaluate(tune, a, o)[0] >= floor]
        _, a, o = max(candidates)
        sh, wcxb = evaluate(test, a, o)
        sh0, wcxb0 = evaluate(test, 0.35, 0.35, False)
        gains.append(wcxb - wcxb0)
        sh_changes.append(sh - sh0)
        sh1, wcxb1 = evaluate(test, ARTICLE, OTHER, False)
        sh2, wcxb2 = evaluate(test, ARTICLE, OTHER, True)
        listing_gains.append(wcxb2 - wcxb1)
        listing_sh.append(sh2 - sh1)
    for name, wc, sh in [("tuned thresholds", gains, sh_changes),
                         ("the listing check", listing_gains, listing_sh)]:
        print(f"held-out halves (30), {name}: WCXB gain mean {statistics.mean(wc):+.4f} "
              f"[{min(wc):+.4f}, {max(wc):+.4f}], SH change mean "
              f"{statistics.mean(sh):+.4f} [{min(sh):+.4f}, {max(sh):+.4f}]")


if __name__ == "__main__":
    main()
