"""Serving benchmark of `atelier serve` with a language model.

    python3 bench/lm/serve.py [--binary target/release/atelier] [--model-file FILE.gguf]
        [--requantize q8_0] [--threads N] [--streams 16] [--max-tokens 64] [--swaps 10]

Imports the model twice (v1, v2: the same weights under the name `smollm2`) into a
temporary project, starts the server and runs two rounds:

  load   --streams streaming chat requests at once: aggregate generated tokens/s,
         p50/p99 time to first token and total time per stream;
  swaps  the same concurrency (each thread streams again and again) while --swaps hot
         swaps alternate v2/v1 through the admin API: failed streams (must be 0), streams
         whose chunks name more than one version (must be 0) and streams finished on
         each version (`system_fingerprint`).

Prints a short table on stderr and the JSON summary on stdout. Standard library only.
"""

import argparse
import collections
import http.client
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROMPTS = [
    "Tell me a story about a lighthouse keeper.",
    "Explain how bread rises.",
    "Describe a walk in a forest in autumn.",
    "What should I pack for a week in the mountains?",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


def stream_chat(port, prompt, max_tokens, seed):
    """One streamed chat completion over plain HTTP, reading the server-sent events.

    Returns {ok, rejected, error, ttft, total, tokens, chunks, versions, finish}: times
    in seconds from sending the request; rejected: the seconds of Retry-After when the
    server answered 503 (too many generations, not a failure); versions: the set of
    `system_fingerprint`s of its chunks."""
    body = json.dumps({
        "model": "smollm2", "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens, "temperature": 0.7, "seed": seed, "stream": True,
        "stream_options": {"include_usage": True},
    })
    out = {"ok": False, "rejected": None, "error": None, "ttft": None, "total": None,
           "tokens": 0, "chunks": 0, "versions": set(), "finish": None}
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
        r = conn.getresponse()
        if r.status == 503:
            out["rejected"] = float(r.getheader("retry-after") or 1)
            r.read()
            return out
        if r.status != 200:
            out["error"] = f"HTTP {r.status}: {r.read()[:300].decode(errors='replace')}"
            return out
        done = False
        for line in r:  # http.client undoes the chunked encoding; events are "data: {...}\n\n"
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                break
            chunk = json.loads(data)
            out["chunks"] += 1
            if "error" in chunk:
                out["error"] = f"error event: {chunk['error']}"
                return out
            out["versions"].add(chunk.get("system_fingerprint"))
            if chunk.get("usage"):
                out["tokens"] = chunk["usage"]["completion_tokens"]
            for choice in chunk.get("choices", []):
                if choice["delta"].get("content") and out["ttft"] is None:
                    out["ttft"] = time.perf_counter() - started
                if choice.get("finish_reason"):
                    out["finish"] = choice["finish_reason"]
        out["total"] = time.perf_counter() - started
        if not done or out["finish"] is None:
            missing = "[DONE]" if not done else "a finish_reason"
            out["error"] = f"stream ended without {missing} after {out['chunks']} chunks"
        else:
            out["ok"] = True
    except Exception as e:  # a broken connection is a failed stream, not a crash
        out["error"] = f"{type(e).__name__}: {e} (after {out['chunks']} chunks)"
    finally:
        conn.close()
    return out


def summarize(results, wall):
    rejected = [r for r in results if r["rejected"] is not None]
    results = [r for r in results if r["rejected"] is None]
    good = [r for r in results if r["ok"]]
    tokens = sum(r["tokens"] for r in good)
    ms = lambda v: None if v is None else round(v * 1000, 1)
    by_version = {}
    for r in good:
        for v in r["versions"]:
            by_version[v] = by_version.get(v, 0) + 1
    return {
        "streams": len(results),
        "failed": len(results) - len(good),
        "rejected_503": len(rejected),
        # The commonest errors, each with how many streams it ended.
        "errors": collections.Counter(r["error"][:200] for r in results
                                      if r["error"]).most_common(5),
        "mixed_versions": sum(len(r["versions"]) > 1 for r in good),
        "finished_on": dict(sorted(by_version.items())),
        "generated_tokens": tokens,
        "wall_s": round(wall, 3),
        "tokens_per_s": round(tokens / wall, 1) if wall > 0 else None,
        "ttft_p50_ms": ms(percentile([r["ttft"] for r in good if r["ttft"] is not None], 50)),
        "ttft_p99_ms": ms(percentile([r["ttft"] for r in good if r["ttft"] is not None], 99)),
        "total_p50_ms": ms(percentile([r["total"] for r in good], 50)),
        "total_p99_ms": ms(percentile([r["total"] for r in good], 99)),
    }


def load_round(port, streams, max_tokens):
    """`streams` streams started together (a barrier), each once (again after a 503)."""
    results, lock = [], threading.Lock()
    barrier = threading.Barrier(streams)

    def worker(i):
        barrier.wait()
        while True:
            r = stream_chat(port, PROMPTS[i % len(PROMPTS)], max_tokens, seed=i)
            with lock:
                results.append(r)
            if r["rejected"] is None:
                return
            time.sleep(r["rejected"])

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return summarize(results, time.perf_counter() - started)


def admin(port, token, path, body):
    """One admin call: (HTTP status or None when no answer came, the answer or the error)."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:  # refused, reset, timed out
        return None, f"{type(e).__name__}: {e}"


def swap_round(port, token, streams, max_tokens, swaps, interval, versions):
    """`streams` threads stream one request after another while `swaps` swaps alternate
    the live version, `interval` seconds apart; the threads stop after the last swap."""
    results, lock = [], threading.Lock()
    swapping = threading.Event()
    swapping.set()
    swap_log = []

    def worker(i):
        n = 0
        while swapping.is_set() or n == 0:
            r = stream_chat(port, PROMPTS[(i + n) % len(PROMPTS)], max_tokens, seed=1000 * i + n)
            with lock:
                results.append(r)
            n += 1
            if not r["ok"]:  # no tight loop of refused requests
                time.sleep(r["rejected"] or 1)

    def swapper():
        try:
            for k in range(swaps):
                time.sleep(interval)
                target = versions[(k + 1) % 2]  # v2, v1, v2, ...
                t0 = time.perf_counter()
                status, text = admin(port, token, "/v1/admin/activate", {"version": target})
                swap_log.append({"to": target, "status": status, "s": time.perf_counter() - t0,
                                 "answer": text[:200] if status != 200 else None})
        finally:
            swapping.clear()  # the workers finish their stream and stop

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(streams)]
    for t in threads:
        t.start()
    swapper()
    for t in threads:
        t.join()
    out = summarize(results, time.perf_counter() - started)
    out["swaps"] = len(swap_log)
    out["swaps_failed"] = [s for s in swap_log if s["status"] != 200]
    out["swap_s_p50"] = round(percentile([s["s"] for s in swap_log], 50) or 0, 3)
    out["swap_s_max"] = round(max([s["s"] for s in swap_log], default=0), 3)
    out["swap_interval_s"] = round(interval, 3)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/atelier"))
    ap.add_argument("--model-file",
                    default=os.path.join(ROOT, "bench/.work/lm/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--requantize", help="q8_0, q4_k or f16 (serve's --requantize)")
    ap.add_argument("--threads", type=int, help="serve's compute threads")
    ap.add_argument("--streams", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--swaps", type=int, default=10)
    ap.add_argument("--swap-interval", type=float,
                    help="seconds between one swap's answer and the next (default: half the "
                         "load round's p50 stream time, 1 to 30 s, so that streams start on "
                         "both versions)")
    args = ap.parse_args()
    for path in (args.binary, args.model_file):
        if not os.path.isfile(path):
            sys.exit(f"not found: {path}")

    # A kill runs the `finally` below too: the server stops and the project goes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    project = tempfile.mkdtemp(prefix="atelier-serve-bench-")
    server = None
    try:
        # The same file twice: two versions to swap between.
        versions = []
        for alias in (["--alias", "prod"], []):
            out = subprocess.run([args.binary, "lm", "import", args.model_file, "--name", "smollm2",
                                  "-p", project, *alias], check=True, capture_output=True, text=True)
            versions.append(out.stdout.split()[0])  # "v1 (smollm2): llama ..."

        port, token = free_port(), secrets.token_hex(16)
        cmd = [args.binary, "serve", "-p", project, "--addr", f"127.0.0.1:{port}",
               "--max-generations", str(max(16, args.streams))]
        if args.requantize:
            cmd += ["--requantize", args.requantize]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        log = open(os.path.join(project, "serve.log"), "w")
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, "ATELIER_ADMIN_TOKEN": token})
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("the server did not start:\n" + open(log.name).read())
                time.sleep(0.2)

        # A warm-up request, so that the first round measures serving, not first use.
        stream_chat(port, PROMPTS[0], 4, seed=0)
        load = load_round(port, args.streams, args.max_tokens)
        interval = args.swap_interval
        if interval is None:
            interval = min(30.0, max(1.0, (load["total_p50_ms"] or 2000) / 2000))
        swaps = swap_round(port, token, args.streams, args.max_tokens, args.swaps, interval,
                           versions)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(project, ignore_errors=True)

    summary = {
        "binary": args.binary, "model_file": args.model_file, "requantize": args.requantize,
        "threads": args.threads, "cpus": os.cpu_count(), "streams": args.streams,
        "max_tokens": args.max_tokens, "load": load, "swaps": swaps,
    }
    cols = ["streams", "failed", "rejected_503", "generated_tokens", "tokens_per_s", "ttft_p50_ms", "ttft_p99_ms",
            "total_p50_ms", "total_p99_ms"]
    heads = ["streams", "failed", "503", "tokens", "tok/s", "ttft p50 ms", "ttft p99 ms", "total p50 ms",
             "total p99 ms"]
    print(f"{'round':<8}" + "".join(f"{h:>13}" for h in heads), file=sys.stderr)
    for name, r in (("load", load), ("swaps", swaps)):
        print(f"{name:<8}" + "".join(f"{str(r[c]):>13}" for c in cols), file=sys.stderr)
    print(f"swaps: {swaps['swaps']} ({len(swaps['swaps_failed'])} failed), "
          f"{swaps['swap_interval_s']} s apart, each taking {swaps['swap_s_p50']} s (p50), "
          f"{swaps['swap_s_max']} s (max); streams finished on {swaps['finished_on']}; "
          f"streams spanning two versions: {swaps['mixed_versions']}", file=sys.stderr)
    for r in (load, swaps):
        for e, n in r["errors"]:
            print(f"error ({n} streams): {e}", file=sys.stderr)
    for s in swaps["swaps_failed"]:
        print(f"failed swap: {s}", file=sys.stderr)
    print(json.dumps(summary, indent=1))
    ok = (load["failed"] == 0 and swaps["failed"] == 0 and not swaps["swaps_failed"]
          and swaps["mixed_versions"] == 0)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
