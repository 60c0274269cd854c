"""Drive a generator in simulated time, without threads: for testing generators purely."""

from __future__ import annotations

import random

from harness.generator import NEMESIS_THREAD, Context, Pending


def simulate(gen, *, threads=2, nemesis=False, latency_ns=1_000_000, until_ns=10**12,
             seed=0, max_ops=100_000, complete=None):
    """Run `gen` to exhaustion (or until_ns), completing every op after latency_ns.

    Returns the list of invoke ops with the simulated time they were dispatched.
    `complete(op) -> type` chooses each completion's type (default "ok").
    """
    rng = random.Random(seed)
    all_threads = set(range(threads)) | ({NEMESIS_THREAD} if nemesis else set())
    processes = {t: ("nemesis" if t == NEMESIS_THREAD else t) for t in all_threads}
    free = set(all_threads)
    in_flight = []  # (done_at, thread, op)
    now = 0
    invokes = []
    while now <= until_ns and len(invokes) < max_ops:
        in_flight.sort(key=lambda x: x[0])
        while in_flight and in_flight[0][0] <= now:
            _, t, op = in_flight.pop(0)
            typ = complete(op) if complete else "ok"
            free.add(t)
            event = dict(op, type=typ, time=now)
            if typ == "info" and t != NEMESIS_THREAD:
                processes[t] += threads
            ctx = Context(now, frozenset(free), processes, rng, frozenset(all_threads))
            gen = gen.update(ctx, event)
        ctx = Context(now, frozenset(free), processes, rng, frozenset(all_threads))
        res = gen.op(ctx)
        if res is None:
            if not in_flight:
                break
            now = in_flight[0][0]
            continue
        op, nxt = res
        if isinstance(op, Pending):
            gen = nxt
            candidates = [x[0] for x in in_flight]
            if op.wake is not None:
                candidates.append(op.wake)
            if not candidates:
                raise AssertionError("generator pending forever with nothing in flight")
            now = max(now + 1, min(candidates))
            continue
        if op["time"] > now:
            candidates = [op["time"]] + [x[0] for x in in_flight]
            now = min(candidates)
            continue
        thread = ctx.thread_of(op["process"])
        assert thread in free, "generator chose a busy thread"
        gen = nxt
        free.discard(thread)
        invoke = dict(op, time=now, thread=thread)
        invokes.append(invoke)
        gen = gen.update(Context(now, frozenset(free), processes, rng, frozenset(all_threads)), invoke)
        in_flight.append((now + latency_ns, thread, invoke))
    return invokes
