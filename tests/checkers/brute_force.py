"""A brute-force linearizability checker and history builders, for property tests.

Tries every order of the ops that respects real time (an op that completed before another
was invoked comes first), with each op of unknown outcome either included or not.
"""

import itertools


def brute_force(model, ops) -> bool:
    known = [o for o in ops if o.known]
    unknown = [o for o in ops if not o.known]
    for r in range(len(unknown) + 1):
        for chosen in itertools.combinations(unknown, r):
            for order in itertools.permutations(known + list(chosen)):
                if not respects_real_time(order):
                    continue
                state, legal = model.init(), True
                for op in order:
                    legal, state = model.step(state, op)
                    if not legal:
                        break
                if legal:
                    return True
    return False


def respects_real_time(order) -> bool:
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            # b is placed after a: illegal if b completed before a was invoked.
            if b.complete_index is not None and b.complete_index < a.invoke_index:
                return False
    return True


def interleave(events: list, order) -> list:
    """Events (invoke, completion, invoke, completion, ...) merged in an order drawn by
    hypothesis, keeping each invoke before its own completion."""
    placed, result, pending = set(), [], list(order)
    while pending:
        for i in pending:
            if i % 2 == 0 or (i - 1) in placed:
                placed.add(i)
                result.append(events[i])
                pending.remove(i)
                break
    return result
