"""elle-rw-register against the brute-force oracle of test_txn_oracle.py.

A register's reads do not reveal its version order, so Elle-style inference only knows
what its assumptions give it. The checker is asked as a user who knows the database
would be: --assume wfr-keys at serializable and snapshot isolation (a transaction's write
follows the version it read: true in every serializable or SI execution, so it cannot
cause a false alarm), plus linearizable-keys at strict-serializable (versions follow real
time: true in every strict serializable execution).

Classes:
* "rmw": every write is preceded, in its transaction, by a read of its key, no
  indeterminate transactions, a final read of every key. wfr-keys then gives each version
  its predecessor, so the version order is known and inference is complete: 0 false
  alarms and 0 misses.
* "general": blind writes, indeterminate and failed transactions. Knowingly incomplete,
  measured, not required: the order of two blind writes of one key is unknown (T1 writes
  x = 1, y = 1; T2 writes x = 2, y = 2; T3 reads x = 1, y = 2 is not serializable in either
  order of the writes, and no edge says so), and an indeterminate transaction's reads are
  unknown, so its writes have no known predecessor either. Only false alarms must be 0.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from checkers import rw_register
from tests.checkers.test_txn_oracle import MODELS, compare, generate, report

RW_CLASSES = {
    "rmw": (range(30_000, 31_500), {"rmw": True, "p_info": 0.0, "final_read": True}),
    "general": (range(40_000, 41_500), {"final_read": False, "p_info": 0.15,
                                        "p_late_crash": 0.3}),
}


def checker(history, models):
    [model] = models
    assume = {"wfr_keys": True}
    if model == "strict-serializable":
        assume["linearizable_keys"] = True
    return rw_register.check(history, models, **assume)


def rw_case(seed, options):
    rng = random.Random(seed)
    return generate(rng, lists=False, n_txns=rng.randint(2, 6),
                    processes=rng.randint(2, 3), **options)


@pytest.mark.parametrize("label", sorted(RW_CLASSES))
def test_rw_register_agrees_with_the_oracle(label):
    seeds, options = RW_CLASSES[label]
    tally, problems = Counter(), []
    for seed in seeds:
        problems += compare(checker, rw_case(seed, options), False, seed, label, tally)
    report(tally, problems, f"elle-rw-register vs oracle ({label})")
    assert not [p for p in problems if p["checker"] is False], "false alarm"
    if label == "rmw":
        assert not problems, "with every version's predecessor known, a miss is a bug"
    for model in MODELS:
        assert tally[(label, model, False, False)] >= 20
        assert tally[(label, model, True, True)] >= 20
