"""The nemesis schedule: alternate fault and heal every interval, across several kinds.

`schedule(kinds, interval)` is a generator for the nemesis thread: wait `interval`,
start a fault of a kind chosen at random, wait `interval`, heal it, repeat. A final
heal is not part of the schedule: the runner always heals everything itself.

`NemesisDispatcher` executes those ops: op value {"fault": kind, "action": start|stop}, and
{"action": "heal-all"}, which the runner schedules when the main phase ends.
Its completion carries the fault's name as `f` and what it did as `value`, which the
interpreter records as one `info` event with process "nemesis" when the fault starts and
one when it ends.
"""

from __future__ import annotations

import logging
import random
import threading

from harness import generator as gen
from harness.generator import SECOND

log = logging.getLogger(__name__)


def fault_cycle(kinds: list[str], interval_s: float) -> gen.Generator:
    interval = int(interval_s * SECOND)

    def choose(ctx):
        return {"f": "start", "value": {"fault": ctx.rng.choice(kinds), "action": "start"}}

    return gen.cycle(
        gen.Sleep(interval),
        gen.Limit(1, gen.Fn(choose)),
        gen.Sleep(interval),
        gen.Once({"f": "stop", "value": {"action": "stop"}}),
    )


class NemesisDispatcher:
    """Runs start/stop ops against the named nemeses; remembers which fault is active."""

    def __init__(self, nemeses: dict, run, rng: random.Random):
        self.nemeses = nemeses
        self.run = run
        self.rng = rng
        self.active: list[str] = []
        self.lock = threading.Lock()

    def invoke(self, op: dict) -> dict:
        action = (op.get("value") or {}).get("action")
        with self.lock:
            if action == "start":
                kind = op["value"]["fault"]
                value = self.nemeses[kind].start(self.run, self.rng)
                self.active.append(kind)
                log.info("nemesis: %s %s", kind, value)
                return {"type": "info", "f": kind, "value": value}
            if action == "stop" and self.active:
                kind = self.active.pop()
                value = self.nemeses[kind].stop(self.run)
                log.info("nemesis: healed %s %s", kind, value)
                return {"type": "info", "f": kind, "value": value}
        if action == "heal-all":
            active = list(self.active)
            self.heal_all()
            if active:   # recorded as the end of the fault that was still in force
                return {"type": "info", "f": active[-1], "value": {"phase": "end", "final": True}}
        return {"type": "info", "f": op.get("f", "noop"), "value": None}

    def heal_all(self) -> list[str]:
        """Heal every nemesis; returns the names of those that raised (after trying all)."""
        errors = []
        with self.lock:
            for name, nemesis in self.nemeses.items():
                try:
                    nemesis.heal_all(self.run)
                except Exception as e:
                    log.error("healing %s failed: %s", name, e)
                    errors.append(name)
            self.active.clear()
        return errors
