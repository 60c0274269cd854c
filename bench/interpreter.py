"""Interpreter throughput with a no-op client: the harness's own ceiling.

    .venv/bin/python bench/interpreter.py [--threads 10,100] [--seconds 5] [--repeat 1]

For each thread count, runs harness.interpreter.run for --seconds with a client that
answers every op at once (ok, its value echoed; a read returns 0), a register workload's
mix of reads, writes and cas on 10 keys, and the real HistoryWriter (history.jsonl in a
temporary folder, flushed per event as in a run). Prints ok ops recorded per second,
events per second, the history's size, and the load average (the machine is shared: the
figures move with it). Target (issue 16, item 5): at least 20,000 ok ops/s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness import generator as gen  # noqa: E402
from harness.generator import SECOND  # noqa: E402
from harness.history import HistoryWriter, read_history  # noqa: E402
from harness.interpreter import Clock, run  # noqa: E402


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


def one(threads: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "history.jsonl")
        history = HistoryWriter(path)
        clock = Clock()
        generator = gen.clients(gen.TimeLimit(int(seconds * SECOND), gen.Fn(register_ops)))
        started = time.perf_counter()
        run(generator, concurrency=threads, nodes=["n1", "n2", "n3"], make_client=NoOpClient,
            nemesis=None, history=history, clock=clock,
            stop_at=clock() + int((seconds + 30) * SECOND), rng=random.Random(1))
        elapsed = time.perf_counter() - started
        history.close()
        events = read_history(path)
        ok = sum(1 for e in events if e["type"] == "ok")
        return {"threads": threads, "seconds": elapsed, "ok": ok, "events": len(events),
                "bytes": os.path.getsize(path)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", default="10,100")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"{os.cpu_count()} cores; no-op client, history written and flushed per event")
    print(f"{'threads':>7s} {'seconds':>8s} {'ok ops':>9s} {'ok ops/s':>9s} {'events/s':>9s} "
          f"{'MiB':>6s}")
    for threads in (int(t) for t in args.threads.split(",")):
        for _ in range(args.repeat):
            r = one(threads, args.seconds)
            print(f"{r['threads']:7d} {r['seconds']:8.2f} {r['ok']:9d} "
                  f"{r['ok'] / r['seconds']:9.0f} {r['events'] / r['seconds']:9.0f} "
                  f"{r['bytes'] / 2**20:6.1f}", flush=True)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
