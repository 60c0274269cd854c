"""Partitions searched on threads: the same verdicts for every job count and engine,
a search that runs without the GIL, and one that stops when told to."""

from __future__ import annotations

import csv
import json
import os
import random
import threading
import time
from array import array

import pytest

from checkers.linearizable import (SearchTimeout, _search_pool, check_history, check_operations,
                                   compiled_core_available, operations_from_history)
from checkers.models import make_model
from harness.formats import load

from tests.conftest import CORPUS

from .test_linearizable_oracle import Variant, simulate

pytestmark = pytest.mark.skipif(not compiled_core_available(),
                                reason="the compiled core is not built")

COMBOS = [("c", 1), ("c", 2), ("c", 4), ("python", 1), ("python", 2)]

# Many keys, so that several partitions are searched at once and some fail.
MULTI_KEY = [
    Variant("cas-register", "8 keys", keys=tuple(range(8))),
    Variant("register", "5 keys", keys=tuple("abcde")),
    Variant("kv", "6 keys", keys=tuple(f"k{i}" for i in range(6))),
    Variant("kv", "init map, 4 keys", init={"k0": "a", "1": "b"},
            keys=("k0", 1, "k2", "k3")),
    Variant("set", "5 keys", keys=tuple(range(5))),
    Variant("mutex", "4 keys", keys=tuple(range(4))),
]


def comparable(result: dict) -> str:
    """The result as bytes, without what measures time or names the engine."""
    return json.dumps({k: v for k, v in result.items() if k not in ("elapsed_s", "engine")},
                      sort_keys=True, default=repr)


def run(history, engine, jobs, exhaustive, **options):
    return check_history(history, engine=engine, jobs=jobs, exhaustive=exhaustive,
                         time_limit_s=60, **options)


@pytest.mark.parametrize("variant", MULTI_KEY, ids=repr)
def test_random_histories_get_the_same_result_for_every_job_count_and_engine(variant):
    seen = {True: 0, False: 0}
    for case in range(40):
        rng = random.Random(f"{variant!r}#jobs{case}")
        history = simulate(variant, rng, max_ops=60, max_workers=6)
        options = {"model_name": variant.model, "init": variant.init,
                   "semantics": variant.semantics}
        # Exhaustive: every key searched, so the whole result must match byte for byte.
        full = {combo: comparable(run(history, *combo, True, **options)) for combo in COMBOS}
        assert len(set(full.values())) == 1, (case, full)
        # Settling early: the verdict must match; the keys it names are true failures.
        reference = json.loads(full[COMBOS[0]])
        for combo in COMBOS:
            result = run(history, *combo, False, **options)
            assert repr(result["valid"]) == repr(reference["valid"]), (case, combo)
            assert set(map(repr, result["invalid_keys"])) <= \
                set(map(repr, reference["invalid_keys"])), (case, combo)
            if result["valid"] is not False:
                assert comparable(result) == full[COMBOS[0]], (case, combo)
        if reference["valid"] in seen:
            seen[reference["valid"]] += 1
    # Both verdicts must occur, or agreement would prove little.
    assert seen[True] >= 4 and seen[False] >= 4, seen


def corpus_files():
    files = []
    for folder in ("porcupine", "knossos"):
        with open(os.path.join(CORPUS, folder, "EXPECTED.tsv")) as f:
            for row in csv.DictReader(f, delimiter="\t"):
                files.append(pytest.param(os.path.join(CORPUS, folder, row["file"]),
                                          id=f"{folder}/{row['file']}"))
    # The multi-key kv logs and a sample of the rest (the corpus test covers every file).
    return [p for p in files if "/kv/" in p.values[0]] + files[::9]


@pytest.mark.parametrize("path", corpus_files())
def test_corpus_histories_get_the_same_result_for_every_job_count_and_engine(path):
    loaded = load(path)
    combos = COMBOS if os.path.getsize(path) < 20_000 else COMBOS[:3]
    results = {combo: comparable(run(loaded.ops, *combo, True, semantics=loaded.semantics))
               for combo in combos}
    assert len(set(results.values())) == 1, results
    verdicts = {combo: run(loaded.ops, *combo, False, semantics=loaded.semantics)["valid"]
                for combo in combos}
    assert len(set(map(repr, verdicts.values()))) == 1, verdicts


def hard_kv_ops(n_appends=28):
    """One key whose search runs for a very long time: many appends of unknown outcome,
    then a get no subset of them explains, so every subset is tried."""
    history = []
    for p in range(n_appends):
        history.append({"type": "invoke", "process": p, "f": "append", "key": "h",
                        "value": f"<{p}>"})
    history.append({"type": "invoke", "process": 999, "f": "get", "key": "h", "value": None})
    history.append({"type": "ok", "process": 999, "f": "get", "key": "h", "value": "nope"})
    for index, op in enumerate(history):
        op["index"] = index
    return history


def hard_register_ops(n_writes=20):
    """The same for a cas-register (stepped through Python): unknown writes, then a read
    of a value nobody wrote, while the writes' cas chain keeps the states distinct."""
    history = []
    for p in range(n_writes):
        history.append({"type": "invoke", "process": p, "f": "write", "value": p})
    for p in range(n_writes):
        history.append({"type": "invoke", "process": 100 + p, "f": "cas",
                        "value": [p, p + 1000]})
    history.append({"type": "invoke", "process": 999, "f": "read", "value": None})
    history.append({"type": "ok", "process": 999, "f": "read", "value": -1})
    for index, op in enumerate(history):
        op["index"] = index
    return history


@pytest.mark.parametrize("model_name, history", [("kv", hard_kv_ops()),
                                                 ("cas-register", hard_register_ops())],
                         ids=["kv (native)", "cas-register (python step)"])
def test_the_compiled_search_lets_other_threads_run_and_stops_when_told(model_name, history):
    model = make_model(model_name)
    (ops,) = operations_from_history(history, model=model).values()
    deadline = time.monotonic() + 30
    stop_at = array("d", [float("inf")])
    outcome = {}

    def search():
        try:
            outcome["result"] = check_operations(model, ops, deadline, "c", 1 << 30, stop_at)
        except SearchTimeout:
            outcome["stopped_at"] = time.monotonic()

    thread = threading.Thread(target=search)
    thread.start()
    # This thread runs Python while the search goes on: if the core held the GIL for the
    # whole search, the search would be over (at its deadline) before we got here.
    spins = 0
    while spins < 200_000:
        spins += 1
    assert thread.is_alive()
    stop_at[0] = time.monotonic()
    thread.join(timeout=35)
    assert not thread.is_alive()
    assert "stopped_at" in outcome, outcome
    assert outcome["stopped_at"] < deadline      # stop_at ended it, not the deadline


def test_one_violation_stops_the_other_keys_and_leaves_them_unchecked():
    bad = [{"type": "invoke", "process": 500, "f": "get", "key": "bad", "value": None},
           {"type": "ok", "process": 500, "f": "get", "key": "bad", "value": "x"}]
    history = hard_kv_ops() + bad
    for index, op in enumerate(history):
        op["index"] = index
    for jobs in (1, 2):
        result = check_history(history, "kv", jobs=jobs, time_limit_s=60)
        assert result["valid"] is False
        assert result["invalid_keys"] == ["bad"]
        assert result["unchecked_keys"] == ["h"]


def test_a_kv_string_without_utf8_form_is_stepped_in_python_with_the_same_verdict():
    lone = "\ud800"
    history = [{"type": "invoke", "process": 0, "f": "put", "key": "k", "value": lone},
               {"type": "ok", "process": 0, "f": "put", "key": "k", "value": lone},
               {"type": "invoke", "process": 1, "f": "get", "key": "k", "value": None},
               {"type": "ok", "process": 1, "f": "get", "key": "k", "value": lone + "x"}]
    for index, op in enumerate(history):
        op["index"] = index
    verdicts = {engine: check_history(history, "kv", engine=engine)["valid"]
                for engine in ("c", "python")}
    assert verdicts == {"c": False, "python": False}
    history[3]["value"] = lone
    assert check_history(history, "kv", engine="c")["valid"] is True


def _explosive_history(writers: int = 40) -> list[dict]:
    """One key: `writers` crashed writes of distinct values (each may take effect at any
    time, or never), then reads of 0, 1, ..., and 0 again, which nothing explains: the
    search must try every subset of the writes before each read (about 2^40)."""
    history = [{"type": "invoke", "process": p, "f": "write", "value": p} for p in range(writers)]
    history += [{"type": "info", "process": p, "f": "write", "value": p} for p in range(writers)]
    for v in list(range(writers)) + [0]:
        history += [{"type": "invoke", "process": 1000, "f": "read", "value": None},
                    {"type": "ok", "process": 1000, "f": "read", "value": v}]
    for i, op in enumerate(history):
        op["index"] = i
    return history


@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_stops_a_long_search_at_once(jobs):
    """The core checks no signal (it runs without the GIL), so the search runs on a pool
    thread while the caller waits: Ctrl-C interrupts the wait and the search is stopped.
    Searched on the caller's thread, it ran on to its limits first (7 s on a hot key)."""
    import signal
    import threading
    import time

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    # past the bounded rounds (2 ms, 0.1 s, 2 s), in the last, unbounded one
    signal.setitimer(signal.ITIMER_REAL, 2.5)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            check_history(_explosive_history(), "cas-register", time_limit_s=600,
                          memory_limit=1 << 31, jobs=jobs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    # A hang guard, not a speed target: stopped, it ends within a millisecond of the
    # signal; run on, the search fills its 2 GiB (10 s or more).
    assert time.monotonic() - started < 2.5 + 5
    # and no search is left running on the pool: every thread takes a new task
    barrier = threading.Barrier(jobs + 1)
    pool = _search_pool(jobs)
    tasks = [pool.submit(barrier.wait, 10) for _ in range(jobs)]
    barrier.wait(10)
    for task in tasks:
        task.result(timeout=10)
