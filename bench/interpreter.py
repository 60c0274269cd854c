"""Interpreter throughput with a no-op client: the harness's own ceiling.

    .venv/bin/python bench/interpreter.py [--threads 10,100] [--seconds 5] [--repeat 3]
                                          [--modes group,per-event]

For each writer mode and thread count, runs harness.interpreter.run for --seconds with a
client that answers every op at once (ok, its value echoed; a read returns 0), a register
workload's mix of reads, writes and cas on 10 keys, and the real HistoryWriter
(history.jsonl in a temporary folder). Modes: `group` is the interpreter's default (group
commit: one write + flush per group of events, see HistoryWriter.group_commit); `per-event`
writes and flushes every event before going on, as every version before group commit did:
the baseline, measured in the same run.

Prints, per run, the ok ops recorded per second, events per second, the CPU the process
used per ok op (user + system, all threads: less sensitive than the rate to what else the
machine runs), the history's size and the voluntary context switches per op; then the
median and best rate of each mode and thread count, and the load average before and after
(the machine is shared: the figures move with it). Target (issue 16, item 5): at least
20,000 ok ops/s on 2 cores, 10 and 100 threads.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness import generator as gen  # noqa: E402
from harness.generator import SECOND  # noqa: E402
from harness.history import HistoryWriter, read_history  # noqa: E402
from harness.interpreter import GROUP_COMMIT_DELAY_S, GROUP_COMMIT_EVENTS, Clock, run  # noqa: E402

MODES = {"group": (GROUP_COMMIT_EVENTS, GROUP_COMMIT_DELAY_S), "per-event": None}


class NoOpClient:
    """Answers at once: the interpreter, the generator and the history are all that runs."""

    def open(self, node):
        pass

    def invoke(self, op):
        if op["f"] == "read":
            return {"type": "ok", "value": 0}
        return {"type": "ok", "value": op.get("value")}

    def close(self):
        pass


def register_ops(ctx):
    roll = ctx.rng.random()
    key = ctx.rng.randrange(10)
    if roll < 0.5:
        return {"f": "read", "key": key}
    if roll < 0.8:
        return {"f": "write", "key": key, "value": ctx.rng.randrange(5)}
    return {"f": "cas", "key": key, "value": [ctx.rng.randrange(5), ctx.rng.randrange(5)]}


def one(threads: int, seconds: float, mode: str = "group") -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "history.jsonl")
        history = HistoryWriter(path)
        clock = Clock()
        generator = gen.clients(gen.TimeLimit(int(seconds * SECOND), gen.Fn(register_ops)))
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        run(generator, concurrency=threads, nodes=["n1", "n2", "n3"], make_client=NoOpClient,
            nemesis=None, history=history, clock=clock,
            stop_at=clock() + int((seconds + 30) * SECOND), rng=random.Random(1),
            group_commit=MODES[mode])
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        history.close()
        events = read_history(path)
        ok = sum(1 for e in events if e["type"] == "ok")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return {"mode": mode, "threads": threads, "seconds": elapsed, "ok": ok,
                "events": len(events), "bytes": os.path.getsize(path), "cpu": cpu,
                "switches": after.ru_nvcsw - before.ru_nvcsw}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", default="10,100")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--modes", default="group,per-event",
                   help="comma-separated: group (the default writer), per-event (the baseline)")
    args = p.parse_args()
    modes = args.modes.split(",")
    for mode in modes:
        if mode not in MODES:
            p.error(f"--modes: unknown mode {mode!r} (known: {', '.join(MODES)})")
    print(f"load average {load()}, {os.cpu_count()} cores; no-op client, history written")
    print(f"{'mode':>9s} {'threads':>7s} {'seconds':>8s} {'ok ops':>9s} {'ok ops/s':>9s} "
          f"{'events/s':>9s} {'cpu us/op':>9s} {'MiB':>6s} {'csw/op':>6s}")
    rates: dict = {}
    # Interleaved (each repeat runs every mode and thread count), so a change in the
    # machine's load falls on all of them alike.
    for _ in range(args.repeat):
        for mode in modes:
            for threads in (int(t) for t in args.threads.split(",")):
                r = one(threads, args.seconds, mode)
                rate = r["ok"] / r["seconds"]
                rates.setdefault((mode, threads), []).append(rate)
                print(f"{mode:>9s} {threads:7d} {r['seconds']:8.2f} {r['ok']:9d} {rate:9.0f} "
                      f"{r['events'] / r['seconds']:9.0f} {r['cpu'] / r['ok'] * 1e6:9.1f} "
                      f"{r['bytes'] / 2**20:6.1f} {r['switches'] / r['ok']:6.2f}", flush=True)
    print(f"load average {load()}")
    print(f"{'mode':>9s} {'threads':>7s} {'median ok ops/s':>16s} {'best':>7s}")
    for (mode, threads), values in rates.items():
        print(f"{mode:>9s} {threads:7d} {statistics.median(values):16.0f} {max(values):7.0f}")


if __name__ == "__main__":
    main()
