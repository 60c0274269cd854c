"""The ascending workload: per key, writes of strictly increasing values, and reads.

A workload gives the harness three things: the generator of the main phase, the final
generator (after every fault is healed), and the checkers to run on the history. A
generator is an immutable value (harness.generator): `op(ctx)` returns the next op and
the generator that follows it, `update(ctx, event)` the generator that has seen an event.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.generator import Pending, UntilOk
from harness.options import Option


@dataclass(frozen=True)
class AscendingOps:
    keys: int = 3
    reads_per_write: int = 3
    next_value: int = 1

    def op(self, ctx):
        thread = ctx.some_free_thread()
        if thread is None:                 # every worker is busy: ask again later
            return Pending(), self
        key = ctx.rng.randrange(self.keys)
        if ctx.rng.random() < 1 / (1 + self.reads_per_write):
            op = {"f": "write", "key": key, "value": self.next_value}
            following = AscendingOps(self.keys, self.reads_per_write, self.next_value + 1)
        else:
            op = {"f": "read", "key": key, "value": None}
            following = self
        return {"type": "invoke", "process": ctx.process_of(thread), "time": ctx.time,
                **op}, following

    def update(self, ctx, event):
        return self


class AscendingWorkload:
    """Writes of strictly increasing values per key, and reads (register ops)."""

    name = "ascending"
    options = (
        Option("keys", "int", 3, "keys written and read", minimum=1, maximum=1000),
        Option("reads-per-write", "int", 3, "reads for each write, on average", minimum=0,
               maximum=100),
    )

    def __init__(self, keys: int = 3, reads_per_write: int = 3):
        self.keys = keys
        self.reads_per_write = reads_per_write

    def generator(self, options: dict):
        return AscendingOps(self.keys, self.reads_per_write)

    def final_generator(self, recent: list[dict]):
        """After the faults: every key read once more, each read retried until it is ok."""
        return UntilOk.of([{"f": "read", "key": k, "value": None} for k in range(self.keys)])

    def checkers(self, options: dict) -> dict:
        from checkers.linearizable import LinearizableChecker

        from .checker import WrittenValuesChecker
        return {
            "linearizable": (LinearizableChecker(),
                             {"model": "register",
                              "time_limit_s": options.get("check_time_limit_s", 120.0)}),
            "written-values": (WrittenValuesChecker(), {}),
        }
