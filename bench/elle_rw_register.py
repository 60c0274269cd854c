"""rw-register checker speed and memory with many versions of one key.

    .venv/bin/python bench/elle_rw_register.py [--sizes 1000,14000,100000] [--keys 1]
        [--clients 10] [--time-limit 5] [--blind 0.0] [--mixed] [--model strict-serializable]

For each size, a fresh process builds a strict serializable history in which `clients`
clients run transactions on `keys` registers: a read-modify-write ([r k v] then [w k v'])
or, with probability --blind, a blind write, or a read-only transaction (--mixed: one to
four random reads and writes, as the rw-register workload makes them), each taking effect
atomically at its completion. It is checked with --assume wfr-keys (issue 9:
14,000 writes to one key took 29 s and 5.2 GB at --time-limit 5 before the version-order
reduction became near-linear). Prints check time, peak memory (ru_maxrss of that
process) and the verdict; the target is an answer within the time limit plus 5 s and
under 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def history(n: int, keys: int, clients: int, blind: float, seed: int = 7,
            mixed: bool = False) -> list[dict]:
    rng = random.Random(seed)
    store: dict = {}
    running: dict = {}
    out: list[dict] = []
    started = 0
    next_value = 0
    while started < n or running:
        c = rng.randrange(clients)
        if c not in running:
            if started >= n:
                continue
            k = rng.randrange(keys)
            r = rng.random()
            if mixed:      # the rw-register workload's shape: 1-4 random reads and writes
                mops = []
                for _ in range(rng.randint(1, 4)):
                    k = rng.randrange(keys)
                    if rng.random() < 0.5:
                        mops.append(["r", k, None])
                    else:
                        next_value += 1
                        mops.append(["w", k, next_value])
            elif r < 0.3:
                mops = [["r", k, None]]
            elif r < 0.3 + blind:
                next_value += 1
                mops = [["w", k, next_value]]
            else:
                next_value += 1
                mops = [["r", k, None], ["w", k, next_value]]
            op = {"index": len(out), "type": "invoke", "process": c, "f": "txn", "value": mops}
            out.append(op)
            running[c] = op
            started += 1
            continue
        inv = running.pop(c)
        done = []
        for f, k, v in inv["value"]:
            if f == "r":
                done.append(["r", k, store.get(k)])
            else:
                store[k] = v
                done.append(["w", k, v])
        out.append({"index": len(out), "type": "ok", "process": c, "f": "txn", "value": done})
    return out


def one(size, keys, clients, blind, time_limit, model, mixed) -> dict:
    from checkers import rw_register

    h = history(size, keys, clients, blind, mixed=mixed)
    writes = sum(1 for op in h if op["type"] == "ok" for m in op["value"] if m[0] == "w")
    t0 = time.perf_counter()
    result = rw_register.check(h, [model], time_limit_s=time_limit, wfr_keys=True)
    t1 = time.perf_counter()
    return {"size": size, "writes": writes, "check_s": t1 - t0, "valid": result["valid"],
            "anomalies": result["anomaly-types"], "reason": result.get("unknown_reason", ""),
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1000,14000,100000")
    p.add_argument("--keys", type=int, default=1)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--blind", type=float, default=0.0)
    p.add_argument("--time-limit", type=float, default=5.0)
    p.add_argument("--model", default="strict-serializable")
    p.add_argument("--mixed", action="store_true",
                   help="transactions shaped as the rw-register workload makes them")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        print(json.dumps(one(a.one, a.keys, a.clients, a.blind, a.time_limit, a.model, a.mixed)))
        return
    shape = "workload-shaped transactions" if a.mixed else f"blind writes {a.blind:.0%}"
    print(f"rw-register at {a.model}, wfr-keys, {a.keys} key(s), {a.clients} clients, "
          f"{shape}, time limit {a.time_limit:g} s")
    print(f"{'txns':>8s} {'writes':>8s} {'check s':>8s} {'peak MiB':>9s}  verdict")
    for size in [int(s) for s in a.sizes.split(",")]:
        cmd = [sys.executable, __file__, "--one", str(size), "--keys", str(a.keys),
               "--clients", str(a.clients), "--blind", str(a.blind),
               "--time-limit", str(a.time_limit), "--model", a.model] + (
                   ["--mixed"] if a.mixed else [])
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{size:>8d} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout)
        print(f"{size:>8d} {r['writes']:>8d} {r['check_s']:8.2f} {r['peak_mib']:9.0f}  "
              f"{r['valid']} {','.join(r['anomalies'])} {r['reason']}")


if __name__ == "__main__":
    main()
