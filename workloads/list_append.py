"""The list-append workload (Elle): transactions of appends of unique values and reads of
whole lists, over a rotating pool of keys.

Each transaction has 1..max_txn_length micro-ops: `["append", k, v]` with v unique per key
(1, 2, 3, ...), or `["r", k, None]` (filled in with the list on completion). A key takes at
most `max_writes_per_key` appends and is then retired for a fresh one, which keeps reads
short and the version orders fully observed.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.generator import Context, Pending, UntilOk
from harness.options import Option


FINAL_READ_KEYS = 8      # keys read by one final transaction


@dataclass(frozen=True)
class TxnOps:
    """Pure generator of txn ops; `make_mop(rng, key, next_value) -> (mop, appended?)`."""

    key_count: int = 5
    max_txn_length: int = 4
    max_writes_per_key: int = 32
    read_share: float = 0.5
    keys: tuple = ()              # live keys: (key, writes so far)
    next_key: int = 0

    def op(self, ctx: Context):
        keys, next_key = self.keys, self.next_key
        if not keys:
            keys = tuple((k, 0) for k in range(self.key_count))
            next_key = self.key_count
        thread = ctx.some_free_thread()
        if thread is None:
            return Pending(), self._with(keys, next_key)
        rng = ctx.rng
        mops = []
        keys = list(keys)
        for _ in range(rng.randint(1, self.max_txn_length)):
            slot = rng.randrange(len(keys))
            key, writes = keys[slot]
            if rng.random() < self.read_share:
                mops.append(["r", key, None])
            else:
                writes += 1
                mops.append(["append", key, writes])
                keys[slot] = (key, writes)
                if writes >= self.max_writes_per_key:
                    keys[slot] = (next_key, 0)
                    next_key += 1
        op = {"type": "invoke", "process": ctx.process_of(thread), "time": ctx.time,
              "f": "txn", "value": mops}
        return op, self._with(tuple(keys), next_key)

    def _with(self, keys, next_key):
        return TxnOps(self.key_count, self.max_txn_length, self.max_writes_per_key,
                      self.read_share, keys, next_key)

    def update(self, ctx, event):
        return self


class ListAppendWorkload:
    name = "list-append"
    consistency_models = True     # checked against --consistency-model
    options = (
        Option("key-count", "int", 5, "keys live at once", minimum=1, maximum=10_000),
        Option("max-txn-length", "int", 4, "micro-ops per transaction, at most", minimum=1,
               maximum=1000),
        Option("max-writes-per-key", "int", 32, "appends to a key before it is retired",
               minimum=1, maximum=100_000),
    )

    def __init__(self, key_count: int = 5, max_txn_length: int = 4, max_writes_per_key: int = 32):
        self.ops = TxnOps(key_count, max_txn_length, max_writes_per_key)

    def generator(self, options: dict):
        return self.ops

    def final_generator(self, history):
        """After healing: read every key the run appended to, FINAL_READ_KEYS keys a
        transaction, each transaction retried until it succeeds (a bounded number of
        times). Keys rotate fast (a few per second under load), so a key whose appends a
        failover lost is usually never read again in the main phase; these reads are what
        turns its lost appends into an anomaly. Keys are numbered from 0 in order of use, so
        the highest key in the recent history bounds them all."""
        keys = [op["value"] for op in history if op.get("f") == "txn"
                and isinstance(op.get("value"), (list, tuple))]
        top = max((m[1] for mops in keys for m in mops
                   if isinstance(m, (list, tuple)) and len(m) == 3 and isinstance(m[1], int)),
                  default=None)
        if top is None:
            return None
        return UntilOk.of([{"f": "txn", "value": [["r", k, None] for k in
                                                  range(lo, min(lo + FINAL_READ_KEYS, top + 1))]}
                           for lo in range(0, top + 1, FINAL_READ_KEYS)])

    def checkers(self, options: dict) -> dict:
        from checkers.list_append import ListAppendChecker
        return {"elle-list-append": (ListAppendChecker(), {
            "consistency_models": options.get("consistency_models") or ["strict-serializable"],
            "time_limit_s": options.get("check_time_limit_s", 120.0)})}
