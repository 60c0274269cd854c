import time

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.linearizable import (check_history, check_operations, compiled_core_available,
                                   operations_from_history)

ENGINES = ["python", "c"]


def test_the_compiled_core_is_built():
    # pip install builds it from source; a silent fallback would hide a 10x slowdown.
    assert compiled_core_available()
from checkers.models import CASRegister

from .brute_force import brute_force, interleave


def h(*events):
    """Build a history from (type, process, f, value[, key]) tuples."""
    out = []
    for i, e in enumerate(events):
        op = {"index": i, "type": e[0], "process": e[1], "f": e[2], "value": e[3], "time": i}
        if len(e) > 4:
            op["key"] = e[4]
        out.append(op)
    return out


def test_sequential_write_then_read_is_linearizable():
    assert check_history(h(("invoke", 0, "write", 1), ("ok", 0, "write", 1),
                           ("invoke", 1, "read", None), ("ok", 1, "read", 1)))["valid"] is True


def test_stale_read_after_a_completed_write_is_flagged_with_an_explanation():
    r = check_history(h(("invoke", 0, "write", 1), ("ok", 0, "write", 1),
                        ("invoke", 1, "read", None), ("ok", 1, "read", None)))
    assert r["valid"] is False
    failure = r["failures"][0]
    assert failure["op"]["f"] == "read" and failure["state"] == "1"
    assert "cannot be linearized" in failure["message"]


def test_concurrent_read_may_see_either_value():
    events = (("invoke", 0, "write", 1), ("invoke", 1, "read", None),
              ("ok", 1, "read", None), ("ok", 0, "write", 1))
    assert check_history(h(*events))["valid"] is True


def test_info_write_may_take_effect_later_or_never():
    base = [("invoke", 0, "write", 1), ("info", 0, "write", 1)]
    seen = base + [("invoke", 1, "read", None), ("ok", 1, "read", 1)]
    unseen = base + [("invoke", 1, "read", None), ("ok", 1, "read", None)]
    assert check_history(h(*seen))["valid"] is True
    assert check_history(h(*unseen))["valid"] is True


# ---------------------------------------------------------------- unknown ops may never happen
# Issue 9.1: an indeterminate op used to be forced to take effect before the end, which
# is only right when it is legal in every state.

@pytest.mark.parametrize("engine", ENGINES)
def test_a_blocked_acquire_at_the_end_of_a_lock_test_is_left_out(engine):
    history = h(("invoke", 0, "acquire", None), ("ok", 0, "acquire", None),
                ("invoke", 1, "acquire", None))          # blocked: never completes
    assert check_history(history, "mutex", engine=engine)["valid"] is True
    timed_out = history + [{"index": 3, "type": "info", "process": 1, "f": "acquire",
                            "value": None, "time": 3}]
    assert check_history(timed_out, "mutex", engine=engine)["valid"] is True


@pytest.mark.parametrize("engine", ENGINES)
def test_an_unknown_op_illegal_everywhere_never_took_effect(engine):
    # A register cannot cas: an info cas did not happen, and the read sees the write.
    history = h(("invoke", 0, "write", 1), ("ok", 0, "write", 1),
                ("invoke", 1, "cas", [1, 2]), ("info", 1, "cas", [1, 2]),
                ("invoke", 2, "read", None), ("ok", 2, "read", 1))
    assert check_history(history, "register", engine=engine)["valid"] is True


@pytest.mark.parametrize("engine", ENGINES)
def test_an_unknown_op_still_cannot_explain_an_impossible_read(engine):
    history = h(("invoke", 0, "acquire", None), ("ok", 0, "acquire", None),
                ("invoke", 1, "release", None), ("info", 1, "release", None),
                ("invoke", 2, "acquire", None), ("ok", 2, "acquire", None),
                ("invoke", 3, "acquire", None), ("ok", 3, "acquire", None))
    # One unknown release can free the lock once, not twice.
    assert check_history(history, "mutex", engine=engine)["valid"] is False


@pytest.mark.parametrize("engine", ENGINES)
def test_a_history_of_only_unknown_ops_is_linearizable(engine):
    history = h(("invoke", 0, "release", None), ("info", 0, "release", None),
                ("invoke", 1, "release", None))
    ops = operations_from_history(history)[None]
    from checkers.models import Mutex
    assert check_operations(Mutex(), ops, time.monotonic() + 10, engine)["valid"] is True


def test_failed_write_never_happened():
    r = check_history(h(("invoke", 0, "write", 1), ("fail", 0, "write", 1),
                        ("invoke", 1, "read", None), ("ok", 1, "read", 1)))
    assert r["valid"] is False


def test_cas_semantics():
    ok = h(("invoke", 0, "write", 1), ("ok", 0, "write", 1),
           ("invoke", 0, "cas", [1, 2]), ("ok", 0, "cas", [1, 2]),
           ("invoke", 1, "read", None), ("ok", 1, "read", 2))
    assert check_history(ok)["valid"] is True
    bad = h(("invoke", 0, "write", 1), ("ok", 0, "write", 1),
            ("invoke", 0, "cas", [3, 2]), ("ok", 0, "cas", [3, 2]))
    assert check_history(bad)["valid"] is False


def test_keys_are_checked_independently():
    r = check_history(h(("invoke", 0, "write", 1, "a"), ("ok", 0, "write", 1, "a"),
                        ("invoke", 1, "read", None, "b"), ("ok", 1, "read", None, "b"),
                        ("invoke", 1, "read", None, "a"), ("ok", 1, "read", 2, "a")))
    assert r["valid"] is False and r["invalid_keys"] == ["a"] and r["partitions"] == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_time_limit_gives_unknown_not_a_hang(engine):
    # Many concurrent unknown writes and reads that force deep backtracking.
    events = []
    for p in range(40):
        events.append(("invoke", p, "write", p))
    for p in range(40):
        events.append(("info", p, "write", p))
    for p in range(40, 60):
        events.append(("invoke", p, "read", None))
    for p in range(40, 60):
        events.append(("ok", p, "read", 99))  # never written: forces full exploration
    started = time.monotonic()
    r = check_history(h(*events), time_limit_s=0.3, engine=engine)
    assert r["valid"] == "unknown" and "time limit" in r["unknown_reason"]
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("engine", ENGINES)
def test_memory_limit_gives_unknown_not_a_crash(engine):
    events = [("invoke", p, "write", p) for p in range(30)] + \
             [("info", p, "write", p) for p in range(30)] + \
             [("invoke", 99, "read", None), ("ok", 99, "read", 1000)]
    r = check_history(h(*events), time_limit_s=30, engine=engine, memory_limit=2 << 20)
    assert r["valid"] == "unknown" and "memory limit of 2 MiB" in r["unknown_reason"]


# ---------------------------------------------------------------- brute force comparison

@st.composite
def small_histories(draw):
    n_ops = draw(st.integers(1, 5))
    kinds = draw(st.lists(st.sampled_from(["read", "write", "cas"]), min_size=n_ops, max_size=n_ops))
    outcomes = draw(st.lists(st.sampled_from(["ok", "ok", "ok", "info", "fail"]),
                             min_size=n_ops, max_size=n_ops))
    events = []
    for p, (f, outcome) in enumerate(zip(kinds, outcomes)):
        if f == "read":
            value, out = None, draw(st.sampled_from([None, 0, 1, 2]))
        elif f == "write":
            value = out = draw(st.integers(0, 2))
        else:
            value = out = [draw(st.integers(0, 2)), draw(st.integers(0, 2))]
        events.append(("invoke", p, f, value))
        events.append((outcome, p, f, out))
    return h(*interleave(events, draw(st.permutations(list(range(len(events)))))))


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_histories())
def test_both_engines_agree_with_brute_force(history):
    model = CASRegister()
    parts = operations_from_history(history)
    ops = parts.get(None, [])
    expected = brute_force(model, ops)
    for engine in ENGINES:
        got = check_operations(model, ops, time.monotonic() + 10, engine)["valid"] if ops else True
        assert got == expected, engine


@st.composite
def keyed_histories(draw):
    """Two keys, interleaved, with etcd-style observed cas failures on some ops."""
    parts = [draw(small_histories()) for _ in range(2)]
    merged = []
    for key, part in enumerate(parts):
        for op in part:
            merged.append(dict(op, key=key, process=(key, op["process"])))
    order = draw(st.permutations(range(len(merged))))
    # Keep each key's own order while interleaving the two.
    by_key = {0: [op for op in merged if op["key"] == 0], 1: [op for op in merged if op["key"] == 1]}
    out = []
    for i in order:
        k = merged[i]["key"]
        if by_key[k]:
            out.append(by_key[k].pop(0))
    for k in (0, 1):
        out.extend(by_key[k])
    for i, op in enumerate(out):
        op["index"] = i
    return out


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keyed_histories(), st.booleans())
def test_several_keys_and_observed_cas_failures_agree_with_brute_force(history, observed):
    from harness.formats import Semantics
    semantics = Semantics(failed_cas_observed=observed)
    model = CASRegister()
    parts = operations_from_history(history, semantics)
    expected = all(brute_force(model, ops) for ops in parts.values())
    for engine in ENGINES:
        got = check_history(history, semantics=semantics, engine=engine)["valid"]
        assert got is expected, engine
