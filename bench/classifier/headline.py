"""The headline comparison: the specialized model (atelier, fastText format) against two
general ones on the same splits: all-MiniLM-L6-v2 sentence embeddings + logistic
regression, run as its users run it (sentence-transformers on PyTorch, CPU, all cores),
and SmolLM2-135M-Instruct asked zero-shot (smollm.py, atelier's own engine). Accuracy,
training time, predictions per second, energy per 1,000 predictions, model size; every
model, both corpora, one run.

    python3 headline.py [--atelier PATH] [--smollm GGUF] [--models LIST] [--smollm-limit N]
                        [DATA_DIR[:MAX_TOKENS]]... > headline.json
    python3 headline.py --table headline.json [rerun.json]...   # the markdown of RESULTS.md

Defaults: target/release/atelier; bench/.work/classifier/SmolLM2-135M-Instruct.Q4_1.gguf
(run.sh fetches it); all of atelier,minilm,smollm2; the SMS and SpamAssassin splits that
run.sh prepares under bench/.work/classifier. MAX_TOKENS cuts MiniLM's input (default:
the model's own 256 word pieces). --smollm-limit asks SmolLM2 only the first N test
messages (to try the prompt; a full run asks all of them). Runs in bench/.venv-torch
(run.sh makes it: requirements.txt). HEADLINE_SCRATCH names the folder for the models,
the repeated test file and the prompts (default bench/.work/classifier); what is done so
far stays in bench/.work/classifier/headline.partial.json until the run ends.

Energy. This machine has no energy counter (no RAPL under /sys/class/powercap, no GPU),
so both figures are estimates of the same phase, made side by side:
- atelier's bill model (crates/bill/src/energy/share.rs, "Estimate"): CPU seconds of the
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
classifying it (the model is loaded and has embedded one batch before the phase), on
all cores and again on one; for SmolLM2, `atelier lm generate` on the test split's
prompts (loading included, a fraction of a second).

MiniLM's check: the NumPy forward pass of minilm.py must give the same embeddings
(cosine over CHECK_TEXTS test texts per corpus) as sentence-transformers.
"""

import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from bench import HYPER, p_at_1  # noqa: E402
import smollm  # noqa: E402

ROOT = os.path.abspath(os.path.join(here, "..", ".."))
WORK = os.path.join(ROOT, "bench", ".work", "classifier")
REPEAT_BYTES = int(os.environ.get("HEADLINE_REPEAT_MIB", "128")) << 20
# atelier's bill: crates/bill/src/hardware.rs (Platinum 8592+ row, also what a VM that
# shows family 6 model 207 is taken as) and crates/bill/src/settings.rs defaults.
WATTS_PER_CORE = 350.0 / 64
MEMORY_WATTS_PER_GIB = 0.375
COUNTRY = "FRA"
GIB = 2**30
# sentence-transformers' default batch; its default max_seq_length for this model is 256.
MINILM_BATCH = 32
CHECK_TEXTS = 128
SMOLLM = os.path.join(WORK, "SmolLM2-135M-Instruct.Q4_1.gguf")


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


def child_phase(tracker, name, cmd, stdout=subprocess.DEVNULL, stdin=None):
    """Runs cmd as one measured phase: wall, rusage of the child, both energy estimates.
    stdin: a file the command reads as its standard input."""
    script, env = 'read _ && exec "$0" "$@"', None
    if stdin:
        script, env = script + ' <"$HEADLINE_STDIN"', dict(os.environ, HEADLINE_STDIN=stdin)
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(["sh", "-c", script, *cmd], stdin=subprocess.PIPE,
                             stdout=stdout, stderr=err, env=env)
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


def torch_runtime():
    """What runs MiniLM's arithmetic: PyTorch's build (BLAS, oneDNN, CPU capability),
    its threads, and every thread pool threadpoolctl finds in this process."""
    import threadpoolctl
    import torch

    show = torch.__config__.show()
    build = {k.split()[-1]: v for k, _, v in (kv.strip().partition("=")
                                             for line in show.splitlines()
                                             if "BLAS_INFO" in line for kv in line.split(","))
             if k.split() and k.split()[-1] in ("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN",
                                                "USE_OPENMP")}
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(), "build": build,
            "libraries": [line.strip(" -") for line in show.splitlines()
                          if "Math Kernel" in line or "MKL-DNN" in line or "OpenMP 2" in line],
            "threadpools": [{k: p.get(k) for k in ("internal_api", "prefix", "version",
                                                  "num_threads", "architecture") if p.get(k)}
                            for p in threadpoolctl.threadpool_info()],
            "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                   "OMP_NUM_THREADS", "MKL_NUM_THREADS")}}


def minilm(tracker, folder, max_tokens, work):
    import numpy as np
    import threadpoolctl
    import torch
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression
    from minilm import MODEL, MiniLM, read

    m = SentenceTransformer(MODEL, device="cpu", local_files_only=True)
    if max_tokens:
        m.max_seq_length = max_tokens
    threads = torch.get_num_threads()
    ytr, xtr = read(os.path.join(folder, "train.txt"))
    yte, xte = read(os.path.join(folder, "test.txt"))

    def embed(texts):
        return m.encode(texts, batch_size=MINILM_BATCH)

    embed(xte[:MINILM_BATCH])  # one-time setup (weights in place, kernels) before the phases

    def fit():
        return LogisticRegression(max_iter=2000).fit(embed(xtr), ytr)

    clf, tr = self_phase(tracker, f"{folder} minilm-train", fit)
    print(f"{folder} minilm train: {tr['wall_s']:.1f} s, {tr['cpu_s']:.1f} CPU s", file=sys.stderr)
    res = {"threads": threads, "batch": MINILM_BATCH, "max_tokens": m.max_seq_length,
           "train": tr}
    for key, n in (("predict_once", threads), ("predict_once_1thread", 1)):
        torch.set_num_threads(n)

        def predict():
            e = embed(xte)
            return e, clf.predict(e)

        (emb, pred), ph = self_phase(tracker, f"{folder} minilm-{key}", predict)
        ph["threads"] = n
        ph["lines"] = len(xte)
        ph["predictions_per_s"] = len(xte) / ph["wall_s"]
        ph["j_per_1000"] = per_1000(ph, len(xte))
        ph["accuracy"] = float(np.mean(pred == np.array(yte)))
        res[key] = ph
        print(f"{folder} minilm {key}: {ph['wall_s']:.1f} s, {ph['cpu_s']:.1f} CPU s", file=sys.stderr)
    torch.set_num_threads(threads)
    res["accuracy"] = res["predict_once"]["accuracy"]
    # The NumPy forward pass of minilm.py on the same texts, same cut: the same network?
    # (One BLAS thread: it is a check, not a phase, and two spin-wait on a busy machine.)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        ref = MiniLM(m.max_seq_length).embed(xte[:CHECK_TEXTS])
    cos = (ref * emb[:CHECK_TEXTS]).sum(1) / (np.linalg.norm(ref, axis=1)
                                              * np.linalg.norm(emb[:CHECK_TEXTS], axis=1))
    res["numpy_check"] = {"texts": len(cos), "min_cosine": float(cos.min()),
                          "mean_cosine": float(cos.mean())}
    lr = os.path.join(work, "logistic_regression.pkl")
    with open(lr, "wb") as f:
        pickle.dump(clf, f)
    # The files sentence-transformers loads for this model (not its README,
    # .gitattributes or data_config.json, the training data's description).
    skip = {"README.md", ".gitattributes", "data_config.json"}
    files = {os.path.relpath(os.path.join(d, f), MODEL): os.path.getsize(os.path.join(d, f))
             for d, _, fs in os.walk(MODEL) for f in fs if f not in skip}
    res.update({"model_files": files, "model_bytes": sum(files.values()),
                "lr_pickle_bytes": os.path.getsize(lr),
                "lr_coef_bytes": clf.coef_.nbytes + clf.intercept_.nbytes})
    res["bytes"] = res["model_bytes"] + res["lr_pickle_bytes"]
    os.remove(lr)
    return res


def smollm2(at, tracker, folder, model, limit, work):
    rows = smollm.read(folder, limit)
    tok = smollm.tokenizer(at, model, os.path.join(work, "smollm2-tokenizer.json"))
    prompts = os.path.join(work, "prompts.jsonl")
    smollm.write_prompts(tok, rows, prompts)
    answers = os.path.join(work, "answers.jsonl")
    with open(answers, "w", encoding="utf-8") as out:
        ph = child_phase(tracker, f"{folder} smollm2-predict", [at, *smollm.GENERATE, "-m", model],
                         stdout=out, stdin=prompts)
    ph.pop("log")
    with open(answers, encoding="utf-8") as f:
        outputs = [json.loads(line) for line in f]
    if len(outputs) != len(rows):
        raise SystemExit(f"{len(rows)} prompts, {len(outputs)} answers: see {answers}")
    ph["lines"] = len(rows)
    ph["predictions_per_s"] = len(rows) / ph["wall_s"]
    ph["j_per_1000"] = per_1000(ph, len(rows))
    res = {"model": os.path.basename(model), "bytes": os.path.getsize(model),
           "threads": smollm.THREADS, "command": ["atelier", *smollm.GENERATE],
           "system": smollm.SYSTEM, "question": smollm.QUESTION,
           "max_message_tokens": smollm.MAX_MESSAGE_TOKENS, "limit": limit,
           "predict_once": ph, **smollm.score(rows, outputs)}
    print(f"{folder} smollm2: {ph['wall_s']:.1f} s, {ph['cpu_s']:.1f} CPU s, "
          f"accuracy {res['accuracy']:.3f}, {res['unparseable']} unparseable", file=sys.stderr)
    # Every answer beside its label and reading, for a look or a new reading.
    name = "sms" if os.path.basename(folder) == "sms" else os.path.basename(os.path.dirname(folder))
    with open(os.path.join(WORK, f"smollm2-answers-{name}.jsonl"), "w", encoding="utf-8") as f:
        for r, o in zip(rows, outputs):
            f.write(json.dumps({"label": r["label"], "answer": o["text"],
                                "read": smollm.parse(o["text"])}, ensure_ascii=False) + "\n")
    os.remove(prompts)
    os.remove(answers)
    return res


def main():
    if sys.argv[1:2] == ["--table"]:
        return table(sys.argv[2:])
    import argparse

    ap = argparse.ArgumentParser(description="The headline comparison (see the module doc).")
    ap.add_argument("--atelier", default=os.path.join(ROOT, "target", "release", "atelier"))
    ap.add_argument("--smollm", default=SMOLLM)
    ap.add_argument("--models", default="atelier,minilm,smollm2")
    ap.add_argument("--smollm-limit", type=int)
    ap.add_argument("data", nargs="*", default=[os.path.join(WORK, "sms"),
                                                os.path.join(WORK, "spamassassin", "files")])
    args = ap.parse_args()
    at, models = os.path.abspath(args.atelier), args.models.split(",")
    from codecarbon import OfflineEmissionsTracker
    import codecarbon

    tracker = OfflineEmissionsTracker(country_iso_code=COUNTRY, tracking_mode="process",
                                      save_to_file=False, log_level="error")
    os.makedirs(WORK, exist_ok=True)
    # Scratch (models, the repeated test file, prompts): HEADLINE_SCRATCH, else WORK.
    work = tempfile.mkdtemp(prefix="headline-", dir=os.environ.get("HEADLINE_SCRATCH", WORK))
    partial = os.path.join(WORK, "headline.partial.json")
    out = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": cpu_model(),
           "cpus": os.cpu_count(), "hyperparameters": HYPER,
           "atelier_commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                            capture_output=True, text=True).stdout.strip(),
           "codecarbon": codecarbon.__version__, "country": COUNTRY,
           "bill_model": {"watts_per_core": WATTS_PER_CORE,
                          "memory_watts_per_gib": MEMORY_WATTS_PER_GIB},
           "repeat_bytes": REPEAT_BYTES, "models": models, "datasets": []}
    if "minilm" in models:
        import sentence_transformers

        out["minilm_runtime"] = {**torch_runtime(),
                                 "sentence_transformers": sentence_transformers.__version__}
    for spec in args.data:
        folder, _, tokens = spec.partition(":")
        if not os.path.exists(os.path.join(folder, "test.txt")):
            raise SystemExit(f"{folder}/test.txt is missing: run `bash bench/classifier/run.sh headline`")
        d = {"data": os.path.relpath(folder, ROOT)}
        out["datasets"].append(d)
        runs = {"atelier": lambda: atelier(at, tracker, folder, work),
                "minilm": lambda: minilm(tracker, folder, int(tokens) if tokens else None, work),
                "smollm2": lambda: smollm2(at, tracker, folder, args.smollm, args.smollm_limit,
                                           work)}
        for name in models:
            d[name] = runs[name]()
            # What is done so far, should a later model fail (a full disk, ...).
            with open(partial, "w") as f:
                json.dump(out, f, indent=1)
    shutil.rmtree(work)
    os.remove(partial)
    print(json.dumps(out, indent=1))


def table(paths):
    """The markdown of RESULTS.md from one run, or from several: a later file's models
    replace an earlier one's on the same data (a rerun of the speed part)."""
    r = None
    for path in paths:
        run = json.load(open(path))
        models = run.get("models", ["atelier", "minilm"])
        print(f"{path}: {run['date']}, {', '.join(models)}; atelier {run['atelier_commit']}, "
              f"CodeCarbon {run['codecarbon']} ({run['country']}), bill model "
              f"{run['bill_model']['watts_per_core']:.2f} W/core + "
              f"{run['bill_model']['memory_watts_per_gib']} W/GiB")
        if r is None:
            r = run
            continue
        r.update({k: v for k, v in run.items() if k == "minilm_runtime"})
        for d in run["datasets"]:
            same = [x for x in r["datasets"] if x["data"] == d["data"]]
            if same:
                same[0].update({k: v for k, v in d.items() if k in models})
            else:
                r["datasets"].append(d)
    print()
    print("| data | model | accuracy | training | predictions/s | J per 1,000 predictions "
          "(atelier's bill / CodeCarbon) | model size |")
    print("| --- | --- | --- | --- | --- | --- | --- |")

    def plural(n):
        return f"{n} thread{'s' if n > 1 else ''}"

    for d in r["datasets"]:
        name = "SpamAssassin" if "spamassassin" in d["data"] else "SMS"
        if "atelier" in d:
            a = d["atelier"]
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
        if "minilm" in d:
            m = d["minilm"]
            for key in ("predict_once", "predict_once_1thread"):
                p = m[key]
                train = (f"{m['train']['wall_s']:.1f} s ({m['train']['cpu_s']:.1f} CPU s)"
                         if key == "predict_once" else "(same model)")
                print(f"| {name} | MiniLM-L6 + LR, {plural(p['threads'])} | {p['accuracy']:.3f} "
                      f"| {train} | {p['predictions_per_s']:,.1f} "
                      f"| {p['j_per_1000']['bill']:,.1f} / {p['j_per_1000']['codecarbon']:,.1f} "
                      f"| {m['bytes'] / 2**20:.1f} MiB |")
        if "smollm2" in d:
            s = d["smollm2"]
            p = s["predict_once"]
            print(f"| {name} | SmolLM2-135M-Instruct zero-shot, {plural(s['threads'])} "
                  f"| {s['accuracy']:.3f} ({s['unparseable']} unparseable) | none "
                  f"| {p['predictions_per_s']:,.2f} "
                  f"| {p['j_per_1000']['bill']:,.0f} / {p['j_per_1000']['codecarbon']:,.0f} "
                  f"| {s['bytes'] / 2**20:.1f} MiB |")
    print("\nphases (wall s, CPU s, peak RSS MiB, load; J bill cpu+mem; J CodeCarbon cpu+ram):")
    for d in r["datasets"]:
        phases = []
        if "atelier" in d:
            phases.append(("atelier train", d["atelier"]["train"]))
            for kind in ("bin", "ftz"):
                for what in ("repeated", "once"):
                    phases.append((f"atelier {kind} predict {what}",
                                   d["atelier"]["models"][kind]["predict_" + what]))
        if "minilm" in d:
            phases += [("minilm train", d["minilm"]["train"]),
                       ("minilm predict", d["minilm"]["predict_once"]),
                       ("minilm predict 1 thread", d["minilm"]["predict_once_1thread"])]
        if "smollm2" in d:
            phases.append(("smollm2 predict", d["smollm2"]["predict_once"]))
        for n, p in phases:
            b, c = p["bill"], p["codecarbon"]
            extra = (f", {p['lines']} lines, {p['j_per_1000']['bill']:.4g} / "
                     f"{p['j_per_1000']['codecarbon']:.4g} J/1000" if "lines" in p else "")
            print(f"- {d['data']} {n}: {p['wall_s']:.2f} s, {p['cpu_s']:.2f} CPU s, "
                  f"{p['peak_rss_mib']:.0f} MiB, load {p['load_1min'][0]:.2f}-{p['load_1min'][1]:.2f}; "
                  f"bill {b['cpu_j']:.2f}+{b['memory_j']:.2f} = {b['total_j']:.2f} J; "
                  f"CodeCarbon {c['cpu_j']:.2f}+{c['memory_j']:.2f} = {c['total_j']:.2f} J "
                  f"({c['cpu_w']:.2f} W cpu, {c['ram_w']:.1f} W ram){extra}")
    for d in r["datasets"]:
        if "minilm" in d:
            m = d["minilm"]
            print(f"\n{d['data']} MiniLM: {m['max_tokens']} word pieces, batches of {m['batch']}; "
                  f"NumPy check on {m['numpy_check']['texts']} test texts: cosine min "
                  f"{m['numpy_check']['min_cosine']:.6f}, mean {m['numpy_check']['mean_cosine']:.6f}")
        if "smollm2" in d:
            s = d["smollm2"]
            print(f"\n{d['data']} SmolLM2: spam share {s['spam_share']:.3f}, spam recall "
                  f"{s['spam_recall']:.3f}, ham recall {s['ham_recall']:.3f}, "
                  f"{s['prompt_tokens']:,} prompt tokens, {s['answer_tokens']:,} answer tokens; "
                  f"{s['confusion']}")
            for a, n in s["answers_most_seen"]:
                print(f"  {n:5d} {a!r}")
    if "minilm_runtime" in r:
        print("\nMiniLM runtime:", json.dumps(r["minilm_runtime"]))


if __name__ == "__main__":
    main()
