"""atelier classifier against fastText, same data, same hyperparameters, same machine.

    python3 bench.py ATELIER FASTTEXT DATA_DIR... > results.json

Each DATA_DIR holds train.txt and test.txt (prepare.py makes them). For each:
- accuracy (P@1 of `test`) of both tools over several seeds at 1 thread, and 2 threads;
- training wall time and peak memory (/usr/bin/time) at 1 and 2 threads, both tools
  writing their .bin model to the same folder;
- training time alone, without reading or writing files: fastText's Python binding
  (`train_supervised`, the same C++ code, PyPI fasttext-wheel 0.9.2) timed around the
  call, against the "Trained in" that `atelier classifier train` reports;
- prediction throughput: both tools' batch `predict` on the test lines repeated to
  PREDICT_BYTES, the same fastText-trained model, output to /dev/null;
- model sizes (.bin apparent size and disk use, .ftz after quantization).
Prints one JSON object; run.sh turns it into the table of RESULTS.md.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

HYPER = {"epoch": "25", "lr": "0.5", "wordNgrams": "2", "dim": "100", "bucket": "2000000"}
SEEDS = [0, 1, 2, 3, 4]
PREDICT_BYTES = 64 << 20

TRAIN_ONLY_PY = """
import sys, time, fasttext
train, threads, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = time.perf_counter()
fasttext.train_supervised(input=train, thread=threads, seed=seed, verbose=0, epoch=25, lr=0.5,
                          wordNgrams=2, dim=100, bucket=2000000)
print(time.perf_counter() - start)
"""


def timed(cmd, stdout=subprocess.DEVNULL):
    """Runs cmd under /usr/bin/time: (wall seconds, peak RSS in MiB)."""
    with tempfile.NamedTemporaryFile("r") as t:
        subprocess.run(["/usr/bin/time", "-o", t.name, "-f", "%e %M", *cmd], check=True,
                       stdout=stdout, stderr=subprocess.DEVNULL)
        wall, rss = t.read().split()[-2:]
    return float(wall), int(rss) / 1024


def fasttext_train(ft, train, out, threads, seed):
    args = [ft, "supervised", "-input", train, "-output", out[:-4], "-thread", str(threads),
            "-seed", str(seed), "-verbose", "0"]
    for k, v in HYPER.items():
        args += ["-" + k, v]
    return timed(args)


def atelier_train(at, train, out, threads, seed):
    """(wall, peak MiB, training seconds as reported)."""
    args = [at, "classifier", "train", "--input", train, "--output", out, "--threads",
            str(threads), "--seed", str(seed)]
    for k, v in HYPER.items():
        args += ["--" + k, v]
    with tempfile.NamedTemporaryFile("r") as t, tempfile.NamedTemporaryFile("r") as log:
        subprocess.run(["/usr/bin/time", "-o", t.name, "-f", "%e %M", *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=open(log.name, "w"))
        wall, rss = t.read().split()[-2:]
        trained = [l for l in log.read().splitlines() if l.startswith("Trained in ")][0]
    return float(wall), int(rss) / 1024, float(trained.split()[2].rstrip("s:"))


def p_at_1(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.splitlines()[1].split("\t")[1])


def disk_mib(path):
    return os.stat(path).st_blocks * 512 / 2**20


def dataset(at, ft, folder, work):
    train, test = os.path.join(folder, "train.txt"), os.path.join(folder, "test.txt")
    res = {"data": folder, "train_lines": sum(1 for _ in open(train, encoding="utf-8")),
           "test_lines": sum(1 for _ in open(test, encoding="utf-8")), "runs": []}
    fbin, abin = os.path.join(work, "ft.bin"), os.path.join(work, "at.bin")
    for threads in (1, 2):
        for seed in SEEDS if threads == 1 else SEEDS[:3]:
            fw, fm = fasttext_train(ft, train, fbin, threads, seed)
            aw, am, at_train = atelier_train(at, train, abin, threads, seed)
            ft_train = float(subprocess.run(
                [sys.executable, "-c", TRAIN_ONLY_PY, train, str(threads), str(seed)],
                check=True, capture_output=True, text=True).stdout)
            res["runs"].append({
                "threads": threads, "seed": seed,
                "fasttext": {"wall_s": fw, "peak_mib": fm, "train_only_s": ft_train,
                             "p1": p_at_1([ft, "test", fbin, test])},
                "atelier": {"wall_s": aw, "peak_mib": am, "train_only_s": at_train,
                            "p1": p_at_1([at, "classifier", "test", abin, test])},
            })
            print(json.dumps(res["runs"][-1]), file=sys.stderr)
    res["size"] = {"fasttext_bin_mib": os.path.getsize(fbin) / 2**20,
                   "fasttext_bin_disk_mib": disk_mib(fbin),
                   "atelier_bin_mib": os.path.getsize(abin) / 2**20,
                   "atelier_bin_disk_mib": disk_mib(abin)}
    # Cross-check on the same files: each tool's test of the other's model.
    res["cross"] = {"atelier_tests_fasttext_model": p_at_1([at, "classifier", "test", fbin, test]),
                    "fasttext_tests_atelier_model": p_at_1([ft, "test", abin, test])}

    # Prediction throughput on one model (fastText's), both tools reading it.
    lines = open(test, encoding="utf-8").read().splitlines()
    big = os.path.join(work, "predict.txt")
    written = count = 0
    with open(big, "w", encoding="utf-8") as f:
        while written < PREDICT_BYTES:
            line = lines[count % len(lines)] + "\n"
            f.write(line)
            written += len(line.encode("utf-8"))
            count += 1
    pred = {"lines": count, "mib": written / 2**20}
    for name, cmd in [("fasttext", [ft, "predict", fbin, big]),
                      ("atelier_1_thread", [at, "classifier", "predict", fbin, big, "--threads", "1"]),
                      ("atelier_2_threads", [at, "classifier", "predict", fbin, big, "--threads", "2"]),
                      ("load_only_fasttext", [ft, "predict", fbin, test]),
                      ("load_only_atelier", [at, "classifier", "predict", fbin, test])]:
        walls = [timed(cmd)[0] for _ in range(3)]
        pred[name] = {"wall_s": min(walls), "walls": walls}
    for name in ("fasttext", "atelier_1_thread", "atelier_2_threads"):
        load = pred["load_only_" + ("fasttext" if name == "fasttext" else "atelier")]["wall_s"]
        pred[name]["lines_per_s"] = count / pred[name]["wall_s"]
        pred[name]["lines_per_s_after_load"] = count / max(pred[name]["wall_s"] - load, 1e-9)
    same = subprocess.run(f"cmp <({ft} predict {fbin} {big}) <({at} classifier predict {fbin} {big})",
                          shell=True, executable="/bin/bash").returncode == 0
    pred["same_labels"] = same
    res["predict"] = pred

    # Quantized: fastText's and atelier's quantize of their own model, same options.
    q = ["-cutoff", "100000", "-retrain", "-qnorm", "-epoch", "1"]
    subprocess.run([ft, "quantize", "-input", train, "-output", fbin[:-4], "-thread", "2", *q],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([at, "classifier", "quantize", abin, "--input", train, "--cutoff", "100000",
                    "--retrain", "--qnorm", "--epoch", "1", "--threads", "2"], check=True)
    res["quantized"] = {
        "fasttext": {"mib": os.path.getsize(fbin[:-4] + ".ftz") / 2**20,
                     "p1": p_at_1([ft, "test", fbin[:-4] + ".ftz", test])},
        "atelier": {"mib": os.path.getsize(abin[:-4] + ".ftz") / 2**20,
                    "p1": p_at_1([at, "classifier", "test", abin[:-4] + ".ftz", test])},
    }
    for f in os.listdir(work):
        os.remove(os.path.join(work, f))
    return res


def summarize(res):
    out = {}
    for threads in (1, 2):
        runs = [r for r in res["runs"] if r["threads"] == threads]
        for tool in ("fasttext", "atelier"):
            out[f"{tool}_{threads}"] = {
                "p1_mean": statistics.mean(r[tool]["p1"] for r in runs),
                "p1_min": min(r[tool]["p1"] for r in runs),
                "p1_max": max(r[tool]["p1"] for r in runs),
                "wall_median_s": statistics.median(r[tool]["wall_s"] for r in runs),
                "train_only_median_s": statistics.median(r[tool]["train_only_s"] for r in runs),
                "peak_mib_max": max(r[tool]["peak_mib"] for r in runs),
            }
    return out


def table(path):
    """The markdown tables of RESULTS.md from a results.json."""
    r = json.load(open(path))
    for d in r["datasets"]:
        name = os.path.basename(d["data"].rstrip("/")) or d["data"]
        s = d["summary"]
        print(f"\n{d['data']}: {d['train_lines']} train, {d['test_lines']} test lines\n")
        print("| threads | P@1 fastText | P@1 atelier | CLI wall fastText | CLI wall atelier | ratio "
              "| training only fastText (wheel) | atelier | peak RSS fastText | atelier |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for t in (1, 2):
            f, a = s[f"fasttext_{t}"], s[f"atelier_{t}"]
            print(f"| {t} | {f['p1_mean']:.4f} ({f['p1_min']}-{f['p1_max']}) "
                  f"| {a['p1_mean']:.4f} ({a['p1_min']}-{a['p1_max']}) "
                  f"| {f['wall_median_s']:.2f} s | {a['wall_median_s']:.2f} s "
                  f"| {a['wall_median_s'] / f['wall_median_s']:.2f} "
                  f"| {f['train_only_median_s']:.2f} s | {a['train_only_median_s']:.2f} s "
                  f"| {f['peak_mib_max']:.0f} MiB | {a['peak_mib_max']:.0f} MiB |")
        p = d["predict"]
        print(f"\nprediction, {p['lines']} lines ({p['mib']:.0f} MiB), one fastText model:\n")
        print("| tool | wall | lines/s | ratio | lines/s after load |")
        print("| --- | --- | --- | --- | --- |")
        base = p["fasttext"]["lines_per_s"]
        for k in ("fasttext", "atelier_1_thread", "atelier_2_threads"):
            print(f"| {k} | {p[k]['wall_s']:.2f} s | {p[k]['lines_per_s']:.0f} "
                  f"| {p[k]['lines_per_s'] / base:.2f} | {p[k]['lines_per_s_after_load']:.0f} |")
        print(f"\nsame labels: {p['same_labels']}; sizes: {d['size']}; cross: {d['cross']}; "
              f"quantized: {d['quantized']}")


def main():
    if sys.argv[1] == "--table":
        return table(sys.argv[2])
    at, ft = sys.argv[1:3]
    work = tempfile.mkdtemp(dir=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                             "..", ".work", "classifier"))
    results = {"hyperparameters": HYPER, "datasets": []}
    for folder in sys.argv[3:]:
        res = dataset(at, ft, folder, work)
        res["summary"] = summarize(res)
        results["datasets"].append(res)
    os.rmdir(work)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
