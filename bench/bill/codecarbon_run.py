"""Runs a command several times, each under CodeCarbon's tracker in process mode, and
prints one JSON line per run with CodeCarbon's energy and the child's own CPU time.

CodeCarbon in process mode samples the CPU time of its own process and its children at
start and at stop. A child that starts after the first sample, or is reaped before the
last, is invisible to it, so each run is arranged for it to see the whole child:

1. fork; the child stops itself (SIGSTOP) before exec'ing the command;
2. the tracker starts, recording the stopped child's CPU time as its baseline;
3. SIGCONT; wait for the child to exit without reaping it (waitid with WNOWAIT), so its
   /proc entry, with its final CPU time, stays readable;
4. the tracker stops (its last sample reads the zombie's CPU time); then we reap it.

    python codecarbon_run.py --repeat 10 [--cpu-watts W] [--ram-watts W] \
        [--before SHELL] [--after SHELL] -- CMD ARGS...
"""

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time

from codecarbon import OfflineEmissionsTracker


def run_once(cmd, cpu_watts, ram_watts):
    pid = os.fork()
    if pid == 0:  # the child: stop, then become the command, quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.kill(os.getpid(), signal.SIGSTOP)
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), "the child did not stop"

    kwargs = dict(
        country_iso_code="FRA",
        tracking_mode="process",
        measure_power_secs=15,
        save_to_file=False,
        log_level="error",
        pue=1.0,
    )
    if cpu_watts is not None:
        kwargs["force_cpu_power"] = cpu_watts
    if ram_watts is not None:
        kwargs["force_ram_power"] = ram_watts
    tracker = OfflineEmissionsTracker(**kwargs)
    tracker.start()
    t0 = time.perf_counter()
    os.kill(pid, signal.SIGCONT)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    wall = time.perf_counter() - t0
    tracker.stop()
    _, status, usage = os.wait4(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the command failed"
    data = tracker.final_emissions_data
    return {
        "codecarbon_kwh": data.energy_consumed,
        "codecarbon_cpu_kwh": data.cpu_energy,
        "codecarbon_ram_kwh": data.ram_energy,
        "codecarbon_cpu_power_w": data.cpu_power,
        "codecarbon_ram_power_w": data.ram_power,
        "codecarbon_cpu_model": data.cpu_model,
        "child_cpu_seconds": usage.ru_utime + usage.ru_stime,
        "child_peak_rss_bytes": usage.ru_maxrss * 1024,
        "wall_seconds": wall,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cpu-watts", type=float, default=None,
                        help="CodeCarbon's force_cpu_power (TDP of all logical CPUs)")
    parser.add_argument("--ram-watts", type=float, default=None,
                        help="CodeCarbon's force_ram_power")
    parser.add_argument("--before", default=None,
                        help="shell command run before each repetition (not measured)")
    parser.add_argument("--after", default=None,
                        help="shell command run after each repetition; its JSON output is kept")
    parser.add_argument("cmd", nargs="+")
    args = parser.parse_args()
    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    for _ in range(args.repeat):
        if args.before:
            assert os.system(args.before) == 0
        result = run_once(args.cmd, args.cpu_watts, args.ram_watts)
        if args.after:
            result["after"] = json.loads(subprocess.check_output(args.after, shell=True))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
