"""Generators: what operations to run, when, and on which thread, as composable values.

The model is Jepsen's. A generator is an immutable value with two methods:

* `op(ctx)` returns None when the generator is exhausted, or a pair `(op, next_gen)`,
  where op is either a dict with at least `f`, `value`, `process` and `time` (ns since the
  run started; may lie in the future, and the interpreter waits for it) or a
  `Pending(wake)`: nothing to run now (no free thread, or waiting for a time), ask again
  at `wake` or when something completes. `next_gen` carries any state the generator took
  on while answering (a Sleep remembering when it began), so Pending answers need no
  special cases.
* `update(ctx, event)` returns the generator that has seen an invoke or completion.

Because generators are values, the interpreter may ask `op` and throw the answer away
(for example when a completion arrives while it waits for an op's time): asking again
must be safe. The only impure input is `ctx.rng`, a seeded random.Random, so a run's
sequence of choices is reproducible from its seed given the same timings.

Threads are ints (client workers 0..n-1) and the string "nemesis". Each thread runs one
process at a time; `ctx.process_of(thread)` maps it (a client whose op ended in `info`
gets a new process number, Jepsen's rule, applied by the interpreter).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Protocol, Sequence

NEMESIS_THREAD = "nemesis"
SECOND = 1_000_000_000


@dataclass(frozen=True)
class Pending:
    """Nothing to run now; ask again at `wake` (ns) or when something completes."""

    wake: int | None = None


@dataclass
class Context:
    """What a generator sees: the time, the free threads, each thread's process.

    The last two fields are optional shortcuts an interpreter may give, which change no
    answer: `threads_by_process` (process -> thread, the inverse of `processes`) makes
    `thread_of` a lookup instead of a scan, and `thread_order` (every thread, sorted by
    `str`) spares `some_free_thread` a sort. With 100 threads the scan and the sort cost
    about 20 us per op, measured; the interpreter's whole budget is about 50."""

    time: int
    free_threads: frozenset
    processes: dict               # thread -> current process
    rng: random.Random = field(default_factory=random.Random)
    all_threads: frozenset = frozenset()
    threads_by_process: dict | None = None
    thread_order: tuple | None = None

    def process_of(self, thread) -> Any:
        return self.processes[thread]

    def thread_of(self, process) -> Any:
        if self.threads_by_process is not None:
            return self.threads_by_process.get(process)
        for t, p in self.processes.items():
            if p == process:
                return t
        return None

    def restrict(self, keep: Callable[[Any], bool]) -> "Context":
        if keep is is_client_thread:     # the hot case (every client op): a set difference
            if NEMESIS_THREAD not in self.all_threads and NEMESIS_THREAD not in self.free_threads:
                return self             # nothing to take away (no nemesis in this run)
            return type(self)(self.time, self.free_threads - _NEMESIS_ONLY, self.processes,
                              self.rng, self.all_threads - _NEMESIS_ONLY,
                              self.threads_by_process, self.thread_order)
        return replace(self, free_threads=frozenset(t for t in self.free_threads if keep(t)),
                       all_threads=frozenset(t for t in self.all_threads if keep(t)))

    def some_free_thread(self):
        """A free thread chosen at random, or None: the free threads sorted by `str`,
        one picked with `rng`. Routing (`clients`, `nemesis`) restricts the context
        first, so a client op never lands on the nemesis."""
        free_threads = self.free_threads
        if not free_threads:
            return None
        order = self.thread_order
        if order is not None and len(free_threads) * 8 > len(order):
            # Many free: a pass over the order beats sorting them; few free (a busy run),
            # sorting those few is cheaper. Measured with 100 threads: all free, 8 against
            # 27 us; 5 free, 8 against 2; about even at 13.
            free = [t for t in order if t in free_threads]
        else:
            free = sorted(free_threads, key=str)
        return free[self.rng.randrange(len(free))]


class Generator(Protocol):
    def op(self, ctx: Context) -> "tuple[dict | Pending, Generator] | None": ...

    def update(self, ctx: Context, event: dict) -> "Generator": ...


def earliest(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


# --------------------------------------------------------------------------- leaves

@dataclass(frozen=True)
class Fn:
    """An endless stream of ops from `make(ctx) -> dict` (f, value, optional key), each
    to a free thread chosen at random. `make` may return None to end the stream."""

    make: Callable[[Context], dict | None]

    def op(self, ctx):
        thread = ctx.some_free_thread()
        if thread is None:
            return Pending(), self
        body = self.make(ctx)
        if body is None:
            return None
        op = {"type": "invoke", "process": ctx.process_of(thread), "time": ctx.time}
        op.update(body)
        op.setdefault("value", None)
        return op, self

    def update(self, ctx, event):
        return self


@dataclass(frozen=True)
class Once:
    """A single op (dict of f, value, ...), then exhausted."""

    body: dict

    def op(self, ctx):
        res = Fn(lambda _ctx: self.body).op(ctx)
        if isinstance(res[0], Pending):
            return res[0], self
        return res[0], Nothing()

    def update(self, ctx, event):
        return self


@dataclass(frozen=True)
class Nothing:
    def op(self, ctx):
        return None

    def update(self, ctx, event):
        return self


@dataclass(frozen=True)
class Sleep:
    """Emits nothing for `duration` ns after it is first asked, then is exhausted."""

    duration: int
    until: int | None = None

    def op(self, ctx):
        until = self.until if self.until is not None else ctx.time + self.duration
        if ctx.time >= until:
            return None
        return Pending(until), Sleep(self.duration, until)

    def update(self, ctx, event):
        return self


# --------------------------------------------------------------------------- combinators

@dataclass(frozen=True)
class Seq:
    """Run each generator until exhausted, then the next (no waiting in between)."""

    gens: tuple

    def op(self, ctx):
        gens = self.gens
        while gens:
            res = gens[0].op(ctx)
            if res is None:
                gens = gens[1:]
                continue
            op, nxt = res
            return op, Seq((nxt,) + gens[1:])
        return None

    def update(self, ctx, event):
        if not self.gens:
            return self
        return Seq((self.gens[0].update(ctx, event),) + self.gens[1:])


@dataclass(frozen=True)
class Phases:
    """Like Seq, but a phase starts only when every op of the previous one completed
    (Jepsen's phases/synchronize): e.g. the final reads begin after the last write."""

    gens: tuple

    def op(self, ctx):
        gens = self.gens
        while gens:
            res = gens[0].op(ctx)
            if res is None:
                if ctx.free_threads != ctx.all_threads:
                    return Pending(), Phases(gens)
                gens = gens[1:]
                continue
            op, nxt = res
            return op, Phases((nxt,) + gens[1:])
        return None

    def update(self, ctx, event):
        if not self.gens:
            return self
        return Phases((self.gens[0].update(ctx, event),) + self.gens[1:])


@dataclass(frozen=True)
class Mix:
    """Each op from a generator chosen at random; exhausted ones drop out."""

    gens: tuple

    def op(self, ctx):
        gens = list(self.gens)
        while gens:
            i = ctx.rng.randrange(len(gens))
            res = gens[i].op(ctx)
            if res is None:
                del gens[i]
                continue
            op, gens[i] = res
            return op, Mix(tuple(gens))
        return None

    def update(self, ctx, event):
        return Mix(tuple(g.update(ctx, event) for g in self.gens))


@dataclass(frozen=True)
class AnyOf:
    """Several generators in parallel: whichever offers the earliest op goes first.
    Exhausted when all are."""

    gens: tuple

    def op(self, ctx):
        best = None
        wake = None
        alive = False
        gens = list(self.gens)
        answers = []
        for i, g in enumerate(gens):
            res = g.op(ctx)
            if res is None:
                continue
            alive = True
            op, nxt = res
            if isinstance(op, Pending):
                gens[i] = nxt               # keep state taken on while pending
                wake = earliest(wake, op.wake)
                continue
            if best is None or op["time"] < best[1]["time"]:
                best = (i, op, nxt)
        if best is not None:
            i, op, nxt = best
            gens[i] = nxt
            return op, AnyOf(tuple(gens))
        if not alive:
            return None
        return Pending(wake), AnyOf(tuple(gens))

    def update(self, ctx, event):
        return AnyOf(tuple(g.update(ctx, event) for g in self.gens))


@dataclass(frozen=True)
class OnThreads:
    """Route a generator to a subset of threads (e.g. clients only, nemesis only).

    The inner generator sees a context restricted to those threads, and only the events
    of those threads.
    """

    keep: Callable[[Any], bool]
    gen: Any

    def op(self, ctx):
        sub = ctx.restrict(self.keep)
        if not sub.all_threads:
            return None
        res = self.gen.op(sub)
        if res is None:
            return None
        op, nxt = res
        return op, (self if nxt is self.gen else OnThreads(self.keep, nxt))

    def update(self, ctx, event):
        # Unchanged inner generators give back this very value, here and in TimeLimit,
        # Limit and Stagger: a frozen dataclass costs 0.7-0.8 us to build (measured), and
        # the interpreter updates twice per op.
        thread = ctx.thread_of(event["process"])
        if thread is None or not self.keep(thread):
            return self
        nxt = self.gen.update(ctx.restrict(self.keep), event)
        return self if nxt is self.gen else OnThreads(self.keep, nxt)


def is_client_thread(thread) -> bool:
    return thread != NEMESIS_THREAD


_NEMESIS_ONLY = frozenset([NEMESIS_THREAD])


def is_nemesis_thread(thread) -> bool:
    return thread == NEMESIS_THREAD


def clients(gen) -> OnThreads:
    return OnThreads(is_client_thread, gen)


def nemesis(gen) -> OnThreads:
    return OnThreads(is_nemesis_thread, gen)


@dataclass(frozen=True)
class Stagger:
    """Space ops at random intervals averaging `mean_interval` ns (Jepsen's stagger).

    Intervals are uniform in [0, 2 * mean_interval], so the whole generator runs at about
    1 / mean_interval ops per second however many threads are free. A schedule that fell
    behind (all threads busy) does not burst to catch up by more than one interval.
    """

    mean_interval: int
    gen: Any
    next_time: int | None = None

    def op(self, ctx):
        next_time = ctx.time if self.next_time is None else self.next_time
        if next_time > ctx.time:
            return Pending(next_time), Stagger(self.mean_interval, self.gen, next_time)
        res = self.gen.op(ctx)
        if res is None:
            return None
        op, nxt = res
        if isinstance(op, Pending):
            return op, Stagger(self.mean_interval, nxt, next_time)
        gap = int(ctx.rng.uniform(0, 2 * self.mean_interval))
        base = max(next_time, ctx.time - self.mean_interval)
        return op, Stagger(self.mean_interval, nxt, base + gap)

    def update(self, ctx, event):
        nxt = self.gen.update(ctx, event)
        return self if nxt is self.gen else Stagger(self.mean_interval, nxt, self.next_time)


@dataclass(frozen=True)
class TimeLimit:
    """Ops from `gen` until `duration` ns after this generator is first asked."""

    duration: int
    gen: Any
    deadline: int | None = None

    def op(self, ctx):
        deadline = self.deadline if self.deadline is not None else ctx.time + self.duration
        if ctx.time >= deadline:
            return None
        res = self.gen.op(ctx)
        if res is None:
            return None
        op, nxt = res
        if isinstance(op, Pending):
            return Pending(earliest(op.wake, deadline)), TimeLimit(self.duration, nxt, deadline)
        if op["time"] >= deadline:
            return None
        if nxt is self.gen and deadline == self.deadline:
            return op, self         # the same value; building it costs 0.7 us (measured)
        return op, TimeLimit(self.duration, nxt, deadline)

    def update(self, ctx, event):
        nxt = self.gen.update(ctx, event)
        return self if nxt is self.gen else TimeLimit(self.duration, nxt, self.deadline)


@dataclass(frozen=True)
class Limit:
    """At most `remaining` ops from `gen`."""

    remaining: int
    gen: Any

    def op(self, ctx):
        if self.remaining <= 0:
            return None
        res = self.gen.op(ctx)
        if res is None:
            return None
        op, nxt = res
        if isinstance(op, Pending):
            return op, Limit(self.remaining, nxt)
        return op, Limit(self.remaining - 1, nxt)

    def update(self, ctx, event):
        nxt = self.gen.update(ctx, event)
        return self if nxt is self.gen else Limit(self.remaining, nxt)


@dataclass(frozen=True)
class Cycle:
    """Repeat a finite sequence of generators forever, each restarted from its start
    (e.g. sleep, start a fault, sleep, heal it, ...)."""

    gens: tuple
    current: Any = None
    position: int = 0

    def op(self, ctx):
        current = self.current if self.current is not None else self.gens[0]
        position = self.position
        for _ in range(len(self.gens) + 1):
            res = current.op(ctx)
            if res is None:
                position = (position + 1) % len(self.gens)
                current = self.gens[position]
                continue
            op, nxt = res
            return op, Cycle(self.gens, nxt, position)
        return Pending(), Cycle(self.gens, None, position)

    def update(self, ctx, event):
        current = self.current if self.current is not None else self.gens[0]
        return Cycle(self.gens, current.update(ctx, event), self.position)


def seq(*gens) -> Seq:
    return Seq(tuple(gens))


def phases(*gens) -> Phases:
    return Phases(tuple(gens))


def mix(gens: Iterable) -> Mix:
    return Mix(tuple(gens))


def any_of(*gens) -> AnyOf:
    return AnyOf(tuple(gens))


def cycle(*gens) -> Cycle:
    return Cycle(tuple(gens))


def each_op(bodies: Sequence[dict]) -> Seq:
    """A fixed list of ops, each to whichever thread is free."""
    return Seq(tuple(Once(b) for b in bodies))


def stagger_rate(rate: float | None, gen) -> Any:
    """Run `gen` at about `rate` ops per second in total (unthrottled when rate is falsy)."""
    if not rate or rate <= 0:
        return gen
    return Stagger(int(SECOND / rate), gen)


@dataclass(frozen=True)
class Lazy:
    """A generator built when first asked: `build(ctx)` may look at what the run did so
    far (e.g. the final reads need the keys that were live at the end)."""

    build: Callable[[Context], Any]

    def op(self, ctx):
        built = self.build(ctx)
        return built.op(ctx) if built is not None else None

    def update(self, ctx, event):
        return self


@dataclass(frozen=True)
class UntilOk:
    """Each op in `todo` (bodies: f, value, key...), to whichever thread is free, issued
    again when it completes with anything but `ok`, at most `attempts` times in all.

    For final reads: right after faults heal, a system may need a moment to elect a
    leader, and a final phase of reads that all failed proves nothing. The interpreter's
    back-off after `unavailable` failures spaces the retries."""

    todo: tuple                      # (body, attempts left)
    in_flight: tuple = ()            # (process, body, attempts left)

    @staticmethod
    def of(bodies: Sequence[dict], attempts: int = 20) -> "UntilOk":
        return UntilOk(tuple((b, attempts) for b in bodies))

    def op(self, ctx):
        if not self.todo:
            return (Pending(), self) if self.in_flight else None
        thread = ctx.some_free_thread()
        if thread is None:
            return Pending(), self
        (body, left), rest = self.todo[0], self.todo[1:]
        process = ctx.process_of(thread)
        op = {"type": "invoke", "process": process, "time": ctx.time, "value": None, **body}
        return op, UntilOk(rest, self.in_flight + ((process, body, left),))

    def update(self, ctx, event):
        if event.get("type") == "invoke":
            return self
        for i, (process, body, left) in enumerate(self.in_flight):
            if process == event.get("process"):
                in_flight = self.in_flight[:i] + self.in_flight[i + 1:]
                todo = self.todo
                if event.get("type") != "ok" and left > 1:
                    todo = todo + ((body, left - 1),)
                return UntilOk(todo, in_flight)
        return self
