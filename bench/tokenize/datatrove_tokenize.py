"""Run datatrove's DocumentTokenizer (the reference for `atelier tokenize`) on JSONL files.

  datatrove_tokenize.py INPUT.jsonl... --tokenizer tokenizer.json --eos TOKEN -o DIR
                        [--bos TOKEN] [--tasks N] [--workers N] [--megatron] [--batch-size B]
                        [--timeout-s S] [--max-rss-mib M]

Pipeline: JsonlReader -> DocumentTokenizer(tokenizer_name_or_path=<tokenizer.json>,
eos_token=<eos>, shuffle_documents=False, save_loss_metadata=False, save_index=True,
save_final_metadata=True) under LocalPipelineExecutor(tasks, workers, start_method="fork",
skip_completed=False). Output: DIR/datatrove/<rank:05d>_unshuffled.ds (+ .ds.index,
.ds.metadata); with --megatron also MegatronDocumentTokenizer into
DIR/megatron/<rank:05d>_tokens.bin/.idx (a second, separately timed pipeline).

datatrove hands out whole input FILES to tasks: the sorted file list, rank r gets files
r, r+N, ... (io.py get_shard), so one JSONL and --tasks 2 leaves task 1 with nothing (it
writes an empty 00001_unshuffled.ds). `atelier tokenize --tasks N` does the same (input
file i goes to task i % N). Several inputs are staged as symlinks DIR/input/<i:05d>-<name>
so that datatrove's sorted order is the order given here; to use N tasks on one corpus,
cut it first (corpus.py --parts N) and pass the parts to both tools.

--bos: DocumentTokenizer has no BOS option; the script sets the step's post_processor to
TemplateProcessing("<BOS> $A <EOS>") (datatrove's tokenizer property uses
self.post_processor before eos_token when it is set).

The pipeline runs in a child process; the parent reports wall seconds, CPU seconds
(getrusage RUSAGE_CHILDREN user+sys: the child and the pool workers it forks and
reaps), the largest single-process max RSS (ru_maxrss) and the peak of the summed RSS of
the whole process tree (sampled every 20 ms), then the tokens and documents found in
the output files. One JSON object on stdout (--json-out FILE writes it there too).
--timeout-s / --max-rss-mib: the run (in a session of its own) is killed, SIGKILL to its
process group, once its wall time or the summed RSS of its tree passes the limit; the
JSON then says "stopped" (why), with the wall time and peak RSS reached, and the exit
status is 0 (a measured outcome, not a failure).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path


def stage_inputs(inputs, dest: Path):
    """Symlinks named so that sorting them keeps the order given."""
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.iterdir():
        old.unlink()
    for i, p in enumerate(inputs):
        os.symlink(p.resolve(), dest / f"{i:05d}-{p.name}")
    return dest


def tree_rss_kib(root_pid: int) -> int:
    """Sum of VmRSS (KiB) of root_pid and all its descendants."""
    children = {}
    rss = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                st = f.read()
            ppid = int(st[st.rindex(b")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(d))
            with open(f"/proc/{d}/statm", "rb") as f:
                rss[int(d)] = int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except (OSError, ValueError, IndexError):
            continue
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run_child(args):
    """Inside the child: build and run the datatrove pipeline(s)."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.tokens import DocumentTokenizer, MegatronDocumentTokenizer

    out = Path(args.out)
    post = None
    if args.bos:
        from tokenizers import Tokenizer
        from tokenizers.processors import TemplateProcessing

        tok = Tokenizer.from_file(args.tokenizer)
        ids = {t: tok.token_to_id(t) for t in (args.bos, args.eos)}
        missing = [t for t, i in ids.items() if i is None]
        if missing:
            sys.exit(f"datatrove_tokenize.py: not in the vocabulary: {missing}")
        post = TemplateProcessing(
            single="<BOS> $A <EOS>",
            special_tokens=[("<BOS>", ids[args.bos]), ("<EOS>", ids[args.eos])],
            pair=None,
        )

    def reader():
        return JsonlReader(args.input_folder, glob_pattern=args.glob)

    timings = {}

    def run(name, step):
        """One tokenizer step over the input, timed; `post` replaces its EOS template."""
        if post is not None:
            step.post_processor = post
        t0 = time.perf_counter()
        LocalPipelineExecutor(
            [reader(), step],
            tasks=args.tasks,
            workers=args.workers,
            logging_dir=str(out / "logs" / name),
            skip_completed=False,
            start_method="fork",
        ).run()
        timings[f"{name}_s"] = time.perf_counter() - t0

    run("datatrove", DocumentTokenizer(
        output_folder=str(out / "datatrove"),
        tokenizer_name_or_path=args.tokenizer,
        eos_token=args.eos,
        shuffle_documents=False,
        save_loss_metadata=False,
        save_index=True,
        save_final_metadata=True,
        batch_size=args.batch_size,
    ))
    if args.megatron:
        run("megatron", MegatronDocumentTokenizer(
            output_folder=str(out / "megatron"),
            tokenizer_name_or_path=args.tokenizer,
            eos_token=args.eos,
            batch_size=args.batch_size,
        ))
    with open(out / "child-timings.json", "w") as f:
        json.dump(timings, f)


def count_outputs(folder: Path):
    files = sorted(folder.glob("*.ds"))
    tokens = docs = 0
    token_size = None
    per_file = []
    for p in files:
        meta = Path(str(p) + ".metadata")
        ts = 2
        if meta.is_file():
            first = meta.read_text().splitlines()[0]
            ts = int(first.rsplit("|", 1)[1])
        token_size = ts if token_size is None else token_size
        t = p.stat().st_size // ts
        d = os.path.getsize(str(p) + ".index") // 8
        per_file.append({"file": p.name, "tokens": t, "documents": d})
        tokens += t
        docs += d
    return {"tokens": tokens, "documents": docs, "token_size": token_size, "files": per_file}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", type=Path)
    ap.add_argument("--tokenizer", required=True, help="a local tokenizer.json")
    ap.add_argument("--eos", required=True, help="EOS token text, e.g. <|endoftext|>")
    ap.add_argument("--bos", default=None, help="BOS token text (prepended to each document)")
    ap.add_argument("-o", "--out", required=True, type=Path)
    ap.add_argument("--tasks", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None, help="default: --tasks")
    ap.add_argument("--batch-size", type=int, default=10000, help="DocumentTokenizer default 10000")
    ap.add_argument("--megatron", action="store_true", help="also run MegatronDocumentTokenizer")
    ap.add_argument("--json-out", type=Path, default=None)
    ap.add_argument("--timeout-s", type=float, default=None, help="kill the run after this many seconds")
    ap.add_argument("--max-rss-mib", type=float, default=None, help="kill the run when its tree's RSS passes this")
    # internal
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--input-folder", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--glob", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.workers is None:
        args.workers = args.tasks
    args.tokenizer = str(Path(args.tokenizer).resolve())

    if args._child:
        run_child(args)
        return

    if not args.inputs:
        ap.error("no input files")
    out = args.out.resolve()
    for sub in ("datatrove", "megatron", "logs", "input"):
        sub_path = out / sub
        if sub_path.exists():
            subprocess.run(["rm", "-rf", "--", str(sub_path)], check=True)
    out.mkdir(parents=True, exist_ok=True)

    if len(args.inputs) == 1:
        input_folder, glob = str(args.inputs[0].resolve()), None
    else:
        input_folder, glob = str(stage_inputs(args.inputs, out / "input")), None

    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--_child",
        "--tokenizer",
        args.tokenizer,
        "--eos",
        args.eos,
        "-o",
        str(out),
        "--tasks",
        str(args.tasks),
        "--workers",
        str(args.workers),
        "--batch-size",
        str(args.batch_size),
        "--input-folder",
        input_folder,
    ]
    if glob:
        cmd += ["--glob", glob]
    if args.bos:
        cmd += ["--bos", args.bos]
    if args.megatron:
        cmd += ["--megatron"]

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = [0]
    t0 = time.perf_counter()
    log = open(out / "datatrove.log", "w")
    limited = args.timeout_s is not None or args.max_rss_mib is not None
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=limited)
    stop = threading.Event()
    stopped = []

    def sample():
        import signal

        while not stop.is_set():
            rss = tree_rss_kib(proc.pid)
            peak[0] = max(peak[0], rss)
            why = None
            if args.max_rss_mib is not None and rss / 1024 > args.max_rss_mib:
                why = f"tree RSS {rss / 1024:,.0f} MiB > {args.max_rss_mib:,.0f} MiB after {time.perf_counter() - t0:.0f} s"
            elif args.timeout_s is not None and time.perf_counter() - t0 > args.timeout_s:
                why = f"wall time > {args.timeout_s:.0f} s (tree RSS {rss / 1024:,.0f} MiB)"
            if why and not stopped:
                stopped.append(why)
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return
            stop.wait(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    rc = proc.wait()
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    log.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if stopped:
        res = {
            "tool": "datatrove",
            "stopped": stopped[0],
            "rc": rc,
            "tasks": args.tasks,
            "inputs": [str(p) for p in args.inputs],
            "wall_s": round(wall, 3),
            "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3),
            "max_rss_mib": round(after.ru_maxrss / 1024, 1),
            "peak_tree_rss_mib": round(peak[0] / 1024, 1),
            "timeout_s": args.timeout_s,
            "max_rss_limit_mib": args.max_rss_mib,
            "tokens": None,
            "documents": None,
        }
        text = json.dumps(res, indent=1)
        print(text)
        if args.json_out:
            args.json_out.parent.mkdir(parents=True, exist_ok=True)
            args.json_out.write_text(text + "\n")
        return
    if rc != 0:
        sys.stderr.write((out / "datatrove.log").read_text()[-4000:])
        sys.exit(f"datatrove_tokenize.py: the datatrove run failed (exit {rc}); log: {out / 'datatrove.log'}")

    timings = json.loads((out / "child-timings.json").read_text())
    counts = count_outputs(out / "datatrove")
    import datatrove
    import importlib.metadata as md

    res = {
        "tool": "datatrove",
        "datatrove": md.version("datatrove"),
        "tokenizers": md.version("tokenizers"),
        "tokenizer": args.tokenizer,
        "eos": args.eos,
        "bos": args.bos,
        "tasks": args.tasks,
        "workers": args.workers,
        "batch_size": args.batch_size,
        "megatron": args.megatron,
        "inputs": [str(p) for p in args.inputs],
        "wall_s": round(wall, 3),
        "cpu_s": round(
            (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            3,
        ),
        "user_s": round(after.ru_utime - before.ru_utime, 3),
        "sys_s": round(after.ru_stime - before.ru_stime, 3),
        "max_rss_mib": round(after.ru_maxrss / 1024, 1),
        "peak_tree_rss_mib": round(peak[0] / 1024, 1),
        "pipeline_s": {k: round(v, 3) for k, v in timings.items()},
        "tokens": counts["tokens"],
        "documents": counts["documents"],
        "token_size": counts["token_size"],
        "files": counts["files"],
        "out": str(out),
        "rayon_num_threads": os.environ.get("RAYON_NUM_THREADS"),
        "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM"),
    }
    del datatrove
    text = json.dumps(res, indent=1)
    print(text)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(text + "\n")


if __name__ == "__main__":
    main()
