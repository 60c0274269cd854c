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
    if not any(op.known for ops in parts.values() for op in ops):
        expected = "unknown"          # nothing verified: not a vacuous pass
    for engine in ENGINES:
        got = check_history(history, semantics=semantics, engine=engine)["valid"]
        assert got is expected or got == expected == "unknown", engine


# ---------------------------------------------------------------- values compare as JSON values
# Issue 9.5: Python's True == 1 == 1.0 and a map flattened to its pairs let wrong reads pass.

def write_then_read(written, read, model="cas-register", engine="c"):
    return check_history(h(("invoke", 0, "write", written), ("ok", 0, "write", written),
                           ("invoke", 1, "read", None), ("ok", 1, "read", read)),
                         model, engine=engine)["valid"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("written, read", [
    (True, 1), (1, True), (False, 0), (1, 1.0), (1.0, 1), ({"a": 1}, [["a", 1]]),
    ([["a", 1]], {"a": 1}), ([1, 2], [2, 1]), ({"a": 1}, {"a": True}), (None, False),
], ids=repr)
def test_a_read_of_a_value_of_another_json_type_is_not_linearizable(written, read, engine):
    assert write_then_read(written, read, engine=engine) is False


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("value", [True, 1.0, {"a": 1, "b": [2]}, [["a", 1]], [True, 1], "1"],
                         ids=repr)
def test_a_read_of_the_same_json_value_is_linearizable(value, engine):
    assert write_then_read(value, value, engine=engine) is True


def test_keys_of_different_json_types_are_different_keys():
    history = h(("invoke", 0, "write", 1, 1), ("ok", 0, "write", 1, 1),
                ("invoke", 1, "read", None, True), ("ok", 1, "read", None, True))
    result = check_history(history)
    assert result["partitions"] == 2 and result["valid"] is True


def test_explanations_carry_plain_json_values():
    result = check_history(h(("invoke", 0, "write", True), ("ok", 0, "write", True),
                             ("invoke", 1, "read", None), ("ok", 1, "read", {"a": 1.5})))
    failure = result["failures"][0]
    assert failure["op"]["output"] == {"a": 1.5} and failure["state"] == "true"
    assert failure["linearized_prefix"][0]["value"] is True


# ---------------------------------------------------------------- malformed input, empty histories
# Issue 9.6: a typo in `f` was reported as a violation; an empty history as valid.

from checkers import MalformedOp  # noqa: E402


@pytest.mark.parametrize("model, invoke, completion, blamed", [
    ("cas-register", ("invoke", 0, "wrte", 1), ("ok", 0, "wrte", 1), 0),
    ("cas-register", ("invoke", 0, "wrte", 1), ("fail", 0, "wrte", 1), 0),
    ("cas-register", ("invoke", 0, "cas", 1), ("info", 0, "cas", 1), 0),
    ("cas-register", ("invoke", 0, "cas", [1, 2, 3]), ("ok", 0, "cas", [1, 2, 3]), 0),
    ("register", ("invoke", 0, "add", 1), ("ok", 0, "add", 1), 0),
    ("kv", ("invoke", 0, "append", 3), ("ok", 0, "append", 3), 0),
    ("kv", ("invoke", 0, "get", None), ("ok", 0, "get", 3), 1),
    ("set", ("invoke", 0, "read", None), ("ok", 0, "read", 3), 1),
    ("set", ("invoke", 0, "insert", 3), ("ok", 0, "insert", 3), 0),
    ("fifo-queue", ("invoke", 0, "pop", None), ("ok", 0, "pop", 3), 0),
    ("mutex", ("invoke", 0, "lock", None), ("ok", 0, "lock", None), 0),
    ("multi-register", ("invoke", 0, "txn", [["w", "x"]]), ("ok", 0, "txn", [["w", "x"]]), 0),
    ("multi-register", ("invoke", 0, "txn", [["r", "x", None]]), ("ok", 0, "txn", 5), 1),
    ("multi-register", ("invoke", 0, "write", 1), ("ok", 0, "write", 1), 0),
])
def test_an_op_the_model_cannot_take_is_an_input_error_naming_the_op(model, invoke, completion,
                                                                       blamed):
    history = h(invoke, completion)
    with pytest.raises(MalformedOp) as caught:
        check_history(history, model)
    assert caught.value.op is history[blamed] and caught.value.what


def test_the_malformed_op_message_says_what_the_model_takes():
    with pytest.raises(MalformedOp, match="'wrte' is not an operation of the cas-register "
                                          r"model \(it takes read, write, cas\)"):
        check_history(h(("invoke", 0, "wrte", 1), ("ok", 0, "wrte", 1)))


@pytest.mark.parametrize("history, reason", [
    ([], "no client operations"),
    ([{"index": 0, "type": "info", "process": "nemesis", "f": "start", "value": None}],
     "no client operations"),
    (h(("invoke", 0, "write", 1), ("fail", 0, "write", 1), ("invoke", 1, "write", 2),
       ("info", 1, "write", 2)), "no client operation with a known outcome"),
])
def test_a_history_that_verifies_nothing_is_unknown_not_valid(history, reason):
    for engine in ENGINES:
        result = check_history(history, engine=engine)
        assert result["valid"] == "unknown" and reason in result["unknown_reason"]


# ---------------------------------------------------------------- the checker contract

from checkers import check_safe  # noqa: E402
from checkers.linearizable import LinearizableChecker  # noqa: E402


def test_the_checker_declares_its_options():
    names = {o.name for o in LinearizableChecker.options}
    assert names == {"model", "init", "time-limit", "memory-limit", "engine", "jobs"}
    assert all(o.help for o in LinearizableChecker.options)


def test_the_checker_honours_init_and_declared_option_names():
    history = h(("invoke", 0, "read", None), ("ok", 0, "read", 0))
    checker = LinearizableChecker()
    assert checker.check(history, {})["valid"] is False
    assert checker.check(history, {"init": 0, "time_limit": 5, "engine": "python"})["valid"] \
        is True


def test_an_init_that_does_not_fit_the_model_is_a_value_error_saying_why():
    history = h(("invoke", 0, "acquire", None), ("ok", 0, "acquire", None))
    with pytest.raises(ValueError, match="mutex init must be true"):
        LinearizableChecker().check(history, {"model": "mutex", "init": 0})


def test_malformed_ops_escape_check_safe_as_input_errors():
    with pytest.raises(MalformedOp):
        check_safe(LinearizableChecker(), h(("invoke", 0, "wrte", 1), ("ok", 0, "wrte", 1)), {})


def test_summary_has_counts_and_numerically_sorted_invalid_keys_without_the_verdict():
    events = []
    for key in (10, 2, 7):
        events += [("invoke", key, "write", 1, key), ("ok", key, "write", 1, key),
                   ("invoke", 100 + key, "read", None, key), ("ok", 100 + key, "read", 2, key)]
    events += [("invoke", 50, "read", None, 3), ("ok", 50, "read", None, 3)]
    checker = LinearizableChecker()
    result = checker.check(h(*events), {"exhaustive": True})
    summary = checker.summary(result)
    assert summary.startswith("7 ops on 4 keys, ")
    assert summary.endswith("; not linearizable on key(s) 2, 7, 10 (3 of 4)")
    assert "valid" not in summary.lower()


def test_summary_of_an_unknown_result_gives_the_reason():
    checker = LinearizableChecker()
    summary = checker.summary(checker.check([], {}))
    assert summary.startswith("0 ops on 0 keys, ") and summary.endswith("; no client operations")
