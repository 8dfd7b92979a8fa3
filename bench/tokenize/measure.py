"""Run a command and measure it the way datatrove_tokenize.py measures datatrove.

  measure.py --json-out FILE [--label NAME] [--out-dir OUT] -- COMMAND ARGS...

Reports wall seconds, CPU seconds (getrusage RUSAGE_CHILDREN user+sys after the
command is reaped: the process and every descendant it waited for), the largest
single-process max RSS, and the peak of the summed RSS of the process tree (sampled
every 20 ms). With --out-dir, the tokens and documents of the datatrove layout's train
and validation shards are read from OUT/index.json. The command's stdout goes to
FILE.stdout (atelier --json output lands there); stderr passes through.
Exits with the command's status.
"""

import argparse
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datatrove_tokenize import tree_rss_kib  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json-out", type=Path, required=True)
    ap.add_argument("--label", default=None)
    ap.add_argument("--out-dir", type=Path, default=None)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    if not cmd:
        ap.error("no command")

    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    stdout_path = Path(str(args.json_out) + ".stdout")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = [0]
    t0 = time.perf_counter()
    with open(stdout_path, "wb") as so:
        proc = subprocess.Popen(cmd, stdout=so)
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], tree_rss_kib(proc.pid))
                stop.wait(0.02)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        rc = proc.wait()
        wall = time.perf_counter() - t0
        stop.set()
        th.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = {
        "tool": args.label or Path(cmd[0]).name,
        "cmd": cmd,
        "rc": rc,
        "wall_s": round(wall, 3),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3),
        "user_s": round(after.ru_utime - before.ru_utime, 3),
        "sys_s": round(after.ru_stime - before.ru_stime, 3),
        "max_rss_mib": round(after.ru_maxrss / 1024, 1),
        "peak_tree_rss_mib": round(peak[0] / 1024, 1),
    }
    if args.out_dir and (args.out_dir / "index.json").is_file():
        index = json.loads((args.out_dir / "index.json").read_text())
        shards = [s for s in index.get("shards", []) if s.get("layout") == "datatrove"]
        if not shards:  # fall back on any one layout
            layouts = sorted({s.get("layout") for s in index.get("shards", [])})
            shards = [s for s in index.get("shards", []) if layouts and s.get("layout") == layouts[0]]
        res["tokens"] = sum(int(s.get("tokens", 0)) for s in shards)
        res["documents"] = sum(int(s.get("documents", 0)) for s in shards)
    args.json_out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps({k: v for k, v in res.items() if k != "cmd"}), file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
