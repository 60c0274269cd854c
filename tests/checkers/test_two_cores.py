"""The list-append check on two cores (a forked child builds the graph and its
components while the parent finds the other anomalies) answers exactly as on one core,
and falls back to one core when the child fails."""

from __future__ import annotations

import os

import pytest

from checkers import forked, list_append
from workloads import simulated_store

MODELS = (["strict-serializable"], ["serializable"], ["snapshot-isolation", "repeatable-read"],
          ["strong-session-serializable"], ["read-committed"])


def _histories():
    yield "strict", simulated_store.list_append_history(1500, concurrency=8, key_count=6, seed=1)
    for seed in (2, 3):
        yield f"not-strict-{seed}", simulated_store.list_append_history(
            1500, concurrency=10, key_count=3, seed=seed, strict=False, max_lag=10)
    h = simulated_store.list_append_history(800, concurrency=5, key_count=8, seed=4)
    for kind in simulated_store.GADGETS:
        h = simulated_store.inject(h, kind, tag=kind)
    yield "gadgets", h


def _strip(result):
    return {k: v for k, v in result.items() if k != "elapsed_s"}


@pytest.mark.skipif(not forked.available(), reason="needs fork and two cores")
@pytest.mark.parametrize("name, history", list(_histories()), ids=lambda x: x if isinstance(x, str) else "")
def test_two_cores_answer_as_one(monkeypatch, name, history):
    for models in MODELS:
        monkeypatch.setattr(list_append, "TWO_CORES_FROM", 10**9)
        one = list_append.check(history, models, time_limit_s=120)
        monkeypatch.setattr(list_append, "TWO_CORES_FROM", 0)
        monkeypatch.setattr(forked, "core_free", lambda: True)
        started = []
        real_start = forked.start
        monkeypatch.setattr(forked, "start", lambda fn: started.append(1) or real_start(fn))
        two = list_append.check(history, models, time_limit_s=120)
        monkeypatch.setattr(forked, "start", real_start)
        assert started, "the two-core path did not run"
        assert _strip(two) == _strip(one), (name, models)


@pytest.mark.skipif(not forked.available(), reason="needs fork and two cores")
def test_a_failed_child_leaves_the_answer_to_the_parent(monkeypatch):
    history = simulated_store.list_append_history(1500, concurrency=10, key_count=3, seed=2,
                                                  strict=False, max_lag=10)
    monkeypatch.setattr(list_append, "TWO_CORES_FROM", 10**9)
    one = list_append.check(history, ["strict-serializable"])
    monkeypatch.setattr(list_append, "TWO_CORES_FROM", 0)
    monkeypatch.setattr(forked, "core_free", lambda: True)
    monkeypatch.setattr(list_append, "_graph_part", lambda txns, wanted: os._exit(9))
    two = list_append.check(history, ["strict-serializable"])
    assert _strip(two) == _strip(one) and one["valid"] is False


def test_a_child_result_comes_back_and_errors_are_reported():
    if not forked.available():
        pytest.skip("needs fork and two cores")
    assert forked.start(lambda: {"x": [1, 2]}).result(30) == {"x": [1, 2]}
    with pytest.raises(forked.ChildFailed, match="ZeroDivisionError"):
        forked.start(lambda: 1 / 0).result(30)
