"""Linearizability: the WGL search (Wing & Gong, with Lowe's memoization), per key.

A history is linearizable if every operation can be given a single instant between its
invocation and its completion such that, taken in that order, the operations are legal
for the model's sequential object. Operations whose outcome is unknown (`info`, or no
completion at all) may take effect at any instant after their invocation, or never: they
have a call event and no return, so nothing forces them in, and the search is done as
soon as every op with a known outcome is linearized (the unknown ones left over never
took effect). Forcing them in instead (a return "at infinity") is only right for ops
legal in every state: it made a blocked lock acquire at the end of a history a
violation. Failed operations certainly did not happen and are removed; a read whose
outcome is unknown constrains nothing and is removed too.

The search walks a doubly linked list of call and return events in history order. At a
call it tries to linearize that op next (lifting its call and return out of the list);
at a return whose op is still unlinearized, or at the end of the list with known ops
still unlinearized, it must backtrack. A memo of (set of linearized ops, model state)
prunes states already explored: two paths that linearized the same ops into the same
state have the same future (which ops remain, known or not, is fixed by the set). The
set is a Python int used as a bitset, so memo keys are cheap to hash.

Values are compared as JSON values (checkers.models.json_value): true is not 1, 1 is not
1.0, a map is not its list of pairs.

Independent keys are checked separately (a history partitioned by `key` is linearizable
iff every partition is: linearizability is compositional), which keeps each search small.

The search is bounded by a deadline: when it passes, the verdict is "unknown" with the
reason, never a hang.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from array import array
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, as_completed, wait
from typing import Any

from harness.formats import Semantics
from harness.history import FAIL, INFO, INVOKE, OK, is_client_op, pair_ops
from harness.options import Option

from . import UNKNOWN, MalformedOp, gc_paused, merge_valid
from .models import CAS_FAILED, MODELS, Model, Operation, json_value, make_model, plain

READ_FS = ("read", "get")
_CANONICAL = (int, str, type(None))     # json_value leaves these as they are


def operations_from_history(history: list[dict], semantics: Semantics | None = None,
                            model: Model | None = None) -> dict[Any, list[Operation]]:
    """Client ops of a history, grouped by `key` (None if absent), read per `semantics`.

    Values and keys are in `json_value` form (they compare as JSON values). Failed ops
    are dropped (they did not happen), except a failed cas when the format says it was
    observed (it compared and lost: the register was not `old` then). Reads with unknown
    results are dropped; so are reads of nil where nil is a wildcard.

    With `model`, every op (failed and unknown ones too) is first checked against what
    the model can take (`model.malformed`): an op it cannot take raises MalformedOp with
    the invoke (wrong `f` or input) or the completion (wrong output), an input error.
    """
    semantics = semantics or Semantics()
    malformed = getattr(model, "malformed", None)
    failed_cas_observed = semantics.failed_cas_observed
    nil_read_is_wildcard = semantics.nil_read_is_wildcard
    # Plain locals in the loop below: this function was 60 % of checking a 100k-op
    # register history over 10k keys (1.6 of 2.6 s, profiled), and is about half of that.
    pairs = pair_ops(history)
    by_key: dict[Any, list[Operation]] = {}
    for invoke, completion in pairs:
        ctype = completion["type"] if completion is not None else INFO
        f = invoke["f"]
        value = invoke.get("value")
        if type(value) not in _CANONICAL:
            value = json_value(value)
        known = ctype == OK or ctype == FAIL
        output = None
        if ctype == FAIL:
            if failed_cas_observed and f == "cas":
                output = CAS_FAILED
            else:
                known = None                # failed: did not happen, dropped below
        elif known:
            output = completion.get("value")
            if type(output) not in _CANONICAL:
                output = json_value(output)
        if (known is None or (not known and f in READ_FS)
                or (nil_read_is_wildcard and known and f == "read" and output is None)):
            if malformed is not None:       # dropped, but a malformed input is still an error
                what = malformed(Operation(0, f, value, None, False, invoke.get("index"), None))
                if what:
                    raise MalformedOp(invoke, what)
            continue
        hkey = invoke.get("key")
        if type(hkey) not in _CANONICAL:
            hkey = json_value(hkey)
        ops = by_key.get(hkey)
        if ops is None:
            ops = by_key[hkey] = []
        op = Operation(len(ops), f, value, output, known, invoke["index"],
                       completion["index"] if known else None, invoke.get("process"),
                       invoke.get("time"), completion.get("time") if completion else None)
        if malformed is not None:
            what = malformed(op)
            if what:    # the input's fault (named at the invoke) or the output's
                of_invoke = malformed(Operation(0, f, value, None, False, op.invoke_index, None))
                raise MalformedOp(invoke if of_invoke or output is CAS_FAILED else completion,
                                  of_invoke or what)
        ops.append(op)
    return by_key


class SearchTimeout(Exception):
    pass


class SearchMemoryLimit(Exception):
    pass


try:
    from . import _wgl
except ImportError:  # the compiled core is optional: same verdicts, slower
    _wgl = None

ENGINES = ("auto", "c", "python")
ROUND_BUDGETS_S = (0.002, 0.1, 2.0, None)
DEFAULT_MEMORY_LIMIT = 1 << 30


def compiled_core_available() -> bool:
    return _wgl is not None


def _prepare(ops: list[Operation], model: Model):
    """Events in history order, twin links and observer flags: shared by both engines.

    Only ops with a known outcome have a return event. An unknown op has no deadline: it
    may be linearized anywhere after its call, or never, so nothing in the list forces it.
    """
    events = []
    for op in ops:
        events.append((op.invoke_index, 0, op.id))
        if op.known:
            events.append((op.complete_index, 1, op.id))
    events.sort()
    # Symmetry: unknown ops with the same f and input are interchangeable (both may take
    # effect at any point after their calls, or never). Of such twins only the
    # earliest-called unlinearized one needs trying: a linearization that uses a later
    # twin and not the earlier one stays legal with the earlier one in its place (it was
    # called no later, and has no return to respect).
    twin_prev = [-1] * len(ops)
    last_twin: dict = {}
    for op in sorted(ops, key=lambda o: o.invoke_index):
        if not op.known:
            sig = (op.f, op.input)
            twin_prev[op.id] = last_twin.get(sig, -1)
            last_twin[sig] = op.id
    # Observers (ops that never change the state, e.g. reads) that are legal now are
    # linearized now, without trying alternatives: in any linearization that places such
    # an op later, it can move here (the state is the same, and we are inside its
    # interval) without affecting anything else. So if this branch fails, the node fails.
    observes = getattr(model, "is_observer", None)
    observer = [bool(observes and observes(op)) for op in ops]
    return events, twin_prev, observer


def check_operations(model: Model, ops: list[Operation], deadline: float,
                     engine: str = "auto", memory_limit: int = DEFAULT_MEMORY_LIMIT,
                     stop_at: array | None = None) -> dict:
    """WGL search over one partition with the chosen engine (auto: compiled if built).

    `stop_at` (optional) is an `array("d", [t])`: a second deadline (time.monotonic())
    that another thread may lower while the search runs; passing it raises SearchTimeout
    like `deadline`. The compiled core searches without the GIL (it takes it back only
    for a Python model's step), so partitions on different threads run in parallel.
    """
    if engine == "c" or (engine == "auto" and _wgl is not None):
        if _wgl is None:
            raise RuntimeError("the compiled core (checkers._wgl) is not built")
        return _check_compiled(model, ops, deadline, memory_limit, stop_at)
    return check_operations_python(model, ops, deadline, memory_limit, stop_at)


def _check_compiled(model: Model, ops: list[Operation], deadline: float,
                    memory_limit: int, stop_at: array | None = None) -> dict:
    return _CompiledSearch(model, ops, memory_limit).run(deadline, stop_at)


class _CompiledSearch:
    """One partition's compiled search, prepared apart from its run: preparing is Python
    work (events, prunings, the native program) that holds the GIL; the run is the core,
    which does not. So the round runner prepares keys on one thread while others search
    (preparing on the search threads too made 10,000 small keys take twice as long on 2
    threads as on one: the Python halves only contended for the GIL)."""

    def __init__(self, model: Model, ops: list[Operation], memory_limit: int):
        self.model, self.ops, self.memory_limit = model, ops, memory_limit
        self.n = n = len(ops)
        self.concurrency = 0
        if n == 0:
            return
        events, self.twin_prev, self.observer = _prepare(ops, model)
        self.events = [(kind, op_id) for _, kind, op_id in events]
        # The most ops open at once (unknown ones stay open): the search's cost grows
        # exponentially with it and only linearly with the length.
        open_now = self.concurrency = 0
        for kind, _ in self.events:
            open_now += 1 if kind == 0 else -1
            if open_now > self.concurrency:
                self.concurrency = open_now
        self.native = _native_model(model, ops)
        # the Python step, also when native: the core falls back to it for a kv string
        # with no UTF-8 form
        states: list = [model.init()]
        state_ids: dict = {states[0]: 0}
        step = model.step
        # The interned states live in Python, outside the core's own accounting: charge
        # them (with their dict and list slots) against the same limit.
        state_bytes = [0]

        def step_ids(state_id: int, op_id: int) -> int:
            legal, new_state = step(states[state_id], ops[op_id])
            if not legal:
                return -1
            sid = state_ids.get(new_state)
            if sid is None:
                state_bytes[0] += sys.getsizeof(new_state) + 100
                if state_bytes[0] > memory_limit // 2:
                    return -2          # tells the core to stop with the memory-limit status
                sid = state_ids[new_state] = len(states)
                states.append(new_state)
            return sid

        self.step_ids = step_ids

    def run(self, deadline: float, stop_at: array | None = None) -> dict:
        n = self.n
        if n == 0:
            return {"valid": True, "ops": 0}
        status, iterations, prefix = _wgl.search(
            n, self.events, self.step_ids, 0, self.observer, self.twin_prev, deadline,
            self.memory_limit, self.native, stop_at)
        if status == -1:
            raise SearchTimeout(iterations)
        if status == -2:
            raise SearchMemoryLimit(iterations)
        if status == 1:
            return {"valid": True, "ops": n, "iterations": iterations}
        return {"valid": False, "ops": n, "iterations": iterations,
                **explain(self.model, self.ops, prefix)}


def _native_model(model: Model, ops: list[Operation]):
    """The model's native program for these ops (stepped in the compiled core without
    Python or the GIL), or None: the core calls `step` through Python, once per distinct
    (state, op) pair."""
    native = getattr(model, "native", None)
    return native(ops) if native is not None else None


def check_operations_python(model: Model, ops: list[Operation], deadline: float,
                            memory_limit: int = DEFAULT_MEMORY_LIMIT,
                            stop_at: array | None = None) -> dict:
    """WGL search over one partition, pure Python. Returns {"valid": bool, ...explanation}.

    Raises SearchTimeout when `deadline` (time.monotonic()) passes, SearchMemoryLimit when
    the memo grows past `memory_limit` bytes (estimated).
    """
    n = len(ops)
    if n == 0:
        return {"valid": True, "ops": 0}
    events, twin_prev, observer = _prepare(ops, model)
    # A memo entry costs about a set slot, a tuple, an int bitset and a state.
    entry_bytes = 120 + n // 8
    # Node 0 is the head sentinel; nodes 1..len(events) are events in order; -1 ends
    # the list. An unknown op has a call node and no return node (-1).
    size = len(events) + 1
    nxt = list(range(1, size + 1))
    nxt[-1] = -1
    prv = list(range(-1, size - 1))
    is_call = [False] * size
    op_of = [0] * size
    return_node = [-1] * n
    for i, (_, kind, op_id) in enumerate(events, 1):
        op_of[i] = op_id
        if kind == 0:
            is_call[i] = True
        else:
            return_node[op_id] = i

    def unlink(x):
        p, q = prv[x], nxt[x]
        nxt[p] = q
        if q != -1:
            prv[q] = p

    def relink(x):
        p, q = prv[x], nxt[x]
        nxt[p] = x
        if q != -1:
            prv[q] = x

    step = model.step
    state = model.init()
    linearized = 0
    # The search succeeds once every known op is linearized: unknown ops still in the
    # list are left out (they never took effect).
    pending_known = size - 1 - n
    memo: set = set()
    stack: list[tuple[int, Any, bool]] = []
    best_depth = -1
    best_prefix: list[int] = []
    node = nxt[0]
    iterations = 0
    while pending_known:
        iterations += 1
        if not iterations & 0x3FF:
            now = time.monotonic()
            if now > deadline or (stop_at is not None and now > stop_at[0]):
                raise SearchTimeout(iterations)
            if len(memo) * entry_bytes > memory_limit:
                raise SearchMemoryLimit(iterations)
        if node != -1 and is_call[node]:
            op_id = op_of[node]
            twin = twin_prev[op_id]
            while twin != -1 and (linearized >> twin) & 1:
                twin = twin_prev[twin]
            if twin != -1:
                node = nxt[node]      # an earlier identical unknown op is still available
                continue
            legal, new_state = step(state, ops[op_id])
            if legal:
                new_linearized = linearized | (1 << op_id)
                memo_key = (new_linearized, new_state)
                if memo_key not in memo:
                    memo.add(memo_key)
                    stack.append((node, state, observer[op_id]))
                    state, linearized = new_state, new_linearized
                    unlink(node)
                    if return_node[op_id] != -1:
                        unlink(return_node[op_id])
                        pending_known -= 1
                    if len(stack) > best_depth:
                        best_depth = len(stack)
                        best_prefix = [op_of[entry[0]] for entry in stack]
                    node = nxt[0]
                    continue
            node = nxt[node]
        else:
            # A return of an unlinearized op, or the end of the list with known ops
            # still pending (only unknown calls, none of which leads anywhere): backtrack.
            forced = True
            while forced:       # undo forced observers: their node has no alternative
                if not stack:
                    return {"valid": False, "ops": n, "iterations": iterations,
                            **explain(model, ops, best_prefix)}
                node, state, forced = stack.pop()
                op_id = op_of[node]
                linearized &= ~(1 << op_id)
                if return_node[op_id] != -1:
                    relink(return_node[op_id])
                    pending_known += 1
                relink(node)
            node = nxt[node]
    return {"valid": True, "ops": n, "iterations": iterations}


PREFIX_KEPT = 100


def explain(model: Model, ops: list[Operation], prefix: list[int]) -> dict:
    """Why the search failed, from the longest linearizable prefix it found.

    After that prefix, the earliest-completing op not in it is the one that cannot be
    linearized: every op invoked before that completion is a candidate to go next, and
    none of them is legal in the state the prefix leaves (or each leads to a dead end).

    The result keeps the prefix's last PREFIX_KEPT ops (`prefix_length` counts them all)
    and the state before and after each: a failure late in a long key would otherwise
    carry the whole key into results.json.
    """
    state = model.init()
    kept_from = max(0, len(prefix) - PREFIX_KEPT)
    states = [model.describe_state(state)] if kept_from == 0 else []
    for i, op_id in enumerate(prefix):
        _, state = model.step(state, ops[op_id])
        if i + 1 >= kept_from:
            states.append(model.describe_state(state))
    done = set(prefix)
    remaining = [op for op in ops if op.id not in done]
    blocking = min((op for op in remaining if op.complete_index is not None),
                   key=lambda op: op.complete_index, default=None)
    concurrent = []
    if blocking is not None:
        concurrent = [op for op in remaining
                      if op.invoke_index < blocking.complete_index and op.id != blocking.id]

    def describe(op):
        return {"process": op.process, "f": op.f, "value": plain(op.input),
                "output": plain(op.output) if op.known else None, "known": op.known,
                "invoke_index": op.invoke_index, "complete_index": op.complete_index,
                "description": model.describe_op(op)}

    return {
        "op": describe(blocking) if blocking else None,
        "state": model.describe_state(state),
        "linearized_prefix": [describe(ops[i]) for i in prefix[kept_from:]],
        "prefix_length": len(prefix),
        "prefix_states": states,
        "concurrent": [describe(op) for op in concurrent[:20]],
        "message": _message(model, blocking, len(prefix), model.describe_state(state), None),
    }


def with_frontier(model: Model, ops: list[Operation], failure: dict) -> dict:
    """`failure` (from `explain`) with what `failure_frontier` adds: `possible_states`
    (with `possible_states_complete`), the message naming them, and its `concurrent` ops
    split into those that could go next in some possible state and `also_blocked`, those
    illegal in every one (offering those as alternatives misleads). Costs a bounded
    search, so check_history does it only for the failures it reports."""
    blocked = failure.get("op")
    by_invoke = {op.invoke_index: op for op in ops}
    blocking = by_invoke.get(blocked.get("invoke_index")) if blocked else None
    if blocking is None or blocking.complete_index is None:
        return failure
    frontier = failure_frontier(model, ops, blocking)
    out = {**failure, "possible_states": _possible_states(model, frontier)[:50],
           "possible_states_complete": frontier["complete"]}
    state_text = (failure.get("prefix_states") or [failure.get("state")])[-1]
    out["message"] = _message(model, blocking, failure.get("prefix_length", 0), state_text,
                              frontier)
    if frontier["complete"]:
        concurrent = failure.get("concurrent") or []
        could = frontier["could_go_next"]
        out["concurrent"] = [c for c in concurrent
                             if by_invoke.get(c.get("invoke_index")) is not None
                             and by_invoke[c["invoke_index"]].id in could]
        out["also_blocked"] = [c for c in concurrent if c not in out["concurrent"]]
    return out


def _possible_states(model, frontier) -> list[str]:
    """The frontier's states as the model describes them, numbers in numeric order."""
    def order(text):
        try:
            return (0, float(text), text)
        except ValueError:
            return (1, 0.0, text)
    return sorted({model.describe_state(st) for st in frontier["states"]}, key=order)


def _message(model, blocking, prefix_length, state, frontier) -> str:
    """`state` is the state after the longest prefix (`prefix_length` ops), as the model
    describes it."""
    if blocking is None:
        return "no linearization found"
    message = f"{model.describe_op(blocking)} (process {blocking.process}) cannot be linearized: "
    possible = _possible_states(model, frontier) if frontier else []
    if frontier and frontier["complete"] and possible:
        shown = ", ".join(possible[:10]) + (f" (and {len(possible) - 10} more)"
                                            if len(possible) > 10 else "")
        return (message + f"by its completion the state can only be {shown} "
                f"(after the longest linearizable prefix, {prefix_length} ops, it is {state})")
    return (message + f"after the longest linearizable prefix ({prefix_length} ops) the state "
            f"is {state}")


# Configurations the frontier may explore per reported failure. Of the 60 failures the
# corpora's invalid histories report (Porcupine etcd and kv, Knossos, c50-bad), 55 are
# complete within 500, 57 within 1,000 and 2,000, 58 within 5,000, 59 within 20,000
# (frontiers in completion-order dives, measured); each 1,000 costs about 2 ms where the
# search is wide (c50-bad).
FRONTIER_BUDGET = 1_000


def failure_frontier(model: Model, ops: list[Operation], blocking: Operation,
                     budget: int = FRONTIER_BUDGET) -> dict:
    """Every state the object could be in when `blocking` completes, and which other ops
    could be linearized next in one of them.

    A configuration is a set of linearized ops and the state they leave. From the empty
    one, any op invoked before `blocking` completes may be linearized next, once every
    known op that completed before its invocation is in (real time). The configurations
    that count are those in which every known op completed before `blocking` completes is
    linearized and `blocking` is not: the states of those are the possible states, and
    `blocking` is illegal in each of them (or leads to a dead end later). The longest
    prefix the search found is one of them; a reader wants all of them ("the register
    was 1 or 3, never 4").

    Explores at most `budget` configurations; `complete` is False when it stopped early
    (the states found so far are still possible ones).
    """
    deadline = blocking.complete_index
    candidates = [op for op in ops if op.invoke_index < deadline and op.id != blocking.id]
    # Bits: the known candidates in completion order, then the unknown ones. In a
    # configuration whose lowest unset bit is known op j, the enabled ops (those whose
    # real-time predecessors are all in) are exactly the unlinearized ones invoked before j
    # completes: every op completing before such an invocation completes before j, so is
    # in, and an op invoked after j completes has j as a predecessor. So each step costs
    # the ops enabled, not all candidates (measured: etcd_000's frontier 9 ms -> 1 ms).
    # Depth first, the earliest-completing op first: the first dive linearizes in
    # completion order and reaches the configurations that count at once, so the budget is
    # spent on alternatives near them (trying the unknown ops first, as the plain order
    # did, spent all of c50-bad's budget far from them and found no state).
    known = sorted((op for op in candidates if op.known), key=lambda op: op.complete_index)
    order = known + [op for op in candidates if not op.known]
    n_must = sum(1 for op in known if op.complete_index < deadline)
    if n_must >= budget or len(order) > 4 * budget:
        # Out of reach: each configuration adds one op, so none holding the n_must ops
        # is found within the budget; and the bit masks below cost candidates squared.
        return {"states": set(), "could_go_next": set(), "complete": False}
    must = (1 << n_must) - 1
    by_invoke = sorted(range(len(order)), key=lambda i: order[i].invoke_index)
    enabled_below = []          # [j]: the ops invoked before known[j] completes
    mask, at = 0, 0
    for op in known:
        while at < len(by_invoke) and order[by_invoke[at]].invoke_index < op.complete_index:
            mask |= 1 << by_invoke[at]
            at += 1
        enabled_below.append(mask)
    # past the known ops (every one in), all are enabled: one entry per bit, so the
    # lowest unset bit indexes it directly
    enabled_below.extend([(1 << len(order)) - 1] * (len(order) - len(known) + 1))
    step = model.step
    start = (0, model.init())
    seen = {start}
    todo = [start]
    states, could_go_next = set(), set()
    complete = True
    while todo:
        linearized, state = todo.pop()
        settled = linearized & must == must
        if settled:
            states.add(state)
        enabled = enabled_below[(~linearized & (linearized + 1)).bit_length() - 1] & ~linearized
        while enabled:     # highest bit first: the op completing first is tried first
            index = enabled.bit_length() - 1
            enabled ^= 1 << index
            op = order[index]
            legal, new_state = step(state, op)
            if not legal:
                continue
            if settled:
                could_go_next.add(op.id)
            nxt = (linearized | 1 << index, new_state)
            if nxt not in seen:
                if len(seen) >= budget:
                    complete = False
                    continue
                seen.add(nxt)
                todo.append(nxt)
    return {"states": states, "could_go_next": could_go_next, "complete": complete}


def _check_one(model, ops, budget, deadline, engine, memory_limit, stop_at=None, search=None):
    """One key's search within `budget` (a prepared compiled `search`, or from scratch)."""
    round_deadline = deadline if budget is None else min(deadline, time.monotonic() + budget)
    try:
        if search is not None:
            return search.run(round_deadline, stop_at)
        return check_operations(model, ops, round_deadline, engine, memory_limit, stop_at)
    except SearchTimeout:
        # Stopped early because another key settled the verdict: like a round budget
        # running out, the key is left for a later round (so, unchecked).
        stopped = stop_at is not None and stop_at[0] < deadline
        return "round-timeout" if round_deadline < deadline or stopped else "timeout"
    except SearchMemoryLimit:
        return "memory"


def default_jobs() -> int:
    """Threads for the partitions: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class _RoundRunner:
    """Searches the keys of one round, on `jobs` threads, and settles early.

    Once a key is found not linearizable (unless `exhaustive`), the verdict cannot change:
    what is left is a quick look for the report's other failing keys, bounded twice: each
    key gets at most SETTLED_BUDGET_S, and all of them together end SETTLED_LOOK_S (or
    SETTLED_LOOK_SHARE of the time the search had taken, if less) after the violation
    was found (keys being searched then have their `stop_at` lowered to
    that instant; keys not started by then are not searched). Keys stopped or not
    searched are left unchecked. With one job the keys are searched one after another
    (a long search on the pool's one thread while the caller waits: see `run_round`).
    Outcomes are returned by key and read in key order, so what is found does not depend
    on which thread finished first (only on what the budgets let finish, as with one job).
    """

    def __init__(self, models, partitions, deadline, engine, memory_limit, jobs, exhaustive):
        self.models, self.partitions = models, partitions
        self.deadline, self.engine, self.memory_limit = deadline, engine, memory_limit
        self.jobs, self.exhaustive = jobs, exhaustive
        self.compiled = engine == "c" or (engine == "auto" and _wgl is not None)
        self.look_ends: float | None = None      # set once a violation settles the verdict
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.in_flight: dict[Any, array] = {}

    def run_key(self, key, budget, search=None):
        stop_at = array("d", [float("inf")])
        with self.lock:
            if self.look_ends is not None:
                if time.monotonic() >= self.look_ends:
                    return "round-timeout"          # the quick look is over: unchecked
                budget = SETTLED_BUDGET_S if budget is None else min(budget, SETTLED_BUDGET_S)
                stop_at[0] = self.look_ends
            self.in_flight[key] = stop_at
        try:
            outcome = _check_one(self.models[key], self.partitions[key], budget, self.deadline,
                                 self.engine, self.memory_limit, stop_at, search)
        finally:
            with self.lock:
                del self.in_flight[key]
        if isinstance(outcome, dict) and outcome["valid"] is False and not self.exhaustive:
            with self.lock:
                if self.look_ends is None:
                    now = time.monotonic()
                    self.look_ends = now + min(SETTLED_LOOK_S,
                                               SETTLED_LOOK_SHARE * (now - self.started))
                    for other in self.in_flight.values():
                        other[0] = min(other[0], self.look_ends)
        return outcome

    def run_round(self, keys, budget, on_done) -> dict:
        if not self.compiled:                   # the Python search: one thread, inline
            outcomes = {}
            for key in keys:
                outcomes[key] = self.run_key(key, budget)
                on_done(outcomes[key])
            return outcomes
        # This thread prepares each key's search (Python, with the GIL) and the pool runs
        # them (the core, without it), a few keys ahead at most. Preparing on the pool's
        # threads made 10,000 small keys take 1.8-2.5 s on 2 threads against 0.9-1.1 s
        # on one (the Python halves only contended for the GIL). A key with few ops open
        # at once is first searched here for INLINE_BUDGET_S: such keys (most keys of a
        # big history) finish in far less, and a hand-off costs more than their search
        # (0.92 s against 0.71 s for those 10,000 keys when every key was handed off);
        # the rest go to the pool at once (a wide key rarely finishes so soon, and the
        # search would start again there). With one job too, a long search runs on the
        # pool's thread while this one waits: the core holds no GIL and checks no signal,
        # so a search run here let Ctrl-C wait until it ended (7 s on a hot key); a wait
        # is interrupted at once, and the searches are then stopped.
        pool = _search_pool(self.jobs)
        outcomes: dict = {}
        pending: set = set()

        def collect(finished):
            for future in finished:
                key, outcome = future.result()
                outcomes[key] = outcome
                on_done(outcome)

        try:
            for key in keys:
                with self.lock:
                    over = self.look_ends is not None and time.monotonic() >= self.look_ends
                if over:                            # the quick look is over: unchecked
                    outcomes[key] = "round-timeout"
                    on_done("round-timeout")
                    continue
                search = _CompiledSearch(self.models[key], self.partitions[key],
                                         self.memory_limit)
                if search.concurrency <= INLINE_MAX_CONCURRENCY:
                    quick = INLINE_BUDGET_S if budget is None else min(budget, INLINE_BUDGET_S)
                    outcome = self.run_key(key, quick, search)
                    if outcome != "round-timeout" or quick == budget:
                        outcomes[key] = outcome
                        on_done(outcome)
                        continue
                pending.add(pool.submit(self.run_prepared, key, budget, search))
                if len(pending) >= (1 if self.jobs == 1 else self.jobs * 4):
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    collect(finished)
            collect(as_completed(pending))
        except BaseException:       # e.g. Ctrl-C: stop this check's searches, then go
            for future in pending:
                future.cancel()
            with self.lock:
                self.look_ends = float("-inf")
                for stop_at in self.in_flight.values():
                    stop_at[0] = float("-inf")
            wait(pending)
            raise
        return outcomes

    def run_prepared(self, key, budget, search) -> tuple:
        return key, self.run_key(key, budget, search)


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _search_pool(jobs: int) -> ThreadPoolExecutor:
    """`jobs` search threads kept for the life of the process, shared by every check.
    Starting threads for each round cost more than a small history's whole search
    (Porcupine's c01-ok: 0.4 ms on one thread, 0.9 ms with two started per round)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(jobs)
        if pool is None:
            pool = _POOLS[jobs] = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="wgl")
        return pool


SETTLED_BUDGET_S = 0.005
INLINE_BUDGET_S = 0.0005
INLINE_MAX_CONCURRENCY = 8
SETTLED_LOOK_S = 0.003
# ... and at most this share of the time the check took to find the violation, so the look
# never costs a cheap check much: on Porcupine's c50-bad (violation found in ~6 ms) a
# flat 3 ms look was a third of the whole check
SETTLED_LOOK_SHARE = 0.1


def resolve_model(model_name: str | None, init: Any = None,
                  semantics: Semantics | None = None) -> Model:
    """The model to check against: `model_name` (default: the format's), starting at the
    user's `init` when given (ValueError if it does not fit), else at the format's initial
    value when the model can start there, else at the model's own default (an EDN file's
    register initial 0 means nothing to a kv store or a set)."""
    semantics = semantics or Semantics()
    name = model_name or semantics.default_model
    if init is not None:
        try:
            return make_model(name, init)
        except ValueError as e:
            raise ValueError(f"init does not fit the {name} model: {e}") from None
    try:
        return make_model(name, semantics.initial)
    except ValueError:
        if name not in MODELS:
            raise
        return make_model(name)


def check_history(history: list[dict], model_name: str | None = None,
                  time_limit_s: float = 60.0, model: Model | None = None,
                  semantics: Semantics | None = None, engine: str = "auto",
                  memory_limit: int = DEFAULT_MEMORY_LIMIT, progress=None,
                  exhaustive: bool = False, init: Any = None, jobs: int | None = None) -> dict:
    """Check a whole history, partitioned by key. Pure: reads the history only.

    `init` is the model's initial state as a parsed JSON value (None: the format's, see
    `resolve_model`). An op the model cannot take raises MalformedOp. A history with no
    op whose outcome is known (no client ops at all, or only failed and indeterminate
    ones) verifies nothing: its verdict is "unknown" with the reason, as Jepsen's stats
    checker would say, not a vacuous true.

    `time_limit_s` bounds the whole check and `memory_limit` (bytes) each partition's
    search; reaching either makes that partition (and so the verdict, unless another
    partition is invalid) "unknown" with the reason. `progress(done, total)` is called
    after each partition. With `exhaustive`, every key is searched even after one is
    found not linearizable.

    `jobs` threads search the partitions (None: one per core; the compiled core runs
    without the GIL; the pure-Python engine always uses one). The verdict, and with
    `exhaustive` the whole result but `elapsed_s`, is the same for every `jobs`; without
    it, which other failing keys the quick look after the first violation reaches may
    differ, as it may between two runs (it is bounded by time). Each job's search may use
    `memory_limit`, so the peak is up to `jobs` times it.
    """
    with gc_paused():   # millions of live Operations: the collector would rescan them
        return _check_history(history, model_name, time_limit_s, model, semantics, engine,
                              memory_limit, progress, exhaustive, init, jobs)


def _check_history(history, model_name, time_limit_s, model, semantics, engine,
                   memory_limit, progress, exhaustive, init, jobs) -> dict:
    semantics = semantics or Semantics()
    if model is None:
        model = resolve_model(model_name, init, semantics)
    started = time.monotonic()
    deadline = started + time_limit_s
    partitions = operations_from_history(history, semantics, model)
    for_key = getattr(model, "for_key", None)
    models = {key: for_key(key) if for_key else model for key in partitions}
    verdicts = {}
    failures = []
    unknown_keys = []
    unchecked_keys = []
    reasons = set()
    pending = sorted(partitions, key=repr)
    total, done = len(pending), [0]
    if jobs is None:
        jobs = default_jobs()
    if not (engine == "c" or (engine == "auto" and _wgl is not None)):
        jobs = 1        # the pure-Python search holds the GIL: threads would only add switches
    runner = _RoundRunner(models, partitions, deadline, engine, memory_limit, jobs, exhaustive)

    def on_done(outcome):
        if outcome != "round-timeout":
            done[0] += 1
            if progress is not None:
                progress(done[0], total)

    # Rounds of growing per-key budgets: cheap keys finish first, and once one key is
    # proven not linearizable the verdict cannot change, so (unless `exhaustive`) the
    # keys still unfinished are left unchecked instead of searched for minutes. A key
    # restarted in a later round costs at most the sum of its earlier budgets (2 ms for
    # one that needs under 0.1 s, 102 ms under 2 s): a first round of 2 ms finds a cheap
    # violation early, and budgets 20x apart or more waste less than the 10x of before
    # (measured on Porcupine's c50-ok, whose two hard keys need ~70 ms each: 91-154 ms
    # against 147-174 ms with 2 jobs, same run, load average 5-6 on 2 shared cores).
    # Against a first round of 5 ms and a quick look of 10 ms, 2 ms and 3 ms took
    # c50-bad from 26.9 to 16.9 ms and left c50-ok at 108-110 ms (best of 7, same run,
    # load average 2.2); a first round of 1 ms was no faster and cost c50-ok 12 ms more.
    for budget in ROUND_BUDGETS_S:
        unfinished = []
        outcomes = runner.run_round(pending, budget, on_done)
        for key in pending:
            outcome = outcomes[key]
            if outcome == "round-timeout":
                unfinished.append(key)
                continue
            if outcome == "timeout":
                verdicts[key] = UNKNOWN
                unknown_keys.append(key)
                reasons.add(f"time limit of {time_limit_s:g}s reached")
            elif outcome == "memory":
                verdicts[key] = UNKNOWN
                unknown_keys.append(key)
                reasons.add(f"memory limit of {memory_limit / 2**20:g} MiB reached")
            else:
                verdicts[key] = outcome["valid"]
                if outcome["valid"] is False:
                    failures.append({"key": key, **outcome})
        pending = sorted(unfinished, key=repr)
        if not pending:
            break
        if failures and not exhaustive:
            unchecked_keys = pending
            break
    failures.sort(key=lambda f: _key_order(f["key"]))   # numeric keys in numeric order
    valid = merge_valid(verdicts.values())
    n_ops = sum(len(v) for v in partitions.values())
    result = {
        "valid": valid,
        "model": model.name,
        "partitions": len(partitions),
        "ops": n_ops,
        "elapsed_s": round(time.monotonic() - started, 4),
        "failures": [{**with_frontier(models[f["key"]], partitions[f["key"]], f),
                      "key": plain(f["key"])} for f in failures[:10]],
        "invalid_keys": [plain(f["key"]) for f in failures],
    }
    if unchecked_keys:
        result["unchecked_keys"] = [plain(k) for k in unchecked_keys]
        result["unchecked_reason"] = (f"{len(unchecked_keys)} key(s) left unchecked: the "
                                      "verdict was already settled by a violation "
                                      "(pass exhaustive to search them all)")
    result["engine"] = "c" if (engine == "c" or (engine == "auto" and _wgl)) else "python"
    if unknown_keys:
        result["unknown_keys"] = [plain(k) for k in unknown_keys]
        result["unknown_reason"] = (f"{' and '.join(sorted(reasons))} on "
                                    f"{len(unknown_keys)} of {len(partitions)} keys")
    if not any(op.known for ops in partitions.values() for op in ops):
        result["valid"] = UNKNOWN
        result["unknown_reason"] = (
            "no client operations" if not any(_is_client_invoke(op) for op in history)
            else "no client operation with a known outcome: nothing to check")
    return result


def _is_client_invoke(op: dict) -> bool:
    return op.get("type") == INVOKE and is_client_op(op)


def _key_order(key):
    """Numbers first, in numeric order, then every other key by its text."""
    if isinstance(key, (int, float)) and not isinstance(key, bool):
        return (0, key, "")
    return (1, 0, repr(key))


class LinearizableChecker:
    """Checker protocol wrapper around `check_history`.

    Options (the `options` dict; declared in `options`): `model` (default: the format's,
    cas-register for our own histories), `init` (the model's initial state as a parsed
    JSON value; None: the format's default; see each model's docstring), `time_limit`
    (seconds; also read as `time_limit_s`), `memory_limit` (bytes per key and job),
    `engine`, `jobs` (threads; default the cores);
    and, from the CLI, `semantics` (the format's reading), `progress`, `exhaustive`.
    """

    name = "linearizable"
    options = (
        Option("model", "str", default=None, choices=tuple(MODELS),
               help="sequential object the history must be a linearization of "
                    "(default: the format's, cas-register for history.jsonl)"),
        Option("init", "json", default=None,
               help="the model's initial state as JSON: register/cas-register a value, "
                    "kv a string or {key: string}, set and fifo-queue a list, mutex "
                    "true/false, multi-register {register: value} or one value for all "
                    "(default: the format's, e.g. 0 for Knossos EDN, else the model's)"),
        Option("time-limit", "float", default=60.0, minimum=0,
               help="seconds for the whole check before the verdict is unknown"),
        Option("memory-limit", "int", default=DEFAULT_MEMORY_LIMIT, minimum=1,
               help="bytes the search may use per key before the verdict is unknown "
                    "(the CLI's --memory-limit is in MiB)"),
        Option("engine", "str", default="auto", choices=ENGINES,
               help="search engine: c (the compiled core), python, or auto (c if built)"),
        Option("jobs", "int", default=None, minimum=1,
               help="threads searching keys in parallel (default: the number of cores; "
                    "the python engine uses one)"),
    )

    def check(self, history: list[dict], options: dict) -> dict:
        time_limit = options.get("time_limit")
        if time_limit is None:
            time_limit = options.get("time_limit_s", 60.0)
        memory_limit = options.get("memory_limit")
        return check_history(history, options.get("model"), time_limit,
                             semantics=options.get("semantics"),
                             engine=options.get("engine") or "auto",
                             memory_limit=memory_limit or DEFAULT_MEMORY_LIMIT,
                             progress=options.get("progress"),
                             exhaustive=options.get("exhaustive", False),
                             init=options.get("init"), jobs=options.get("jobs"))

    def summary(self, result: dict) -> str:
        """E.g. "41230 ops on 312 keys, 0.12s; not linearizable on key(s) 3, 7 (2 of 312)";
        the unknown reason when there is one. Keys in numeric order when numbers."""
        partitions = result.get("partitions", 0)
        n_ops = result.get("ops", 0)
        line = (f"{n_ops} op{'s' if n_ops != 1 else ''} on {partitions} "
                f"key{'s' if partitions != 1 else ''}, {result.get('elapsed_s', 0):.2f}s")
        invalid = sorted(result.get("invalid_keys") or [], key=_key_order)
        if invalid == [None] and partitions == 1:
            line += "; not linearizable"
        elif invalid:
            shown = ", ".join(map(_show_key, invalid[:10]))
            more = ", ..." if len(invalid) > 10 else ""
            line += (f"; not linearizable on key(s) {shown}{more} "
                     f"({len(invalid)} of {partitions})")
        if result.get("unknown_reason"):
            line += f"; {result['unknown_reason']}"
        return line


def _show_key(key) -> str:
    return "nil" if key is None else key if isinstance(key, str) else \
        json.dumps(key, separators=(",", ":"))
