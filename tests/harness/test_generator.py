import random

from harness import generator as gen
from harness.generator import SECOND, Context

from .simulate import simulate


def reads(ctx):
    return {"f": "read", "value": None}


def test_time_limit_stops_issuing_ops_at_the_deadline():
    ops = simulate(gen.TimeLimit(2 * SECOND, gen.Fn(reads)), threads=2, latency_ns=SECOND // 10)
    assert ops, "expected some ops"
    assert max(op["time"] for op in ops) < 2 * SECOND
    # Two threads at 100 ms latency for 2 s: about 40 ops.
    assert 35 <= len(ops) <= 42


def test_stagger_sets_the_total_rate_regardless_of_thread_count():
    g = gen.TimeLimit(10 * SECOND, gen.stagger_rate(50, gen.Fn(reads)))
    ops = simulate(g, threads=8, latency_ns=1_000_000)
    assert 400 <= len(ops) <= 600  # 50/s for 10 s


def test_limit_caps_the_number_of_ops():
    assert len(simulate(gen.Limit(7, gen.Fn(reads)), threads=3)) == 7


def test_mix_draws_from_every_generator():
    writes = gen.Fn(lambda ctx: {"f": "write", "value": 1})
    ops = simulate(gen.Limit(400, gen.mix([gen.Fn(reads), writes])), threads=2)
    fs = [op["f"] for op in ops]
    assert 100 < fs.count("read") < 300 and fs.count("read") + fs.count("write") == 400


def test_phases_wait_for_outstanding_ops_before_the_next_phase():
    first = gen.Limit(5, gen.Fn(reads))
    second = gen.Once({"f": "final", "value": None})
    ops = simulate(gen.phases(first, second), threads=5, latency_ns=SECOND)
    final = [op for op in ops if op["f"] == "final"]
    assert len(final) == 1
    # All five reads go out at t=0 and complete at t=1s; the final op cannot start sooner.
    assert final[0]["time"] >= SECOND


def test_seq_does_not_wait_between_generators():
    ops = simulate(gen.seq(gen.Limit(2, gen.Fn(reads)), gen.Once({"f": "next", "value": None})),
                   threads=3, latency_ns=SECOND)
    assert [op["time"] for op in ops] == [0, 0, 0]


def test_clients_and_nemesis_routing_never_mix_threads():
    clients = gen.clients(gen.TimeLimit(5 * SECOND, gen.Fn(reads)))
    nem = gen.nemesis(gen.TimeLimit(5 * SECOND, gen.cycle(
        gen.Sleep(SECOND), gen.Once({"f": "start", "value": None}),
        gen.Sleep(SECOND), gen.Once({"f": "stop", "value": None}))))
    ops = simulate(gen.any_of(clients, nem), threads=2, nemesis=True, latency_ns=SECOND // 10)
    for op in ops:
        if op["f"] in ("start", "stop"):
            assert op["thread"] == "nemesis"
        else:
            assert op["thread"] != "nemesis"
    nemesis_ops = [(op["f"], op["time"] // (SECOND // 10)) for op in ops if op["thread"] == "nemesis"]
    # start at ~1s, stop ~1s after it completes, start again ~1s later ...
    assert [f for f, _ in nemesis_ops] == ["start", "stop", "start", "stop"][:len(nemesis_ops)]
    assert len(nemesis_ops) >= 3
    assert 9 <= nemesis_ops[0][1] <= 11


def test_sleep_delays_the_following_generator():
    ops = simulate(gen.seq(gen.Sleep(3 * SECOND), gen.Once({"f": "x", "value": None})), threads=1)
    assert ops[0]["time"] >= 3 * SECOND


def test_info_retires_the_process_and_the_thread_continues_under_a_new_one():
    ops = simulate(gen.Limit(4, gen.Fn(reads)), threads=1,
                   complete=lambda op: "info")
    assert [op["process"] for op in ops] == [0, 1, 2, 3]


def test_generators_are_values_asking_twice_gives_the_same_answer():
    import random

    from harness.generator import Context
    g = gen.TimeLimit(SECOND, gen.stagger_rate(10, gen.Fn(reads)))
    ctx = Context(0, frozenset({0}), {0: 0}, random.Random(1), frozenset({0}))
    a = g.op(ctx)
    ctx2 = Context(0, frozenset({0}), {0: 0}, random.Random(1), frozenset({0}))
    b = g.op(ctx2)
    assert a[0] == b[0]


def test_interpreter_rests_a_thread_after_an_unavailable_failure_only(tmp_path):
    import random

    from harness.history import HistoryWriter
    from harness.interpreter import Clock, run

    class Refusing:
        def open(self, node):
            pass

        def invoke(self, op):
            if op["f"] == "cas":      # a semantic failure: no rest
                return {"type": "fail", "error": "cas-mismatch"}
            return {"type": "fail", "error": "connection-refused", "unavailable": True}

        def close(self):
            pass

    for f, expected_max in (("read", 30), ("cas", None)):
        history = HistoryWriter(str(tmp_path / f"{f}.jsonl"))
        run(gen.clients(gen.TimeLimit(SECOND // 2, gen.Fn(lambda ctx, f=f: {"f": f, "value": None}))),
            concurrency=2, nodes=["n1"], make_client=Refusing, nemesis=None, history=history,
            clock=Clock(), stop_at=5 * SECOND, rng=random.Random(0), fail_backoff_s=0.05)
        ops = history.read_back()
        invokes = [op for op in ops if op["type"] == "invoke"]
        assert "unavailable" not in ops[-1]
        if f == "read":
            assert 10 <= len(invokes) <= expected_max   # two threads, one op per ~50 ms for 0.5 s
        else:
            assert len(invokes) > 100      # no rest: as fast as the interpreter goes


def test_the_interpreters_context_shortcuts_change_no_answer():
    """threads_by_process and thread_order only spare work: the same thread is chosen,
    the same thread found, and a client restriction drops the same threads."""
    threads = list(range(12)) + ["nemesis"]
    processes = {t: (t + 24 if t != "nemesis" else "nemesis") for t in threads}
    free = frozenset([0, 3, 10, 11, 7, "nemesis"])
    plain = Context(5, free, processes, random.Random(7), frozenset(threads))
    quick = Context(5, free, processes, random.Random(7), frozenset(threads),
                    {p: t for t, p in processes.items()}, tuple(sorted(threads, key=str)))
    for _ in range(50):
        assert plain.some_free_thread() == quick.some_free_thread()
    for p in [24, 35, "nemesis", 999]:
        assert plain.thread_of(p) == quick.thread_of(p)
    for a, b in [(plain.restrict(gen.is_client_thread), quick.restrict(gen.is_client_thread)),
                 (plain.restrict(gen.is_nemesis_thread), quick.restrict(gen.is_nemesis_thread))]:
        assert (a.free_threads, a.all_threads) == (b.free_threads, b.all_threads)
        assert b.some_free_thread() == a.some_free_thread()
    no_nemesis = Context(5, frozenset([1, 2]), {1: 1, 2: 2}, random.Random(1), frozenset([1, 2]))
    assert no_nemesis.restrict(gen.is_client_thread) is no_nemesis


def test_combinators_that_saw_nothing_new_stay_the_same_value():
    inner = gen.Fn(lambda ctx: {"f": "read"})
    g = gen.clients(gen.Limit(5, gen.Stagger(1, gen.TimeLimit(10 * SECOND, inner))))
    ctx = Context(0, frozenset({0}), {0: 0}, random.Random(1), frozenset({0}))
    event = {"type": "ok", "process": 0, "f": "read", "value": None}
    assert g.update(ctx, event) is g
