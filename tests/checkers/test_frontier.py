"""The failure frontier (every state the object could be in when the blocking op completes,
and the ops that could go next there) against a brute force over every legal order.

The frontier search is indexed for speed (enabled ops found from the lowest unset bit);
the brute force here follows the definition literally: linearize any op none of whose
known real-time predecessors is missing, never the blocking op, and collect the states of
every configuration holding all ops known to complete before the blocking op does."""

import random

from checkers.linearizable import failure_frontier, operations_from_history
from checkers.models import make_model


def random_history(rng: random.Random, n_ops: int) -> list[dict]:
    """Register ops on three processes: writes, reads and cas, some crashed (info) or failed."""
    events, open_ops, index = [], {}, 0
    started = 0
    while started < n_ops or open_ops:
        process = rng.randrange(3)
        if process in open_ops:
            f, value = open_ops.pop(process)
            kind = rng.choices(["ok", "info", "fail"], [8, 2, 1])[0]
            out = rng.randrange(3) if f == "read" else value
            events.append({"index": index, "type": kind, "process": process, "f": f,
                           "value": out if kind == "ok" else value})
        elif started < n_ops:
            f = rng.choice(["read", "write", "cas"])
            value = (None if f == "read" else rng.randrange(3) if f == "write"
                     else [rng.randrange(3), rng.randrange(3)])
            open_ops[process] = (f, value)
            events.append({"index": index, "type": "invoke", "process": process, "f": f,
                           "value": value})
            started += 1
        else:
            continue
        index += 1
    return events


def brute_frontier(model, ops, blocking):
    deadline = blocking.complete_index
    candidates = [op for op in ops if op.invoke_index < deadline and op.id != blocking.id]
    must = {op.id for op in candidates if op.known and op.complete_index < deadline}
    states, could = set(), set()

    def visit(done: frozenset, state):
        settled = must <= done
        if settled:
            states.add(state)
        for op in candidates:
            if op.id in done or any(p.known and p.complete_index < op.invoke_index
                                    and p.id not in done for p in candidates):
                continue
            legal, new_state = model.step(state, op)
            if legal:
                if settled:
                    could.add(op.id)
                visit(done | {op.id}, new_state)

    visit(frozenset(), model.init())
    return states, could


def test_the_frontier_matches_the_brute_force_on_random_histories():
    rng = random.Random(16)
    model = make_model("cas-register", 0)
    compared = 0
    for _ in range(400):
        history = random_history(rng, rng.randrange(3, 8))
        for ops in operations_from_history(history, model=model).values():
            for blocking in ops:
                if not blocking.known:
                    continue
                frontier = failure_frontier(model, ops, blocking)
                assert frontier["complete"]
                states, could = brute_frontier(model, ops, blocking)
                assert (frontier["states"], frontier["could_go_next"]) == (states, could), history
                compared += 1
    assert compared > 1000


def writes_then_a_bad_read(n: int) -> list[dict]:
    """`n` sequential writes of 0..n-1, then a read of -1, which nothing wrote."""
    history = []
    for i in range(n):
        history += [{"index": 2 * i, "type": "invoke", "process": 0, "f": "write", "value": i},
                    {"index": 2 * i + 1, "type": "ok", "process": 0, "f": "write", "value": i}]
    return history + [{"index": 2 * n, "type": "invoke", "process": 1, "f": "read", "value": None},
                      {"index": 2 * n + 1, "type": "ok", "process": 1, "f": "read", "value": -1}]


def test_a_failure_after_a_long_key_history_costs_no_frontier_search():
    """100,000 sequential writes then a read of a value never written: no configuration
    holding the 100,000 ops that must come first is within the budget, so the frontier
    gives up at once (it used to build a mask per op over every op: quadratic)."""
    history = writes_then_a_bad_read(100_000)
    model = make_model("cas-register")
    [ops] = operations_from_history(history, model=model).values()
    frontier = failure_frontier(model, ops, ops[-1])
    assert frontier == {"states": set(), "could_go_next": set(), "complete": False}


def test_a_long_prefix_is_kept_short_in_the_result_and_counted_whole():
    """The failure after 5,000 writes keeps the last PREFIX_KEPT prefix ops with their
    states, counts them all, and the message and report number them from the real start."""
    from checkers.linearizable import PREFIX_KEPT, check_history
    from reports import html

    history = writes_then_a_bad_read(5_000)
    result = check_history(history, model_name="cas-register")
    [failure] = result["failures"]
    assert failure["prefix_length"] == 5_000
    assert len(failure["linearized_prefix"]) == PREFIX_KEPT
    assert len(failure["prefix_states"]) == PREFIX_KEPT + 1
    assert failure["linearized_prefix"][-1]["value"] == 4_999
    assert failure["prefix_states"][-1] == "4999" and failure["prefix_states"][0] == "4899"
    assert "(5000 ops)" in failure["message"]
    page = html.render(title="t", config={"seed": 1}, history=history,
                       results={"valid": False, "linearizable": result})
    assert "of 5000 ops" in page and '<ol start="4989">' in page
