"""The transaction dependency graph and its cycles (Adya's DSG, as Elle builds it).

Vertices are transactions, named by the history index of their completion. Edges carry a
type (the witness that explains one is rebuilt only for the cycles found, see `Graph`):
  ww  T1 wrote a version, T2 wrote the next one;
  wr  T2 read a version T1 wrote;
  rw  T1 read a version, T2 wrote the next one (an anti-dependency);
  process   T1 then T2 on the same process;
  realtime  T1 completed before T2 was invoked.

Cycles are searched per strongly connected component, for each anomaly class in turn, with
an automaton over edge types: G0 uses only ww; G1c ww and wr with at least one wr; G-single
exactly one rw; G-nonadjacent two or more rw, no two adjacent (cyclically); G2-item any with
two or more rw. The -process / -realtime variants must use at least one such edge. Each
found cycle is then named by what it actually contains. A variant is left out only where
an anomaly already reported covers it for every model that proscribes it (`_covered`), so
each model's verdict is independent of which other models were asked. Every search is a
BFS from the far
end of one edge back to its start, so it is linear in the component per start edge, and the
whole search has a deadline: when it passes, the component is reported, never a hang.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

DATA_TYPES = ("ww", "wr", "rw")


# Edge kinds between two vertices, as tuples in the order they were added (a search tries
# them in that order). Every tuple is drawn from this table, so storing one costs a
# pointer: millions of edges allocate nothing each.
_KINDS_OF: dict = {}


def _kinds_with(edges: tuple | None, kind: str) -> tuple:
    """The interned tuple `edges + (kind,)` (`(kind,)` when edges is None)."""
    key = (edges, kind)
    found = _KINDS_OF.get(key)
    if found is None:
        found = _KINDS_OF[key] = (edges or ()) + (kind,)
        if edges is None:
            _SINGLE[kind] = found
    return found


# kind -> the interned `(kind,)`: the first edge between two vertices looks it up by the
# kind alone (no key tuple built per edge).
_SINGLE: dict = {}


class Graph:
    """Typed edges `out[a][b] = (kind, ...)`: the kinds from a to b, in the order they
    were added, as an interned tuple. The keys of `out[a]` are a's successors over all
    kinds, so component searches over every edge need no filtering.

    No witness is stored (an edge's reason, e.g. the key and values behind a ww edge):
    a 1M-transaction history has about 8M edges, and keeping a witness for each took
    gigabytes while only the few edges of the cycles found are ever explained. The
    checkers rebuild those (`WitnessGraph`). `add` still takes a witness, ignored here,
    so one builder serves both.
    """

    def __init__(self):
        self.out: dict[int, dict[int, tuple]] = {}
        self.edges = 0

    def add(self, a: int, b: int, kind: str, witness=None) -> None:
        if a == b:
            return
        out = self.out
        nbrs = out.get(a)
        if nbrs is None:
            nbrs = out[a] = {}
        edges = nbrs.get(b)
        if edges is None:
            single = _SINGLE.get(kind)
            nbrs[b] = single if single is not None else _kinds_with(None, kind)
            if b not in out:
                out[b] = {}
            self.edges += 1
        elif kind not in edges:
            nbrs[b] = _kinds_with(edges, kind)
            self.edges += 1

    def add_from(self, sources, b: int, kind: str) -> None:
        """`add(a, b, kind)` for each a of `sources`, in that order (one call for the
        many real-time edges into one transaction)."""
        out = self.out
        single = _SINGLE.get(kind) or _kinds_with(None, kind)
        known = b in out            # then no edge adds it (checked once, not per edge)
        added = 0
        for a in sources:
            if a == b:
                continue
            nbrs = out.get(a)
            if nbrs is None:
                nbrs = out[a] = {}
            edges = nbrs.get(b)
            if edges is None:
                nbrs[b] = single
                if not known:
                    out[b] = {}
                    known = True
                added += 1
            elif kind not in edges:
                nbrs[b] = _kinds_with(edges, kind)
                added += 1
        self.edges += added

    def vertex(self, a: int) -> None:
        if a not in self.out:
            self.out[a] = {}

    def add_vertices(self, ids) -> None:
        """`vertex` of each of `ids`, in that order."""
        out = self.out
        for a in ids:
            if a not in out:
                out[a] = {}

    def vertices(self):
        return self.out.keys()

    def edge_count(self, kinds=None) -> int:
        if kinds is None:
            return self.edges
        return sum(1 for a in self.out for b, e in self.out[a].items()
                   for k in e if k in kinds)

    def adjacency(self, kinds=None) -> dict[int, list[int]]:
        return {a: sorted(b for b, e in nbrs.items() if kinds is None or any(k in kinds for k in e))
                for a, nbrs in self.out.items()}


class WitnessGraph(Graph):
    """A graph that keeps the first witness of each edge in `wanted` ((a, b, kind)
    triples): rebuilt by a checker over the transactions of the cycles it found, to
    explain them (`witnesses[(a, b, kind)]`)."""

    def __init__(self, wanted):
        super().__init__()
        self.wanted = set(wanted)
        self.witnesses: dict = {}

    def add(self, a: int, b: int, kind: str, witness=None) -> None:
        key = (a, b, kind)
        if key in self.wanted and key not in self.witnesses:
            self.witnesses[key] = witness
        super().add(a, b, kind, witness)

    def add_from(self, sources, b: int, kind: str) -> None:
        for a in sources:
            self.add(a, b, kind)


def strongly_connected_components(graph: Graph, kinds=None, within=None) -> list[list[int]]:
    """Tarjan's algorithm, iterative; only components with more than one vertex.

    kinds=None uses every edge (the fast path: the keys of `graph.out[v]`); otherwise only
    edges of those kinds, and only among the vertices `within` when given.
    """
    if kinds is None:
        succ = graph.out
    else:
        vertices = within if within is not None else graph.out
        succ = {a: [b for b, e in graph.out[a].items()
                    if (within is None or b in within) and any(k in kinds for k in e)]
                for a in vertices}
    # Every visited vertex has an index; `low` is kept for those on the stack only (a
    # vertex leaves `low` as its component is popped, which is what `on_stack` was).
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    result = []
    counter = 0
    for root in succ:
        if root in index:
            continue
        if not succ[root]:
            index[root] = counter       # no successor: a component of its own
            counter += 1
            continue
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    work.append((w, iter(succ[w])))
                    break
                if w in low and index[w] < low[v]:
                    low[v] = index[w]
            else:
                work.pop()
                lv = low[v]
                if work:
                    u = work[-1][0]
                    if lv < low[u]:
                        low[u] = lv
                if lv == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        del low[w]
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        result.append(sorted(component))
    return result


@dataclass(frozen=True)
class CycleSpec:
    name: str                  # base class name, e.g. "G-single-item"
    kinds: tuple               # edge kinds allowed
    start_kinds: tuple         # kinds the first edge is taken from
    special: str | None = None  # "process" / "realtime": must appear at least once


def classify(steps: list[tuple[int, int, str]]) -> str:
    """Name a cycle by its edges (Adya / Elle)."""
    kinds = [k for _, _, k in steps]
    data = [k for k in kinds if k in DATA_TYPES]
    rw = [i for i, k in enumerate(kinds) if k == "rw"]
    suffix = "-realtime" if "realtime" in kinds else "-process" if "process" in kinds else ""
    if not rw:
        base = "G0" if all(k == "ww" for k in data) and "wr" not in kinds else "G1c"
        if not data:
            base = "G0"
    elif len(rw) == 1:
        base = "G-single-item"
    else:
        n = len(kinds)
        adjacent = any((i + 1) % n in rw for i in rw)
        base = "G2-item" if adjacent else "G-nonadjacent-item"
    return base + suffix


class SearchBudgetExceeded(Exception):
    def __init__(self, component):
        super().__init__("cycle search budget exceeded")
        self.component = component


def find_cycle(graph: Graph, component: set, spec: CycleSpec, deadline: float):
    """One cycle in `component` matching `spec`, as [(a, b, kind), ...], or None."""
    out = graph.out
    allowed = set(spec.kinds)
    want_rw = spec.name in ("G-single-item", "G-nonadjacent-item", "G2-item")
    # A cycle of the allowed edge kinds lies inside one strongly connected component of
    # the graph cut down to those kinds: only a start edge inside such a component can
    # begin one, and its search need not leave it. Where no start edge is inside one,
    # there is no such cycle, known in linear time; before, a failed search ran a BFS
    # over the whole component from every start edge (minutes on a 3,000-transaction
    # component of a split-brain history).
    sub = [set(c) for c in strongly_connected_components(graph, allowed, component)]
    sub_of = {v: i for i, c in enumerate(sub) for v in c}
    for a in component:
        home = sub_of.get(a)
        if home is None:
            continue
        for b, edges in out[a].items():
            if sub_of.get(b) != home:
                continue
            for first in spec.start_kinds:
                if first not in edges:
                    continue
                if time.monotonic() > deadline:
                    raise SearchBudgetExceeded(sorted(component))
                path = _bfs(out, sub[home], allowed, spec, want_rw, a, b, first)
                if path is not None:
                    return path
    return None


def _bfs(out, component, allowed, spec, want_rw, start, first_to, first_kind):
    # State: (vertex, rw count capped at 2, last edge was rw, saw wr, saw special edge).
    def advance(state, kind):
        _, rw, last_rw, wr, special = state
        if kind == "rw":
            if spec.name == "G-single-item" and rw >= 1:
                return None
            if spec.name == "G-nonadjacent-item" and last_rw:
                return None
            rw = min(rw + 1, 2)
        return rw, kind == "rw", wr or kind == "wr", special or kind == spec.special

    init = advance((start, 0, False, False, False), first_kind)
    if init is None:
        return None
    s0 = (first_to,) + init
    parents = {s0: None}
    queue = deque([s0])
    first_is_rw = first_kind == "rw"
    while queue:
        state = queue.popleft()
        v = state[0]
        if v == start:
            _, rw, last_rw, wr, special = state
            ok = True
            if spec.special and not special:
                ok = False
            if spec.name == "G1c" and not wr:
                ok = False
            if spec.name == "G-single-item" and rw != 1:
                ok = False
            if spec.name == "G-nonadjacent-item" and (rw < 2 or (last_rw and first_is_rw)):
                ok = False
            if spec.name == "G2-item" and rw < 2:
                ok = False
            if ok:
                steps = []
                s = state
                while parents[s] is not None:
                    prev, kind = parents[s]
                    steps.append((prev[0], s[0], kind))
                    s = prev
                steps.append((start, first_to, first_kind))
                steps.reverse()
                return steps
            continue
        for w, edges in out[v].items():
            if w not in component:
                continue
            for kind in edges:
                if kind not in allowed:
                    continue
                nxt = advance(state, kind)
                if nxt is None:
                    continue
                ns = (w,) + nxt
                if ns not in parents:
                    parents[ns] = (state, kind)
                    queue.append(ns)
    return None


def _covered(name, steps, data_component, cycles, others) -> bool:
    """True when the variant cycle `name` (e.g. G-single-item-realtime) is covered by an
    anomaly already reported: a plain cycle in the same cyclic data component, or a
    non-cycle anomaly (`others`: type -> transaction ids it names) on one of the cycle's
    transactions, whose class every model that proscribes `name` proscribes as well. As
    Elle does, the variant is then left out: session or real-time order adds nothing to
    those models' verdicts.

    The condition is per model, so each model's verdict is the same whatever other models
    were asked: a G2-item (which strong snapshot isolation allows) never hides a
    G-single-item-realtime (which it does not), and one variant never hides another."""
    from .consistency import PROSCRIBED

    models = [bad for bad in PROSCRIBED.values() if name in bad]

    def implied(kind):
        return all(kind in bad for bad in models)

    vertices = {a for a, _, _ in steps}
    if any(implied(kind) and vertices & ids for kind, ids in others.items()):
        return True
    comps = {data_component.get(a) for a in vertices}
    if len(comps) != 1 or None in comps:
        return False
    (cid,) = comps
    return any(not c["type"].endswith(("-process", "-realtime"))
               and data_component.get(c["steps"][0][0]) == cid and implied(c["type"])
               for c in cycles)


def cycle_specs(wanted: set[str]) -> list[CycleSpec]:
    """The searches needed to find the anomaly classes in `wanted`, in priority order."""
    specs = []
    plain = {
        "G0": (("ww",), ("ww",)),
        "G1c": (("ww", "wr"), ("wr",)),
        "G-single-item": (DATA_TYPES, ("rw",)),
        "G-nonadjacent-item": (DATA_TYPES, ("rw",)),
        "G2-item": (DATA_TYPES, ("rw",)),
    }
    # Real-time before process: where both orders link the same transactions (one process
    # running sequentially), the cycle is named for the stronger, real-time order.
    for suffix, special in (("", None), ("-realtime", "realtime"), ("-process", "process")):
        for base, (kinds, starts) in plain.items():
            if base + suffix not in wanted:
                continue
            if special:
                kinds = kinds + (special,) + (("process",) if special == "realtime" else ())
                starts = (special,)
            specs.append(CycleSpec(base, kinds, starts, special))
    return specs


# Once every model asked about is violated, the verdict cannot change: each further search
# (per class and component) gets this long, so a huge component of a split-brain history
# costs seconds rather than the whole time limit. What it cut short is listed as such.
SETTLED_SEARCH_S = 2.0


def search_cycles(graph: Graph, wanted: set[str], time_limit_s: float = 60.0,
                  others: dict | None = None, models=(), violated=()) -> dict:
    """All cycle anomalies of the classes in `wanted`: {"cycles": [...], "unknown": [...]}.

    `others`: the non-cycle anomalies already found, as type -> transaction ids they name
    (see `_covered`).

    One cycle per (class, component). A search whose deadline passes leaves its component
    in "unknown" (reported, never hung on). Once every one of `models` is violated by what
    was found (`violated`: the non-cycle anomalies already found, then every cycle found),
    each further search is bounded by SETTLED_SEARCH_S (marked `settled`). A -realtime cycle whose real-time steps are all
    session steps as well (one process running sequentially) is named for the stronger,
    real-time order and lists the -process class under "also"; verdicts count both.
    """
    deadline = time.monotonic() + time_limit_s
    others = {k: set(v) for k, v in (others or {}).items() if k in wanted and v}
    specs = cycle_specs(wanted)
    cycles = []
    seen = set()
    unknown = []
    # Any cycle, whatever its edge kinds, lies inside one component of the whole graph:
    # compute those once (a valid history usually has none), and data-only components
    # only inside them.
    components = [set(c) for c in strongly_connected_components(graph)]
    data_components = [c for comp in components
                       for c in strongly_connected_components(graph, set(DATA_TYPES), comp)]
    data_component = {v: i for i, comp in enumerate(data_components) for v in comp}
    from .consistency import PROSCRIBED
    violations = set(violated)

    def settled() -> bool:
        return bool(models) and all(PROSCRIBED[m] & violations for m in models)

    for spec in specs:
        search_in = [set(c) for c in data_components] if spec.special is None else components
        for members in search_in:
            cut_short = settled()
            limit = min(deadline, time.monotonic() + SETTLED_SEARCH_S) if cut_short else deadline
            try:
                steps = find_cycle(graph, members, spec, limit)
            except SearchBudgetExceeded as e:
                unknown.append({"component_size": len(e.component),
                                "component_sample": e.component[:20], "searching": spec.name
                                + ("-" + spec.special if spec.special else ""),
                                **({"settled": True} if cut_short else {})})
                continue
            if steps is None:
                continue
            name = classify(steps)
            if name not in wanted:
                continue
            if spec.special and _covered(name, steps, data_component, cycles, others):
                continue
            if spec.special == "process" and any(
                    name in c.get("also", ()) and c["steps"][0][0] in members for c in cycles):
                continue   # already named, for the stronger order, as a -realtime cycle
            signature = (name, frozenset((a, b, k) for a, b, k in steps))
            if signature in seen:
                continue
            seen.add(signature)
            cycle = {"type": name, "steps": steps}
            if spec.special == "realtime":
                also = name.replace("-realtime", "-process")
                if also in wanted and all("process" in graph.out[a][b]
                                          for a, b, k in steps if k == "realtime"):
                    # Every real-time step is also a session step: the same cycle is a
                    # -process cycle too (what session models are judged by).
                    cycle["also"] = [also]
            cycles.append(cycle)
            violations.add(name)
            violations.update(cycle.get("also", ()))
    return {"cycles": cycles, "unknown": unknown}
