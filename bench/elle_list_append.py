"""List-append checker speed and memory on synthetic histories.

    .venv/bin/python bench/elle_list_append.py [--sizes 10000,100000,1000000]
        [--keys 100] [--clients 10] [--model strict-serializable] [--inject G-single-item]
        [--cli] [--keep DIR]

For each size, a fresh process generates a history with the simulated store (strict
serializable, optionally with one injected anomaly), checks it, and reports generation
time, check time, transactions per second and peak memory (ru_maxrss of that process).
Target (issue 4): 100 k transactions at strict-serializable in at most 10 s and 2 GB on
2 cores, with time growing linearly (the last column: seconds per 100 k transactions).

With --cli the same history is also written as history.jsonl (into --keep DIR, else a
temporary folder, removed after) and checked by `harness check --json` in a fresh
process: its wall clock (start-up and parsing included), load_s (reading and parsing the
file), check_s (the checker), and peak memory (the command's ru_maxrss); and, once
before, the start-up: the wall clock of `harness check` on a two-transaction history
(interpreter, imports, exit), the best of three. Targets (issue 16): 100k transactions at
most 3 s wall, 1M at most 40 s and 3 GB:

    .venv/bin/python bench/elle_list_append.py --sizes 100000,1000000 --cli
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def one(size: int, keys: int, clients: int, model: str, inject: str | None,
        write: str | None = None) -> dict:
    from checkers import list_append
    from workloads import simulated_store

    t0 = time.perf_counter()
    history = simulated_store.list_append_history(size, concurrency=clients, key_count=keys, seed=7)
    if inject:
        history = simulated_store.inject(history, inject)
    if write:
        import msgspec
        with open(write, "wb") as f:
            f.writelines(msgspec.json.encode(op) + b"\n" for op in history)
    t1 = time.perf_counter()
    result = list_append.check(history, [model], time_limit_s=600)
    t2 = time.perf_counter()
    return {"size": size, "ops": len(history), "generate_s": t1 - t0, "check_s": t2 - t1,
            "valid": result["valid"], "anomalies": result["anomaly-types"],
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--keys", type=int, default=100)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--model", default="strict-serializable")
    p.add_argument("--inject")
    p.add_argument("--cli", action="store_true",
                   help="also check the history written as a file with `harness check`")
    p.add_argument("--keep", help="with --cli: write the histories here and keep them")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--write", help=argparse.SUPPRESS)
    p.add_argument("--harness-check", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.keys, args.clients, args.model, args.inject,
                             args.write)))
        return
    if args.harness_check:
        print(json.dumps(harness_check(args.harness_check, args.model)))
        return
    folder = (args.keep or tempfile.mkdtemp(prefix="elle-list-append-")) if args.cli else None
    if folder:
        os.makedirs(folder, exist_ok=True)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} cores")
    print(f"list-append at {args.model}, {args.keys} live keys, {args.clients} clients"
          + (f", injected {args.inject}" if args.inject else ""))
    if folder:
        print(f"harness check start-up (a two-transaction history, best of 3): "
              f"{startup(folder, args.model):.2f} s wall")
    print(f"{'txns':>9s} {'generate s':>11s} {'check s':>9s} {'txn/s':>9s} {'peak MiB':>9s} "
          f"{'s per 100k':>11s}  verdict")
    for size in [int(s) for s in args.sizes.split(",")]:
        cmd = [sys.executable, __file__, "--one", str(size), "--keys", str(args.keys),
               "--clients", str(args.clients), "--model", args.model]
        if args.inject:
            cmd += ["--inject", args.inject]
        path = os.path.join(folder, f"list-append-{size}.jsonl") if folder else None
        if path:
            cmd += ["--write", path]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{size:>9d} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout)
        print(f"{size:>9d} {r['generate_s']:11.1f} {r['check_s']:9.2f} {size / r['check_s']:9.0f} "
              f"{r['peak_mib']:9.0f} {r['check_s'] / size * 100000:11.2f}  {r['valid']} "
              f"{','.join(r['anomalies'])}")
        if path:
            c = json.loads(subprocess.run([sys.executable, __file__, "--harness-check", path,
                                           "--model", args.model],
                                          capture_output=True, text=True).stdout)
            print(f"{'':>9s} harness check: {c['wall_s']:.2f} s wall (load_s {c['load_s']}, "
                  f"check_s {c['check_s']}, the rest start-up and exit), peak "
                  f"{c['peak_mib']:.0f} MiB, {c['valid']} {','.join(c['anomalies'])}",
                  flush=True)
            if not args.keep:
                os.remove(path)
    if folder and not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _harness_check_cmd(path: str, model: str) -> list[str]:
    return [os.path.join(os.path.dirname(sys.executable), "harness"), "check", "--json",
            "--checker", "elle-list-append", "--consistency-model", model,
            "--time-limit", "600", path]


def startup(folder: str, model: str) -> float:
    """Wall clock of `harness check` on a two-transaction history: what every check
    pays before reading its file (interpreter, imports) and after (exit)."""
    path = os.path.join(folder, "two-transaction.jsonl")
    with open(path, "w") as f:
        f.write('{"index":0,"type":"invoke","process":0,"f":"txn","value":[["append",1,1]]}\n'
                '{"index":1,"type":"ok","process":0,"f":"txn","value":[["append",1,1]]}\n'
                '{"index":2,"type":"invoke","process":0,"f":"txn","value":[["r",1,null]]}\n'
                '{"index":3,"type":"ok","process":0,"f":"txn","value":[["r",1,[1]]]}\n')
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(_harness_check_cmd(path, model), capture_output=True)
        times.append(time.perf_counter() - started)
    os.remove(path)
    return min(times)


def harness_check(path: str, model: str) -> dict:
    """`harness check --json` on `path` as a child of this fresh process: its wall clock
    and peak memory (ru_maxrss of the children, i.e. of that command)."""
    cmd = _harness_check_cmd(path, model)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, "load_s": result.get("load_s"), "check_s": result.get("check_s"),
            "valid": result.get("valid"), "anomalies": result.get("anomaly-types", []),
            "peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


if __name__ == "__main__":
    main()
