import random

import pytest

from harness import generator as gen
from harness.generator import SECOND
from nemeses import FaultFailed, on_nodes
from nemeses.schedule import NemesisDispatcher, fault_cycle
from tests.harness.simulate import simulate


class FakeNemesis:
    def __init__(self, name, start_error=None, stop_error=None, partial=None):
        self.name, self.calls = name, []
        self.start_error, self.stop_error, self.partial = start_error, stop_error, partial

    def start(self, run, rng):
        self.calls.append("start")
        if self.start_error:
            raise self.start_error
        value = {"phase": "start", "nodes": ["n1", "n2"]}
        if self.partial:
            value["errors"] = self.partial
        return value

    def stop(self, run):
        self.calls.append("stop")
        if self.stop_error:
            raise self.stop_error
        return {"phase": "end"}

    def heal_all(self, run):
        self.calls.append("heal_all")


def test_schedule_alternates_fault_and_heal_every_interval():
    ops = simulate(gen.nemesis(gen.TimeLimit(41 * SECOND, fault_cycle(["partition", "kill"], 10))),
                   threads=0, nemesis=True, latency_ns=SECOND // 100)
    assert [op["value"]["action"] for op in ops] == ["start", "stop", "start", "stop"]
    assert [round(op["time"] / SECOND) for op in ops] == [10, 20, 30, 40]


@pytest.mark.parametrize("seed", range(20))
def test_schedule_takes_every_kind_once_before_any_twice(seed):
    kinds = ["partition", "kill", "pause"]
    ops = simulate(gen.nemesis(gen.TimeLimit(200 * SECOND, fault_cycle(kinds, 10))),
                   threads=0, nemesis=True, latency_ns=SECOND // 100, seed=seed)
    started = [op["value"]["fault"] for op in ops if op["value"]["action"] == "start"]
    assert len(started) == 10
    for round_start in range(0, 9, 3):
        assert sorted(started[round_start:round_start + 3]) == sorted(kinds)


def test_dispatcher_records_start_and_end_and_heals_everything_at_the_end():
    nemeses = {"partition": FakeNemesis("partition"), "kill": FakeNemesis("kill")}
    d = NemesisDispatcher(nemeses, run=None, rng=random.Random(0))
    started = d.invoke({"value": {"action": "start", "fault": "kill"}})
    assert started["f"] == "kill" and started["value"]["phase"] == "start"
    ended = d.invoke({"f": "heal", "value": {"action": "heal-all"}})
    assert ended["f"] == "kill" and ended["value"]["phase"] == "end"
    assert nemeses["partition"].calls == ["heal_all"] and nemeses["kill"].calls == ["start", "heal_all"]
    assert d.invoke({"f": "heal", "value": {"action": "heal-all"}})["value"] is None
    assert d.stats["kill"]["started"] == 1 and d.stats["kill"]["healed"] == 1
    assert d.never_took_effect() == ["nemesis partition never took effect (never scheduled)"]


def test_a_start_that_raises_is_recorded_counted_and_healed_at_once():
    nemesis = FakeNemesis("kill", start_error=RuntimeError("no such container"))
    d = NemesisDispatcher({"kill": nemesis}, run=None, rng=random.Random(0))
    event = d.invoke({"value": {"action": "start", "fault": "kill"}})
    assert event["type"] == "info" and event["f"] == "kill"
    assert event["value"]["failed"] is True and "no such container" in event["value"]["error"]
    assert nemesis.calls == ["start", "heal_all"]
    assert d.active == []
    assert d.stats["kill"]["failed"] == 1 and d.stats["kill"]["started"] == 0
    assert d.never_took_effect() == ["nemesis kill never took effect (1 scheduled, 1 failed)"]


def test_a_partial_start_is_recorded_as_what_it_did_and_a_failed_heal_as_failed():
    nemesis = FakeNemesis("kill", partial={"n3": "gone"}, stop_error=RuntimeError("exec failed"))
    d = NemesisDispatcher({"kill": nemesis}, run=None, rng=random.Random(0))
    started = d.invoke({"value": {"action": "start", "fault": "kill"}})
    assert started["value"]["errors"] == {"n3": "gone"} and started["value"]["nodes"] == ["n1", "n2"]
    stopped = d.invoke({"value": {"action": "stop"}})
    assert stopped["value"] == {"phase": "end", "failed": True, "error": "RuntimeError: exec failed"}
    assert d.stats["kill"] == {"scheduled": 1, "started": 1, "partial": 1, "failed": 0,
                               "healed": 0, "heal_failed": 1}
    assert d.never_took_effect() == []


def test_on_nodes_tries_every_node_and_reports_each_failure():
    def action(node):
        if node == "n2":
            raise OSError("container gone")
    done, errors = on_nodes(action, ["n1", "n2", "n3"])
    assert done == ["n1", "n3"] and errors == {"n2": "OSError: container gone"}


def test_process_fault_that_reached_no_node_raises_and_partial_one_records_errors():
    from nemeses.process import KillNemesis

    class System:
        def __init__(self, bad):
            self.bad = bad

        def kill(self, cluster, node):
            if node in self.bad:
                raise RuntimeError(f"{node} is gone")

        def start(self, cluster, node):
            pass

    class Cluster:
        nodes = ["n1", "n2", "n3", "n4", "n5"]

    class Run:
        cluster = Cluster()

        def __init__(self, bad):
            self.system = System(bad)

        def primaries(self):
            return []

    nemesis = KillNemesis(targets=("all",))
    value = nemesis.start(Run({"n2"}), random.Random(0))
    assert value["nodes"] == ["n1", "n3", "n4", "n5"] and list(value["errors"]) == ["n2"]
    with pytest.raises(FaultFailed, match="failed on every node"):
        KillNemesis(targets=("all",)).start(Run(set(Cluster.nodes)), random.Random(0))


def test_partition_heal_that_fails_everywhere_raises_instead_of_reporting_healed():
    from nemeses.partition import PartitionNemesis

    class Cluster:
        nodes = ["n1", "n2", "n3"]
        ips = {"n1": "10.0.0.1", "n2": "10.0.0.2", "n3": "10.0.0.3"}

        def exec(self, node, cmd, **kw):
            raise RuntimeError("engine gone")

    class Run:
        cluster = Cluster()

    with pytest.raises(FaultFailed):
        PartitionNemesis().stop(Run())
    with pytest.raises(FaultFailed):
        PartitionNemesis().heal_all(Run())


@pytest.mark.parametrize("cls, options, nodes, ok", [
    ("kill", {"targets": "minority"}, 2, False),
    ("kill", {"targets": "one,minority"}, 3, True),
    ("pause", {"targets": "one"}, 1, True),
    ("partition", {"shapes": "bridge"}, 2, False),
    ("partition", {"shapes": "halves"}, 1, False),
    ("partition", {}, 5, True),
])
def test_impossible_faults_are_named_by_the_nemesis(cls, options, nodes, ok):
    from harness import registry
    from harness.options import build
    nemesis = build(registry.lookup("nemesis", cls), cls, options, "--nemesis-opt")
    assert (nemesis.problems(nodes) == []) is ok


def test_a_fault_started_but_never_recorded_gets_its_start_recorded_before_its_end(tmp_path):
    """Ctrl-C while a start is in flight: the interpreter never records the start, the
    teardown heals it; the history must still pair every end with a start."""
    from harness.history import HistoryWriter
    from harness.interpreter import Clock
    from harness.runner import Run, TestConfig
    d = NemesisDispatcher({"kill": FakeNemesis("kill")}, run=None, rng=random.Random(0))
    d.invoke({"value": {"action": "start", "fault": "kill"}})      # completion never recorded
    run = Run(TestConfig(system="raftkv"), plan=None, echo=lambda *a, **k: None)
    run.dispatcher, run.clock = d, Clock()
    run.history = HistoryWriter(str(tmp_path / "h.jsonl"))
    run.end_open_faults()
    run.history.close()
    events = [(op["f"], op["value"]["phase"]) for op in run.history.read_back()]
    assert events == [("kill", "start"), ("kill", "end")]
    assert run.history.read_back()[0]["value"]["recorded_late"] is True


@pytest.mark.parametrize("seed", range(10))
def test_overlapping_faults_nest_two_different_kinds_half_an_interval_apart(seed):
    kinds = ["partition", "clock", "kill"]
    ops = simulate(gen.nemesis(gen.TimeLimit(56 * SECOND, fault_cycle(kinds, 10, overlap=True))),
                   threads=0, nemesis=True, latency_ns=SECOND // 100, seed=seed)
    actions = [op["value"]["action"] for op in ops]
    assert actions == ["start", "start", "stop", "stop"] * 2
    assert [round(op["time"] / SECOND) for op in ops] == [10, 15, 20, 25, 35, 40, 45, 50]
    starts = [op["value"]["fault"] for op in ops if op["value"]["action"] == "start"]
    assert starts[0] != starts[1] and starts[2] != starts[3]


def test_overlap_with_one_kind_is_one_fault_at_a_time():
    ops = simulate(gen.nemesis(gen.TimeLimit(41 * SECOND, fault_cycle(["kill"], 10, overlap=True))),
                   threads=0, nemesis=True, latency_ns=SECOND // 100)
    assert [op["value"]["action"] for op in ops] == ["start", "stop", "start", "stop"]


def test_the_dispatcher_heals_nested_faults_innermost_first():
    nemeses = {"partition": FakeNemesis("partition"), "clock": FakeNemesis("clock")}
    d = NemesisDispatcher(nemeses, run=None, rng=random.Random(0))
    d.invoke({"value": {"action": "start", "fault": "clock"}})
    d.invoke({"value": {"action": "start", "fault": "partition"}})
    assert d.invoke({"value": {"action": "stop"}})["f"] == "partition"
    assert d.invoke({"value": {"action": "stop"}})["f"] == "clock"
