"""The compact dependency graph (issue 16, item 4): edges without witnesses, witnesses
rebuilt for the cycles found, real-time order without a frontier snapshot per
transaction. Each test pins down that the compact form answers as the old one did."""

from __future__ import annotations

import random

from checkers import list_append, rw_register
from checkers.dependency_graph import Graph, WitnessGraph
from checkers.transactions import Txn, add_realtime_edges


def test_edges_keep_their_kinds_in_the_order_added_and_are_counted_once():
    g = Graph()
    g.add(1, 2, "rw")
    g.add(1, 2, "wr")
    g.add(1, 2, "rw")           # again: nothing new
    g.add(3, 3, "ww")           # a self edge is never added
    g.add(2, 1, "ww")
    assert g.out[1][2] == ("rw", "wr")
    assert g.out[2][1] == ("ww",)
    assert g.edge_count() == 3
    assert g.edge_count({"wr"}) == 1
    other = Graph()
    other.add(5, 6, "rw")
    other.add(5, 6, "wr")
    assert other.out[5][6] is g.out[1][2]       # one shared tuple, nothing per edge


def test_a_witness_graph_keeps_the_first_witness_of_the_wanted_edges_only():
    g = WitnessGraph({(1, 2, "ww")})
    g.add(1, 2, "ww", ("x", 1, 2))
    g.add(1, 2, "ww", ("y", 1, 2))
    g.add(2, 3, "ww", ("x", 2, 3))
    assert g.witnesses == {(1, 2, "ww"): ("x", 1, 2)}


def _realtime_by_snapshots(txns):
    """The former construction, a frozen frontier per transaction: the oracle."""
    g = Graph()
    events = []
    for t in txns:
        if t.type == "fail" or t.invoke_index is None:
            continue
        events.append((t.invoke_index, 0, t))
        if t.type == "ok" and t.complete_index is not None:
            events.append((t.complete_index, 1, t))
    events.sort(key=lambda e: (e[0], e[1]))
    frontier: set = set()
    preds: dict = {}
    for _index, kind, t in events:
        if kind == 0:
            if t.type == "ok":
                preds[t.id] = frozenset(frontier)
            else:
                for p in frontier:
                    g.add(p.id, t.id, "realtime")
        else:
            before = preds.get(t.id, frozenset())
            for p in before:
                g.add(p.id, t.id, "realtime")
            frontier -= before
            frontier.add(t)
    return {(a, b) for a, nbrs in g.out.items() for b in nbrs}


def _random_txns(rng, n, processes):
    index = 0
    running: dict = {}
    txns = []
    started = 0
    while started < n or running:
        p = rng.randrange(processes)
        if p in running:
            inv = running.pop(p)
            kind = rng.choice(["ok", "ok", "ok", "info", "fail", "open"])
            if kind == "open":
                txns.append(Txn(inv, "info", p, [], inv, None))
            else:
                txns.append(Txn(index, kind, p, [], inv, index))
            index += 1
        elif started < n:
            running[p] = index
            index += 1
            started += 1
    txns.sort(key=lambda t: t.id)
    return txns


def test_realtime_edges_are_those_of_the_snapshot_construction():
    rng = random.Random(16)
    for _ in range(300):
        txns = _random_txns(rng, rng.randint(1, 40), rng.randint(1, 8))
        g = Graph()
        add_realtime_edges(g, txns)
        got = {(a, b) for a, nbrs in g.out.items() for b in nbrs}
        assert got == _realtime_by_snapshots(txns)


def serial(*txns):
    out = []
    for i, (t, mops) in enumerate(txns):
        out.append({"index": len(out), "type": "invoke", "process": i, "f": "txn",
                    "value": [[f, k, None if f == "r" else v] for f, k, v in mops]})
        out.append({"index": len(out), "type": t, "process": i, "f": "txn", "value": mops})
    return out


def test_a_cycles_data_edges_are_explained_with_their_rebuilt_witnesses():
    # G-single-item on keys x and y, with unrelated traffic on key z around it.
    history = serial(("ok", [["append", "z", 1]]),
                     ("ok", [["append", "x", 1], ["append", "y", 1], ["append", "z", 2]]),
                     ("ok", [["append", "x", 2], ["r", "y", []]]),
                     ("ok", [["r", "x", [1, 2]], ["r", "z", [1, 2]]]))
    result = list_append.check(history, ["serializable"])
    assert result["valid"] is False
    (cycle,) = result["anomalies"]["G-single-item"]
    steps = {(s["from"], s["to"], s["type"]): s for s in cycle["steps"]}
    assert steps[(3, 5, "ww")]["key"] == "x" and steps[(3, 5, "ww")]["next"] == 2
    assert steps[(5, 3, "rw")]["key"] == "y" and steps[(5, 3, "rw")]["value"] == []
    assert any("T5 read y = [] without 1, which T3 wrote next" in line
               for line in cycle["explanation"])


def test_rw_register_cycles_are_explained_with_their_rebuilt_witnesses():
    history = serial(("ok", [["w", "x", 1], ["w", "y", 1]]),
                     ("ok", [["r", "x", 1], ["w", "x", 2], ["r", "y", None]]))
    result = rw_register.check(history, ["serializable"], wfr_keys=True)
    assert result["valid"] is False
    cycles = [c for k, v in result["anomalies"].items() if k.startswith("G") for c in v]
    assert cycles
    for cycle in cycles:
        for step in cycle["steps"]:
            if step["type"] in ("ww", "wr", "rw"):
                assert step["key"] in ("x", "y"), step


def test_add_from_and_add_vertices_build_the_graph_add_and_vertex_would():
    rng = random.Random(11)
    for _ in range(300):
        one, other = Graph(), Graph()
        n = rng.randint(1, 12)
        for _ in range(rng.randint(0, 30)):
            b, kind = rng.randrange(n), rng.choice(("ww", "rw", "realtime"))
            sources = [rng.randrange(n) for _ in range(rng.randint(0, 4))]
            if rng.random() < 0.2:
                ids = [rng.randrange(n) for _ in range(3)]
                for a in ids:
                    one.vertex(a)
                other.add_vertices(iter(ids))
            for a in sources:
                one.add(a, b, kind)
            other.add_from(sources, b, kind)
        assert [(a, list(nbrs.items())) for a, nbrs in one.out.items()] == \
            [(a, list(nbrs.items())) for a, nbrs in other.out.items()]
        assert one.edge_count() == other.edge_count()


def _components_by_reachability(graph):
    """Strongly connected components of more than one vertex, from reachability: the
    oracle for Tarjan."""
    reach = {}
    for v in graph.out:
        seen, todo = set(), [v]
        while todo:
            for w in graph.out[todo.pop()]:
                if w not in seen:
                    seen.add(w)
                    todo.append(w)
        reach[v] = seen
    comps = {frozenset(w for w in graph.out if w in reach[v] and v in reach[w]) | {v}
             for v in graph.out}
    return sorted(sorted(c) for c in comps if len(c) > 1)


def test_components_agree_with_reachability():
    from checkers.dependency_graph import strongly_connected_components
    rng = random.Random(3)
    for _ in range(400):
        g = Graph()
        n = rng.randint(1, 15)
        for _ in range(rng.randint(0, 35)):
            g.add(rng.randrange(n), rng.randrange(n), rng.choice(("ww", "wr", "rw")))
        assert sorted(strongly_connected_components(g)) == _components_by_reachability(g)
