"""Property tests: a correct (simulated) store always passes; each injected anomaly is
reported as its own class."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers import list_append
from workloads.simulated_store import GADGETS, inject, list_append_history

small = st.fixed_dictionaries({
    "n_txns": st.integers(1, 120), "concurrency": st.integers(1, 8),
    "key_count": st.integers(1, 6), "max_txn_length": st.integers(1, 5),
    "max_writes_per_key": st.integers(2, 12), "seed": st.integers(0, 2**31)})


@settings(max_examples=150, deadline=None)
@given(small)
def test_a_strict_serializable_store_is_valid_at_strict_serializable(params):
    history = list_append_history(strict=True, **params)
    result = list_append.check(history, ["strict-serializable"])
    assert result["valid"] in (True, "unknown"), result["anomaly-types"]
    assert not [t for t in result["anomaly-types"] if t != "empty-transaction-graph"]


@settings(max_examples=150, deadline=None)
@given(small)
def test_a_serializable_store_is_valid_at_serializable(params):
    history = list_append_history(strict=False, **params)
    result = list_append.check(history, ["serializable"])
    assert not [t for t in result["anomaly-types"] if t != "empty-transaction-graph"]


def test_stale_snapshots_are_caught_at_strict_serializable_but_not_at_serializable():
    caught = 0
    for seed in range(20):
        history = list_append_history(300, strict=False, seed=seed, max_lag=10)
        assert list_append.check(history, ["serializable"])["valid"] is True
        strict = list_append.check(history, ["strict-serializable"])
        if strict["valid"] is False:
            caught += 1
            assert all(t.endswith(("-realtime", "-process")) or t == "lost-append"
                       for t in strict["anomaly-types"])
    assert caught >= 15


@pytest.mark.parametrize("kind", sorted(GADGETS))
@pytest.mark.parametrize("seed", [1, 2])
def test_each_injected_anomaly_is_reported_as_its_class(kind, seed):
    base = list_append_history(200, seed=seed)
    assert list_append.check(base, ["strict-serializable"])["valid"] is True
    result = list_append.check(inject(base, kind), ["strict-serializable"])
    assert result["valid"] is False
    assert kind in result["anomaly-types"]
    # Nothing unrelated: only the gadget's class and what it implies.
    # (lost-update: once a later read fixes the version order, it is also a G-single cycle;
    # G2-item: the gadget runs its transactions one after another, so the second one's
    # read of y = [] after the first appended to y is also a stale read in real time, a
    # G-single-item-realtime that strong snapshot isolation rules out and G2-item does not;
    # a G-single gadget's append that the other transaction's later-begun read missed, and
    # no read saw, is also a lost-append)
    implied = {"G-single-item": {"lost-append"}, "G-single-item-realtime": {"lost-append"},
               "G2-item": {"lost-update", "G-single-item-realtime"}, "lost-update": {"G2-item", "G-single-item"}, "G1a": set(),
               "dirty-update": {"G1a"}, "incompatible-order": {"G1c", "G0"},
               "duplicate-elements": set(), "G1b": {"G-single-item"}}
    assert set(result["anomaly-types"]) <= {kind} | implied.get(kind, set())


def test_a_cycle_search_out_of_budget_is_unknown_with_the_component_noted():
    history = inject(list_append_history(100, seed=3), "G-single-item")
    # serializable: the cycle alone decides (the gadget is also a lost-append in real time)
    result = list_append.check(history, ["serializable"], time_limit_s=0)
    assert result["valid"] == "unknown"
    assert "time limit" in result["unknown_reason"]
    assert result["unknown"][0]["component_size"] >= 2 and result["unknown"][0]["component_sample"]
