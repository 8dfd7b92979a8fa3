#!/usr/bin/env python3
"""Benchmark of the `extract` step against trafilatura, resiliparse and rs-trafilatura.

Runs every extractor on the same pages, pinned to one CPU core, and scores them:

* ScrapingHub article extraction benchmark (181 news/blog pages): for each page the
  multiset of word 4-gram shingles (tokens: ``\\w+``, case kept) of the extracted text
  against ``articleBody``; precision and recall per page, each averaged over the pages
  where it is defined (precision needs some predicted shingle, recall some true one), F1
  from the two means. This is the benchmark's own metric.
* WCXB dev split (499 pages, 7 page types): bag-of-words F1 per page (lowercased ``\\w+``
  tokens, multiset overlap) against ``ground_truth.main_content``, averaged over pages,
  overall and per ``_internal.page_type.primary``. An empty prediction scores 0 (1 when
  the truth is empty too).

Speed, every extractor pinned to one core and timing the extraction call alone (no
decompression or I/O): the median over pages of wall milliseconds per page, the same in
thread CPU time (steadier when other work shares the machine), and pages per second
(pages divided by the summed times). Ours takes each page's median of ``--repeat`` runs
(release build); the others run each page once. rs-trafilatura (Rust, with a page-type
classifier) is the crate from crates.io (0.2.2, the version issue 18 names; its Python
binding on PyPI, 0.1.1, gives the same text on every page), built by cargo from
bench/extract/rs-trafilatura-crate/; it gets each page's URL, as its README shows; the
others get the HTML alone.

Usage (from the repository root)::

    python3 bench/extract/run.py                 # everything, writes a summary table
    python3 bench/extract/run.py --only ours     # just our extractor
    python3 bench/extract/run.py --dump          # also keep texts and per-page scores
    python3 bench/extract/run.py --json out.json # also save the figures

The Python extractors are installed from PyPI into ``bench/.venv`` on first use, and
rs-trafilatura is built into ``bench/.work/rs-trafilatura-target`` (``--no-build`` skips
both builds, ours and its).
"""

import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("ATELIER_DATA", ROOT.parent / "shared" / "data")) / "extraction"
VENV = ROOT / "bench" / ".venv"
PY_PACKAGES = ["trafilatura", "lxml_html_clean", "resiliparse"]
CRATE = ROOT / "bench" / "extract" / "rs-trafilatura-crate"
CRATE_TARGET = ROOT / "bench" / ".work" / "rs-trafilatura-target"
WORK = ROOT / "bench" / "results" / "tmp" / "extract"
TOKEN = re.compile(r"\w+")


# ---------------------------------------------------------------- datasets

def load_pages():
    """Every page as a dict: dataset, id, path, truth, type."""
    pages = []
    sh = DATA / "scrapinghub"
    truth = json.loads((sh / "ground-truth.json").read_text(encoding="utf-8"))
    for key in sorted(truth):
        pages.append({
            "dataset": "scrapinghub",
            "id": key,
            "path": str(sh / "html" / f"{key}.html.gz"),
            "truth": truth[key].get("articleBody") or "",
            "type": "article",
            "url": truth[key].get("url") or "",
        })
    wc = DATA / "wcxb-dev"
    for gt_path in sorted((wc / "ground-truth").glob("*.json")):
        gt = json.loads(gt_path.read_text(encoding="utf-8"))
        pages.append({
            "dataset": "wcxb",
            "id": gt_path.stem,
            "path": str(wc / "html" / f"{gt_path.stem}.html.gz"),
            "truth": gt["ground_truth"].get("main_content") or "",
            "type": gt["_internal"]["page_type"]["primary"],
            "url": gt.get("url") or "",
        })
    return pages


# ---------------------------------------------------------------- metrics

def shingles(text, n=4):
    tokens = TOKEN.findall(text or "")
    if len(tokens) < n:
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def shingle_scores(truth, pred):
    """(precision, recall) for one page, None where undefined (ScrapingHub rules)."""
    t, p = shingles(truth), shingles(pred)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    if fp == 0 and fn == 0:
        return (1.0 if tp else None), (1.0 if tp else None)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    return precision, recall


def scrapinghub_f1(rows):
    precisions = [p for p, _ in rows if p is not None]
    recalls = [r for _, r in rows if r is not None]
    precision = statistics.mean(precisions) if precisions else 0.0
    recall = statistics.mean(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall}


def bow_f1(truth, pred):
    t = Counter(TOKEN.findall((truth or "").lower()))
    p = Counter(TOKEN.findall((pred or "").lower()))
    if not t and not p:
        return 1.0, 1.0, 1.0
    if not t or not p:
        return 0.0, 0.0, 0.0
    overlap = sum((t & p).values())
    precision = overlap / sum(p.values())
    recall = overlap / sum(t.values())
    f1 = 2 * precision * recall / (precision + recall) if overlap else 0.0
    return f1, precision, recall


def score(pages, texts):
    """Scores one extractor's texts (dict id -> text)."""
    sh_rows, wc = [], {}
    per_page = {}
    for page in pages:
        pred = texts.get((page["dataset"], page["id"]), "")
        if page["dataset"] == "scrapinghub":
            p, r = shingle_scores(page["truth"], pred)
            sh_rows.append((p, r))
            per_page[("scrapinghub", page["id"])] = {"p": p, "r": r}
        else:
            f1, p, r = bow_f1(page["truth"], pred)
            wc.setdefault(page["type"], []).append(f1)
            wc.setdefault("all", []).append(f1)
            per_page[("wcxb", page["id"])] = {"f1": f1, "p": p, "r": r, "type": page["type"]}
    result = {"scrapinghub": scrapinghub_f1(sh_rows)}
    result["wcxb"] = {k: statistics.mean(v) for k, v in sorted(wc.items())}
    return result, per_page


# ---------------------------------------------------------------- extractors

def pin_one_core():
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[0]})
        return cores[0]
    return None


def pinned(cmd):
    """`cmd` run on the first core this process may use (the one `--repeat` timings and
    the Python workers use), where taskset is there."""
    core = sorted(os.sched_getaffinity(0))[0] if hasattr(os, "sched_getaffinity") else None
    if core is not None and shutil_which("taskset"):
        return ["taskset", "-c", str(core)] + cmd
    return cmd


def json_lines(out):
    """The JSON objects of a driver's output, one a line. Not `splitlines`, which also
    splits inside texts holding U+2028 or U+0085 (Rust's JSON leaves them unescaped)."""
    return [json.loads(line) for line in out.split("\n") if line]


def run_ours(pages, mode, repeat, built):
    if not built:
        subprocess.run(
            ["cargo", "build", "--release", "-p", "atelier-extract", "--example", "extract_bench"],
            cwd=ROOT, check=True)
    exe = ROOT / "target" / "release" / "examples" / "extract_bench"
    cmd = pinned([str(exe), "--mode", mode, "--repeat", str(repeat)])
    listing = "".join(p["path"] + "\n" for p in pages)
    out = subprocess.run(cmd, input=listing, capture_output=True, text=True, check=True).stdout
    by_path = {row["path"]: row for row in json_lines(out)}
    texts, paths = {}, Counter()
    for page in pages:
        row = by_path[page["path"]]
        texts[(page["dataset"], page["id"])] = row["text"]
        paths[row["extractor"]] += 1
    rows = [by_path[p["path"]] for p in pages]
    return texts, {**speed(rows), "paths": dict(paths)}


def run_crate(pages, built):
    """rs-trafilatura from crates.io, through the driver in bench/extract/."""
    env = {**os.environ, "CARGO_TARGET_DIR": str(CRATE_TARGET)}
    if not built:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=CRATE, env=env, check=True)
    cmd = pinned([str(CRATE_TARGET / "release" / "rs-trafilatura-bench")])
    listing = "".join(f"{p['path']}\t{p['url']}\n" for p in pages)
    out = subprocess.run(cmd, input=listing, capture_output=True, text=True, check=True).stdout
    by_path = {r["path"]: r for r in json_lines(out)}
    texts = {(p["dataset"], p["id"]): by_path[p["path"]]["text"] for p in pages}
    return texts, speed([by_path[p["path"]] for p in pages])


def speed(rows):
    """Median wall and CPU ms per page, and pages per second (wall and CPU)."""
    wall = [r["ms"] for r in rows]
    cpu = [r["cpu_ms"] for r in rows]
    return {"median_ms": statistics.median(wall), "median_cpu_ms": statistics.median(cpu),
            "mean_ms": statistics.mean(wall), "mean_cpu_ms": statistics.mean(cpu),
            "pages_per_s": 1000.0 / statistics.mean(wall),
            "pages_per_cpu_s": 1000.0 / statistics.mean(cpu)}


def shutil_which(name):
    from shutil import which
    return which(name)


def ensure_venv():
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(python), "-c",
                            "import trafilatura, lxml_html_clean, resiliparse"],
                           capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet"] + PY_PACKAGES, check=True)
    return python


def run_python(name, pages):
    python = ensure_venv()
    listing = "".join(f"{p['path']}\t{p['url']}\n" for p in pages)
    out = subprocess.run([str(python), __file__, "--worker", name], input=listing,
                         capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    texts = {}
    by_path = {r["path"]: r for r in rows}
    for page in pages:
        texts[(page["dataset"], page["id"])] = by_path[page["path"]]["text"]
    return texts, speed([by_path[p["path"]] for p in pages])


def worker(name):
    """Runs inside the venv: extracts the pages named on stdin (`path<TAB>url` lines)
    with one library."""
    pin_one_core()
    if name == "trafilatura":
        import trafilatura

        def extract(html, url):
            return trafilatura.extract(html) or ""
    elif name == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        def extract(html, url):
            return extract_plain_text(HTMLTree.parse(html), main_content=True) or ""
    else:
        raise SystemExit(f"unknown worker {name}")
    for line in sys.stdin.read().splitlines():
        path, _, url = line.partition("\t")
        with gzip.open(path, "rb") as f:
            html = f.read().decode("utf-8", errors="replace")
        start, cpu_start = time.perf_counter(), time.thread_time()
        try:
            text = extract(html, url)
        except Exception as e:  # a library failure scores as an empty extraction
            print(f"{name}: {path}: {e}", file=sys.stderr)
            text = ""
        ms = (time.perf_counter() - start) * 1000.0
        cpu_ms = (time.thread_time() - cpu_start) * 1000.0
        print(json.dumps({"path": path, "text": text, "ms": ms, "cpu_ms": cpu_ms}))


# ---------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--only", action="append",
                        choices=["ours", "smoothie", "trafilatura", "resiliparse", "rs-trafilatura"],
                        help="run only these (repeatable); smoothie is dom_smoothie alone")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per page for ours")
    parser.add_argument("--no-build", action="store_true", help="use the existing release builds")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--dump", action="store_true",
                        help=f"write texts and per-page scores under {WORK}")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return

    pages = load_pages()
    names = args.only or ["ours", "smoothie", "trafilatura", "resiliparse", "rs-trafilatura"]
    results = {}
    built = args.no_build
    for name in names:
        if name in ("ours", "smoothie"):
            texts, speed = run_ours(pages, name, args.repeat, built)
            built = True
            label = "atelier" if name == "ours" else "dom_smoothie alone"
        elif name == "rs-trafilatura":
            texts, speed = run_crate(pages, args.no_build)
            label = "rs-trafilatura 0.2.2"
        else:
            texts, speed = run_python(name, pages)
            label = name
        figures, per_page = score(pages, texts)
        results[label] = {**figures, "speed": speed}
        if args.dump:
            WORK.mkdir(parents=True, exist_ok=True)
            with open(WORK / f"{name}.jsonl", "w", encoding="utf-8") as f:
                for page in pages:
                    key = (page["dataset"], page["id"])
                    f.write(json.dumps({"dataset": key[0], "id": key[1], "text": texts.get(key, ""),
                                        **per_page[key]}) + "\n")

    types = sorted({p["type"] for p in pages if p["dataset"] == "wcxb"})
    print(f"{'extractor':<20} {'SH F1':>6} {'SH P':>6} {'SH R':>6} {'WCXB':>6} "
          + " ".join(f"{t[:6]:>6}" for t in types)
          + f" {'med ms':>7} {'cpu ms':>7} {'pages/s':>8} {'cpu p/s':>8}")
    for label, r in results.items():
        sh, wc, sp = r["scrapinghub"], r["wcxb"], r["speed"]
        print(f"{label:<20} {sh['f1']:6.3f} {sh['precision']:6.3f} {sh['recall']:6.3f} "
              f"{wc['all']:6.3f} " + " ".join(f"{wc.get(t, 0):6.3f}" for t in types)
              + f" {sp['median_ms']:7.2f} {sp['median_cpu_ms']:7.2f} {sp['pages_per_s']:8.1f}"
              f" {sp['pages_per_cpu_s']:8.1f}")
        if "paths" in sp:
            print(f"{'':<20} paths: {sp['paths']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
