"""Controller memory over a run: RSS of the `harness test` process, sampled every second.

Prints the peak RSS during the workload (main and final phase), the growth in MB per minute
of run (least-squares slope over the main phase, after a 20 s warm-up), and the peak while
checking, when the whole history is read back. The harness keeps no history in memory while
the run goes on, so the slope should be near zero whatever the run's length.

    python bench/controller_memory.py [--time-limit 600] [--nemesis partition]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def slope(points):
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--time-limit", type=float, default=180)
    parser.add_argument("--nemesis", default="partition")
    args = parser.parse_args()
    store = tempfile.mkdtemp(prefix="harness-bench-mem-")
    cmd = [sys.executable, "-m", "harness.cli", "test", "--system", "raftkv", "--nemesis",
           args.nemesis, "--time-limit", str(args.time_limit), "--store", store]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    samples = []
    workload_started = None     # when the history file first appears: the workload began
    while proc.poll() is None:
        value = rss_mb(proc.pid)
        now = time.monotonic() - started
        if value is not None:
            samples.append((now, value))
        if workload_started is None and any(
                os.path.exists(os.path.join(store, d, "latest", "history.jsonl"))
                and os.path.getsize(os.path.join(store, d, "latest", "history.jsonl")) > 0
                for d in os.listdir(store) if d != "latest"):
            workload_started = now
        time.sleep(1)
    out, err = proc.communicate()
    history = os.path.join(store, "latest", "history.jsonl")
    events = sum(1 for _ in open(history)) if os.path.exists(history) else 0
    ready = workload_started or 0
    run_end = ready + args.time_limit
    during = [(t, v) for t, v in samples if ready <= t <= run_end]
    growth = [(t / 60, v) for t, v in samples if ready + 20 <= t <= run_end]
    checking = [v for t, v in samples if t > run_end]
    print(f"run: {args.time_limit:g}s of raftkv under {args.nemesis}, exit {proc.returncode}, "
          f"{events} history events ({os.path.getsize(history) / 2**20:.1f} MB on disk)")
    print(f"controller peak RSS during the workload: {max(v for _, v in during):.1f} MB")
    print(f"controller RSS growth during the workload: {slope(growth):.2f} MB per minute")
    if checking:
        print(f"controller peak RSS after the workload (final phase, teardown, history read "
              f"back and checked): {max(checking):.1f} MB")
    print(out.strip().splitlines()[-3] if out.strip() else err.strip()[-300:])


if __name__ == "__main__":
    main()
