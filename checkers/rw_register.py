"""Elle's rw-register analysis, plus garbage reads.

Transactions write and read registers (`["w", k, v]`, `["r", k, v]`). A read names the
version it saw, so wr edges need no version order. ww and rw edges do, and a register's
reads do not reveal one; it comes only from sources that are sound under stated
assumptions:
  initial-state      nil (never written) precedes every written version: always;
  wfr-keys           within a transaction, a write follows the version it read;
  sequential-keys    each process sees a key's versions in order;
  linearizable-keys  a key's versions follow real time between transactions;
  transaction-order  a given commit order of transactions (index -> rank).
Versions per key form a graph from these sources; a cycle in it is cyclic-versions (the
assumptions and the observations contradict each other), and that key then adds no ww/rw
edges. Otherwise ww and rw edges follow the transitive reduction of the version order.

Beyond Elle: a read of a value no transaction ever wrote is a garbage read. Elle's
rw-register checker misses it (its own test marks this as a bug); here it is reported and
violates every model. A read of a value that its own transaction writes later, and no one
else wrote, is a future-read.

Cost: the transitive reduction of a key's version order is near-linear (`_reduction`), and
building the graph is bounded by the time limit like the cycle search: past it the result
is unknown with the reason, never a hang or gigabytes (bench/elle_rw_register.py).
"""

from __future__ import annotations

import time
from collections import defaultdict

from harness.options import Option

from . import UNKNOWN, gc_paused
from .consistency import anomalies_to_check, canonical_model
from .dependency_graph import Graph
from .isolation import finish
from .transactions import (COMMON_OPTIONS, SCALARS, Txn, no_client_ops, time_limit,
                           txn_summary, validated_transactions)

INIT = ("__initial__",)      # the initial (never written) version of every register


def _v(value):
    return INIT if value is None else value


def _show(version):
    return None if version == INIT else version


def build(txns: list[Txn], *, wfr_keys=False, sequential_keys=False, linearizable_keys=False,
          transaction_order: dict | None = None, deadline: float = float("inf"),
          graph: Graph | None = None):
    """The ww/wr/rw graph (into `graph` when given) and the non-cycle anomalies. Raises
    OutOfTime past `deadline`."""
    anomalies: dict[str, list] = defaultdict(list)
    writer: dict = {}                 # (k, v) -> txn id (ok / info): final writes only
    intermediate: dict = {}           # (k, v) -> txn id that overwrote v itself
    failed_writer: dict = {}
    writes_of: dict = defaultdict(list)       # (txn id, k) -> values written, in order
    for t in txns:
        for mop in t.mops:
            if mop[0] in ("w", "write"):
                writes_of[(t.id, mop[1])].append(_v(mop[2]))
    status = {t.id: t.type for t in txns}
    for (tid, k), values in writes_of.items():
        t_type = status.get(tid, "info")
        if t_type == "fail":
            for v in values:
                failed_writer[(k, v)] = tid
            continue
        writer[(k, values[-1])] = tid          # only a txn's last write of k is visible
        for v in values[:-1]:
            intermediate[(k, v)] = tid
    writers_of_value: dict = defaultdict(set)  # (k, v) -> every txn that wrote v to k
    for (tid, k), values in writes_of.items():
        for v in values:
            writers_of_value[(k, v)].add(tid)

    reads = []   # (txn, mop, k, version), committed transactions only
    for t in txns:
        if not t.committed:
            continue
        last: dict = {}
        wrote: set = set()
        for mop in t.mops:
            k, v = mop[1], _v(mop[2])
            if mop[0] in ("r", "read"):
                if k in last and last[k] != v:
                    anomalies["internal"].append({"op": t.id, "mop": mop, "expected": _show(last[k])})
                if k not in wrote:      # after its own write, a read observes only itself
                    reads.append((t, mop, k, v))
                last[k] = v
            elif mop[0] in ("w", "write"):
                last[k] = v
                wrote.add(k)

    # ---- version orders per key
    order: dict = defaultdict(lambda: defaultdict(set))   # k -> v -> successors
    sources: dict = defaultdict(set)

    def precede(k, a, b, source):
        if a != b:
            order[k][a].add(b)
            order[k].setdefault(b, set())
            sources[k].add(source)

    versions: dict = defaultdict(set)
    for (k, v) in list(writer) + list(intermediate):
        versions[k].add(v)
    for t, mop, k, v in reads:
        versions[k].add(v)
    for k, vs in versions.items():
        for v in vs:
            precede(k, INIT, v, "initial-state")
    if wfr_keys:
        for t in txns:
            if not t.committed:
                continue
            seen: dict = {}
            for mop in t.mops:
                k, v = mop[1], _v(mop[2])
                if mop[0] in ("r", "read"):
                    seen[k] = v
                elif mop[0] in ("w", "write") and k in seen:
                    precede(k, seen[k], v, "wfr-keys")
    touched = _versions_touched(txns)
    if sequential_keys:
        last_seen: dict = {}
        for t in sorted((t for t in txns if t.committed), key=lambda t: t.id):
            for k, (first, final) in touched.get(t.id, {}).items():
                prev = last_seen.get((t.process, k))
                if prev is not None:
                    precede(k, prev, first, "sequential-keys")
                last_seen[(t.process, k)] = final
    if linearizable_keys:
        for a, b in _realtime_pairs_per_key(txns, touched):
            for k in set(touched.get(a.id, {})) & set(touched.get(b.id, {})):
                precede(k, touched[a.id][k][1], touched[b.id][k][0], "linearizable-keys")
    if transaction_order:
        rank = {int(i): r for i, r in transaction_order.items()}
        by_key: dict = defaultdict(list)
        for (k, v), tid in writer.items():
            if tid in rank:
                by_key[k].append((rank[tid], v))
        for k, ranked in by_key.items():
            ranked.sort()
            for (_, a), (_, b) in zip(ranked, ranked[1:]):
                precede(k, a, b, "transaction-order")

    if graph is None:
        graph = Graph()
    for t in txns:
        if t.type != "fail":
            graph.vertex(t.id)
    readers: dict = defaultdict(list)
    for t, mop, k, v in reads:
        readers[(k, v)].append(t.id)
        if v == INIT:
            continue
        w = writer.get((k, v))
        if writers_of_value.get((k, v)) == {t.id}:
            # Read before the transaction's own write of that value, which nobody else
            # wrote: it saw its own future.
            anomalies["future-read"].append(
                {"op": t.id, "mop": mop, "message": f"read {k} = {v!r} before writing it, "
                                                    "and no other transaction wrote it"})
        elif w is not None:
            graph.add(w, t.id, "wr", (k, v))
        elif (k, v) in intermediate:
            if intermediate[(k, v)] != t.id:
                anomalies["G1b"].append({"op": t.id, "mop": mop, "writer": intermediate[(k, v)]})
        elif (k, v) in failed_writer:
            anomalies["G1a"].append({"op": t.id, "mop": mop, "writer": failed_writer[(k, v)]})
        else:
            anomalies["garbage-read"].append({"op": t.id, "mop": mop,
                                              "message": f"read {k} = {v!r}, which no "
                                                         "transaction wrote"})

    if time.monotonic() > deadline:
        raise OutOfTime()
    for k, succ in order.items():
        cyclic = _cyclic_versions(succ)
        if cyclic:
            for scc in cyclic:
                anomalies["cyclic-versions"].append(
                    {"key": k, "scc": sorted((_show(v) for v in scc), key=repr),
                     "sources": sorted(sources[k])})
            continue
        for a, b in _reduction(succ, deadline):
            wa, wb = writer.get((k, a)), writer.get((k, b))
            if wa is not None and wb is not None:
                graph.add(wa, wb, "ww", (k, _show(a), _show(b)))
            if wb is not None:
                for r in readers.get((k, a), ()):
                    graph.add(r, wb, "rw", (k, _show(a), _show(b)))

    lost: dict = defaultdict(set)
    for t, mop, k, v in reads:
        if (t.id, k) in writes_of:
            lost[(k, v)].add(t.id)
    for (k, v), tids in lost.items():
        if len(tids) > 1:
            anomalies["lost-update"].append({"key": k, "value": _show(v), "txns": sorted(tids)})
    return graph, anomalies


def _versions_touched(txns):
    """txn id -> key -> (first version seen or written, last version seen or written)."""
    out: dict = {}
    for t in txns:
        if not t.committed:
            continue
        per: dict = {}
        for mop in t.mops:
            k, v = mop[1], _v(mop[2])
            if k in per:
                per[k] = (per[k][0], v)
            else:
                per[k] = (v, v)
        out[t.id] = per
    return out


def _realtime_pairs_per_key(txns, touched):
    """(a, b) with a completed before b invoked, reduced per key (frontier sweep)."""
    pairs = []
    by_key: dict = defaultdict(list)
    for t in txns:
        if t.committed and t.invoke_index is not None:
            for k in touched.get(t.id, {}):
                by_key[k].append(t)
    for k, ts in by_key.items():
        events = sorted([(t.invoke_index, 0, t) for t in ts] + [(t.complete_index, 1, t) for t in ts],
                        key=lambda e: (e[0], e[1]))
        frontier: set = set()
        preds: dict = {}
        for _, kind, t in events:
            if kind == 0:
                preds[t.id] = frozenset(frontier)
            else:
                for p in preds.get(t.id, ()):
                    pairs.append((p, t))
                frontier -= preds.get(t.id, frozenset())
                frontier.add(t)
    return pairs


def _cyclic_versions(succ) -> list[set]:
    g = Graph()
    ids = {v: i for i, v in enumerate(succ)}
    back = {i: v for v, i in ids.items()}
    for a, bs in succ.items():
        g.vertex(ids[a])
        for b in bs:
            g.add(ids[a], ids[b], "v")
    from .dependency_graph import strongly_connected_components
    return [{back[i] for i in comp} for comp in strongly_connected_components(g)]


class OutOfTime(Exception):
    """The analysis passed its time limit before the graph was built."""


def _reduction(succ, deadline: float = float("inf")):
    """Edges of the transitive reduction of a version DAG given as successor sets.

    Near-linear for what histories produce: INIT precedes every version, so INIT -> v is
    implied whenever v has another predecessor and is dropped without a search; an edge
    out of a version with one successor is never redundant. Only versions with two or
    more successors need reachability, computed lazily as bitsets (Python ints over a
    numbering of the versions) and memoized, so a chain of n versions costs O(n), not the
    O(n^2) sets the naive search kept."""
    has_pred = set()
    for a, bs in succ.items():
        if a != INIT:
            has_pred.update(bs)
    ids = {v: i for i, v in enumerate(succ)}
    reach: dict = {}

    def reachable(v) -> int:
        # Iterative post-order: reach(v) = OR over successors s of bit(s) | reach(s).
        stack = [(v, False)]
        while stack:
            x, expanded = stack.pop()
            if x in reach:
                continue
            if expanded:
                bits = 0
                for y in succ.get(x, ()):
                    bits |= (1 << ids[y]) | reach[y]
                reach[x] = bits
                continue
            stack.append((x, True))
            for y in succ.get(x, ()):
                if y not in reach:
                    stack.append((y, False))
            if time.monotonic() > deadline:
                raise OutOfTime()
        return reach[v]

    for a, bs in succ.items():
        if a == INIT:
            for b in bs:
                if b not in has_pred:
                    yield a, b
            continue
        if len(bs) == 1:
            yield a, next(iter(bs))
            continue
        others = {b: reachable(b) for b in bs}
        for b in bs:
            bit = 1 << ids[b]
            if not any(c != b and others[c] & bit for c in bs):
                yield a, b


def _check(history: list[dict], consistency_models=("strict-serializable",), anomalies=(),
          time_limit_s: float = 60.0, **assumptions) -> dict:
    """Check an rw-register history. `assumptions`: wfr_keys, sequential_keys,
    linearizable_keys (bools), transaction_order (completion index -> rank)."""
    started = time.monotonic()
    models = [canonical_model(m) for m in (consistency_models or ())]
    wanted = anomalies_to_check(models, anomalies) | {"garbage-read"}
    txns = validated_transactions(history, "rw-register", frozenset(("r", "read")),
                                  frozenset(("w", "write")), SCALARS, SCALARS)
    if not txns:
        return no_client_ops(time.monotonic() - started)
    try:
        graph, found = build(txns, deadline=started + time_limit_s, **assumptions)
    except OutOfTime:
        reason = f"time limit ({time_limit_s:g} s) reached while inferring version orders"
        return {"valid": UNKNOWN, "anomaly-types": [], "anomalies": {}, "not": [],
                "models": models, "txns": len(txns), "unknown_reason": reason,
                "assumptions": sorted(k for k, v in assumptions.items() if v),
                "elapsed_s": round(time.monotonic() - started, 4)}
    def rebuild(subset, witness_graph):
        try:
            build(subset, deadline=started + time_limit_s, graph=witness_graph, **assumptions)
        except OutOfTime:
            pass            # those steps are explained by their kind alone

    result = finish(graph, found, txns, models, wanted, time_limit_s, started, rebuild)
    result["assumptions"] = sorted(k for k, v in assumptions.items() if v)
    return result



def check(history: list[dict], consistency_models=("strict-serializable",), anomalies=(),
          time_limit_s: float = 60.0, **assumptions) -> dict:
    """See the module docstring for the semantics. Pure: reads the history only."""
    with gc_paused():
        return _check(history, consistency_models, anomalies, time_limit_s, **assumptions)

class RWRegisterChecker:
    name = "elle-rw-register"
    options = COMMON_OPTIONS + (
        Option("wfr-keys", "bool", False, "assume a transaction's write of a key follows the "
               "version it read of that key (true of serializable and snapshot isolation)"),
        Option("sequential-keys", "bool", False, "assume each process sees a key's versions "
               "in order"),
        Option("linearizable-keys", "bool", False, "assume a key's versions follow real time "
               "between transactions"),
        Option("transaction-order", "json", None, "a known commit order: {completion index: "
               "rank}"),
    )

    def check(self, history, options):
        assumptions = {k: options[k] for k in ("wfr_keys", "sequential_keys", "linearizable_keys",
                                               "transaction_order") if options.get(k)}
        return check(history, options.get("consistency_models") or ("strict-serializable",),
                     options.get("anomalies") or (), time_limit(options), **assumptions)

    def summary(self, result) -> str:
        return txn_summary(result)
