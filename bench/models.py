"""What each linearizability model costs: native (stepped in the compiled core) or Python.

    .venv/bin/python bench/models.py [--ops 20000] [--keys 10] [--clients 10] [--repeat 3]

For every model the registry ships, generates a history a linearizable store would give
(each op takes effect at one instant inside its interval; 5 % of ops end `info`, after
taking effect or not), spread over --keys keys where the model is per key (a tenth as many ops on one object
and at most 5 clients where it is not: set, fifo-queue, multi-register), and checks it
with the compiled core on one thread: with the model's native program where it has one
(`native` column) and through its Python `step` (`python`, the core calling back into
Python once per distinct (state, op) pair, holding the GIL meanwhile). Prints ms per
check (best of --repeat) and microseconds per op. Every verdict must be true.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import checkers.linearizable as lin  # noqa: E402
from checkers.models import MODELS, make_model  # noqa: E402


def _register(rng, state, with_cas=True):
    f = rng.choice(("read", "write", "cas") if with_cas else ("read", "write"))
    if f == "read":
        return f, None, lambda s: (s, True, s)
    if f == "write":
        v = rng.randrange(5)
        return f, v, lambda s: (v, True, v)
    old, new = rng.randrange(5), rng.randrange(5)
    return f, [old, new], lambda s: (new, True, [old, new]) if s == old else (s, False, [old, new])


_UNIQUE = itertools.count(1)      # values added to a set or queue: each once


def _mutex(rng, state):
    f = rng.choice(("acquire", "release"))
    held = f == "release"
    return f, None, lambda s: (not s, True, None) if bool(s) == held else (s, False, None)


def _kv(rng, state):
    f = rng.choice(("get", "put", "append"))
    v = rng.choice("abcde")
    if f == "get":
        return f, None, lambda s: (s, True, s)
    if f == "put":
        return f, v, lambda s: (v, True, v)
    return f, v, lambda s: (s + v, True, v)


def _set(rng, state):
    if rng.random() < 0.7:
        v = next(_UNIQUE)
        return "add", v, lambda s: (s | {v}, True, v)
    return "read", None, lambda s: (s, True, sorted(s))


def _queue(rng, state):
    if rng.random() < 0.5:
        v = next(_UNIQUE)
        return "enqueue", v, lambda s: (s + (v,), True, v)
    return "dequeue", None, lambda s: (s[1:], True, s[0]) if s else (s, True, None)


def _multi(rng, state):
    mops = [[rng.choice("rw"), rng.choice("xyz"), rng.randrange(3)] for _ in range(2)]

    def apply(s):
        values, out = dict(s), []
        for kind, reg, v in mops:
            if kind == "r":
                out.append(["r", reg, values.get(reg)])
            else:
                values[reg] = v
                out.append(["w", reg, v])
        return frozenset(values.items()), True, out
    return "txn", mops, apply


# model -> (op maker, initial state of the simulated store, partitioned by key)
SIMULATED = {
    "cas-register": (_register, None, True),
    "register": (lambda rng, s: _register(rng, s, with_cas=False), None, True),
    "mutex": (_mutex, False, True),
    "kv": (_kv, "", True),
    "set": (_set, frozenset(), False),
    "fifo-queue": (_queue, (), False),
    "multi-register": (_multi, frozenset(), False),
}


def generate(model: str, n_ops: int, keys: int, clients: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    make_op, initial, keyed = SIMULATED[model]
    keys = keys if keyed else 1
    state = {k: initial for k in range(keys)}
    history, started, pending = [], 0, {}
    heap = [(rng.random(), "invoke", p) for p in range(clients)]
    next_process = clients
    while heap:
        t, kind, p = heapq.heappop(heap)
        if kind == "invoke":
            if started >= n_ops:
                continue
            key = rng.randrange(keys)
            f, value, apply = make_op(rng, state[key])
            event = {"type": "invoke", "process": p, "f": f, "value": value}
            if keyed:
                event["key"] = key
            history.append(event)
            pending[p] = (key, f, apply)
            started += 1
            heapq.heappush(heap, (t + rng.random(), "effect", p))
        elif kind == "effect":
            key, f, apply = pending[p]
            state[key], ok, out = apply(state[key])
            pending[p] = (key, f, (ok, out))
            heapq.heappush(heap, (t + rng.random(), "complete", p))
        else:
            key, f, (ok, out) = pending.pop(p)
            crashed = rng.random() < 0.05
            event = {"type": "info" if crashed else "ok" if ok else "fail", "process": p,
                     "f": f, "value": out}
            if keyed:
                event["key"] = key
            history.append(event)
            if crashed:                    # the process is retired for a new one
                p, next_process = next_process, next_process + 1
            heapq.heappush(heap, (t + rng.random(), "invoke", p))
    for i, event in enumerate(history):
        event["index"] = i
    return history


def timed(history, model, native: bool, repeat: int) -> tuple[float, object]:
    saved = lin._native_model
    if not native:
        lin._native_model = lambda model, ops: None
    try:
        best, valid = float("inf"), None
        for _ in range(repeat):
            started = time.perf_counter()
            result = lin.check_history(history, model=model, jobs=1, time_limit_s=600)
            best = min(best, time.perf_counter() - started)
            valid = result["valid"]
        return best, valid
    finally:
        lin._native_model = saved


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ops", type=int, default=20_000)
    p.add_argument("--keys", type=int, default=10)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.ops} ops, "
          f"{args.clients} clients, {args.keys} keys where per key; compiled core, 1 job")
    print(f"{'model':16s} {'ops':>6s} {'native ms':>10s} {'python ms':>10s} {'µs/op nat':>10s} "
          f"{'µs/op py':>9s} {'py/nat':>7s}  verdict")
    for name in MODELS:
        # one object for the whole history: a tenth of the ops and at most 5 clients (the
        # search is exponential in what is concurrent: a set or queue is not partitioned)
        keyed = SIMULATED[name][2]
        n_ops = args.ops if keyed else args.ops // 10
        clients = args.clients if keyed else min(5, args.clients)
        history = generate(name, n_ops, args.keys, clients, seed=16)
        model = make_model(name, SIMULATED[name][1] if name == "mutex" else None)
        has_native = hasattr(model, "native")
        python_s, valid = timed(history, model, False, args.repeat)
        verdicts = {valid}
        row = f"{name:16s} {n_ops:6d} "
        if has_native:
            native_s, native_valid = timed(history, model, True, args.repeat)
            verdicts.add(native_valid)
            row += (f"{native_s * 1000:10.1f} {python_s * 1000:10.1f} "
                    f"{native_s * 1e6 / n_ops:10.2f} {python_s * 1e6 / n_ops:9.2f} "
                    f"{python_s / native_s:6.2f}x")
        else:
            row += (f"{'-':>10s} {python_s * 1000:10.1f} {'-':>10s} "
                    f"{python_s * 1e6 / n_ops:9.2f} {'':>7s}")
        print(row + f"  {'/'.join(map(str, sorted(verdicts, key=str)))}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
