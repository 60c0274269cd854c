"""The rw-register workload (Elle): transactions of writes of unique values and reads of
registers. Values written to a key are unique (1, 2, 3, ...), so every read names the
transaction it read from, and a read of a value nobody wrote is a garbage read."""

from __future__ import annotations

from dataclasses import dataclass

from harness.options import Option

from harness.generator import Context, Pending


@dataclass(frozen=True)
class RWOps:
    key_count: int = 5
    max_txn_length: int = 4
    read_share: float = 0.5
    next_values: tuple = ()

    def op(self, ctx: Context):
        values = list(self.next_values) or [1] * self.key_count
        thread = ctx.some_free_thread()
        if thread is None:
            return Pending(), RWOps(self.key_count, self.max_txn_length, self.read_share, tuple(values))
        rng = ctx.rng
        mops = []
        for _ in range(rng.randint(1, self.max_txn_length)):
            k = rng.randrange(self.key_count)
            if rng.random() < self.read_share:
                mops.append(["r", k, None])
            else:
                mops.append(["w", k, values[k]])
                values[k] += 1
        op = {"type": "invoke", "process": ctx.process_of(thread), "time": ctx.time,
              "f": "txn", "value": mops}
        return op, RWOps(self.key_count, self.max_txn_length, self.read_share, tuple(values))

    def update(self, ctx, event):
        return self


class RWRegisterWorkload:
    name = "rw-register"
    consistency_models = True     # checked against --consistency-model
    options = (
        Option("key-count", "int", 5, "keys live at once", minimum=1, maximum=10_000),
        Option("max-txn-length", "int", 4, "micro-ops per transaction, at most", minimum=1,
               maximum=1000),
    )

    def __init__(self, key_count: int = 5, max_txn_length: int = 4):
        self.ops = RWOps(key_count, max_txn_length)

    def generator(self, options: dict):
        return self.ops

    def final_generator(self, history):
        return None

    def checkers(self, options: dict) -> dict:
        from checkers.rw_register import RWRegisterChecker
        return {"elle-rw-register": (RWRegisterChecker(), {
            "consistency_models": options.get("consistency_models") or ["strict-serializable"],
            "time_limit_s": options.get("check_time_limit_s", 120.0)})}
