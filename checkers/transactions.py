"""Transactions from a history, plus what every transactional checker shares: session
(process) and real-time order, and the plain-language walk around a cycle.

A transaction is named by the history index of its completion (as Elle does), or of its
invocation when it never completed. Histories may hold only completions (Elle's test
histories do); such transactions have no invocation and take no part in real-time order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from operator import attrgetter, itemgetter

from harness.history import NEMESIS
from harness.options import Option

from . import MalformedOp
from .dependency_graph import Graph

NO_CLIENT_OPS = "no client operations"


def _models():
    from .consistency import ALIASES, MODELS
    return tuple(MODELS) + tuple(ALIASES)


# Options every transactional checker reads from the options dict (keyword = the name
# with underscores; "time-limit" is read as time_limit_s, the CLI's --time-limit).
COMMON_OPTIONS = (
    Option("consistency-models", "list", ["strict-serializable"],
           "models to check (repeatable --consistency-model); each holds or not on its own, "
           "whatever else is asked", choices=_models()),
    Option("anomalies", "list", [], "also look for these anomaly classes (e.g. G2, G1c)"),
    Option("time-limit", "float", 60.0, "seconds for the whole analysis; past it the verdict "
           "is unknown with the reason", minimum=0),
)


def time_limit(options: dict) -> float:
    for key in ("time_limit_s", "time_limit"):
        if options.get(key) is not None:
            return float(options[key])
    return 60.0


SCALARS = frozenset((int, str, float, bool, type(None)))
LISTS = frozenset((list, tuple, type(None)))


def validate_txn_ops(history: list[dict], workload: str, read_fs, write_fs, read_types,
                     write_types) -> int:
    """Raise MalformedOp for a transaction op this checker cannot read; return the number
    of client transaction ops. A micro-op is [f, key, value] with f in read_fs (its value,
    in an ok transaction, of a type in read_types) or in write_fs (value of a type in
    write_types). An invocation's value is checked only where it is used (its completion
    is not ok and carries no value, or there is none): half the work on large histories,
    where this pass runs on every micro-op."""
    return _pass(history, workload, read_fs, write_fs, read_types, write_types, None)


def validated_transactions(history: list[dict], workload: str, read_fs, write_fs, read_types,
                           write_types) -> list["Txn"]:
    """`validate_txn_ops` and `transactions` in one pass over the history (each op is
    looked at once, not twice: 0.1 s of 100k transactions): the same error for the same
    op, or the same transactions ([] when there is no client op)."""
    txns: list = []
    _pass(history, workload, read_fs, write_fs, read_types, write_types, txns)
    txns.sort(key=attrgetter("id"))
    return txns


def _pass(history, workload, read_fs, write_fs, read_types, write_types, txns) -> int:
    """Validate (see validate_txn_ops); when `txns` is a list, pair invocations and
    completions into it too (see transactions, which it must match)."""
    count = 0
    open_: dict = {}
    collect = txns is not None

    def check(op, value, ok):
        if type(value) is not list and not isinstance(value, (list, tuple)):
            raise MalformedOp(op, f"a transaction's value must be a list of micro-ops, "
                                  f"not {value!r}")
        for mop in value:
            if (type(mop) is not list and not isinstance(mop, tuple)) or len(mop) != 3:
                raise MalformedOp(op, f"micro-op {mop!r} is not [f, key, value]")
            if type(mop[1]) not in SCALARS:
                raise MalformedOp(op, f"micro-op {list(mop)!r}: a key must be a number or "
                                      "a string")
            f = mop[0]
            if f in read_fs:
                if ok and type(mop[2]) not in read_types:
                    raise MalformedOp(op, f"micro-op {list(mop)!r}: a {workload} read's value "
                                          f"must be {_kinds(read_types)}")
            elif f in write_fs:
                if type(mop[2]) not in write_types:
                    raise MalformedOp(op, f"micro-op {list(mop)!r}: a {workload} write's "
                                          f"value must be {_kinds(write_types)}")
            else:
                raise MalformedOp(op, f"micro-op {list(mop)!r}: unknown f {f!r} ({workload} "
                                      f"knows {', '.join(sorted(read_fs | write_fs))})")

    for op in history:
        p = op.get("process")
        if p == NEMESIS or op.get("f", "txn") not in ("txn", None):
            continue
        count += 1
        t = op.get("type")
        if t == "invoke":
            queue = open_.get(p)
            if queue is None:
                queue = open_[p] = deque()
            queue.append(op)
            continue
        queue = open_.get(p)
        inv = queue.popleft() if queue else None
        value = op.get("value")
        if value is None and t != "ok":
            if inv is not None and inv.get("value") is not None:
                check(inv, inv["value"], False)
            if collect:
                txns.append(Txn(op["index"], t, p,
                                _mops(inv.get("value") if inv is not None else None),
                                inv["index"] if inv is not None else None, op["index"]))
            continue
        check(op, value, t == "ok")
        if collect:
            txns.append(Txn(op["index"], t, p, _mops(value),
                            inv["index"] if inv is not None else None, op["index"]))
    for p, queue in open_.items():
        for inv in queue:
            if inv.get("value") is not None:
                check(inv, inv["value"], False)
            if collect:
                txns.append(Txn(inv["index"], "info", p, _mops(inv.get("value")),
                                inv["index"], None))
    return count


def _kinds(types) -> str:
    return "a list or null" if list in types else "a number, a string or null"


def txn_summary(result: dict) -> str:
    """One line for an Elle-style result, without the verdict word."""
    if result.get("reason") and not result.get("txns"):
        return str(result["reason"])
    parts = [f"{result.get('txns', 0)} txns, {result.get('elapsed_s', 0):.2f}s"]
    bad = [t for t in result.get("anomaly-types", []) if t != "empty-transaction-graph"]
    if bad:
        parts.append("anomalies: " + ", ".join(bad))
    holds = result.get("model-holds") or {}
    broken = [m for m, ok in holds.items() if not ok]
    if broken:
        parts.append("not " + ", ".join(broken))
    elif holds:
        parts.append("consistent with " + ", ".join(holds))
    if result.get("unknown_reason"):
        parts.append(str(result["unknown_reason"]))
    return "; ".join(parts)


def no_client_ops(started_elapsed: float = 0.0) -> dict:
    return {"valid": "unknown", "reason": NO_CLIENT_OPS, "unknown_reason": NO_CLIENT_OPS,
            "anomaly-types": [], "anomalies": {}, "not": [], "txns": 0,
            "elapsed_s": round(started_elapsed, 4)}


@dataclass(eq=False, slots=True)
class Txn:
    id: int                     # completion index (or invoke index if it never completed)
    type: str                   # ok / info / fail
    process: object
    mops: list                  # micro-ops: [f, k, v]; reads filled in for ok txns
    invoke_index: int | None
    complete_index: int | None

    @property
    def committed(self) -> bool:
        return self.type == "ok"


def transactions(history: list[dict]) -> list[Txn]:
    """Pair completions with invocations, first in first out per process (Elle's test
    histories pipeline several invocations on one process); invocations left without a
    completion are indeterminate."""
    from collections import deque

    open_invokes: dict = {}
    txns: list[Txn] = []
    for op in history:
        if op.get("process") == NEMESIS or op.get("f", "txn") not in ("txn", None):
            continue
        p = op.get("process")
        t = op["type"]
        if t == "invoke":
            queue = open_invokes.get(p)
            if queue is None:
                queue = open_invokes[p] = deque()
            queue.append(op)
            continue
        queue = open_invokes.get(p)
        inv = queue.popleft() if queue else None
        value = op.get("value")
        if t != "ok" and value is None and inv is not None:
            value = inv.get("value")
        txns.append(Txn(op["index"], t, p, _mops(value),
                        inv["index"] if inv is not None else None, op["index"]))
    for p, queue in open_invokes.items():
        for inv in queue:
            txns.append(Txn(inv["index"], "info", p, _mops(inv.get("value")),
                            inv["index"], None))
    txns.sort(key=attrgetter("id"))
    return txns


def _mops(value) -> list:
    """Micro-ops as lists, without copying when they already are (large histories)."""
    if not value:
        return []
    for m in value:
        if type(m) is not list:
            return [list(m) for m in value]
    return value


def witness(kind: str, raw, a: Txn | None, b: Txn | None) -> dict:
    """Expand an edge's raw witness (a small tuple from the builder, None when it could
    not be rebuilt) into what the explanation names."""
    if raw is None and kind in ("ww", "wr", "rw"):
        return {}
    if kind == "ww" or kind == "rw":
        key, value, nxt = raw
        return {"key": key, "value": value, "next": nxt}
    if kind == "wr":
        key, value = raw
        return {"key": key, "value": value}
    if kind == "process":
        return {"process": b.process if b else None}
    if kind == "realtime":
        return {"completed": a.complete_index if a else None,
                "invoked": b.invoke_index if b else None}
    return {}


def add_process_edges(graph: Graph, txns: list[Txn]) -> None:
    """T1 -> T2 when T2 is the next transaction of T1's process (committed or not yet known)."""
    last: dict = {}
    live = [t for t in txns if t.type != "fail"]
    try:
        # Where every transaction has an invocation (recorded histories), the key is
        # read in C; a None among them (histories of completions only) cannot be
        # compared, and the key falls back to the completion for those.
        live = sorted(live, key=attrgetter("invoke_index"))
    except TypeError:
        live.sort(key=lambda t: t.invoke_index if t.invoke_index is not None else t.id)
    add = graph.add
    for t in live:
        p = t.process
        prev = last.get(p)
        if prev is not None and prev.type == "ok":
            add(prev.id, t.id, "process")     # witness rebuilt from the txns
        last[p] = t


def add_realtime_edges(graph: Graph, txns: list[Txn]) -> None:
    """T1 -> T2 when T1 completed (ok) before T2 was invoked, transitively reduced: each T2
    links only from the transactions completed since its predecessors completed.

    T2 may be indeterminate (info, or never completed): if it took effect at all, it did so
    after its invocation, so everything completed before that precedes it (Elle links
    crashed operations the same way). Nothing follows an indeterminate transaction in real
    time: it may have taken effect arbitrarily late."""
    events = []
    for t in txns:
        if t.type == "fail" or t.invoke_index is None:
            continue
        events.append((t.invoke_index, t))
        if t.type == "ok" and t.complete_index is not None:
            events.append((t.complete_index, t))
    # Invocation and completion indexes are distinct history indexes: no ties.
    events.sort(key=itemgetter(0))
    # The frontier: completed transactions not yet followed by one that completed after
    # them. Each T links from the frontier as it was at T's invocation; when T completes,
    # those of them still in the frontier (exactly the members that completed before T
    # was invoked: a member leaves once and never comes back) are followed by T and
    # leave. No snapshot of the frontier is kept per transaction (a set each, a gigabyte
    # at 1M transactions).
    frontier: list = []         # (completion index, txn id)
    add_from = graph.add_from
    for index, t in events:
        if index == t.invoke_index:
            if frontier:
                add_from([p for _, p in frontier], t.id, "realtime")  # witness rebuilt
        else:
            invoked = t.invoke_index
            frontier = [p for p in frontier if p[0] > invoked]
            frontier.append((index, t.id))


def explain_cycle(steps, txns_by_id: dict[int, Txn]) -> list[str]:
    """One sentence per edge: why the first transaction must precede the second."""
    lines = []
    for a, b, kind, witness in steps:
        w = witness or {}
        if kind == "ww":
            lines.append(f"T{a} wrote {w.get('key')} = {w.get('value')}; T{b} wrote the next "
                         f"version {w.get('next')}, so T{a} precedes T{b} (ww)")
        elif kind == "wr":
            lines.append(f"T{b} read {w.get('key')} = {w.get('value')}, which T{a} wrote, "
                         f"so T{a} precedes T{b} (wr)")
        elif kind == "rw":
            lines.append(f"T{a} read {w.get('key')} = {w.get('value')} without "
                         f"{w.get('next')}, which T{b} wrote next, so T{a} precedes T{b} (rw)")
        elif kind == "process":
            lines.append(f"T{a} and then T{b} ran on process {w.get('process')} (process)")
        elif kind == "realtime":
            lines.append(f"T{a} completed (index {w.get('completed')}) before T{b} was invoked "
                         f"(index {w.get('invoked')}) (realtime)")
    if steps:
        lines.append(f"so T{steps[0][0]} precedes itself: a cycle")
    return lines
