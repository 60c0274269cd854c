"""`validated_transactions` (one pass) answers as `validate_txn_ops` then `transactions`
(two passes) did: the same transactions, or the same error about the same op."""

from __future__ import annotations

import random

from checkers import MalformedOp
from checkers.transactions import (LISTS, SCALARS, transactions, validate_txn_ops,
                                   validated_transactions)

READS, APPENDS = frozenset(("r",)), frozenset(("append",))


def _value(rng):
    c = rng.random()
    if c < 0.05:
        return None
    if c < 0.08:
        return "not micro-ops"
    mops = []
    for _ in range(rng.randint(0, 3)):
        f = rng.choice(["r", "append", "x"] if rng.random() < 0.1 else ["r", "append"])
        k = rng.choice([1, 2, "k", [1]] if rng.random() < 0.05 else [1, 2, "k"])
        v = rng.choice([None, [1], 3, "s", [1, 2]])
        mops.append([f, k, v] if rng.random() > 0.03 else [f, k])
    return mops


def _history(rng):
    history = []
    for i in range(rng.randint(0, 12)):
        op = {"index": i, "type": rng.choice(["invoke", "ok", "fail", "info"]),
              "process": rng.choice([0, 1, 2, "nemesis"]),
              "f": rng.choice(["txn"] * 8 + ["other"])}
        if rng.random() < 0.8:
            op["value"] = _value(rng)
        history.append(op)
    return history


def _fields(txns):
    return [(t.id, t.type, t.process, t.mops, t.invoke_index, t.complete_index) for t in txns]


def _two_passes(history):
    try:
        if not validate_txn_ops(history, "list-append", READS, APPENDS, LISTS, SCALARS):
            return ("ok", [])
        return ("ok", _fields(transactions(history)))
    except MalformedOp as e:
        return ("error", id(e.op), e.what)


def _one_pass(history):
    try:
        return ("ok", _fields(validated_transactions(history, "list-append", READS, APPENDS,
                                                     LISTS, SCALARS)))
    except MalformedOp as e:
        return ("error", id(e.op), e.what)


def test_one_pass_answers_as_two():
    rng = random.Random(16)
    outcomes = set()
    for _ in range(4000):
        history = _history(rng)
        expected = _two_passes(history)
        assert _one_pass(history) == expected, history
        outcomes.add(expected[0])
    assert outcomes == {"ok", "error"}
