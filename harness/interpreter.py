"""The interpreter: runs a generator against worker threads and records the history.

One worker thread per client thread (0..concurrency-1) plus one for the nemesis. The
interpreter alone asks the generator for ops, so generators need no locking; workers
only execute ops and hand completions back through a queue.

Semantics enforced here, not in clients:
* every invoke and completion is recorded, in the order the interpreter saw them;
* a client op that ends in `info` (or raises) retires its process: the thread carries on
  under process + concurrency, with a freshly opened client (Jepsen's rule: the old
  process may still have a request in flight);
* the run stops at `stop_at` no matter what the generator says; ops still outstanding
  then are left open in the history (a checker treats them as indeterminate);
* a client thread whose op failed because the node could not serve it (the client marks
  the completion `unavailable`) rests `fail_backoff_s` before its next op, as a real
  client backs off: without it, an unreachable cluster turns every thread into a tight
  loop of instant failures (thousands per second) that drowns the history and the CPU.
  The rest lies between ops, so no latency includes it.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import traceback
from contextlib import nullcontext
from typing import Any, Callable, Protocol

from .generator import NEMESIS_THREAD, SECOND, Context, Pending
from .history import FAIL, INFO, INVOKE, NEMESIS, OK, HistoryWriter

log = logging.getLogger(__name__)


class Client(Protocol):
    """A connection from one worker to one node.

    `open` must not change the logical state of the system (it may be called again for a
    new process at any time). `invoke` takes an invoke op and returns its completion: a
    dict with `type` ok / fail / info and, as needed, `value`, `error`, `node`. It must
    return within its own timeout; an exception it raises is recorded as `info`, since
    the op may have taken effect. A completion may carry `unavailable: True` (not
    recorded) when the node could not serve at all (connection refused, no leader): the
    worker then backs off briefly before its next op.
    """

    def open(self, node: str) -> None: ...

    def invoke(self, op: dict) -> dict: ...

    def close(self) -> None: ...


class NemesisHandler(Protocol):
    def invoke(self, op: dict) -> dict: ...


class Clock:
    """Nanoseconds since the run started, from a monotonic clock."""

    def __init__(self):
        self.origin = time.monotonic_ns()

    def __call__(self) -> int:
        return time.monotonic_ns() - self.origin


class _Worker(threading.Thread):
    """Runs the ops put in its inbox, one at a time, and hands each completion back.

    Both queues are `queue.SimpleQueue`s (C, lock-free for the caller): `queue.Queue`'s
    condition variables cost a Python-level lock round trip per put and get, which
    measured a fifth of the interpreter's time with a no-op client."""

    def __init__(self, thread_id, run_op: Callable[[dict], dict],
                 completions: queue.SimpleQueue, clock: Clock):
        super().__init__(name=f"worker-{thread_id}", daemon=True)
        self.thread_id = thread_id
        self.run_op = run_op
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.completions = completions
        self.clock = clock

    def run(self) -> None:
        take, give, run_op, clock = self.inbox.get, self.completions.put, self.run_op, self.clock
        thread_id = self.thread_id
        while True:
            op = take()
            if op is None:
                return
            try:
                completion = run_op(op)
            except Exception as e:  # an exception means we cannot know: indeterminate
                log.debug("worker %s: %s", thread_id, traceback.format_exc())
                completion = {"type": INFO, "error": f"{type(e).__name__}: {e}"}
            if "time" not in completion:
                completion["time"] = clock()
            give((thread_id, op, completion))


class ClientRunner:
    """Executes client ops for one worker thread, reopening the client for a new process."""

    def __init__(self, make_client: Callable[[], Client], node: str):
        self.make_client = make_client
        self.node = node
        self.client: Client | None = None

    def __call__(self, op: dict) -> dict:
        if self.client is None:
            self.client = self.make_client()
            self.client.open(self.node)
        try:
            completion = self.client.invoke(op)
        except Exception:
            self.reset()
            raise
        if completion.get("type") == INFO:
            self.reset()
        return completion

    def reset(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception:
                pass
            self.client = None


# Group commit of the history while the interpreter runs (HistoryWriter.group_commit): a
# kill -9 of the harness loses at most this many of the last events, or the last this many
# seconds of them; nothing stays queued while the interpreter waits.
GROUP_COMMIT_EVENTS = 256
GROUP_COMMIT_DELAY_S = 0.05


def run(generator, *, concurrency: int, nodes: list[str], make_client: Callable[[], Client],
        nemesis: NemesisHandler | None, history: HistoryWriter, clock: Clock,
        stop_at: int, rng: random.Random, drain_s: float = 10.0,
        fail_backoff_s: float = 0.05, stop: threading.Event | None = None,
        group_commit: tuple[int, float] | None = (GROUP_COMMIT_EVENTS, GROUP_COMMIT_DELAY_S),
        ) -> Any:
    """Interpret `generator` until it is exhausted, `stop_at` (ns on `clock`) passes, or
    `stop` is set (the cluster monitor sets it when the cluster is lost; the loop notices
    within a second, since it never waits longer than that).

    Client thread i talks to nodes[i % len(nodes)]. Returns the final generator.

    Every invoke is recorded and flushed to disk before its worker is handed the op, and
    every completion is recorded after the worker has it. The history is written in groups
    (`group_commit`: at most so many events, or so many seconds, see
    `HistoryWriter.group_commit`), and flushed before ops are handed out, before the loop
    waits for anything and when the run ends, however it ends; `group_commit=None` writes
    and flushes each event before going on (bench/interpreter.py measures both).
    """
    stop = stop or threading.Event()
    completions: queue.SimpleQueue = queue.SimpleQueue()
    workers: dict[Any, _Worker] = {}
    for t in range(concurrency):
        runner = ClientRunner(make_client, nodes[t % len(nodes)])
        workers[t] = _Worker(t, runner, completions, clock)
    if nemesis is not None:
        workers[NEMESIS_THREAD] = _Worker(NEMESIS_THREAD, nemesis.invoke, completions, clock)
    for w in workers.values():
        w.start()

    processes: dict = {t: (NEMESIS if t == NEMESIS_THREAD else t) for t in workers}
    thread_by_process = {p: t for t, p in processes.items()}    # processes are unique
    all_threads = frozenset(workers)
    thread_order = tuple(sorted(all_threads, key=str))
    free = set(all_threads)
    free_frozen: frozenset | None = None      # frozenset(free), rebuilt only after a change
    outstanding: dict = {}
    resting: dict = {}          # thread -> ns when it may take an op again
    backoff_ns = int(fail_backoff_s * SECOND)
    # Invokes recorded and not yet handed to their workers: they go in one batch just
    # before the loop waits (and when it ends), after the history is flushed, so every
    # invoke is on disk before its call starts, group commit or not. A worker woken
    # earlier could not run anyway: this thread holds the GIL until it waits. Woken
    # early, it only took the CPU to find the GIL taken (measured with 100 threads and a
    # no-op client: about 30 against 40 us of CPU per op, a fifth more ops per second).
    to_dispatch: list = []

    def dispatch() -> None:
        history.flush()
        for inbox, invoke in to_dispatch:
            inbox.put(invoke)
        to_dispatch.clear()

    def context() -> Context:
        nonlocal free_frozen
        if free_frozen is None:
            free_frozen = frozenset(free)
        return Context(clock(), free_frozen, processes, rng, all_threads,
                       thread_by_process, thread_order)

    def complete(thread, invoke: dict, completion: dict) -> None:
        nonlocal generator, free_frozen
        event = {"process": invoke["process"], "f": invoke["f"]}
        if "key" in invoke:
            event["key"] = invoke["key"]
        unavailable = completion.pop("unavailable", False)
        event.update(completion)
        if thread == NEMESIS_THREAD:
            event["type"] = INFO
        elif event["type"] not in (OK, FAIL, INFO):
            event = dict(event, type=INFO, error=f"client returned type {event['type']!r}")
        if thread != NEMESIS_THREAD or event.get("value") is not None:
            event = history.append(event)
        outstanding.pop(thread, None)
        if thread != NEMESIS_THREAD and unavailable and backoff_ns > 0:
            resting[thread] = clock() + backoff_ns
        else:
            free.add(thread)
            free_frozen = None
        if thread != NEMESIS_THREAD and event["type"] == INFO:
            del thread_by_process[processes[thread]]
            processes[thread] = processes[thread] + concurrency
            thread_by_process[processes[thread]] = thread
        generator = generator.update(context(), event)

    def wake_rested() -> int | None:
        """Free the threads whose rest is over; return when the next one will be."""
        nonlocal free_frozen
        if not resting:
            return None
        now = clock()
        for t, until in list(resting.items()):
            if until <= now:
                del resting[t]
                free.add(t)
                free_frozen = None
        return min(resting.values(), default=None)

    def next_completion(timeout: float):
        """The next completion, waiting at most `timeout` s; the history is flushed
        before any wait, so nothing stays unwritten while the loop sleeps; the invokes
        recorded since the last wait are handed to their workers first."""
        if to_dispatch:
            dispatch()
        try:
            return completions.get_nowait()
        except queue.Empty:
            pass
        history.flush()
        return completions.get(timeout=timeout)

    def wait_for_completion(until_ns: int | None) -> bool:
        next_rested = wake_rested()
        if next_rested is not None:
            until_ns = next_rested if until_ns is None else min(until_ns, next_rested)
        timeout = None if until_ns is None else max(0.0, (until_ns - clock()) / SECOND)
        timeout = min(timeout if timeout is not None else 1.0, 1.0,
                      max(0.0, (stop_at - clock()) / SECOND))
        try:
            thread, invoke, completion = next_completion(timeout)
        except queue.Empty:
            return False
        complete(thread, invoke, completion)
        return True

    try:
        with (history.group_commit(*group_commit) if group_commit else nullcontext()):
            while clock() < stop_at and not stop.is_set():
                while not completions.empty():  # absorb everything that already completed
                    complete(*completions.get_nowait())
                if resting:
                    wake_rested()
                ctx = context()
                res = generator.op(ctx)
                if res is None:
                    if not outstanding and not resting:
                        break
                    wait_for_completion(None)
                    continue
                op, nxt = res
                if isinstance(op, Pending):
                    generator = nxt
                    wait_for_completion(op.wake)
                    continue
                if op["time"] > ctx.time:
                    # Not yet. Keep nothing from this answer: asking again later is safe.
                    wait_for_completion(op["time"])
                    continue
                thread = thread_by_process.get(op["process"])
                if thread not in free:
                    raise RuntimeError(f"generator emitted op for busy process {op['process']}")
                generator = nxt
                free.discard(thread)
                free_frozen = None
                invoke = dict(op, type=INVOKE, time=clock())
                if thread != NEMESIS_THREAD:
                    invoke = history.append(invoke)
                outstanding[thread] = invoke
                generator = generator.update(context(), invoke)
                to_dispatch.append((workers[thread].inbox, invoke))
            dispatch()
            # Let in-flight ops finish (each has its own timeout) before teardown heals things.
            drain_deadline = time.monotonic() + drain_s
            while outstanding and time.monotonic() < drain_deadline:
                try:
                    thread, invoke, completion = next_completion(
                        max(0.0, drain_deadline - time.monotonic()))
                except queue.Empty:
                    break
                complete(thread, invoke, completion)
        if outstanding:
            log.warning("%d ops still outstanding at the deadline; left open in the history",
                        len(outstanding))
    finally:
        for w in workers.values():
            w.inbox.put(None)
        for t, w in workers.items():
            w.join(timeout=0.5)
            if t != NEMESIS_THREAD and isinstance(w.run_op, ClientRunner):
                w.run_op.reset()
    return generator
