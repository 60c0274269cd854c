import random

from harness.generator import SECOND
from nemeses.schedule import NemesisDispatcher, fault_cycle
from tests.harness.simulate import simulate


class FakeNemesis:
    def __init__(self, name):
        self.name, self.calls = name, []

    def start(self, run, rng):
        self.calls.append("start")
        return {"phase": "start"}

    def stop(self, run):
        self.calls.append("stop")
        return {"phase": "end"}

    def heal_all(self, run):
        self.calls.append("heal_all")


def test_schedule_alternates_fault_and_heal_every_interval():
    from harness import generator as gen
    ops = simulate(gen.nemesis(gen.TimeLimit(41 * SECOND, fault_cycle(["partition", "kill"], 10))),
                   threads=0, nemesis=True, latency_ns=SECOND // 100)
    assert [op["value"]["action"] for op in ops] == ["start", "stop", "start", "stop"]
    assert [round(op["time"] / SECOND) for op in ops] == [10, 20, 30, 40]


def test_dispatcher_records_start_and_end_and_heals_everything_at_the_end():
    nemeses = {"partition": FakeNemesis("partition"), "kill": FakeNemesis("kill")}
    d = NemesisDispatcher(nemeses, run=None, rng=random.Random(0))
    started = d.invoke({"value": {"action": "start", "fault": "kill"}})
    assert started == {"type": "info", "f": "kill", "value": {"phase": "start"}}
    ended = d.invoke({"f": "heal", "value": {"action": "heal-all"}})
    assert ended["f"] == "kill" and ended["value"]["phase"] == "end"
    assert nemeses["partition"].calls == ["heal_all"] and nemeses["kill"].calls == ["start", "heal_all"]
    assert d.invoke({"f": "heal", "value": {"action": "heal-all"}})["value"] is None
