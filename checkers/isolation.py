"""From a dependency graph and the non-cycle anomalies to an isolation verdict.

Shared by the list-append and rw-register analyses: add session (process) and real-time
edges when the requested models need them, search cycles, explain each in words, and
decide validity: false when any anomaly the models (or the caller) rule out is present,
unknown when the graph is empty (nothing could be inferred) or a cycle search ran out of
time, true otherwise.
"""

from __future__ import annotations

import time

from . import UNKNOWN
from .consistency import PROSCRIBED, weakest_violated
from .dependency_graph import DATA_TYPES, Graph, WitnessGraph, search_cycles
from .transactions import Txn, add_process_edges, add_realtime_edges, explain_cycle, witness

MAX_EXAMPLES = 8


# Non-cycle anomalies that name a symptom rather than explain it: a cycle through the same
# transactions is still searched for and reported (lost-append's missed read is usually
# also a G-single-item-realtime cycle, which is what the isolation analysis explains).
NAMES_NOT_EXPLAINS = frozenset({"lost-append"})


def _txn_ids(examples) -> set:
    """Transaction ids a non-cycle anomaly's examples name (op, writer, txns)."""
    ids = set()
    for e in examples:
        if not isinstance(e, dict):
            continue
        for field in ("op", "writer"):
            if isinstance(e.get(field), int):
                ids.add(e[field])
        ids.update(t for t in e.get("txns", ()) if isinstance(t, int))
    return ids


def add_order_edges(graph: Graph, txns: list[Txn], wanted) -> None:
    """Session and real-time order, where an anomaly class in `wanted` needs them."""
    if any(s.endswith("-process") for s in wanted):
        add_process_edges(graph, txns)
    if any(s.endswith("-realtime") for s in wanted):
        add_realtime_edges(graph, txns)


def finish(graph: Graph, found: dict, txns: list[Txn], models, wanted, time_limit_s, started,
           rebuild=None):
    """Shared by list-append and rw-register: add session and real-time order, search
    cycles, explain, and decide validity.

    `rebuild(txns, graph)`: the checker's graph builder, run again into a WitnessGraph
    over only the keys of the cycles found, to explain their data edges (the graph keeps
    no witnesses); without it those edges are explained by kind alone."""
    add_order_edges(graph, txns, wanted)
    edges = graph.edge_count()
    txn_count = len(txns)
    cycles = search_cycles(graph, wanted, max(0.0, time_limit_s - (time.monotonic() - started)),
                           {k: _txn_ids(v) for k, v in found.items()
                            if k not in NAMES_NOT_EXPLAINS},
                           models=models,
                           violated={k for k, v in found.items() if v and k in wanted})
    by_id = {t.id: t for t in txns}
    raw = _data_witnesses(cycles["cycles"], by_id, rebuild)
    for c in cycles["cycles"]:
        steps = [(a, b, k, witness(k, raw.get((a, b, k)), by_id.get(a), by_id.get(b)))
                 for a, b, k in c["steps"]]
        c["cycle"] = [a for a, _, _, _ in steps] + [steps[0][0]]
        c["steps"] = [{**(w or {}), "from": a, "to": b, "type": k} for a, b, k, w in steps]
        c["explanation"] = explain_cycle(steps, by_id)
        c["ops"] = {str(t): by_id[t].mops for t in c["cycle"] if t in by_id}
        found.setdefault(c["type"], []).append(c)
    if edges == 0:
        found["empty-transaction-graph"] = [{"txns": txn_count}]
    reported = {k: v for k, v in found.items() if v and (k in wanted)}
    types = sorted(reported)
    also = {a for c in cycles["cycles"] for a in c.get("also", ()) if a in wanted}
    bad = sorted({t for t in types if t != "empty-transaction-graph"} | also)
    if bad:
        valid = False
    elif cycles["unknown"] or "empty-transaction-graph" in types:
        valid = UNKNOWN
    else:
        valid = True
    result = {
        "valid": valid,
        "anomaly-types": types,
        "anomalies": {k: v[:MAX_EXAMPLES] for k, v in reported.items()},
        "not": weakest_violated(bad),
        "models": models,
        "txns": txn_count,
        "edges": graph.edge_count(),
        "elapsed_s": round(time.monotonic() - started, 4),
    }
    if models:
        result["model-holds"] = {m: not (PROSCRIBED[m] & set(bad)) for m in models}
    if cycles["unknown"]:
        result["unknown"] = cycles["unknown"]
        cut = sum(1 for u in cycles["unknown"] if u.get("settled"))
        reasons = []
        if len(cycles["unknown"]) > cut:
            reasons.append(f"cycle search time limit reached in "
                           f"{len(cycles['unknown']) - cut} component(s)")
        if cut:
            reasons.append(f"{cut} search(es) for further anomaly classes cut short once "
                           f"every model asked about was violated")
        result["unknown_reason"] = "; ".join(reasons)
    return result


def _data_witnesses(cycles, by_id: dict, rebuild) -> dict:
    """(a, b, kind) -> the raw witness of each ww / wr / rw step of `cycles`, from the
    builder run again over the transactions' micro-ops on the keys both ends of a step
    touch. Every edge kind is per key (a key's version order, reads and writes decide its
    edges alone), so this gives the edges on those keys exactly as the whole build did,
    and the same first witness for an edge with one; in linear time, once, however many
    cycles were found."""
    wanted = {(a, b, k) for c in cycles for a, b, k in c["steps"] if k in DATA_TYPES}
    if not wanted or rebuild is None:
        return {}
    keys = set()
    for a, b, _k in wanted:
        if a in by_id and b in by_id:
            keys |= {m[1] for m in by_id[a].mops} & {m[1] for m in by_id[b].mops}
    subset = []
    for t in by_id.values():
        mops = [m for m in t.mops if m[1] in keys]
        if mops:
            subset.append(Txn(t.id, t.type, t.process, mops, t.invoke_index,
                              t.complete_index))
    graph = WitnessGraph(wanted)
    rebuild(subset, graph)
    return graph.witnesses
