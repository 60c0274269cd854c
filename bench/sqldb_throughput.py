"""Throughput of a healthy 5-node sqldb under the list-append workload, through the whole
harness.

    .venv/bin/python bench/sqldb_throughput.py [--time-limit 60] [--concurrency 10]

Runs `harness test --system sqldb` (list-append, no nemesis, unthrottled) and prints ok
transactions/s overall, split into read-only and write transactions, latency quantiles,
how long the cluster took to be ready, the machine's load average before and after (the
machine is shared: say it with the figure), and the verdict. Target (issue 12): at least
300 ok list-append transactions per second with 10 clients over 60 s.
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
    cmd = [sys.executable, "-m", "harness.cli", "test", "--system", "sqldb",
           "--workload", "list-append", "--time-limit", str(args.time_limit),
           "--concurrency", str(args.concurrency), "--store", store]
    load_before = os.getloadavg()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    load_after = os.getloadavg()
    if proc.returncode not in (0, 1, 2):
        sys.exit(f"harness failed ({proc.returncode}): {proc.stderr.strip()}")
    run_dir = os.path.realpath(os.path.join(store, "latest"))
    history = read_history(os.path.join(run_dir, "history.jsonl"))
    config = json.load(open(os.path.join(run_dir, "test.json")))
    main_phase_ns = args.time_limit * 1e9
    ok, read_only, failed, unknown, latencies = 0, 0, 0, 0, []
    for invoke, completion in pair_ops(history):
        if completion is None or invoke["time"] > main_phase_ns:
            continue
        if completion["type"] == "ok":
            ok += 1
            read_only += all(m[0] == "r" for m in invoke["value"])
            latencies.append((completion["time"] - invoke["time"]) / 1e6)
        elif completion["type"] == "fail":
            failed += 1
        else:
            unknown += 1
    verdict = [line for line in proc.stdout.splitlines() if "elle-list-append" in line]
    print(f"sqldb, 5 nodes, list-append, {args.concurrency} clients, {args.time_limit:g} s, "
          "no faults")
    print(f"load average:       {load_before[0]:.1f} before, {load_after[0]:.1f} after "
          f"({os.cpu_count()} cores)")
    print(f"cluster ready:      {config.get('cluster_ready_s')} s")
    print(f"ok txn/s:           {ok / args.time_limit:.0f}   (target >= 300)")
    print(f"  read-only:        {read_only / args.time_limit:.0f}")
    print(f"  with writes:      {(ok - read_only) / args.time_limit:.0f}")
    print(f"fail / info:        {failed} / {unknown}")
    if latencies:
        print(f"latency ms:         p50 {quantile(latencies, .5):.1f}  "
              f"p95 {quantile(latencies, .95):.1f}  p99 {quantile(latencies, .99):.1f}  "
              f"max {max(latencies):.1f}")
    print(f"verdict:            {verdict[0].strip() if verdict else proc.stdout.strip()[-300:]}")


if __name__ == "__main__":
    main()
