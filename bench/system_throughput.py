"""Throughput of a healthy 5-node bundled system, through the whole harness.

    .venv/bin/python bench/system_throughput.py [--system raftkv] [--workload W]
        [--time-limit 60] [--concurrency 10] [--system-opt NAME=VALUE ...]

Runs `harness test --system S` (no nemesis, unthrottled) and prints ok ops/s overall and
per op type, the failures by error, latency quantiles of ok ops, and how long the cluster
took to be ready. Targets (10 clients, 60 s): raftkv register 300 ok ops/s (issue 2), sqldb
list-append 300 ok transactions/s (issue 12), pgha list-append 200 (issue 11).
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


TARGETS = {"raftkv": 300, "sqldb": 300, "pgha": 200}    # ok ops (transactions) per second


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--system", default="raftkv")
    p.add_argument("--workload", default=None)
    p.add_argument("--time-limit", type=float, default=60)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--system-opt", action="append", default=[])
    p.add_argument("--workload-opt", action="append", default=[])
    # A nemesis that lays something under the system (the clock nemesis's libfaketime,
    # with clock.modes=reset: offsets stay 0) measures what that layer costs.
    p.add_argument("--nemesis", default=None)
    p.add_argument("--nemesis-opt", action="append", default=[])
    args = p.parse_args()
    store = tempfile.mkdtemp(prefix="harness-bench-")
    cmd = [sys.executable, "-m", "harness.cli", "test", "--system", args.system,
           "--time-limit", str(args.time_limit), "--concurrency", str(args.concurrency),
           "--store", store]
    cmd += ["--workload", args.workload] if args.workload else []
    for opt in args.system_opt:
        cmd += ["--system-opt", opt]
    for opt in args.workload_opt:
        cmd += ["--workload-opt", opt]
    cmd += ["--nemesis", args.nemesis] if args.nemesis else []
    for opt in args.nemesis_opt:
        cmd += ["--nemesis-opt", opt]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode not in (0, 1, 2):
        sys.exit(f"harness failed ({proc.returncode}): {proc.stderr.strip()}")
    run_dir = os.path.realpath(os.path.join(store, "latest"))
    history = read_history(os.path.join(run_dir, "history.jsonl"))
    config = json.load(open(os.path.join(run_dir, "test.json")))
    main_phase_ns = args.time_limit * 1e9
    ok, latencies, by_f, errors = 0, [], {}, {}
    for invoke, completion in pair_ops(history):
        if completion is None or invoke["time"] > main_phase_ns:
            continue
        if completion["type"] != "ok":
            key = f"{completion['type']} {completion.get('error')}"
            errors[key] = errors.get(key, 0) + 1
        if completion["type"] == "ok":
            ok += 1
            by_f[invoke["f"]] = by_f.get(invoke["f"], 0) + 1
            latencies.append((completion["time"] - invoke["time"]) / 1e6)
    target = TARGETS.get(args.system)
    print(f"{config.get('system')} {config.get('workload')} "
          f"{' '.join(args.system_opt + args.workload_opt)}, 5 nodes, {args.concurrency} "
          f"clients, {args.time_limit:g} s, "
          + (f"nemesis {args.nemesis} {' '.join(args.nemesis_opt)}" if args.nemesis
             else "no faults") + f"; load average {os.getloadavg()[0]:.1f}")
    print(f"cluster ready:      {config.get('cluster_ready_s')} s")
    print(f"ok ops/s:           {ok / args.time_limit:.0f}"
          + (f"   (target >= {target})" if target else ""))
    for f, n in sorted(by_f.items()):
        print(f"  {f:6s} ok ops/s:  {n / args.time_limit:.0f}")
    for e, n in sorted(errors.items(), key=lambda x: -x[1])[:5]:
        print(f"  {e}: {n / args.time_limit:.0f}/s")
    print(f"latency ms:         p50 {quantile(latencies, .5):.1f}  p95 {quantile(latencies, .95):.1f}"
          f"  p99 {quantile(latencies, .99):.1f}  max {max(latencies):.1f}")
    name = config.get("test_name", "")
    verdict = next((line for line in proc.stdout.splitlines() if name and line.startswith(name)),
                   "?")
    print(f"verdict:            {verdict}")


if __name__ == "__main__":
    main()
