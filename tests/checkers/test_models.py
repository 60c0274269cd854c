"""Each model on a history it must pass and one it must flag."""

import pytest

from checkers.linearizable import check_history


def h(*events, key=None):
    out = []
    for i, (typ, process, f, value) in enumerate(events):
        op = {"index": i, "type": typ, "process": process, "f": f, "value": value}
        if key is not None:
            op["key"] = key
        out.append(op)
    return out


CASES = {
    "set": (
        [("invoke", 0, "add", 1), ("ok", 0, "add", 1), ("invoke", 1, "read", None), ("ok", 1, "read", [1])],
        [("invoke", 0, "add", 1), ("ok", 0, "add", 1), ("invoke", 1, "read", None), ("ok", 1, "read", [])],
    ),
    "fifo-queue": (
        [("invoke", 0, "enqueue", 1), ("ok", 0, "enqueue", 1), ("invoke", 0, "enqueue", 2),
         ("ok", 0, "enqueue", 2), ("invoke", 1, "dequeue", None), ("ok", 1, "dequeue", 1)],
        [("invoke", 0, "enqueue", 1), ("ok", 0, "enqueue", 1), ("invoke", 0, "enqueue", 2),
         ("ok", 0, "enqueue", 2), ("invoke", 1, "dequeue", None), ("ok", 1, "dequeue", 2)],
    ),
    "mutex": (
        [("invoke", 0, "acquire", None), ("ok", 0, "acquire", None), ("invoke", 0, "release", None),
         ("ok", 0, "release", None), ("invoke", 1, "acquire", None), ("ok", 1, "acquire", None)],
        [("invoke", 0, "acquire", None), ("ok", 0, "acquire", None), ("invoke", 1, "acquire", None),
         ("ok", 1, "acquire", None)],
    ),
    "multi-register": (
        [("invoke", 0, "txn", [["w", "x", 1], ["w", "y", 2]]), ("ok", 0, "txn", [["w", "x", 1], ["w", "y", 2]]),
         ("invoke", 1, "txn", [["r", "x", None], ["r", "y", None]]), ("ok", 1, "txn", [["r", "x", 1], ["r", "y", 2]])],
        [("invoke", 0, "txn", [["w", "x", 1], ["w", "y", 2]]), ("ok", 0, "txn", [["w", "x", 1], ["w", "y", 2]]),
         ("invoke", 1, "txn", [["r", "x", None], ["r", "y", None]]), ("ok", 1, "txn", [["r", "x", 1], ["r", "y", None]])],
    ),
    "kv": (
        [("invoke", 0, "append", "a"), ("ok", 0, "append", "a"), ("invoke", 0, "append", "b"),
         ("ok", 0, "append", "b"), ("invoke", 1, "get", None), ("ok", 1, "get", "ab")],
        [("invoke", 0, "append", "a"), ("ok", 0, "append", "a"), ("invoke", 0, "append", "b"),
         ("ok", 0, "append", "b"), ("invoke", 1, "get", None), ("ok", 1, "get", "ba")],
    ),
    "register": (
        [("invoke", 0, "write", 1), ("ok", 0, "write", 1), ("invoke", 1, "read", None), ("ok", 1, "read", 1)],
        [("invoke", 0, "write", 1), ("ok", 0, "write", 1), ("invoke", 1, "cas", [1, 2]), ("ok", 1, "cas", [1, 2])],
    ),
}


@pytest.mark.parametrize("engine", ["c", "python"])
@pytest.mark.parametrize("model", sorted(CASES))
def test_model_passes_the_good_history_and_flags_the_bad_one(model, engine):
    good, bad = CASES[model]
    assert check_history(h(*good), model, engine=engine)["valid"] is True
    result = check_history(h(*bad), model, engine=engine)
    assert result["valid"] is False and result["failures"][0]["message"]


def test_unfinished_keys_are_left_unchecked_once_a_violation_settles_the_verdict():
    from checkers import linearizable
    bad = h(("invoke", 0, "write", 1), ("ok", 0, "write", 1), ("invoke", 1, "read", None),
            ("ok", 1, "read", 2), key="a")
    hard = []
    for p in range(24):
        hard.append({"type": "invoke", "process": 100 + p, "f": "write", "value": p, "key": "b"})
    for p in range(24):
        hard.append({"type": "info", "process": 100 + p, "f": "write", "value": p, "key": "b"})
    hard += [{"type": "invoke", "process": 99, "f": "read", "value": None, "key": "b"},
             {"type": "ok", "process": 99, "f": "read", "value": 77, "key": "b"}]
    history = bad + hard
    for i, op in enumerate(history):
        op["index"] = i
    old = linearizable.ROUND_BUDGETS_S
    linearizable.ROUND_BUDGETS_S = (0.0001, None)
    try:
        result = check_history(history, engine="python", time_limit_s=30)
    finally:
        linearizable.ROUND_BUDGETS_S = old
    assert result["valid"] is False and result["invalid_keys"] == ["a"]
    assert result["unchecked_keys"] == ["b"]


# ---------------------------------------------------------------- kv against brute force
import time  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from checkers.linearizable import check_operations, operations_from_history  # noqa: E402
from checkers.models import KV  # noqa: E402
from harness.formats import Semantics  # noqa: E402

from .brute_force import brute_force, interleave  # noqa: E402


@st.composite
def kv_histories(draw):
    n = draw(st.integers(1, 5))
    events = []
    for p in range(n):
        f = draw(st.sampled_from(["get", "put", "append"]))
        outcome = draw(st.sampled_from(["ok", "ok", "info"]))
        value = None if f == "get" else draw(st.sampled_from(["a", "b", "ab"]))
        out = draw(st.sampled_from(["", "a", "b", "ab", "ba", "aa"])) if f == "get" else value
        events.append(("invoke", p, f, value))
        events.append((outcome, p, f, out))
    return h(*interleave(events, draw(st.permutations(range(len(events))))))


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kv_histories())
def test_kv_native_and_python_steps_agree_with_brute_force(history):
    ops = operations_from_history(history, Semantics(default_model="kv", initial="")).get(None, [])
    expected = brute_force(KV(), ops)
    for engine in ("c", "python"):
        got = check_operations(KV(), ops, time.monotonic() + 10, engine)["valid"] if ops else True
        assert got == expected, engine


# ---------------------------------------------------------------- initial state from the user
# Issue 9.13: `init` (a parsed JSON value) sets the model's initial state; None keeps the
# format's default.

from checkers import MalformedOp  # noqa: E402,F401
from checkers.linearizable import LinearizableChecker  # noqa: E402


def run(model, events, init=None, semantics=None):
    return LinearizableChecker().check(h(*events), {"model": model, "init": init,
                                                    "semantics": semantics})["valid"]


READ_X0_Y0 = [("invoke", 0, "txn", [["r", "x", None], ["r", "y", None]]),
              ("ok", 0, "txn", [["r", "x", 0], ["r", "y", 0]])]


@pytest.mark.parametrize("model, events, init", [
    ("cas-register", [("invoke", 0, "read", None), ("ok", 0, "read", 0)], 0),
    ("register", [("invoke", 0, "read", None), ("ok", 0, "read", "a")], "a"),
    ("kv", [("invoke", 0, "get", None), ("ok", 0, "get", "abc")], "abc"),
    ("kv", [("invoke", 0, "get", None), ("ok", 0, "get", "abc")], {"k": "abc"}),
    ("set", [("invoke", 0, "read", None), ("ok", 0, "read", [2, 1])], [1, 2]),
    ("fifo-queue", [("invoke", 0, "dequeue", None), ("ok", 0, "dequeue", 7)], [7, 8]),
    ("mutex", [("invoke", 0, "release", None), ("ok", 0, "release", None)], True),
    ("multi-register", READ_X0_Y0, {"x": 0, "y": 0}),
    ("multi-register", READ_X0_Y0, 0),
])
def test_init_sets_the_initial_state_the_default_does_not_have(model, events, init):
    if model == "kv" and isinstance(init, dict):
        keyed = [{"index": i, "type": t, "process": p, "f": f, "value": v, "key": "k"}
                 for i, (t, p, f, v) in enumerate(events)]
        checker = LinearizableChecker()
        assert checker.check(keyed, {"model": "kv"})["valid"] is False
        assert checker.check(keyed, {"model": "kv", "init": init})["valid"] is True
        other = [dict(op, key="other") for op in keyed]
        assert checker.check(other, {"model": "kv", "init": init})["valid"] is False
        return
    assert run(model, events) is False
    assert run(model, events, init) is True


def test_multi_register_init_map_names_registers_and_others_start_nil():
    events = [("invoke", 0, "txn", [["r", "x", None], ["r", "z", None]]),
              ("ok", 0, "txn", [["r", "x", 0], ["r", "z", None]])]
    assert run("multi-register", events, {"x": 0, "y": 0}) is True
    assert run("multi-register", events, 0) is False


def test_multi_register_writing_the_initial_value_back_is_the_initial_state():
    events = [("invoke", 0, "txn", [["w", "x", 1]]), ("ok", 0, "txn", [["w", "x", 1]]),
              ("invoke", 0, "txn", [["w", "x", 0]]), ("ok", 0, "txn", [["w", "x", 0]]),
              ("invoke", 0, "txn", [["r", "x", None]]), ("ok", 0, "txn", [["r", "x", 0]])]
    assert run("multi-register", events, {"x": 0}) is True


@pytest.mark.parametrize("model, init, says", [
    ("kv", 0, "kv init must be a string"),
    ("kv", {"k": 1}, "must be a string"),
    ("set", 3, "set init must be a list"),
    ("fifo-queue", {"a": 1}, "fifo-queue init must be a list"),
    ("mutex", 1, "mutex init must be true"),
    ("mutex", "free", "mutex init must be true"),
])
def test_an_init_that_does_not_fit_the_model_says_what_it_expected(model, init, says):
    with pytest.raises(ValueError, match=says):
        run(model, [("invoke", 0, "read", None)], init)


def test_a_format_default_that_does_not_fit_the_model_gives_way_to_the_model_default():
    # EDN's register initial 0 means nothing to a kv store (it crashed on the first append).
    edn = Semantics(initial=0, nil_read_is_wildcard=True)
    events = [("invoke", 0, "append", "a"), ("ok", 0, "append", "a"),
              ("invoke", 1, "get", None), ("ok", 1, "get", "a")]
    assert run("kv", events, semantics=edn) is True
    locked = [("invoke", 0, "acquire", None), ("ok", 0, "acquire", None)]
    assert run("mutex", locked, semantics=edn) is True


def test_an_explicit_init_beats_the_format_default():
    edn = Semantics(initial=0, nil_read_is_wildcard=True)
    events = [("invoke", 0, "read", None), ("ok", 0, "read", 5)]
    assert run("cas-register", events, semantics=edn) is False
    assert run("cas-register", events, 5, semantics=edn) is True


def test_every_model_documents_its_ops_and_initial_state():
    from checkers.models import MODELS
    for cls in MODELS.values():
        assert "Initial state (`init`)" in cls.__doc__, cls.name
