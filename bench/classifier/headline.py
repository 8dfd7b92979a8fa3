"""The headline comparison: the specialized model (atelier, fastText format) against a
general one (all-MiniLM-L6-v2 sentence embeddings + logistic regression, minilm.py) on
the same splits: accuracy, training time, predictions per second, energy per 1,000
predictions, model size. Both models, both corpora, one run.

    python3 headline.py [--atelier PATH] [DATA_DIR[:MAX_TOKENS]]... > headline.json
    python3 headline.py --table headline.json      # the markdown of RESULTS.md

Defaults: target/release/atelier, and the SMS and SpamAssassin splits that run.sh
prepares under bench/.work/classifier (SpamAssassin with MiniLM cut at 128 word pieces,
as in RESULTS.md).

Energy. This machine has no energy counter (no RAPL under /sys/class/powercap, no GPU),
so both figures are estimates of the same phase, made side by side:
- atelier's bill model (crates/bill/src/energy.rs, "Estimate"): CPU seconds of the
  phase (rusage: the `atelier` child from wait4; for MiniLM, this process and its
  children) times the power per core of the detected processor (crates/bill/src/
  hardware.rs: family 6 model 207 is taken as a Xeon Platinum 8592+, 350 W / 64 cores),
  plus 0.375 W per GiB of resident memory over the phase's wall time (settings.rs
  default, CodeCarbon's 3 W per 8 GB), with the peak resident memory of the phase
  (atelier: its VmHWM; MiniLM: the larger of this process's VmRSS at start and stop);
- CodeCarbon (PyPI `codecarbon`, OfflineEmissionsTracker, country FRA, process tracking
  mode): one task per phase. Without RAPL it estimates the processor from the process
  tree's CPU load and a TDP it looks up by model name (unknown here: 4 W per thread) and
  memory from a DIMM count model (at least 2 DIMMs of 5 W).
CodeCarbon's process mode counts a child's CPU time only from the first time it sees
it, and loses a child once it is reaped. So each `atelier` command is started before
the task, held in `sh -c 'read; exec atelier ...'`, released once the task has started,
and reaped only after the task has stopped (its CPU time stays readable while it is a
zombie).

Prediction phases: atelier's `classifier predict` (one thread, labels to /dev/null) on
the test lines repeated to REPEAT_BYTES (model loading included, amortized), and on the
test split once (loading dominates); for MiniLM, embedding the test split once and
classifying it (the model is loaded before the phase).
"""

import os

# MiniLM runs on one core, as atelier predicts on one thread. OpenBLAS's threads wait for
# each other by spinning: on this shared 2-core machine (load 3-5) two threads took 17
# times the CPU time of one for the same embeddings (460 s against 27 s, SMS test split),
# which would charge MiniLM for contention rather than work. Set before NumPy loads.
MINILM_THREADS = os.environ.setdefault("OPENBLAS_NUM_THREADS",
                                       os.environ.get("HEADLINE_MINILM_THREADS", "1"))

import json  # noqa: E402
import pickle  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from bench import HYPER, p_at_1  # noqa: E402

ROOT = os.path.abspath(os.path.join(here, "..", ".."))
WORK = os.path.join(ROOT, "bench", ".work", "classifier")
REPEAT_BYTES = int(os.environ.get("HEADLINE_REPEAT_MIB", "128")) << 20
# atelier's bill: crates/bill/src/hardware.rs (Platinum 8592+ row, also what a VM that
# shows family 6 model 207 is taken as) and crates/bill/src/settings.rs defaults.
WATTS_PER_CORE = 350.0 / 64
MEMORY_WATTS_PER_GIB = 0.375
COUNTRY = "FRA"
GIB = 2**30


def bill_joules(cpu_s, wall_s, rss_bytes):
    cpu = cpu_s * WATTS_PER_CORE
    mem = MEMORY_WATTS_PER_GIB * rss_bytes / GIB * wall_s
    return {"cpu_j": cpu, "memory_j": mem, "total_j": cpu + mem}


def cc_joules(d):
    kwh = 3.6e6
    return {"cpu_j": d.cpu_energy * kwh, "memory_j": d.ram_energy * kwh,
            "total_j": d.energy_consumed * kwh, "cpu_w": d.cpu_power, "ram_w": d.ram_power,
            "gco2": d.emissions * 1000}


def vm_kib(pid, field):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def vm_rss():
    return vm_kib("self", "VmRSS:") * 1024


def per_1000(phase, lines):
    return {k: phase[k]["total_j"] * 1000 / lines for k in ("bill", "codecarbon")}


def child_phase(tracker, name, cmd, stdout=subprocess.DEVNULL):
    """Runs cmd as one measured phase: wall, rusage of the child, both energy estimates."""
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(["sh", "-c", 'read _ && exec "$0" "$@"', *cmd],
                             stdin=subprocess.PIPE, stdout=stdout, stderr=err)
        time.sleep(0.05)
        load0 = os.getloadavg()[0]
        tracker.start_task(name)
        t0 = time.perf_counter()
        p.stdin.write(b"\n")
        p.stdin.close()
        # Peak resident memory: the child's VmHWM, read every 5 ms for the first second,
        # then every 50 ms, until it exits (the
        # ru_maxrss of wait4 would include this process's memory at the fork, which
        # Linux carries over the exec).
        hwm = 0
        while os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
            hwm = max(hwm, vm_kib(p.pid, "VmHWM:") * 1024)
            time.sleep(0.005 if time.perf_counter() - t0 < 1 else 0.05)
        wall = time.perf_counter() - t0
        cc = tracker.stop_task(name)
        _, status, ru = os.wait4(p.pid, 0)
        err.seek(0)
        log = err.read().decode("utf-8", "replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed:\n{log}")
    cpu = ru.ru_utime + ru.ru_stime
    rss = hwm
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mib": rss / 2**20,
            "load_1min": [load0, os.getloadavg()[0]],
            "bill": bill_joules(cpu, wall, rss), "codecarbon": cc_joules(cc), "log": log}


def self_phase(tracker, name, fn):
    """Runs fn() in this process as one measured phase; returns (result, phase)."""
    load0 = os.getloadavg()[0]
    rss0 = vm_rss()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    tracker.start_task(name)
    t0 = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    cc = tracker.stop_task(name)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss = max(rss0, vm_rss())
    cpu = sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in ((r0, r1), (c0, c1)))
    return out, {"wall_s": wall, "cpu_s": cpu, "peak_rss_mib": rss / 2**20,
                 "load_1min": [load0, os.getloadavg()[0]],
                 "bill": bill_joules(cpu, wall, rss), "codecarbon": cc_joules(cc)}


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return ""


def atelier(at, tracker, folder, work):
    train, test = os.path.join(folder, "train.txt"), os.path.join(folder, "test.txt")
    test_lines = sum(1 for _ in open(test, encoding="utf-8"))
    model = os.path.join(work, "at.bin")
    args = [at, "classifier", "train", "--input", train, "--output", model, "--threads", "1",
            "--seed", "0"]
    for k, v in HYPER.items():
        args += ["--" + k, v]
    tr = child_phase(tracker, f"{folder} atelier-train", args)
    trained = [l for l in tr.pop("log").splitlines() if l.startswith("Trained in ")]
    tr["train_only_s"] = float(trained[0].split()[2].rstrip("s:")) if trained else None
    subprocess.run([at, "classifier", "quantize", model, "--input", train, "--cutoff", "100000",
                    "--retrain", "--qnorm", "--epoch", "1", "--threads", "2"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ftz = model[:-4] + ".ftz"
    lines = open(test, encoding="utf-8").read().splitlines()
    big = os.path.join(work, "repeated.txt")
    written = count = 0
    with open(big, "w", encoding="utf-8") as f:
        while written < REPEAT_BYTES or count % len(lines):
            line = lines[count % len(lines)] + "\n"
            f.write(line)
            written += len(line.encode("utf-8"))
            count += 1
    res = {"train": tr, "test_lines": test_lines, "repeated_lines": count,
           "repeated_mib": written / 2**20, "models": {}}
    for kind, path in (("bin", model), ("ftz", ftz)):
        m = {"accuracy": p_at_1([at, "classifier", "test", path, test]),
             "bytes": os.path.getsize(path), "disk_bytes": os.stat(path).st_blocks * 512}
        for what, file, n in (("repeated", big, count), ("once", test, test_lines)):
            ph = child_phase(tracker, f"{folder} atelier-predict-{kind}-{what}",
                             [at, "classifier", "predict", path, file, "--threads", "1"])
            ph.pop("log")
            ph["lines"] = n
            ph["predictions_per_s"] = n / ph["wall_s"]
            ph["j_per_1000"] = per_1000(ph, n)
            m["predict_" + what] = ph
            print(f"{folder} atelier {kind} {what}: {json.dumps({k: ph[k] for k in ('wall_s', 'cpu_s', 'j_per_1000')})}",
                  file=sys.stderr)
        res["models"][kind] = m
    os.remove(big)
    return res


def minilm(tracker, folder, max_tokens, work):
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from minilm import MODEL, MiniLM, read

    m = MiniLM(max_tokens)
    ytr, xtr = read(os.path.join(folder, "train.txt"))
    yte, xte = read(os.path.join(folder, "test.txt"))

    def fit():
        return LogisticRegression(max_iter=2000).fit(m.embed(xtr), ytr)

    clf, tr = self_phase(tracker, f"{folder} minilm-train", fit)
    print(f"{folder} minilm train: {tr['wall_s']:.1f} s", file=sys.stderr)
    pred, ph = self_phase(tracker, f"{folder} minilm-predict",
                         lambda: clf.predict(m.embed(xte)))
    ph["lines"] = len(xte)
    ph["predictions_per_s"] = len(xte) / ph["wall_s"]
    ph["j_per_1000"] = per_1000(ph, len(xte))
    lr = os.path.join(work, "logistic_regression.pkl")
    with open(lr, "wb") as f:
        pickle.dump(clf, f)
    # The files sentence-transformers loads for this model (not its README,
    # .gitattributes or data_config.json, the training data's description).
    skip = {"README.md", ".gitattributes", "data_config.json"}
    files = {os.path.relpath(os.path.join(d, f), MODEL): os.path.getsize(os.path.join(d, f))
             for d, _, fs in os.walk(MODEL) for f in fs if f not in skip}
    res = {"threads": int(MINILM_THREADS), "max_tokens": max_tokens, "accuracy": float(np.mean(pred == np.array(yte))),
           "train": tr, "predict_once": ph, "model_files": files,
           "model_bytes": sum(files.values()), "lr_pickle_bytes": os.path.getsize(lr),
           "lr_coef_bytes": clf.coef_.nbytes + clf.intercept_.nbytes}
    res["bytes"] = res["model_bytes"] + res["lr_pickle_bytes"]
    os.remove(lr)
    return res


def main():
    args = sys.argv[1:]
    if args[:1] == ["--table"]:
        return table(args[1])
    at = os.path.join(ROOT, "target", "release", "atelier")
    if args[:1] == ["--atelier"]:
        at, args = os.path.abspath(args[1]), args[2:]
    data = args or [os.path.join(WORK, "sms"), os.path.join(WORK, "spamassassin", "files") + ":128"]
    from codecarbon import OfflineEmissionsTracker
    import codecarbon

    tracker = OfflineEmissionsTracker(country_iso_code=COUNTRY, tracking_mode="process",
                                      save_to_file=False, log_level="error")
    os.makedirs(WORK, exist_ok=True)
    work = tempfile.mkdtemp(prefix="headline-", dir=WORK)
    out = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": cpu_model(),
           "cpus": os.cpu_count(), "hyperparameters": HYPER,
           "atelier_commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                            capture_output=True, text=True).stdout.strip(),
           "codecarbon": codecarbon.__version__, "country": COUNTRY,
           "bill_model": {"watts_per_core": WATTS_PER_CORE,
                          "memory_watts_per_gib": MEMORY_WATTS_PER_GIB},
           "repeat_bytes": REPEAT_BYTES, "minilm_threads": int(MINILM_THREADS),
           "datasets": []}
    for spec in data:
        folder, _, tokens = spec.partition(":")
        if not os.path.exists(os.path.join(folder, "test.txt")):
            raise SystemExit(f"{folder}/test.txt is missing: run `bash bench/classifier/run.sh prepare`")
        out["datasets"].append({"data": os.path.relpath(folder, ROOT),
                                "atelier": atelier(at, tracker, folder, work),
                                "minilm": minilm(tracker, folder, int(tokens or 256), work)})
    shutil.rmtree(work)
    print(json.dumps(out, indent=1))


def table(path):
    r = json.load(open(path))
    print(f"{r['date']}, atelier {r['atelier_commit']}, CodeCarbon {r['codecarbon']} ({r['country']}), "
          f"bill model {r['bill_model']['watts_per_core']:.2f} W/core + "
          f"{r['bill_model']['memory_watts_per_gib']} W/GiB\n")
    print("| data | model | accuracy | training | predictions/s | J per 1,000 predictions "
          "(atelier's bill / CodeCarbon) | model size |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for d in r["datasets"]:
        name = "SpamAssassin" if "spamassassin" in d["data"] else "SMS"
        a, m = d["atelier"], d["minilm"]
        t = a["train"]
        for kind in ("bin", "ftz"):
            x = a["models"][kind]
            p = x["predict_repeated"]
            size = (f"{x['bytes'] / 2**20:.0f} MiB ({x['disk_bytes'] / 2**20:.0f} MiB on disk)"
                    if kind == "bin" else f"{x['bytes'] / 2**20:.1f} MiB")
            train = (f"{t['wall_s']:.2f} s ({t['train_only_s']:.2f} s training)" if kind == "bin"
                     else "+ quantization")
            print(f"| {name} | atelier `.{kind}`, 1 thread | {x['accuracy']:.3f} | {train} "
                  f"| {p['predictions_per_s']:,.0f} "
                  f"| {p['j_per_1000']['bill']:.3f} / {p['j_per_1000']['codecarbon']:.3f} | {size} |")
        p = m["predict_once"]
        print(f"| {name} | MiniLM-L6 + LR, {m.get('threads', 2)} thread{'s' if m.get('threads', 2) > 1 else ''} | {m['accuracy']:.3f} "
              f"| {m['train']['wall_s']:.1f} s ({m['train']['cpu_s']:.1f} CPU s) "
              f"| {p['predictions_per_s']:,.1f} "
              f"| {p['j_per_1000']['bill']:,.0f} / {p['j_per_1000']['codecarbon']:,.0f} "
              f"| {m['bytes'] / 2**20:.1f} MiB |")
    print("\nphases (wall s, CPU s, peak RSS MiB, load; J bill cpu+mem; J CodeCarbon cpu+ram):")
    for d in r["datasets"]:
        phases = [("atelier train", d["atelier"]["train"])]
        for kind in ("bin", "ftz"):
            for what in ("repeated", "once"):
                phases.append((f"atelier {kind} predict {what}",
                               d["atelier"]["models"][kind]["predict_" + what]))
        phases += [("minilm train", d["minilm"]["train"]),
                   ("minilm predict", d["minilm"]["predict_once"])]
        for n, p in phases:
            b, c = p["bill"], p["codecarbon"]
            extra = (f", {p['lines']} lines, {p['j_per_1000']['bill']:.4g} / "
                     f"{p['j_per_1000']['codecarbon']:.4g} J/1000" if "lines" in p else "")
            print(f"- {d['data']} {n}: {p['wall_s']:.2f} s, {p['cpu_s']:.2f} CPU s, "
                  f"{p['peak_rss_mib']:.0f} MiB, load {p['load_1min'][0]:.2f}-{p['load_1min'][1]:.2f}; "
                  f"bill {b['cpu_j']:.2f}+{b['memory_j']:.2f} = {b['total_j']:.2f} J; "
                  f"CodeCarbon {c['cpu_j']:.2f}+{c['memory_j']:.2f} = {c['total_j']:.2f} J "
                  f"({c['cpu_w']:.2f} W cpu, {c['ram_w']:.1f} W ram){extra}")


if __name__ == "__main__":
    main()
