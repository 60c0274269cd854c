"""Brute-force linearizability: ground truth for the WGL search, written apart from it.

Two oracles:

* `linearizable(history, model, init, ...)`: the independent one. It reads the raw history
  itself (its own pairing of invokes with completions, its own reading of ok / fail /
  info, its own sequential specifications of every model and its own JSON equality, by
  canonical JSON text) and imports nothing from checkers/. It decides whether some total
  order of the ops respects real time and steps every object from its initial state with
  every known output matching, where each op of unknown outcome (`info`, or never
  completed) is either placed anywhere after its invocation or left out. Keys are not
  partitioned: the state is every key's state together, so compositionality is checked
  too, not assumed.
* `brute_force(model, ops)`: the older one, over the checker's own `Operation`s and
  model (it tests the search alone, given the preprocessing and the model).

The independent oracle enumerates orders depth first and stops extending a prefix as
soon as it is illegal (every order with an illegal prefix is illegal): the same orders as
enumerating every subset of the unknown ops and every permutation, without the waste. It
has no memo and no pruning beyond that, so it shares no cleverness with the search.
"""

from __future__ import annotations

import itertools
import json

# ---------------------------------------------------------------- the independent oracle


def canon(value) -> str:
    """A JSON value's canonical text: equal iff equal as JSON values (true is not 1, 1 is
    not 1.0, a map is not its list of pairs, map member order does not matter)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class _Op:
    __slots__ = ("f", "value", "out", "key", "start", "end", "required", "observed_fail")

    def __init__(self, f, value, out, key, start, end, required, observed_fail):
        self.f, self.value, self.out, self.key = f, value, out, key
        self.start, self.end, self.required = start, end, required
        self.observed_fail = observed_fail


def ops_of(history: list[dict], failed_cas_observed: bool = False) -> list[_Op]:
    """Client ops with their outcome. A process has one op outstanding; a completion
    closes it. ok: required, with its output; fail: did not happen (dropped), except a
    cas under `failed_cas_observed` (required: it compared and lost); info or no
    completion: optional, placed after its invocation or never."""
    open_ops: dict = {}
    pairs = []
    for position, event in enumerate(history):
        if event.get("process") == "nemesis":
            continue
        if event["type"] == "invoke":
            entry = [position, event, None, None]
            open_ops[event["process"]] = entry
            pairs.append(entry)
        elif event["process"] in open_ops:
            entry = open_ops.pop(event["process"])
            entry[2], entry[3] = position, event
    ops = []
    for start, invoke, end, completion in pairs:
        kind = completion["type"] if completion else "info"
        key = canon(invoke.get("key"))
        if kind == "ok":
            ops.append(_Op(invoke["f"], invoke.get("value"), completion.get("value"), key,
                           start, end, True, False))
        elif kind == "fail":
            if failed_cas_observed and invoke["f"] == "cas":
                ops.append(_Op("cas", invoke.get("value"), None, key, start, end, True, True))
        else:
            ops.append(_Op(invoke["f"], invoke.get("value"), None, key, start, None, False,
                           False))
    return ops


def initial_state(model: str, init, key_text: str):
    """The state one key starts in: the user's `init` (already resolved against the
    format's default by the caller), in the oracle's own representation."""
    if model in ("cas-register", "register"):
        return canon(init)
    if model == "kv":
        if isinstance(init, dict):
            key = json.loads(key_text)
            name = key if isinstance(key, str) else key_text
            return init.get(name, "")
        return "" if init is None else init
    if model == "set":
        return frozenset(canon(x) for x in (init or []))
    if model == "fifo-queue":
        return tuple(canon(x) for x in (init or []))
    if model == "mutex":
        return bool(init)
    if model == "multi-register":
        return ()          # registers not yet written, as sorted (name, value text) pairs
    raise KeyError(model)


def _register_start(init, name):
    if isinstance(init, dict):
        return canon(init.get(name if isinstance(name, str) else canon(name)))
    return canon(init)


def step(model: str, state, op: _Op, init, nil_read_is_wildcard: bool):
    """The next state, or None if `op` (with its output, when required) is illegal."""
    known = op.required
    f = op.f
    if model in ("cas-register", "register"):
        if f == "read":
            if not known or (nil_read_is_wildcard and op.out is None):
                return state
            return state if canon(op.out) == state else None
        if f == "write":
            return canon(op.value)
        if f == "cas" and model == "cas-register":
            old, new = op.value
            if op.observed_fail:
                return state if state != canon(old) else None
            if state == canon(old):
                return canon(new)
            return None if known else state     # an unknown cas that found another value
        return None
    if model == "kv":
        if f == "get":
            return state if (not known or op.out == state) else None
        if f == "put":
            return op.value
        if f == "append":
            return state + op.value
        return None
    if model == "set":
        if f == "add":
            return state | {canon(op.value)}
        if f == "read":
            if not known:
                return state
            return state if frozenset(canon(x) for x in op.out) == state else None
        return None
    if model == "fifo-queue":
        if f == "enqueue":
            return state + (canon(op.value),)
        if f == "dequeue":
            if not known:
                return state[1:]
            if not state:
                return state if op.out is None else None
            return state[1:] if canon(op.out) == state[0] else None
        return None
    if model == "mutex":
        if f == "acquire":
            return True if not state else None
        if f == "release":
            return False if state else None
        return None
    if model == "multi-register":
        values = dict(state)
        for kind, name, v in (op.out if known else op.value):
            current = values.get(canon(name), _register_start(init, name))
            if kind in ("r", "read"):
                if known and canon(v) != current:
                    return None
            else:
                values[canon(name)] = canon(v)
        return tuple(sorted(values.items()))
    raise KeyError(model)


def linearizable(history: list[dict], model: str, init=None, nil_read_is_wildcard=False,
                 failed_cas_observed=False) -> bool:
    """Whether `history` is linearizable for `model` starting at `init` (every key)."""
    ops = ops_of(history, failed_cas_observed)
    states = {}
    for op in ops:
        states.setdefault(op.key, initial_state(model, init, op.key))
    placed = [False] * len(ops)
    required_left = [sum(op.required for op in ops)]

    def eligible(i):
        # Real time: every required op that completed before op i was invoked goes first.
        start = ops[i].start
        return not any(not placed[j] and ops[j].required and ops[j].end < start
                       for j in range(len(ops)))

    def search() -> bool:
        if required_left[0] == 0:
            return True              # every op still unplaced is optional: left out
        for i, op in enumerate(ops):
            if placed[i] or not eligible(i):
                continue
            before = states[op.key]
            after = step(model, before, op, init, nil_read_is_wildcard)
            if after is None:
                continue
            placed[i] = True
            states[op.key] = after
            required_left[0] -= op.required
            found = search()
            placed[i] = False
            states[op.key] = before
            required_left[0] += op.required
            if found:
                return True
        return False

    return search()


def verifies_something(history: list[dict], failed_cas_observed=False,
                       nil_read_is_wildcard=False) -> bool:
    """Whether any op has a known outcome that says something (else a checker can only
    say unknown). A read of nil where nil is a wildcard says nothing, like an info read."""
    return any(op.required and not (nil_read_is_wildcard and op.f == "read" and op.out is None)
               for op in ops_of(history, failed_cas_observed))


# ---------------------------------------------------------------- over the checker's own ops


def brute_force(model, ops) -> bool:
    known = [o for o in ops if o.known]
    unknown = [o for o in ops if not o.known]
    for r in range(len(unknown) + 1):
        for chosen in itertools.combinations(unknown, r):
            for order in itertools.permutations(known + list(chosen)):
                if not respects_real_time(order):
                    continue
                state, legal = model.init(), True
                for op in order:
                    legal, state = model.step(state, op)
                    if not legal:
                        break
                if legal:
                    return True
    return False


def respects_real_time(order) -> bool:
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            # b is placed after a: illegal if b completed before a was invoked.
            if b.complete_index is not None and b.complete_index < a.invoke_index:
                return False
    return True


def interleave(events: list, order) -> list:
    """Events (invoke, completion, invoke, completion, ...) merged in an order drawn by
    hypothesis, keeping each invoke before its own completion."""
    placed, result, pending = set(), [], list(order)
    while pending:
        for i in pending:
            if i % 2 == 0 or (i - 1) in placed:
                placed.add(i)
                result.append(events[i])
                pending.remove(i)
                break
    return result
