"""Long fork (Jepsen's long-fork test): transactions insert one key each (nil -> value),
others read groups of keys. Under snapshot isolation or stronger all reads agree on one
order of inserts; two reads where one saw x but not y and the other saw y but not x
observed the inserts in incompatible orders: a long fork (parallel snapshot isolation)."""

from __future__ import annotations

from itertools import combinations

from harness.history import NEMESIS

from . import MalformedOp, UNKNOWN

MAX_EXAMPLES = 8


def check(history: list[dict]) -> dict:
    """Pure. A history without client operations is unknown ("no client operations"); an
    ok read or txn whose value is not a list of [f, key, value] micro-ops is malformed."""
    reads = []
    if not any(op.get("process") != NEMESIS for op in history):
        return {"valid": UNKNOWN, "reason": "no client operations", "reads": 0, "forks": [],
                "anomaly-types": []}
    for op in history:
        if op.get("type") != "ok" or op.get("f") not in ("read", "txn"):
            continue
        mops = op.get("value") or []
        if not isinstance(mops, (list, tuple)) or not all(
                isinstance(m, (list, tuple)) and len(m) == 3 for m in mops):
            raise MalformedOp(op, "a long-fork read's value must be a list of [f, key, value]")
        seen = {m[1]: m[2] for m in mops if m and m[0] in ("r", "read")}
        if seen:
            reads.append((op.get("index"), seen))
    forks = []
    for (ia, a), (ib, b) in combinations(reads, 2):
        shared = set(a) & set(b)
        a_only = {k for k in shared if a[k] is not None and b[k] is None}
        b_only = {k for k in shared if b[k] is not None and a[k] is None}
        if a_only and b_only:
            forks.append({"reads": [ia, ib], "first-saw": sorted(a_only, key=repr),
                          "second-saw": sorted(b_only, key=repr)})
            if len(forks) >= MAX_EXAMPLES:
                break
    return {"valid": not forks if reads else "unknown", "reads": len(reads),
            "forks": forks, "anomaly-types": ["long-fork"] if forks else []}


class LongForkChecker:
    name = "long-fork"

    options = ()          # reads no options

    def check(self, history, options):
        return check(history)

    def summary(self, result) -> str:
        if result.get("reason"):
            return result["reason"]
        return f"{result['reads']} reads, {len(result['forks'])} long fork(s) shown"
