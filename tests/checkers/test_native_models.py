"""The models the compiled core steps natively (register, cas-register, mutex, kv) mean
exactly what their Python `step` means.

Two checks: each native op code, read as checkers/_wgl.c reads it, gives the same
transition as `step` from every state; and the compiled search over random histories
gives the same verdict, iteration count and longest prefix with the native program as
with the Python step (the search is deterministic, so any difference in any transition
it takes shows up)."""

import random

import pytest

import checkers.linearizable as lin
import checkers.models as models
from checkers.linearizable import compiled_core_available, operations_from_history
from checkers.models import (CAS_FAILED, REG_ANY, REG_EQUAL, REG_MAYBE, REG_NOT_EQUAL,
                             REG_SET, REG_SWAP, Operation, make_model)

pytestmark = pytest.mark.skipif(not compiled_core_available(), reason="compiled core not built")


def reg_step(code, a, b, state):
    """checkers/_wgl.c's reg_step, transcribed: the next state id, or -1 (illegal)."""
    return {REG_ANY: state, REG_EQUAL: state if state == a else -1, REG_SET: a,
            REG_SWAP: b if state == a else -1, REG_MAYBE: b if state == a else state,
            REG_NOT_EQUAL: state if state != a else -1}.get(code, -1)


VALUES = [None, 0, 1, 2, "x"]


def random_register_ops(rng, n, fs):
    ops = []
    for i in range(n):
        f = rng.choice(fs)
        known = rng.random() < 0.7
        value = (None if f in ("read", "acquire", "release") else rng.choice(VALUES)
                 if f == "write" else (rng.choice(VALUES), rng.choice(VALUES)))
        output = (rng.choice(VALUES) if f == "read" else
                  CAS_FAILED if f == "cas" and known and rng.random() < 0.3 else None)
        ops.append(Operation(i, f, value, output if known or output is CAS_FAILED else None,
                             known, 2 * i, 2 * i + 1 if known else None))
    return ops


@pytest.mark.parametrize("name,fs,states", [
    ("cas-register", ("read", "write", "cas"), VALUES),
    ("register", ("read", "write", "cas"), VALUES),
    ("mutex", ("acquire", "release"), [False, True]),
])
def test_each_native_op_steps_as_the_python_step(name, fs, states, monkeypatch):
    interned = []

    class Recorded(models._ValueIds):
        def __init__(self):
            super().__init__()
            interned.append(self)

    monkeypatch.setattr(models, "_ValueIds", Recorded)
    rng = random.Random(name)
    checked = 0
    for initial in states:
        model = make_model(name, initial) if initial is not None else make_model(name)
        for _ in range(20):
            ops = random_register_ops(rng, 30, fs)
            interned.clear()
            kind, initial_id, table = model.native(ops)
            assert kind == "register"
            ids = interned[0] if interned else {False: 0, True: 1}     # mutex: fixed ids
            assert initial_id == ids[model.init()]
            for op, (code, a, b) in zip(ops, table):
                for state in states:
                    state_id = ids[state] if state in ids else len(ids) + 7  # a value no op names
                    legal, after = model.step(state, op)
                    got = reg_step(code, a, b, state_id)
                    assert (got != -1) == legal, (op, state)
                    if legal:
                        assert got == (ids[after] if after in ids else state_id), (op, state)
                    checked += 1
    assert checked > 1000


def random_history(rng, model_name):
    fs = {"cas-register": ("read", "write", "cas"), "register": ("read", "write"),
          "mutex": ("acquire", "release"), "kv": ("get", "put", "append")}[model_name]
    events, open_ops, index, started = [], {}, 0, 0
    n = rng.randrange(4, 14)
    while started < n or open_ops:
        p = rng.randrange(4)
        if p in open_ops:
            f, value = open_ops.pop(p)
            kind = rng.choices(["ok", "info", "fail"], [8, 2, 1])[0]
            out = (rng.choice([0, 1, 2]) if f == "read" else rng.choice(["", "a", "ab", "b"])
                   if f == "get" else value)
            events.append({"index": index, "type": kind, "process": p, "f": f, "value": out})
        elif started < n:
            f = rng.choice(fs)
            value = {"read": None, "get": None, "write": rng.randrange(3),
                     "cas": [rng.randrange(3), rng.randrange(3)], "put": rng.choice("ab"),
                     "append": rng.choice("ab"), "acquire": None, "release": None}[f]
            open_ops[p] = (f, value)
            events.append({"index": index, "type": "invoke", "process": p, "f": f,
                           "value": value, "key": rng.randrange(2)})
            started += 1
        else:
            continue
        index += 1
    return events


@pytest.mark.parametrize("model_name", ["cas-register", "register", "mutex", "kv"])
def test_the_search_takes_the_same_path_natively_and_through_python(model_name, monkeypatch):
    rng = random.Random(model_name)
    model = make_model(model_name)
    compared = {True: 0, False: 0}
    for _ in range(300):
        for ops in operations_from_history(random_history(rng, model_name),
                                           model=model).values():
            native = lin._check_compiled(model, ops, float("inf"), 1 << 30)
            with monkeypatch.context() as m:
                m.setattr(lin, "_native_model", lambda model, ops: None)
                python = lin._check_compiled(model, ops, float("inf"), 1 << 30)
            assert native == python, ops
            compared[native["valid"]] += 1
    assert compared[True] > 50 and compared[False] > 50, compared
