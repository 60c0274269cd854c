"""The set workload: add unique integers, then read the whole set at the end (and, for
set-full, during the run too)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.options import Option

from harness.generator import Context, Pending, UntilOk


@dataclass(frozen=True)
class AddOps:
    read_share: float = 0.0
    next_value: int = 0

    def op(self, ctx: Context):
        thread = ctx.some_free_thread()
        if thread is None:
            return Pending(), self
        if self.read_share and ctx.rng.random() < self.read_share:
            body, nxt = {"f": "read", "value": None}, self
        else:
            body, nxt = {"f": "add", "value": self.next_value}, AddOps(self.read_share, self.next_value + 1)
        op = {"type": "invoke", "process": ctx.process_of(thread), "time": ctx.time, **body}
        return op, nxt

    def update(self, ctx, event):
        return self


class SetWorkload:
    name = "set"
    options = (Option("full", "bool", False, "read during the run too and check every "
                      "element's history (set-full), not only the final read"),)

    def __init__(self, full: bool = False):
        self.full = full

    def generator(self, options: dict):
        return AddOps(read_share=0.1 if self.full else 0.0)

    def final_generator(self, history):
        return UntilOk.of([{"f": "read", "value": None}])

    def checkers(self, options: dict) -> dict:
        from checkers.sets import SetChecker, SetFullChecker
        if self.full:
            return {"set-full": (SetFullChecker(), {"linearizable": options.get("linearizable", False)})}
        return {"set": (SetChecker(), {})}
