"""Both engines against the independent brute-force oracle, for every model.

Random small histories are simulated against a correct object (1-3 workers, up to 7 ops,
each op completing ok, fail or info, crashing without a completion, its worker then going
on under a new process id, or still open at the end), and a third of them are then
corrupted (an output replaced, a fail or info turned into ok), so both verdicts come up.
Each history is checked by the whole checker (`LinearizableChecker.check`: preprocessing,
partitioning, the model, the search) with the compiled core and with the pure-Python
search, and by `brute_force.linearizable`, which shares no code with them. A history in
which no op has a known outcome must come out "unknown" (nothing was verified).

Every model in checkers.models.MODELS has variants for the format semantics and initial
states that change verdicts. Seeds are fixed (one per case, derived from its variant and
number), so a disagreement is reproducible: the assertion prints the seed and the
history.
"""

from __future__ import annotations

import json
import random

import pytest

from checkers.linearizable import LinearizableChecker
from checkers.models import MODELS
from harness.formats import Semantics

from .brute_force import canon, linearizable, verifies_something

CASES_PER_VARIANT = 600
MAX_OPS = 7
ENGINES = ("c", "python")

NUMBERS = [0, 1, 2, 1.0, True]           # 1, 1.0 and true must stay apart


class Variant:
    """A model, how the history is read (`semantics`, passed to the checker), the user's
    `init` (passed to the checker), and the initial state that is the truth (`truth_init`,
    passed to the oracle and the simulated object)."""

    def __init__(self, model, label, semantics=None, init=None, truth_init=None, keys=(None,)):
        self.model, self.label, self.keys = model, label, keys
        self.semantics = semantics or Semantics()
        self.init = init
        self.truth_init = init if init is not None else truth_init
        if self.init is None and truth_init is None and self.semantics.initial is not None:
            self.truth_init = self.semantics.initial

    def __repr__(self):
        return f"{self.model}[{self.label}]"


EDN = Semantics(initial=0, nil_read_is_wildcard=True)
ETCD = Semantics(failed_cas_observed=True)

VARIANTS = [
    Variant("cas-register", "jsonl"),
    Variant("cas-register", "edn: starts at 0, nil reads are wildcards", EDN),
    Variant("cas-register", "etcd: a failed cas compared and lost", ETCD),
    Variant("cas-register", "init 1.0", init=1.0),
    Variant("cas-register", "keys 1, \"1\", true", keys=(1, "1", True)),
    Variant("register", "jsonl"),
    Variant("register", "edn", EDN),
    Variant("register", "init true", init=True, keys=(None, 2)),
    Variant("kv", "default", keys=("k", 1)),
    Variant("kv", "init a", init="a"),
    Variant("kv", "init map", init={"k": "a", "1": "b"}, keys=("k", 1, "z")),
    Variant("set", "default"),
    Variant("set", "init [1, true]", init=[1, True]),
    Variant("fifo-queue", "default"),
    Variant("fifo-queue", "init [1, 1.0]", init=[1, 1.0]),
    Variant("mutex", "default"),
    Variant("mutex", "init held", init=True),
    Variant("multi-register", "default"),
    Variant("multi-register", "init {x: 0, y: 0}", init={"x": 0, "y": 0}),
    Variant("multi-register", "edn: every register starts at 0", EDN),
]


def events(*spec, key=None):
    out = []
    for index, (kind, process, f, value) in enumerate(spec):
        out.append({"index": index, "type": kind, "process": process, "f": f, "value": value})
        if key is not None:
            out[-1]["key"] = key
    return out


@pytest.mark.parametrize("model, history, expected", [
    ("mutex", events(("invoke", 0, "acquire", None), ("ok", 0, "acquire", None),
                     ("invoke", 1, "acquire", None)), True),
    ("mutex", events(("invoke", 0, "acquire", None), ("ok", 0, "acquire", None),
                     ("invoke", 1, "release", None), ("info", 1, "release", None),
                     ("invoke", 2, "acquire", None), ("ok", 2, "acquire", None),
                     ("invoke", 3, "acquire", None), ("ok", 3, "acquire", None)), False),
    ("register", events(("invoke", 0, "write", 1), ("ok", 0, "write", 1),
                        ("invoke", 1, "cas", [1, 2]), ("info", 1, "cas", [1, 2]),
                        ("invoke", 2, "read", None), ("ok", 2, "read", 1)), True),
    ("cas-register", events(("invoke", 0, "write", True), ("ok", 0, "write", True),
                            ("invoke", 1, "read", None), ("ok", 1, "read", 1)), False),
    ("cas-register", events(("invoke", 0, "write", 1), ("ok", 0, "write", 1),
                            ("invoke", 1, "read", None), ("ok", 1, "read", None)), False),
    ("cas-register", events(("invoke", 0, "write", 1), ("invoke", 1, "read", None),
                            ("ok", 1, "read", None), ("ok", 0, "write", 1)), True),
    ("fifo-queue", events(("invoke", 0, "enqueue", 1), ("ok", 0, "enqueue", 1),
                          ("invoke", 0, "enqueue", 2), ("ok", 0, "enqueue", 2),
                          ("invoke", 1, "dequeue", None), ("ok", 1, "dequeue", 2)), False),
    ("set", events(("invoke", 0, "add", 1), ("info", 0, "add", 1),
                   ("invoke", 1, "read", None), ("ok", 1, "read", [1.0])), False),
])
def test_the_oracle_gets_hand_checked_cases_right(model, history, expected):
    # The oracle is the truth the engines are held to: it is checked by hand first.
    assert linearizable(history, model) is expected


def test_every_model_in_the_registry_has_variants():
    assert {v.model for v in VARIANTS} == set(MODELS)


# ---------------------------------------------------------------- a correct object to simulate


def start_of(variant, key):
    """The simulated object's initial state for one key (plain JSON values)."""
    init = variant.truth_init
    if variant.model == "kv":
        if isinstance(init, dict):
            return init.get(key if isinstance(key, str) else canon(key), "")
        return init or ""
    if variant.model in ("set", "fifo-queue"):
        return list(init or [])
    if variant.model == "mutex":
        return bool(init)
    if variant.model == "multi-register":
        return {}
    return init


def register_value(variant, registers, name):
    if name in registers:
        return registers[name]
    init = variant.truth_init
    return init.get(name) if isinstance(init, dict) else init


def new_op(variant, rng):
    """(f, invoke value) of a random op for the model."""
    model = variant.model
    if model in ("cas-register", "register"):
        f = rng.choice(["read", "read", "write", "write", "cas"])
        if f == "read":
            return f, None
        if f == "write":
            return f, rng.choice(NUMBERS)
        return f, [rng.choice(NUMBERS), rng.choice(NUMBERS)]
    if model == "kv":
        f = rng.choice(["get", "put", "append", "append"])
        return f, None if f == "get" else rng.choice(["a", "b"])
    if model == "set":
        return ("add", rng.choice(NUMBERS)) if rng.random() < 0.6 else ("read", None)
    if model == "fifo-queue":
        return ("enqueue", rng.choice(NUMBERS)) if rng.random() < 0.55 else ("dequeue", None)
    if model == "mutex":
        return rng.choice(["acquire", "release"]), None
    mops = [[rng.choice(["r", "w"]), rng.choice(["x", "y"]), None]
            for _ in range(rng.randint(1, 2))]
    for mop in mops:
        if mop[0] == "w":
            mop[2] = rng.choice([0, 1, 2])
    return "txn", mops


def execute(variant, state, f, value, rng):
    """(next state, ok output) of a correct object, "lost" for a cas that compares and
    loses, or None when the op cannot take effect now (a lock held by another)."""
    model = variant.model
    if model in ("cas-register", "register"):
        if f == "read":
            return state, state
        if f == "write":
            return value, value
        if model == "register":
            return "lost"
        return (value[1], value) if canon(state) == canon(value[0]) else "lost"
    if model == "kv":
        if f == "get":
            return state, state
        return (value if f == "put" else state + value), value
    if model == "set":
        if f == "add":
            present = any(canon(x) == canon(value) for x in state)
            return (state if present else state + [value]), value
        elements = list(state)
        rng.shuffle(elements)
        return state, elements
    if model == "fifo-queue":
        if f == "enqueue":
            return state + [value], value
        return (state[1:], state[0]) if state else (state, None)
    if model == "mutex":
        if (f == "acquire") == bool(state):
            return None
        return f == "acquire", None
    registers = dict(state)
    out = []
    for kind, name, v in value:
        if kind == "r":
            out.append(["r", name, register_value(variant, registers, name)])
        else:
            registers[name] = v
            out.append(["w", name, v])
    return registers, out


def wrong_output(variant, f, rng):
    """Some output the op might wrongly have returned."""
    model = variant.model
    if model in ("cas-register", "register"):
        return rng.choice([None, 0, 1, 2, 1.0, True, False, {"a": 1}, [["a", 1]]])
    if model == "kv":
        return rng.choice(["", "a", "b", "ab", "ba", "aa"])
    if model == "set":
        return rng.sample([0, 1, 2, 1.0, True], rng.randint(0, 3))
    if model == "fifo-queue":
        return rng.choice([None, 0, 1, 2, 1.0, True])
    if model == "multi-register":
        return [["r", rng.choice(["x", "y"]), rng.choice([None, 0, 1, 2])]
                for _ in range(rng.randint(1, 2))]
    return None


def simulate(variant, rng, max_ops=MAX_OPS, max_workers=3) -> list[dict]:
    """A history of a correct object under concurrency and crashes, then perhaps corrupted."""
    n_workers, n_ops = rng.randint(1, max_workers), rng.randint(1, max_ops)
    states = {}
    process_of = list(range(n_workers))
    next_process = n_workers
    pending: dict = {}        # process -> op in flight
    events = []
    invoked = 0
    while True:
        idle = [w for w in range(n_workers) if process_of[w] not in pending]
        unapplied = [p for p, op in pending.items() if op["effect"] is None]
        actions = (["invoke"] * 2 if idle and invoked < n_ops else []) + \
                  (["apply"] * 2 if unapplied else []) + (["complete"] if pending else [])
        if not actions or (invoked == n_ops and rng.random() < 0.08):
            break              # whatever is still in flight stays open
        action = rng.choice(actions)
        if action == "invoke":
            worker = rng.choice(idle)
            f, value = new_op(variant, rng)
            key = rng.choice(variant.keys)
            op = {"type": "invoke", "process": process_of[worker], "f": f, "value": value}
            if key is not None:
                op["key"] = key
            events.append(op)
            pending[process_of[worker]] = {"worker": worker, "f": f, "value": value,
                                           "key": key, "effect": None}
            invoked += 1
        elif action == "apply":
            op = pending[rng.choice(unapplied)]
            if op["key"] not in states:
                states[op["key"]] = start_of(variant, op["key"])
            outcome = execute(variant, states[op["key"]], op["f"], op["value"], rng)
            if outcome == "lost":
                op["effect"] = "lost"
            elif outcome is not None:
                states[op["key"]], op["output"] = outcome
                op["effect"] = "done"
        else:
            process = rng.choice(list(pending))
            op = pending.pop(process)
            roll = rng.random()
            if op["effect"] == "done":
                kind = "ok" if roll < 0.7 else "info" if roll < 0.85 else "crash"
            else:
                kind = "fail" if roll < 0.5 else "info" if roll < 0.75 else "crash"
            if kind != "crash":
                completion = {"type": kind, "process": process, "f": op["f"],
                              "value": op["output"] if kind == "ok" else op["value"]}
                if op["key"] is not None:
                    completion["key"] = op["key"]
                events.append(completion)
            if kind in ("info", "crash"):
                process_of[op["worker"]] = next_process    # the worker goes on as a new process
                next_process += 1
    if rng.random() < 0.35:
        corrupt(variant, events, rng)
    for index, event in enumerate(events):
        event["index"] = index
        event["time"] = index * 1000
    return events


def corrupt(variant, events, rng):
    outputs = [e for e in events if e["type"] == "ok"
               and e["f"] in ("read", "get", "dequeue", "txn")]
    unsure = [e for e in events if e["type"] in ("fail", "info")]
    if outputs and (not unsure or rng.random() < 0.6):
        rng.choice(outputs)["value"] = wrong_output(variant, None, rng)
    elif unsure:
        event = rng.choice(unsure)
        event["type"] = "ok"
        if event["f"] in ("read", "get", "dequeue", "txn"):
            event["value"] = wrong_output(variant, event["f"], rng)


# ---------------------------------------------------------------- the comparison


def truth(variant, history):
    observed = variant.semantics.failed_cas_observed
    if not verifies_something(history, observed, variant.semantics.nil_read_is_wildcard):
        return "unknown"
    return linearizable(history, variant.model, variant.truth_init,
                        nil_read_is_wildcard=variant.semantics.nil_read_is_wildcard,
                        failed_cas_observed=observed)


def verdict(variant, history, engine):
    options = {"model": variant.model, "init": variant.init, "semantics": variant.semantics,
               "engine": engine, "time_limit": 30}
    return LinearizableChecker().check(history, options)["valid"]


@pytest.mark.parametrize("variant", VARIANTS, ids=repr)
def test_both_engines_agree_with_the_brute_force_oracle(variant):
    counts = {True: 0, False: 0, "unknown": 0}
    disagreements = []
    for case in range(CASES_PER_VARIANT):
        seed = f"{variant!r}#{case}"
        history = simulate(variant, random.Random(seed))
        expected = truth(variant, history)
        counts[expected] += 1
        for engine in ENGINES:
            got = verdict(variant, history, engine)
            if got != expected or type(got) is not type(expected):
                disagreements.append(
                    f"seed {seed!r}, engine {engine}: checker says {got!r}, oracle "
                    f"{expected!r}; history:\n" + "\n".join(json.dumps(e) for e in history))
    print(f"{variant!r}: {CASES_PER_VARIANT} cases x {len(ENGINES)} engines, "
          f"oracle verdicts {counts}, disagreements {len(disagreements)}")
    assert not disagreements, f"{len(disagreements)} disagreement(s); first:\n" + \
        "\n\n".join(disagreements[:3])
    # The generator must exercise both verdicts, or agreement would prove little.
    assert counts[True] >= CASES_PER_VARIANT // 10 and counts[False] >= CASES_PER_VARIANT // 20


@pytest.mark.parametrize("variant", VARIANTS, ids=repr)
def test_the_engines_agree_with_each_other_on_longer_histories(variant):
    # Beyond the oracle's reach (up to 16 ops, 5 workers): the compiled core and the
    # pure-Python search must still give the same verdict.
    for case in range(150):
        seed = f"{variant!r}#long{case}"
        history = simulate(variant, random.Random(seed), max_ops=16, max_workers=5)
        verdicts = {engine: verdict(variant, history, engine) for engine in ENGINES}
        assert len(set(map(repr, verdicts.values()))) == 1, (
            f"seed {seed!r}: {verdicts}; history:\n" + "\n".join(map(json.dumps, history)))
