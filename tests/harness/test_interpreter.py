"""The real interpreter with fake clients: Jepsen's process rules are enforced here."""

import random
import threading

from harness import generator as gen
from harness.generator import SECOND
from harness.history import HistoryWriter
from harness.interpreter import Clock, run


class ScriptedClient:
    """Answers by f: 'write' -> info (indeterminate), 'boom' -> raises, else ok."""

    opened: list = []
    made = 0

    def __init__(self):
        ScriptedClient.made += 1
        self.serial = ScriptedClient.made

    def open(self, node):
        ScriptedClient.opened.append((self.serial, node))

    def invoke(self, op):
        if op["f"] == "write":
            return {"type": "info", "error": "timeout"}
        if op["f"] == "boom":
            raise ConnectionResetError("peer went away")
        return {"type": "ok", "value": 1}

    def close(self):
        pass


def interpret(bodies, tmp_path, concurrency=1, **kw):
    ScriptedClient.opened = []
    history = HistoryWriter(str(tmp_path / "h.jsonl"))
    run(gen.clients(gen.each_op(bodies)), concurrency=concurrency, nodes=["n1"],
        make_client=ScriptedClient, nemesis=None, history=history, clock=Clock(),
        stop_at=10 * SECOND, rng=random.Random(0), **kw)
    history.close()
    return history.read_back()


def test_an_info_retires_the_process_and_the_next_op_gets_a_fresh_client(tmp_path):
    ops = interpret([{"f": "read"}, {"f": "write"}, {"f": "read"}], tmp_path)
    assert [(o["type"], o["process"]) for o in ops] == [
        ("invoke", 0), ("ok", 0), ("invoke", 0), ("info", 0), ("invoke", 1), ("ok", 1)]
    assert len({client for client, _ in ScriptedClient.opened}) == 2


def test_an_exception_is_recorded_as_info_and_retires_the_process(tmp_path):
    ops = interpret([{"f": "boom"}, {"f": "read"}, {"f": "read"}, {"f": "read"}], tmp_path)
    boom = [o for o in ops if o["f"] == "boom" and o["type"] != "invoke"][0]
    assert boom["type"] == "info" and "ConnectionResetError" in boom["error"]
    later = [o["process"] for o in ops if o["index"] > boom["index"]]
    assert later and boom["process"] not in later


def test_stop_event_ends_the_run_early(tmp_path):
    stop = threading.Event()
    stop.set()
    ScriptedClient.opened = []
    history = HistoryWriter(str(tmp_path / "h.jsonl"))
    run(gen.clients(gen.Fn(lambda ctx: {"f": "read"})), concurrency=1, nodes=["n1"],
        make_client=ScriptedClient, nemesis=None, history=history, clock=Clock(),
        stop_at=60 * SECOND, rng=random.Random(0), stop=stop)
    history.close()
    assert history.read_back() == []


def test_final_reads_are_retried_until_they_succeed(tmp_path):
    from tests.harness.simulate import simulate
    failures = {"n": 0}

    def complete(op):
        failures["n"] += 1
        return "fail" if failures["n"] <= 3 else "ok"

    invokes = simulate(gen.clients(gen.UntilOk.of([{"f": "read", "key": 1}], attempts=10)),
                       threads=1, complete=complete)
    assert len(invokes) == 4
    capped = simulate(gen.clients(gen.UntilOk.of([{"f": "read", "key": 1}], attempts=2)),
                      threads=1, complete=lambda op: "fail")
    assert len(capped) == 2
