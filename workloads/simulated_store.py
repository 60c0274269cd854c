"""A simulated transactional store, in memory, for synthetic list-append histories.

Used by the property tests (a correct store must always pass; each injected anomaly must be
reported as its class) and by the checker benchmark (histories of any size, fast).

`list_append_history` runs `concurrency` clients against one store. Each step either starts
a new transaction on an idle client (an invoke) or completes a running one (an ok). In
strict mode a transaction takes effect atomically when it completes, inside its interval,
so the history is strict serializable. With `strict=False`, read-only transactions read a
snapshot up to `max_lag` commits old: still serializable (they serialize at that earlier
point) but not strict, and not session-ordered.

`inject(history, kind)` appends a small sequence of transactions on fresh keys and fresh
processes that exhibits exactly one anomaly class (see GADGETS).
"""

from __future__ import annotations

import bisect
import random
from collections import defaultdict


def list_append_history(n_txns: int, *, concurrency: int = 10, key_count: int = 5,
                        max_txn_length: int = 4, max_writes_per_key: int = 32,
                        read_share: float = 0.5, seed: int = 0, strict: bool = True,
                        max_lag: int = 5) -> list[dict]:
    rng = random.Random(seed)
    lists: dict = defaultdict(list)              # key -> elements in append order
    lengths: dict = defaultdict(lambda: ([], []))   # key -> (commit seqs, lengths) for snapshots
    live = [[k, 0] for k in range(key_count)]
    next_key = key_count
    running: dict = {}                           # client -> invoke op
    processes = list(range(concurrency))
    history: list[dict] = []
    seq = 0
    started = 0
    time = 0

    def new_txn():
        nonlocal next_key
        mops = []
        for _ in range(rng.randint(1, max_txn_length)):
            slot = rng.randrange(len(live))
            key, writes = live[slot]
            if rng.random() < read_share:
                mops.append(["r", key, None])
            else:
                writes += 1
                mops.append(["append", key, writes])
                live[slot][1] = writes
                if writes >= max_writes_per_key:
                    live[slot] = [next_key, 0]
                    next_key += 1
        return mops

    def snapshot_read(key, at_seq):
        seqs, lens = lengths[key]
        i = bisect.bisect_right(seqs, at_seq) - 1
        return list(lists[key][:lens[i]]) if i >= 0 else []

    while started < n_txns or running:
        client = rng.randrange(concurrency)
        time += rng.randint(1, 1000)
        if client not in running:
            if started >= n_txns:
                continue
            op = {"index": len(history), "type": "invoke", "process": processes[client],
                  "f": "txn", "value": new_txn(), "time": time}
            history.append(op)
            running[client] = op
            started += 1
            continue
        invoke = running.pop(client)
        read_only = all(m[0] == "r" for m in invoke["value"])
        at = seq if strict or not read_only else max(0, seq - rng.randint(0, max_lag))
        result = []
        wrote = False
        for f, k, v in invoke["value"]:
            if f == "r":
                current = list(lists[k]) if (strict or not read_only) else snapshot_read(k, at)
                result.append(["r", k, current])
            else:
                lists[k].append(v)
                wrote = True
                result.append(["append", k, v])
        if wrote:
            seq += 1
            for f, k, _ in invoke["value"]:
                if f == "append":
                    seqs, lens = lengths[k]
                    if seqs and seqs[-1] == seq:
                        lens[-1] = len(lists[k])
                    else:
                        seqs.append(seq)
                        lens.append(len(lists[k]))
        history.append({"index": len(history), "type": "ok", "process": processes[client],
                        "f": "txn", "value": result, "time": time})
    return history


# Each gadget: a list of (type, mops) transactions run one after another, on fresh keys.
GADGETS = {
    "G0": [("ok", [["append", "x", 1], ["append", "y", 1]]),
           ("ok", [["append", "x", 2], ["append", "y", 2]]),
           ("ok", [["r", "x", [1, 2]], ["r", "y", [2, 1]]])],
    "G1a": [("fail", [["append", "x", 1]]), ("ok", [["r", "x", [1]]])],
    "G1b": [("ok", [["append", "x", 1], ["append", "x", 2]]), ("ok", [["r", "x", [1]]])],
    "G1c": [("ok", [["append", "x", 1], ["r", "y", [1]]]),
            ("ok", [["append", "y", 1], ["r", "x", [1]]])],
    "G-single-item": [("ok", [["append", "x", 1], ["append", "y", 1]]),
                      ("ok", [["append", "x", 2], ["r", "y", []]]),
                      ("ok", [["r", "x", [1, 2]]])],
    "G2-item": [("ok", [["r", "x", []], ["append", "y", 1]]),
                ("ok", [["r", "y", []], ["append", "x", 1]]),
                ("ok", [["r", "x", [1]], ["r", "y", [1]]])],
    "lost-update": [("ok", [["r", "x", []], ["append", "x", 1]]),
                    ("ok", [["r", "x", []], ["append", "x", 2]]),
                    ("ok", [["r", "x", [1, 2]]])],
    "internal": [("ok", [["append", "x", 1], ["r", "x", []]])],
    "future-read": [("ok", [["r", "x", [1]], ["append", "x", 1]])],
    "duplicate-elements": [("ok", [["append", "x", 1]]), ("ok", [["r", "x", [1, 1]]])],
    "incompatible-order": [("ok", [["append", "x", 1]]), ("ok", [["append", "x", 2]]),
                           ("ok", [["r", "x", [1, 2]]]), ("ok", [["r", "x", [2, 1]]])],
    "dirty-update": [("fail", [["append", "x", 1]]), ("ok", [["append", "x", 2]]),
                     ("ok", [["r", "x", [1, 2]]])],
    # An element nobody appended (Elle does not check this; issue 9).
    "garbage-read": [("ok", [["append", "x", 1]]), ("ok", [["r", "x", [1, 99]]])],
    # A stale read after two completed appends: only real-time order makes it a cycle.
    "G-single-item-realtime": [("ok", [["append", "x", 1]]), ("ok", [["append", "x", 2]]),
                               ("ok", [["r", "x", [1]]])],
}


def inject(history: list[dict], kind: str, tag: str = "g") -> list[dict]:
    """`history` plus the gadget for `kind`, on keys and processes nobody else uses."""
    out = list(history)
    time = max((op.get("time", 0) for op in out), default=0)
    base_process = 1_000_000 + len(out)
    for i, (outcome, mops) in enumerate(GADGETS[kind]):
        renamed = [[f, f"{tag}-{kind}-{k}", v] for f, k, v in mops]
        invoke_value = [[f, k, None if f == "r" else v] for f, k, v in renamed]
        time += 10
        out.append({"index": len(out), "type": "invoke", "process": base_process + i,
                    "f": "txn", "value": invoke_value, "time": time})
        time += 10
        out.append({"index": len(out), "type": outcome, "process": base_process + i,
                    "f": "txn", "value": renamed, "time": time})
    return out
