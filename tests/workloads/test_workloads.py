import random
from collections import Counter

from harness import generator as gen
from harness.generator import SECOND
from tests.harness.simulate import simulate
from workloads.list_append import TxnOps
from workloads.register import RegisterOps, RegisterWorkload
from workloads.simulated_store import list_append_history


def test_register_ops_rotate_keys_after_their_budget():
    ops = simulate(gen.Limit(2000, RegisterOps(live_keys=3, ops_per_key=50)), threads=4)
    per_key = Counter(op["key"] for op in ops)
    assert max(per_key.values()) <= 50
    assert len(per_key) >= 2000 // 50
    assert {op["f"] for op in ops} == {"read", "write", "cas"}
    assert all(0 <= op["value"] < 5 for op in ops if op["f"] == "write")


def test_register_final_reads_cover_the_last_live_keys():
    history = [{"type": "invoke", "process": p, "f": "read", "key": k} for p, k in
               [(0, 1), (1, 2), (2, 3), (3, 7), (4, 8)]]
    final = RegisterWorkload(live_keys=2).final_generator(history)
    ops = simulate(final, threads=3)
    assert {op["key"] for op in ops} == {7, 8}


def test_list_append_txns_append_unique_values_per_key():
    ops = simulate(gen.Limit(500, TxnOps(key_count=3, max_writes_per_key=10)), threads=5)
    appended = Counter((m[1], m[2]) for op in ops for m in op["value"] if m[0] == "append")
    assert appended and max(appended.values()) == 1
    assert all(1 <= len(op["value"]) <= 4 for op in ops)


def test_simulated_store_histories_pair_every_invoke_with_an_ok():
    h = list_append_history(300, concurrency=6, seed=random.randrange(1000))
    assert Counter(op["type"] for op in h) == {"invoke": 300, "ok": 300}
    open_by_process = {}
    for op in h:
        if op["type"] == "invoke":
            assert op["process"] not in open_by_process
            open_by_process[op["process"]] = op
        else:
            assert open_by_process.pop(op["process"])["value"][0][1] == op["value"][0][1]


def test_time_limited_workload_stops():
    ops = simulate(gen.TimeLimit(SECOND, RegisterOps()), threads=2, latency_ns=SECOND // 20)
    assert 30 <= len(ops) <= 42


def test_failed_ops_give_their_key_its_budget_back():
    import random as _random
    from harness.generator import Context
    ops = RegisterOps(live_keys=1, ops_per_key=3)
    ctx = Context(0, frozenset({0}), {0: 0}, _random.Random(0), frozenset({0}))
    op, ops = ops.op(ctx)
    op2, ops = ops.op(ctx)
    assert ops.live == ((0, 2),)
    ops = ops.update(ctx, dict(op2, type="fail"))
    assert ops.live == ((0, 1),)              # an outage does not retire the key
    ops = ops.update(ctx, dict(op, type="info"))
    assert ops.live == ((0, 1),)              # an indeterminate op may have touched it


def test_list_append_final_reads_cover_every_key_appended_to():
    from workloads.list_append import FINAL_READ_KEYS, ListAppendWorkload
    history = [{"type": "invoke", "process": 0, "f": "txn",
                "value": [["append", 19, 3], ["r", 2, None]]},
               {"type": "invoke", "process": 1, "f": "txn", "value": [["r", 11, None]]}]
    ops = simulate(ListAppendWorkload().final_generator(history), threads=3)
    read = [m[1] for op in ops for m in op["value"]]
    assert sorted(read) == list(range(20))
    assert all(m[0] == "r" for op in ops for m in op["value"])
    assert max(len(op["value"]) for op in ops) == FINAL_READ_KEYS
    assert ListAppendWorkload().final_generator([]) is None
