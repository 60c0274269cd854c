"""Throughput of a healthy 5-node raftkv under the register workload, through the whole harness.

    .venv/bin/python bench/raftkv_throughput.py [--time-limit 60] [--concurrency 10]

Runs `harness test --system raftkv` (no nemesis, unthrottled) and prints ok ops/s overall and
per op type, latency quantiles, and how long the cluster took to be ready. Target (issue 2):
at least 300 ok ops/s with 10 clients over 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness.history import pair_ops, read_history  # noqa: E402


def quantile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--time-limit", type=float, default=60)
    p.add_argument("--concurrency", type=int, default=10)
    args = p.parse_args()
    store = tempfile.mkdtemp(prefix="harness-bench-")
    cmd = [sys.executable, "-m", "harness.cli", "test", "--system", "raftkv",
           "--time-limit", str(args.time_limit), "--concurrency", str(args.concurrency),
           "--store", store]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode not in (0, 1, 2):
        sys.exit(f"harness failed ({proc.returncode}): {proc.stderr.strip()}")
    run_dir = os.path.realpath(os.path.join(store, "latest"))
    history = read_history(os.path.join(run_dir, "history.jsonl"))
    config = json.load(open(os.path.join(run_dir, "test.json")))
    main_phase_ns = args.time_limit * 1e9
    ok, latencies, by_f = 0, [], {}
    for invoke, completion in pair_ops(history):
        if completion is None or invoke["time"] > main_phase_ns:
            continue
        if completion["type"] == "ok":
            ok += 1
            by_f[invoke["f"]] = by_f.get(invoke["f"], 0) + 1
            latencies.append((completion["time"] - invoke["time"]) / 1e6)
    print(f"raftkv, 5 nodes, {args.concurrency} clients, {args.time_limit:g} s, no faults")
    print(f"cluster ready:      {config.get('cluster_ready_s')} s")
    print(f"ok ops/s:           {ok / args.time_limit:.0f}   (target >= 300)")
    for f, n in sorted(by_f.items()):
        print(f"  {f:6s} ok ops/s:  {n / args.time_limit:.0f}")
    print(f"latency ms:         p50 {quantile(latencies, .5):.1f}  p95 {quantile(latencies, .95):.1f}"
          f"  p99 {quantile(latencies, .99):.1f}  max {max(latencies):.1f}")
    print(f"verdict:            {proc.stdout.strip().splitlines()[-3] if proc.stdout else '?'}")


if __name__ == "__main__":
    main()
