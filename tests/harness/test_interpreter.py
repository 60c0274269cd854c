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


# ---------------------------------------------------------------- the history's writes

def _on_disk(path) -> str:
    with open(path, "rb") as f:
        return f.read().decode()


class DiskWatchingClient:
    """Blocks in each call until its own invoke is on disk (at most 5 s), and answers
    whether it got there: the history must not keep an invoke queued while the
    interpreter waits for the call."""

    path = ""
    immediately: list = []

    def open(self, node):
        pass

    def invoke(self, op):
        import time
        line = f'{{"index":{op["index"]},"type":"invoke"'
        DiskWatchingClient.immediately.append(line in _on_disk(self.path))
        deadline = time.monotonic() + 5
        while line not in _on_disk(self.path):
            if time.monotonic() > deadline:
                return {"type": "fail", "error": "invoke not on disk"}
            time.sleep(0.001)
        return {"type": "ok", "value": 1}

    def close(self):
        pass


def _watched_run(tmp_path, **kw):
    DiskWatchingClient.path = str(tmp_path / "h.jsonl")
    DiskWatchingClient.immediately = []
    history = HistoryWriter(DiskWatchingClient.path)
    run(gen.clients(gen.each_op([{"f": "read"}] * 20)), concurrency=3, nodes=["n1"],
        make_client=DiskWatchingClient, nemesis=None, history=history, clock=Clock(),
        stop_at=60 * SECOND, rng=random.Random(0), **kw)
    history.close()
    return history.read_back()


def test_group_commit_still_writes_each_invoke_before_its_call_starts(tmp_path):
    ops = _watched_run(tmp_path)
    assert [o["type"] for o in ops].count("ok") == 20
    assert DiskWatchingClient.immediately == [True] * 20


def test_without_group_commit_each_invoke_is_on_disk_before_its_call(tmp_path):
    ops = _watched_run(tmp_path, group_commit=None)
    assert [o["type"] for o in ops].count("ok") == 20
    assert DiskWatchingClient.immediately == [True] * 20


KILLED_RUN = r"""
import os, random, sys, time
from harness import generator as gen
from harness.generator import SECOND
from harness.history import HistoryWriter
from harness.interpreter import Clock, run

class Client:
    def open(self, node): pass
    def close(self): pass
    def invoke(self, op):
        # The writer has this invoke and all before it. One write(2) per line: print()
        # from several threads interleaves its pieces.
        os.write(1, b"%d\n" % op["index"])
        if op["index"] % 7 == 0:
            time.sleep(0.001)
        return {"type": "ok", "value": 1}

history = HistoryWriter(sys.argv[1])
run(gen.clients(gen.Fn(lambda ctx: {"f": "read"})), concurrency=10, nodes=["n1"],
    make_client=Client, nemesis=None, history=history, clock=Clock(),
    stop_at=120 * SECOND, rng=random.Random(0))
"""


def test_a_kill_9_mid_run_leaves_a_checkable_prefix_missing_at_most_one_group(tmp_path):
    """What a kill -9 loses is bounded by GROUP_COMMIT_EVENTS: every event up to the
    last invoke a client saw, less that many, is on disk, and the file is a prefix of
    the history (indexes 0, 1, 2, ... with each completion after its invoke)."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from harness.history import pair_ops, read_history
    from harness.interpreter import GROUP_COMMIT_EVENTS
    path = tmp_path / "h.jsonl"
    child = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(path)],
                             stdout=subprocess.PIPE, text=True,
                             cwd=str(Path(__file__).parents[2]))
    seen = -1
    try:
        for line in child.stdout:
            seen = max(seen, int(line))
            if seen >= 3000:
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert seen >= 3000
    ops = read_history(str(path))
    assert [o["index"] for o in ops] == list(range(len(ops)))
    assert len(ops) >= seen + 1 - GROUP_COMMIT_EVENTS
    for invoke, completion in pair_ops(ops):
        assert completion is None or completion["index"] > invoke["index"]
