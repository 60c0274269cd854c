"""The minimal cases of issue 9 (items 7-11) for the Elle-style checkers, and the checker
contract (options, summary, MalformedOp, no client operations) for every checker the
transactional half owns."""

from __future__ import annotations

import itertools
import random

import pytest

from checkers import MalformedOp, list_append, rw_register
from checkers.bank import BankChecker
from checkers.consistency import MODELS
from checkers.counter import CounterChecker
from checkers.list_append import ListAppendChecker
from checkers.long_fork import LongForkChecker
from checkers.rw_register import RWRegisterChecker
from checkers.sets import SetChecker, SetFullChecker
from harness.options import Option
from workloads.simulated_store import inject, list_append_history


def serial(*txns):
    """(type, mops) transactions run one after another, each on its own process."""
    out = []
    for i, (t, mops) in enumerate(txns):
        out.append({"index": len(out), "type": "invoke", "process": i, "f": "txn",
                    "value": [[f, k, None if f == "r" else v] for f, k, v in mops]})
        out.append({"index": len(out), "type": t, "process": i, "f": "txn", "value": mops})
    return out


# ---- 7: real time into indeterminate transactions

def test_a_read_of_an_info_txn_that_began_after_the_reader_ended_is_not_strict():
    h = serial(("ok", [["r", "x", [1]]]), ("info", [["append", "x", 1]]))
    strict = list_append.check(h, ["strict-serializable"])
    assert strict["valid"] is False and strict["anomaly-types"] == ["G1c-realtime"]
    assert list_append.check(h, ["serializable"])["valid"] is True
    h = serial(("ok", [["r", "x", 1]]), ("info", [["w", "x", 1]]))
    assert rw_register.check(h, ["strict-serializable"])["anomaly-types"] == ["G1c-realtime"]


def test_nothing_follows_an_info_txn_in_real_time():
    """It may have taken effect arbitrarily late: a later read that misses it is fine."""
    h = serial(("info", [["append", "x", 1]]), ("ok", [["r", "x", []]]))
    assert list_append.check(h, ["strict-serializable"])["model-holds"] == {
        "strict-serializable": True}


# ---- 8: garbage reads in list-append

def test_list_append_reports_a_garbage_read():
    result = list_append.check(serial(("ok", [["r", "x", [5]]])), ["serializable"])
    assert result["valid"] is False and "garbage-read" in result["anomaly-types"]
    assert result["anomalies"]["garbage-read"][0]["element"] == 5
    # among real elements too
    h = serial(("ok", [["append", "x", 1]]), ("ok", [["r", "x", [1, 9]]]))
    assert list_append.check(h, ["read-uncommitted"])["anomaly-types"] == ["garbage-read"]


# ---- 9: per-model answers independent of the models asked

def test_g2_item_does_not_hide_a_realtime_g_single():
    """The G2-item gadget runs sequentially: its second transaction's read of y = [] after
    the first appended to y is a G-single-item-realtime. Strong snapshot isolation allows
    G2-item but not that; asking serializable too must not hide it."""
    h = inject([], "G2-item")
    alone = list_append.check(h, ["strong-snapshot-isolation"])
    both = list_append.check(h, ["serializable", "strong-snapshot-isolation"])
    assert alone["model-holds"]["strong-snapshot-isolation"] is False
    assert both["model-holds"]["strong-snapshot-isolation"] is False
    assert "G-single-item-realtime" in both["anomaly-types"]


def _histories(n):
    rng = random.Random(99)
    kinds = ["G-single-item-realtime", "G2-item", "lost-update", "G-single-item", "G1c",
             "G0", "internal"]
    for i in range(n):
        h = list_append_history(rng.randint(3, 25), concurrency=rng.randint(1, 4),
                                key_count=rng.randint(1, 3), seed=i, strict=rng.random() < 0.5,
                                max_lag=rng.randint(0, 4))
        for kind in rng.sample(kinds, rng.randint(0, 2)):
            h = inject(h, kind, tag=f"t{i}")
        yield i, h


def test_each_models_verdict_is_the_same_asked_alone_or_with_others():
    """600 random histories (stale snapshots, injected anomalies): each model's
    model-holds asked alone equals its answer asked together with every model, and with a
    random subset."""
    rng = random.Random(5)
    disagreements = []
    for i, h in _histories(600):
        together = list_append.check(h, list(MODELS))["model-holds"]
        subset = rng.sample(MODELS, rng.randint(2, 4))
        some = list_append.check(h, subset)["model-holds"]
        for m in MODELS:
            alone = list_append.check(h, [m])["model-holds"][m]
            if alone != together[m] or (m in some and some[m] != alone):
                disagreements.append((i, m, alone, together[m], some.get(m)))
    assert not disagreements, disagreements[:5]


def test_rw_register_verdicts_are_the_same_asked_alone_or_with_others():
    """400 random small rw-register histories from the oracle's faulty store."""
    from tests.checkers.test_txn_oracle import generate
    disagreements = []
    for seed in range(400):
        rng = random.Random(seed)
        h = generate(rng, lists=False, n_txns=rng.randint(2, 6), final_read=rng.random() < 0.5)
        together = rw_register.check(h, list(MODELS), wfr_keys=True)["model-holds"]
        for m in MODELS:
            alone = rw_register.check(h, [m], wfr_keys=True)["model-holds"][m]
            if alone != together[m]:
                disagreements.append((seed, m, alone, together[m]))
    assert not disagreements, disagreements[:5]


# ---- 10: rw-register versions of one key

def rmw_chain(n):
    h = []
    prev = None
    for i in range(n):
        h.append({"index": len(h), "type": "invoke", "process": 0, "f": "txn",
                  "value": [["r", "k", None], ["w", "k", i]]})
        h.append({"index": len(h), "type": "ok", "process": 0, "f": "txn",
                  "value": [["r", "k", prev], ["w", "k", i]]})
        prev = i
    return h


def test_rw_register_orders_a_long_chain_of_versions():
    result = rw_register.check(rmw_chain(3000), ["serializable"], wfr_keys=True)
    assert result["valid"] is True and result["edges"] >= 2 * 2999


def test_rw_register_out_of_time_is_unknown_with_the_reason():
    result = rw_register.check(rmw_chain(200), ["serializable"], time_limit_s=0, wfr_keys=True)
    assert result["valid"] == "unknown" and "time limit" in result["unknown_reason"]
    checker = RWRegisterChecker()
    result = checker.check(rmw_chain(200), {"time_limit_s": 0, "wfr_keys": True})
    assert result["valid"] == "unknown"


def test_the_version_reduction_equals_the_naive_one():
    """The near-linear reduction against a plain transitive reduction on random DAGs."""
    from checkers.rw_register import INIT, _reduction
    rng = random.Random(3)
    for _ in range(300):
        n = rng.randint(1, 9)
        vs = list(range(n))
        succ = {INIT: set(vs)}
        for a, b in itertools.combinations(vs, 2):
            if rng.random() < 0.3:
                succ.setdefault(a, set()).add(b)
        for v in vs:
            succ.setdefault(v, set())

        def reach(v, seen=None):
            seen = set() if seen is None else seen
            for w in succ.get(v, ()):
                if w not in seen:
                    seen.add(w)
                    reach(w, seen)
            return seen
        naive = {(a, b) for a, bs in succ.items() for b in bs
                 if not any(b in reach(c) for c in bs if c != b)}
        assert set(_reduction(succ)) == naive


# ---- 11: cheap extra catches

def test_one_transactions_appends_read_in_inverted_order():
    h = serial(("ok", [["append", "x", 1], ["append", "x", 2]]), ("ok", [["append", "x", 3]]),
               ("ok", [["r", "x", [2, 1, 3]]]))
    result = list_append.check(h, ["read-committed"])
    assert result["valid"] is False and result["anomaly-types"] == ["incompatible-order"]
    h = serial(("ok", [["append", "x", 1], ["append", "x", 2]]), ("ok", [["r", "x", [2]]]))
    assert "incompatible-order" in list_append.check(h, ["serializable"])["anomaly-types"]


def test_rw_register_future_read():
    h = serial(("ok", [["r", "x", 5], ["w", "x", 5]]))
    result = rw_register.check(h, ["read-committed"])
    assert result["valid"] is False and "future-read" in result["anomaly-types"]
    # after its own write it is an ordinary read, and another writer's 5 is no future
    assert rw_register.check(serial(("ok", [["w", "x", 5], ["r", "x", 5]])),
                             ["serializable"])["anomaly-types"] == ["empty-transaction-graph"]
    h = serial(("ok", [["w", "x", 5]]), ("ok", [["r", "x", 5], ["w", "x", 5]]))
    assert "future-read" not in rw_register.check(h, ["serializable"])["anomaly-types"]


def test_unread_appends_in_unknown_order_are_no_alarm():
    """Two concurrent appends, one read by nobody, around reads that saw neither or one:
    each model holds in some order of them, whatever order the store chose."""
    def op(i, t, p, mops):
        return {"index": i, "type": t, "process": p, "f": "txn", "value": mops}
    h = [op(0, "invoke", 0, [["append", "x", 1]]), op(1, "invoke", 1, [["append", "x", 2]]),
         op(2, "invoke", 2, [["r", "x", None]]), op(3, "ok", 2, [["r", "x", []]]),
         op(4, "invoke", 3, [["r", "x", None]]),
         op(5, "ok", 1, [["append", "x", 2]]), op(6, "ok", 0, [["append", "x", 1]]),
         op(7, "ok", 3, [["r", "x", [2]]])]
    result = list_append.check(h, list(MODELS))
    assert result["valid"] is True and all(result["model-holds"].values())
    # A read after both completed that misses one is stale: only real time says so.
    h[4:] = [h[5], h[6], op(6, "invoke", 3, [["r", "x", None]]), h[7]]
    for i, o in enumerate(h):
        o["index"] = i
    holds = list_append.check(h, list(MODELS))["model-holds"]
    assert holds["serializable"] and holds["snapshot-isolation"]
    assert not holds["strict-serializable"]


# ---- the checker contract

OWNED = [ListAppendChecker, RWRegisterChecker, CounterChecker, BankChecker, SetChecker,
         SetFullChecker, LongForkChecker]


@pytest.mark.parametrize("cls", OWNED, ids=lambda c: c.name)
def test_every_checker_declares_its_options_and_handles_no_client_ops(cls):
    assert isinstance(cls.options, tuple)
    assert all(isinstance(o, Option) and o.help for o in cls.options)
    checker = cls()
    for history in ([], [{"index": 0, "type": "info", "process": "nemesis", "f": "start"}]):
        result = checker.check(history, {})
        assert result["valid"] == "unknown"
        assert "no client operations" in (result.get("reason") or result.get("unknown_reason"))
        line = checker.summary(result)
        assert isinstance(line, str) and "no client operations" in line


def test_option_declarations_name_what_the_checkers_read():
    names = {o.name for o in RWRegisterChecker.options}
    assert {"consistency-models", "anomalies", "time-limit", "wfr-keys", "sequential-keys",
            "linearizable-keys"} <= names
    assert {o.name for o in BankChecker.options} == {"total", "accounts", "negative-balances"}
    assert {o.name for o in SetFullChecker.options} == {"linearizable"}


def test_summaries_leave_the_verdict_out():
    h = inject(list_append_history(50, seed=1), "G1c")
    result = list_append.check(h, ["serializable", "strict-serializable"])
    line = ListAppendChecker().summary(result)
    assert line.startswith(f"{result['txns']} txns") and "G1c" in line
    assert "not serializable, strict-serializable" in line
    assert not any(w in line.split() for w in ("valid", "invalid", "VALID", "INVALID"))


MALFORMED = [
    (ListAppendChecker, {"type": "ok", "f": "txn", "value": [["r", "x"]]}),
    (ListAppendChecker, {"type": "ok", "f": "txn", "value": [["write", "x", 1]]}),
    (ListAppendChecker, {"type": "ok", "f": "txn", "value": {"x": 1}}),
    (ListAppendChecker, {"type": "ok", "f": "txn", "value": [["r", "x", 3]]}),
    (RWRegisterChecker, {"type": "ok", "f": "txn", "value": [["w", "x"]]}),
    (RWRegisterChecker, {"type": "ok", "f": "txn", "value": [["append", "x", 1]]}),
    (RWRegisterChecker, {"type": "ok", "f": "txn", "value": 7}),
    (ListAppendChecker, {"type": "ok", "f": "txn", "value": [["append", ["x"], 1]]}),
    (ListAppendChecker, {"type": "ok", "f": "txn", "value": [["r", "x", [[1]]]]}),
    (RWRegisterChecker, {"type": "ok", "f": "txn", "value": [["r", {"k": 1}, 1]]}),
    (BankChecker, {"type": "invoke", "f": "transfer", "value": {"from": 1, "to": 2}}),
    (BankChecker, {"type": "ok", "f": "read", "value": {"0": "ten"}}),
    (BankChecker, {"type": "ok", "f": "read", "value": [1, 2]}),
    (BankChecker, {"type": "invoke", "f": "withdraw", "value": 3}),
    (CounterChecker, {"type": "invoke", "f": "add", "value": "three"}),
    (CounterChecker, {"type": "invoke", "f": "incr", "value": 1}),
    (SetChecker, {"type": "invoke", "f": "remove", "value": 1}),
    (SetFullChecker, {"type": "ok", "f": "read", "value": 4}),
    (LongForkChecker, {"type": "ok", "f": "txn", "value": [["r", 1]]}),
]


@pytest.mark.parametrize("cls,op", MALFORMED, ids=lambda x: getattr(x, "name", None))
def test_malformed_ops_raise_malformed_op_with_the_op(cls, op):
    op = {"index": 0, "process": 0, **op}
    history = [op] if op["type"] == "invoke" else [
        {"index": 0, "process": 0, "type": "invoke", "f": op["f"], "value": None}, op]
    for i, o in enumerate(history):
        o["index"] = i
    with pytest.raises(MalformedOp) as e:
        cls().check(history, {})
    assert e.value.op is op and e.value.what


def _la(*ops):
    """History from (process, type, value) triples, in order, with index and time."""
    return [{"index": i, "time": i * 1_000_000_000, "process": p, "type": t, "f": "txn",
             "value": v} for i, (p, t, v) in enumerate(ops)]


def test_an_acknowledged_append_no_later_read_saw_is_a_lost_append():
    h = _la((0, "invoke", [["append", 1, 1]]), (0, "ok", [["append", 1, 1]]),
            (1, "invoke", [["append", 1, 2]]), (1, "ok", [["append", 1, 2]]),
            (0, "invoke", [["append", 1, 3]]), (0, "ok", [["append", 1, 3]]),
            (2, "invoke", [["r", 1, None]]), (2, "ok", [["r", 1, [1, 3]]]))
    result = list_append.check(h, ["strict-serializable"])
    assert result["valid"] is False and "lost-append" in result["anomaly-types"]
    lost = result["anomalies"]["lost-append"]
    assert [(a["key"], a["element"], a["op"], a["read"]) for a in lost] == [(1, 2, 3, 7)]
    assert lost[0]["acknowledged_s"] == 3.0
    # Without real-time order the append may be serialized after the read.
    assert "lost-append" not in list_append.check(h, ["serializable"])["anomaly-types"]


def test_an_append_concurrent_with_the_last_read_or_unacknowledged_is_not_lost():
    # The only read of key 1 began before the append of 2 was acknowledged; the append of
    # 5 was never acknowledged (info), and a read after it missed it: neither is lost.
    h = _la((1, "invoke", [["append", 1, 2]]), (2, "invoke", [["r", 1, None]]),
            (1, "ok", [["append", 1, 2]]), (2, "ok", [["r", 1, []]]),
            (3, "invoke", [["append", 2, 5]]), (3, "info", [["append", 2, 5]]),
            (4, "invoke", [["r", 2, None]]), (4, "ok", [["r", 2, []]]))
    result = list_append.check(h, ["strict-serializable"])
    assert result["valid"] is True, result["anomaly-types"]
