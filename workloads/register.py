"""The register workload: read, write and compare-and-set over independent keys.

Several keys are live at once; each takes at most `ops_per_key` operations and is then
retired for a fresh key. Small per-key histories keep the linearizability search cheap
(it is exponential in concurrency, not in run length) while the whole run stays long;
a small value domain (0..4) makes cas succeed often enough to matter and makes stale
reads visible: a node answering from old state returns a value the others overwrote.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.generator import Context, Pending, UntilOk
from harness.options import Option

READ_SHARE, WRITE_SHARE = 0.5, 0.25   # the rest is cas
VALUES = 5


@dataclass(frozen=True)
class RegisterOps:
    """Pure generator of register ops over rotating keys.

    State: `live` is a tuple of (key, ops issued on it); `next_key` the next fresh key.
    """

    live_keys: int = 4
    ops_per_key: int = 150
    live: tuple = ()
    next_key: int = 0

    def op(self, ctx: Context):
        live, next_key = self.live, self.next_key
        if not live:
            live = tuple((k, 0) for k in range(self.live_keys))
            next_key = self.live_keys
        thread = ctx.some_free_thread()
        if thread is None:
            return Pending(), RegisterOps(self.live_keys, self.ops_per_key, live, next_key)
        rng = ctx.rng
        slot = rng.randrange(len(live))
        key, count = live[slot]
        r = rng.random()
        if r < READ_SHARE:
            f, value = "read", None
        elif r < READ_SHARE + WRITE_SHARE:
            f, value = "write", rng.randrange(VALUES)
        else:
            f, value = "cas", [rng.randrange(VALUES), rng.randrange(VALUES)]
        count += 1
        if count >= self.ops_per_key:
            live = live[:slot] + ((next_key, 0),) + live[slot + 1:]
            next_key += 1
        else:
            live = live[:slot] + ((key, count),) + live[slot + 1:]
        op = {"type": "invoke", "process": ctx.process_of(thread), "time": ctx.time,
              "f": f, "key": key, "value": value}
        return op, RegisterOps(self.live_keys, self.ops_per_key, live, next_key)

    def update(self, ctx, event):
        """A failed op certainly neither changed nor observed its key: give the key its op
        back. Otherwise an outage (every op failing fast) would retire the keys written just
        before it before anyone could read them again, and lost writes would go unobserved."""
        if event.get("type") != "fail":
            return self
        for slot, (key, count) in enumerate(self.live):
            if key == event.get("key") and count > 0:
                live = self.live[:slot] + ((key, count - 1),) + self.live[slot + 1:]
                return RegisterOps(self.live_keys, self.ops_per_key, live, self.next_key)
        return self


class RegisterWorkload:
    name = "register"
    options = (
        Option("live-keys", "int", 4, "keys written and read at the same time", minimum=1,
               maximum=10_000),
        Option("ops-per-key", "int", 150, "operations on a key before it is retired for a "
               "fresh one (bounds each key's linearizability search)", minimum=1,
               maximum=100_000),
    )

    def __init__(self, live_keys: int = 4, ops_per_key: int = 150):
        self.live_keys = live_keys
        self.ops_per_key = ops_per_key

    def generator(self, options: dict):
        return RegisterOps(self.live_keys, self.ops_per_key)

    def final_generator(self, history: list[dict]):
        """After healing: every client thread reads each of the last live keys once (each
        read retried until it succeeds, a bounded number of times)."""
        recent = []
        for op in reversed(history):
            k = op.get("key")
            if op.get("type") == "invoke" and k is not None and k not in recent:
                recent.append(k)
                if len(recent) >= self.live_keys:
                    break
        threads = {op["process"] for op in history if op.get("type") == "invoke"}
        reads_per_key = max(1, min(len(threads), 10))
        return UntilOk.of([{"f": "read", "key": k, "value": None}
                           for k in sorted(recent) for _ in range(reads_per_key)])

    def checkers(self, options: dict) -> dict:
        from checkers.linearizable import LinearizableChecker
        return {"linearizable": (LinearizableChecker(),
                                 {"model": "cas-register",
                                  "time_limit_s": options.get("check_time_limit_s", 120.0)})}
