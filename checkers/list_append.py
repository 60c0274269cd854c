"""Elle's list-append analysis: isolation anomalies from transactions that append unique
values to lists and read whole lists.

Every read of a list reveals a prefix of that key's version order, so the order is
recovered from the reads themselves: all reads of a key must be prefixes of one another
(else incompatible-order), and the longest orders the elements. Appends no read ever saw
come after the last element read (they may have happened in any order among themselves).

Edges, per key with version order v1 v2 ... vn and unread appends U:
  ww  writer(vi) -> writer(vi+1), and writer(vn) -> writer(u) for u in U;
  wr  writer(last element of a read) -> reader;
  rw  reader of v1..vi -> writer(vi+1); a reader of all of v1..vn -> writer(u), u in U.
Reads in transactions whose outcome is unknown (info) constrain nothing; their appends may
have happened. Failed transactions' appends did not happen: reading them is G1a.

Non-cycle anomalies: G1a (aborted read), G1b (intermediate read), internal (a transaction
that does not see its own earlier reads and appends), future-read (a read that sees the
transaction's own later append), dirty-update (a committed append on top of an aborted one),
lost-update (two committed transactions read the same version and both append to it),
duplicate-elements, incompatible-order (reads that are not prefixes of one another, or one
transaction's appends seen out of order or without its earlier ones), garbage-read (an
element nobody appended; Elle does not check it), lost-append (an acknowledged append no
read saw though a read of its key began after it was acknowledged: real-time models only;
Elle does not check it). Then cycles
(dependency_graph.search_cycles).

Unread appends are ordered after what was read and never among themselves, so their
unknown order cannot raise an alarm; a history that violates a model in every order of
them is, knowingly, not caught (tests/checkers/test_txn_oracle.py measures it), except
for lost-append.
"""

from __future__ import annotations

import time
from collections import defaultdict

from . import UNKNOWN, MalformedOp, gc_paused
from .consistency import anomalies_to_check, canonical_model
from .dependency_graph import Graph
from .isolation import MAX_EXAMPLES, finish
from .transactions import (COMMON_OPTIONS, LISTS, SCALARS, Txn, no_client_ops, time_limit,
                           txn_summary, validated_transactions)


class DuplicateAppends(ValueError):
    """The same value appended twice to one key: the workload must append unique values."""


def _is_read(mop) -> bool:
    return mop[0] in ("r", "read")


def _is_append(mop) -> bool:
    return mop[0] in ("append", "a")


def _as_list(value):
    return [] if value is None else list(value)


def build(txns: list[Txn], graph: Graph | None = None):
    """Version orders, the ww/wr/rw graph (into `graph` when given), and the non-cycle
    anomalies: `index`, then `non_cycle_anomalies` and `data_edges`, which share
    nothing but the index.

    (Computing the graph in a forked child while the parent found the other anomalies
    was measured slower, not faster: 100k transactions, 3.2-4.8 s against 2.8-3.4 s on
    one process, load average 2.1-2.6 on 2 cores. Both processes then write to pages
    they share copy-on-write, each refcount change copying a page, and the graph side is
    two thirds of the work anyway.)"""
    ix = index(txns)
    anomalies = non_cycle_anomalies(txns, ix)
    return data_edges(txns, ix, graph), anomalies


class Index:
    """What both the anomalies and the edges are read from: who appended what, the
    reads, each key's version order (its longest read) and the appends nobody read.

    Written for speed (it is most of a large history's check): loops inlined rather
    than helper calls per micro-op, each read's prefix test done once, and elements used
    as they are: a read whose elements are not all hashable raises TypeError here (and
    the history is refused), and appended values are scalars (validate_txn_ops), so every
    element seen is its own `_h`."""

    __slots__ = ("writer", "failed_writer", "writer_appends", "status", "reads",
                 "then_append", "duplicates", "longest", "longest_read", "incompatible",
                 "unread", "observed")


def index(txns: list[Txn]) -> Index:
    ix = Index()
    writer: dict = {}             # (key, value) -> txn id (ok or info)
    failed_writer: dict = {}      # (key, value) -> failed txn id
    # (txn id, key) -> the values it appended to key, in order, for a transaction that
    # appended more than one to that key (one append v needs no entry: it is [v]; most
    # transactions append once per key, and an entry each cost 200 MB at 1M).
    writer_appends: dict = {}
    appends = _APPENDS
    for t in txns:
        tid = t.id
        target = failed_writer if t.type == "fail" else writer
        first = appended = None
        for mop in t.mops:
            if mop[0] not in appends:
                continue
            kv = (mop[1], mop[2])
            if kv in writer or kv in failed_writer:
                existing = writer[kv] if kv in writer else failed_writer[kv]
                raise DuplicateAppends(f"value {kv[1]!r} appended twice to key {kv[0]!r} "
                                       f"(transactions {existing} and {tid})")
            target[kv] = tid
            if first is None:
                first = kv
            elif appended is None:
                appended = [first, kv]
            else:
                appended.append(kv)
        if appended is not None:
            per_key: dict = defaultdict(list)
            for k, v in appended:
                per_key[k].append(v)
            for k, values in per_key.items():
                if len(values) > 1:
                    writer_appends[(tid, k)] = values

    # Reads that reveal the version order: ok transactions only. `then_append`: the
    # positions in `reads` of those followed, in their transaction, by an append to the
    # same key (what a lost update is made of); `duplicates`: of those with an element
    # twice (under ==: distinct under == means distinct as JSON values too).
    reads = []                                   # (txn, mop, key, list)
    then_append = []
    duplicates = []
    read_fs = _READS
    for t in txns:
        if t.type != "ok":
            continue
        mops = t.mops
        for i, mop in enumerate(mops):
            if mop[0] not in read_fs:
                continue
            values = mop[2]
            if type(values) is not list:    # read-only below: no copy of a list
                values = _as_list(values)
            if len(set(values)) != len(values):
                duplicates.append(len(reads))
            k = mop[1]
            if i + 1 < len(mops) and any(m[0] in appends and m[1] == k for m in mops[i + 1:]):
                then_append.append(len(reads))
            reads.append((t, mop, k, values))

    longest: dict = {}
    longest_read: dict = {}
    for t, mop, k, values in reads:
        if len(values) > len(longest.get(k, ())):
            longest[k] = values
            longest_read[k] = (t, mop)
    incompatible = []                             # positions in `reads`
    for i, (t, mop, k, values) in enumerate(reads):
        order = longest[k] if values else None
        if order is not None and order is not values and order[:len(values)] != values:
            incompatible.append(i)
    observed = {k: set(order) for k, order in longest.items()}
    unread: dict = defaultdict(list)
    for (k, v), tid in writer.items():
        if v not in observed.get(k, ()):
            unread[k].append((v, tid))
    ix.writer, ix.failed_writer, ix.writer_appends = writer, failed_writer, writer_appends
    ix.status = {t.id: t.type for t in txns}
    ix.reads, ix.then_append, ix.duplicates = reads, then_append, duplicates
    ix.longest, ix.longest_read, ix.incompatible = longest, longest_read, incompatible
    ix.unread, ix.observed = unread, observed
    return ix


def non_cycle_anomalies(txns: list[Txn], ix: Index) -> dict[str, list]:
    """Every anomaly the module docstring lists but the cycles."""
    anomalies: dict[str, list] = defaultdict(list)
    writer, failed_writer, writer_appends = ix.writer, ix.failed_writer, ix.writer_appends
    reads, longest = ix.reads, ix.longest
    for i in ix.duplicates:
        t, mop, _k, values = reads[i]
        # Only a read with == duplicates (1 and 1.0, or a true duplicate) needs the
        # exact comparison by repr.
        if len(set(map(repr, values))) != len(values):
            anomalies["duplicate-elements"].append(
                {"op": t.id, "mop": mop, "duplicates": sorted(
                    {repr(v) for v in values if values.count(v) > 1})})
    # Garbage reads: every read is a prefix of the longest one of its key (or reported as
    # incompatible just below), so looking at the longest reads, and at the incompatible
    # ones, finds every element nobody appended, at a cost linear in the elements.
    suspects = [(t, mop, k, order) for k, order in longest.items()
                for t, mop in (ix.longest_read[k],)]
    for i in ix.incompatible:
        t, mop, k, values = reads[i]
        suspects.append((t, mop, k, values))
        if len(anomalies["incompatible-order"]) < MAX_EXAMPLES:
            anomalies["incompatible-order"].append(
                {"key": k, "values": [values, longest[k]], "op": t.id})
    reported = set()
    for t, mop, k, values in suspects:
        for v in values:
            if (k, v) not in writer and (k, v) not in failed_writer \
                    and (t.id, k, v) not in reported:
                reported.add((t.id, k, v))
                anomalies["garbage-read"].append(
                    {"op": t.id, "mop": mop, "element": v,
                     "message": f"read {k} = {values!r}: no transaction appended {v!r}"})

    _internal_and_future(txns, anomalies)
    _torn_appends(longest, writer, writer_appends, anomalies)

    if failed_writer:
        status = ix.status
        appended_keys = {k for (k, _v) in writer} | {k for (k, _v) in failed_writer}
        for k in appended_keys | set(longest):
            order = _distinct(longest.get(k, []))   # duplicates reported above
            # dirty update: a committed element after an aborted one.
            aborted_at = None
            for i, v in enumerate(order):
                if (k, v) in failed_writer and aborted_at is None:
                    aborted_at = i
                elif aborted_at is not None and status.get(writer.get((k, v))) == "ok":
                    anomalies["dirty-update"].append(
                        {"key": k, "values": order[aborted_at:i + 1],
                         "txns": [failed_writer[(k, order[aborted_at])], "...",
                                  writer[(k, v)]]})
                    break

    if writer_appends or failed_writer:
        # Only a key some transaction appended twice or more to can show G1b.
        multi_keys = {k for (_w, k) in writer_appends}
        for t, mop, k, values in reads:
            if not values or (k not in multi_keys and not failed_writer):
                continue
            # G1b: the last element with a writer (as for wr edges) is not that
            # writer's last append to the key.
            if k in multi_keys:
                last = values[-1]
                w = writer.get((k, last))
                if w is None:
                    last = next((v for v in reversed(values) if (k, v) in writer), last)
                    w = writer.get((k, last))
                appended = writer_appends.get((w, k)) if w is not None else None
                if appended and appended[-1] != last and w != t.id:
                    anomalies["G1b"].append({"op": t.id, "mop": mop, "writer": w,
                                             "element": last})
            if failed_writer:
                for v in values:
                    if (k, v) in failed_writer:
                        anomalies["G1a"].append({"op": t.id, "mop": mop, "element": v,
                                                 "writer": failed_writer[(k, v)]})
    # lost update: same version read, then appended to, by two committed txns.
    lost: dict = defaultdict(set)
    for i in ix.then_append:
        t, _mop, k, values = reads[i]
        lost[(k, tuple(values))].add(t.id)
    for (k, version), tids in lost.items():
        if len(tids) > 1:
            anomalies["lost-update"].append({"key": k, "value": [v for v in version],
                                             "txns": sorted(tids)})
    _lost_appends(txns, reads, ix.unread, ix.status, ix.observed, writer_appends, anomalies)
    return anomalies


def data_edges(txns: list[Txn], ix: Index, graph: Graph | None = None) -> Graph:
    """The ww, wr and rw edges (into `graph` when given), every transaction that did not
    fail a vertex."""
    if graph is None:
        graph = Graph()
    graph.add_vertices(t.id for t in txns if t.type != "fail")
    add = graph.add
    writer, longest, unread = ix.writer, ix.longest, ix.unread
    appended_keys = {k for (k, _v) in writer} | {k for (k, _v) in ix.failed_writer}
    for k in appended_keys | set(longest):
        order = _distinct(longest.get(k, []))   # duplicates reported apart
        # ww along the observed order, then to every unread append.
        prev_v, prev_w = None, None
        for v in order:
            w = writer.get((k, v))
            if w is not None:
                if prev_w is not None:
                    add(prev_w, w, "ww", (k, prev_v, v))
                prev_v, prev_w = v, w
        if order and prev_w is not None:
            for v, w in unread.get(k, ()):
                add(prev_w, w, "ww", (k, prev_v, v))
    incompatible = set(ix.incompatible)
    for i, (t, mop, k, values) in enumerate(ix.reads):
        # wr: the writer of the last element read.
        if values:
            # The last element with a writer: a garbage element (reported apart) after
            # it does not hide that the reader saw that writer's append.
            last = values[-1]
            w = writer.get((k, last))
            if w is None:
                last = next((v for v in reversed(values) if (k, v) in writer), last)
                w = writer.get((k, last))
            if w is not None:
                add(w, t.id, "wr", (k, values))
        # rw: to the writer of the next version (or of every unread append).
        if i in incompatible:
            continue
        order = longest.get(k, ())
        if len(values) < len(order):
            w = writer.get((k, order[len(values)]))
            if w is not None:
                add(t.id, w, "rw", (k, values, order[len(values)]))
        else:
            for v, w in unread.get(k, ()):
                add(t.id, w, "rw", (k, values, v))
    return graph


def _lost_appends(txns, reads, unread, status, observed, writer_appends, anomalies) -> None:
    """lost-append: an acknowledged append (its transaction ok) that no read ever saw,
    although a read of its key began after the append was acknowledged. (When a read saw
    another of that transaction's appends to the key, the missing one is G1b or
    incompatible-order, reported as such.)

    Under a model with real-time order (strict-serializable, strong snapshot isolation)
    that read had to see it, wherever the unread append falls in the version order. The
    cycle search cannot say so: an element no read saw has no place in the observed order,
    so it gets no rw edge from the reads that missed it. Acknowledged writes vanishing in a
    failover look exactly like this (and nothing else when their key is never read again
    before the final reads)."""
    if not unread:
        return
    latest_read: dict = {}               # key -> (invoke index, txn id) of its last read
    for t, _mop, k, _values in reads:
        if k in unread and t.invoke_index is not None \
                and t.invoke_index > latest_read.get(k, (-1, None))[0]:
            latest_read[k] = (t.invoke_index, t.id)
    needed = {tid for appends in unread.values() for _v, tid in appends}
    by_id = {t.id: t for t in txns if t.id in needed}
    for k, appends in unread.items():
        read_at, reader = latest_read.get(k, (None, None))
        if read_at is None:
            continue
        for v, tid in appends:
            w = by_id[tid]
            if status.get(tid) == "ok" and w.complete_index is not None \
                    and w.complete_index < read_at \
                    and not any(_h(x) in observed.get(k, ()) for x in writer_appends.get((tid, k), ())):
                anomalies["lost-append"].append(
                    {"key": k, "element": v, "op": tid, "read": reader,
                     "message": f"append {v!r} to {k!r} was acknowledged (op {tid}) but no "
                                f"read saw it, not even op {reader}, which began later "
                                f"(lost, or every later read was stale)"})


def _torn_appends(longest, writer, writer_appends, anomalies) -> None:
    """One transaction's appends to a key take effect together and in their order: the
    ones a read shows must be its first appends, in the order it made them (reading 2
    before 1, or 2 without 1, after a transaction appended 1 then 2 is impossible under
    any model that has transactions). Contiguity needs no check here: another writer's
    element between them is a ww cycle (G0)."""
    # Only a transaction that appended twice or more to a key can be seen torn on it.
    keys = {k for (_w, k) in writer_appends}
    for k, order in longest.items():
        if k not in keys:
            continue
        by_writer: dict = defaultdict(list)
        for v in order:
            w = writer.get((k, v))
            if w is not None:
                by_writer[w].append(v)
        for w, seen in by_writer.items():
            appended = writer_appends.get((w, k), [])
            if len(appended) > 1 and seen != appended[:len(seen)]:
                anomalies["incompatible-order"].append(
                    {"key": k, "values": [seen, appended], "txns": [w],
                     "message": f"T{w} appended {appended!r} to {k} in that order, but reads "
                                f"show {seen!r}"})


def _element_set(values) -> set:
    """The set of `_h` of each element: built in C when every element is hashable (then
    none is a list, and `_h` is the identity)."""
    try:
        return set(values)
    except TypeError:
        return set(map(_h, values))


def _distinct(values) -> list:
    """`_h` of each element, first occurrences only, in order (in C when every element
    is hashable, as in `_element_set`)."""
    try:
        return list(dict.fromkeys(values))
    except TypeError:
        return list(dict.fromkeys(map(_h, values)))


def _h(v):
    return tuple(v) if isinstance(v, list) else v


def _appends_after(t: Txn, read_mop, key) -> bool:
    seen = False
    for mop in t.mops:
        if mop is read_mop:
            seen = True
        elif seen and _is_append(mop) and mop[1] == key:
            return True
    return False


def _internal_and_future(txns: list[Txn], anomalies) -> None:
    for t in txns:
        mops = t.mops
        n = len(mops)
        if n < 2 or t.type != "ok" or (mops[0][1] != mops[1][1] if n == 2
                                       else len({m[1] for m in mops}) == n):
            continue        # no key twice: nothing to compare within the transaction
        expected: dict = {}      # key -> (whole value known?, values, as last read)
        own_later: dict = defaultdict(list)
        for i, mop in enumerate(t.mops):
            if _is_append(mop):
                own_later[mop[1]].append((i, mop[2]))
        for i, mop in enumerate(t.mops):
            k = mop[1]
            if _is_append(mop):
                known, values, _raw = expected.get(k, (False, [], None))
                expected[k] = (known, values + [mop[2]], values + [mop[2]])
                continue
            values = _as_list(mop[2])
            for j, v in own_later.get(k, ()):
                if j > i and v in values:
                    anomalies["future-read"].append({"op": t.id, "mop": mop, "element": v})
            if k in expected:
                known, exp, raw = expected[k]
                ok = values == exp if known else (len(values) >= len(exp) and
                                                   values[len(values) - len(exp):] == exp)
                if not ok:
                    anomalies["internal"].append({"op": t.id, "mop": mop,
                                                  "expected": raw if known else ["..."] + exp})
            expected[k] = (True, values, mop[2])


_READS = frozenset(("r", "read"))
_APPENDS = frozenset(("append", "a"))


def _unhashable_element(history):
    """The op whose read holds a list or map as an element (found after a TypeError)."""
    for op in history:
        if op.get("type") == "ok" and isinstance(op.get("value"), (list, tuple)):
            for mop in op["value"]:
                if mop[0] in _READS and any(isinstance(x, (list, dict))
                                             for x in (mop[2] or ())):
                    return op, mop
    return None, None


def _check(history: list[dict], consistency_models=("strict-serializable",), anomalies=(),
          time_limit_s: float = 60.0) -> dict:
    """Check a list-append history. Pure. See the module docstring for the semantics.

    Raises MalformedOp for a transaction this analysis cannot read; a history without
    client transactions is unknown ("no client operations")."""
    started = time.monotonic()
    models = [canonical_model(m) for m in (consistency_models or ())]
    wanted = anomalies_to_check(models, anomalies)
    txns = validated_transactions(history, "list-append", _READS, _APPENDS, LISTS, SCALARS)
    if not txns:
        return no_client_ops(time.monotonic() - started)
    try:
        graph, found = build(txns)
    except TypeError:
        op, mop = _unhashable_element(history)
        if op is None:
            raise
        raise MalformedOp(op, f"micro-op {list(mop)!r}: list elements must be numbers or "
                              "strings") from None
    except DuplicateAppends as e:
        return {"valid": UNKNOWN, "error": str(e), "anomaly-types": ["duplicate-appends"],
                "anomalies": {}, "not": [], "elapsed_s": round(time.monotonic() - started, 4)}
    _acknowledged_times(history, found.get("lost-append", ()))
    return finish(graph, found, txns, models, wanted, time_limit_s, started, build)


def _acknowledged_times(history, lost) -> None:
    """When each lost append was acknowledged (seconds into the run), for the report."""
    wanted = {a["op"] for a in lost}
    if not wanted:
        return
    times = {op.get("index"): op.get("time") for op in history if op.get("index") in wanted}
    for a in lost:
        t = times.get(a["op"])
        if isinstance(t, (int, float)):
            a["acknowledged_s"] = round(t / 1e9, 3)



def check(history: list[dict], consistency_models=("strict-serializable",), anomalies=(),
          time_limit_s: float = 60.0) -> dict:
    """See the module docstring for the semantics. Pure: reads the history only."""
    with gc_paused():
        return _check(history, consistency_models, anomalies, time_limit_s)

class ListAppendChecker:
    name = "elle-list-append"
    options = COMMON_OPTIONS

    def check(self, history, options):
        return check(history, options.get("consistency_models") or ("strict-serializable",),
                     options.get("anomalies") or (), time_limit(options))

    def summary(self, result) -> str:
        return txn_summary(result)
