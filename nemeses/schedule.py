"""The nemesis schedule and the dispatcher that carries it out.

`fault_cycle(kinds, interval)` is a generator for the nemesis thread: wait `interval`,
start a fault, wait `interval`, heal it, repeat. With `overlap` (and two kinds or more)
faults of two different kinds nest, as they do in Jepsen's combined packages: wait
`interval`, start A, wait half, start B, wait half, heal B, wait half, heal A, repeat; a
fault that needs another in force to matter (a clock step while a partition isolates a
leader holding a lease) then gets it. Kinds are taken in rounds, each round a
fresh shuffle of all of them, so every kind asked for is scheduled once before any is
scheduled twice (a run long enough for k faults exercises min(k, len(kinds)) kinds). A
final heal is not part of the schedule: the runner always heals everything itself.

`NemesisDispatcher` executes those ops: {"fault": kind, "action": start|stop}, and
{"action": "heal-all"}, which the runner schedules when the main phase ends. Its
completion carries the fault's name as `f` and what happened as `value`, recorded as one
`info` event with process "nemesis". Nothing fails silently:

* a start that raised is recorded as `{"phase": "start", "failed": true, "error": ...}`,
  logged at ERROR and counted, and the nemesis is healed at once so no half-made fault
  lingers unrecorded;
* a start that reached some nodes only is recorded with what it did and `errors`;
* a heal that raised is recorded as `{"phase": "end", "failed": true, "error": ...}`.

`stats` counts, per kind: scheduled, started (took effect on at least one node), failed
(took effect nowhere), partial, healed, heal_failed. The runner turns "asked for but never
took effect" into an unknown verdict.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass

from harness import generator as gen
from harness.generator import SECOND, Context, Pending

log = logging.getLogger(__name__)

COUNTERS = ("scheduled", "started", "partial", "failed", "healed", "heal_failed")


@dataclass(frozen=True)
class FaultRotation:
    """One start op per call, its kind taken from shuffled rounds of `kinds`."""

    kinds: tuple
    queue: tuple = ()

    def op(self, ctx: Context, avoid: str | None = None):
        """The next start; never `avoid` (the kind still in force) when another exists."""
        thread = ctx.some_free_thread()
        if thread is None:
            return Pending(), self
        queue = self.queue
        if not queue:
            round_ = list(self.kinds)
            ctx.rng.shuffle(round_)
            queue = tuple(round_)
        if queue[0] == avoid and len(queue) > 1:
            queue = (queue[1], queue[0], *queue[2:])
        elif queue[0] == avoid and len(self.kinds) > 1:   # the round's last: take a new one
            round_ = [k for k in self.kinds if k != avoid]
            ctx.rng.shuffle(round_)
            queue = (*round_, avoid)
        kind, rest = queue[0], queue[1:]
        op = {"type": "invoke", "process": ctx.process_of(thread), "time": ctx.time,
              "f": "start", "value": {"fault": kind, "action": "start"}}
        return op, FaultRotation(self.kinds, rest)

    def update(self, ctx, event):
        return self


def fault_cycle(kinds: list[str], interval_s: float, overlap: bool = False) -> gen.Generator:
    """Sleep, start, sleep, stop, forever (the caller bounds it with a TimeLimit); with
    `overlap` and two kinds or more, two faults nest (see the module docstring).

    The rotation's position survives across cycles because the cycle is one generator
    that remembers it (Cycle would restart its parts from their starts)."""
    interval = int(interval_s * SECOND)
    if overlap and len(set(kinds)) > 1:
        half = interval // 2
        steps = (("sleep", interval), ("start",), ("sleep", half), ("start",),
                 ("sleep", half), ("stop",), ("sleep", half), ("stop",))
    else:
        steps = (("sleep", interval), ("start",), ("sleep", interval), ("stop",))
    return _RotatingCycle(steps, FaultRotation(tuple(kinds)))


@dataclass(frozen=True)
class _RotatingCycle:
    steps: tuple
    rotation: FaultRotation
    stage: int = 0
    current: object = None
    in_force: str | None = None     # the kind started last in this cycle

    def _fresh(self, stage):
        step = self.steps[stage]
        if step[0] == "sleep":
            return gen.Sleep(step[1])
        if step[0] == "stop":
            return gen.Once({"f": "stop", "value": {"action": "stop"}})
        return None

    def _with(self, **changes):
        values = {"steps": self.steps, "rotation": self.rotation, "stage": self.stage,
                  "current": self.current, "in_force": self.in_force, **changes}
        return _RotatingCycle(**values)

    def op(self, ctx):
        stage, current = self.stage, self.current
        in_force = self.in_force
        for _ in range(len(self.steps) + 1):
            if self.steps[stage][0] == "start":
                op, nxt = self.rotation.op(ctx, avoid=in_force)
                if isinstance(op, Pending):
                    return op, self._with(stage=stage, current=None, in_force=in_force)
                return op, self._with(rotation=nxt, stage=(stage + 1) % len(self.steps),
                                      current=None, in_force=op["value"]["fault"])
            current = current if current is not None else self._fresh(stage)
            res = current.op(ctx)
            if res is None:
                stage, current = (stage + 1) % len(self.steps), None
                if stage == 0:
                    in_force = None
                continue
            op, nxt = res
            return op, self._with(stage=stage, current=nxt, in_force=in_force)
        return Pending(), self._with(stage=stage, current=current, in_force=in_force)

    def update(self, ctx, event):
        if self.current is None:
            return self
        return self._with(current=self.current.update(ctx, event))


class NemesisDispatcher:
    """Runs start/stop ops against the named nemeses; remembers which fault is active and
    counts what happened to each kind."""

    def __init__(self, nemeses: dict, run, rng: random.Random):
        self.nemeses = nemeses
        self.run = run
        self.rng = rng
        self.active: list[str] = []
        self.lock = threading.Lock()
        self.stats = {kind: dict.fromkeys(COUNTERS, 0) for kind in nemeses}
        self.last_start: dict[str, dict] = {}     # kind -> what its last start did

    def invoke(self, op: dict) -> dict:
        action = (op.get("value") or {}).get("action")
        with self.lock:
            if action == "start":
                return self._start(op["value"]["fault"])
            if action == "stop" and self.active:
                return self._stop(self.active.pop())
        if action == "heal-all":
            active = list(self.active)
            errors = self.heal_all()
            if active:   # recorded as the end of the fault that was still in force
                value = {"phase": "end", "final": True}
                if errors:
                    value.update(failed=True, error="; ".join(errors.values()))
                return {"type": "info", "f": active[-1], "value": value}
        return {"type": "info", "f": op.get("f", "noop"), "value": None}

    def _start(self, kind: str) -> dict:
        counts = self.stats[kind]
        counts["scheduled"] += 1
        nemesis = self.nemeses[kind]
        try:
            value = nemesis.start(self.run, self.rng)
        except Exception as e:  # noqa: BLE001 - recorded, counted and logged, never silent
            counts["failed"] += 1
            error = f"{type(e).__name__}: {e}"[:500]
            log.error("nemesis %s: the fault could not be started: %s", kind, error)
            value = {"phase": "start", "failed": True, "error": error}
            try:     # whatever it half did, undo it now rather than at the end of the run
                nemesis.heal_all(self.run)
            except Exception as heal_error:  # noqa: BLE001
                log.error("nemesis %s: healing after a failed start failed: %s", kind, heal_error)
                value["heal_error"] = f"{type(heal_error).__name__}: {heal_error}"[:300]
            return {"type": "info", "f": kind, "value": value}
        value = dict(value or {"phase": "start"})
        value.setdefault("phase", "start")
        counts["started"] += 1
        if value.get("errors"):
            counts["partial"] += 1
            log.error("nemesis %s: the fault took effect only partly: %s", kind, value["errors"])
        self.active.append(kind)
        self.last_start[kind] = value
        log.info("nemesis: %s %s", kind, value)
        return {"type": "info", "f": kind, "value": value}

    def _stop(self, kind: str) -> dict:
        counts = self.stats[kind]
        try:
            value = dict(self.nemeses[kind].stop(self.run) or {"phase": "end"})
        except Exception as e:  # noqa: BLE001
            counts["heal_failed"] += 1
            error = f"{type(e).__name__}: {e}"[:500]
            log.error("nemesis %s: healing failed: %s", kind, error)
            return {"type": "info", "f": kind,
                    "value": {"phase": "end", "failed": True, "error": error}}
        value.setdefault("phase", "end")
        if value.get("errors"):
            counts["heal_failed"] += 1
            log.error("nemesis %s: healing failed on some nodes: %s", kind, value["errors"])
        else:
            counts["healed"] += 1
        log.info("nemesis: healed %s %s", kind, value)
        return {"type": "info", "f": kind, "value": value}

    def heal_all(self) -> dict[str, str]:
        """Heal every nemesis; returns {name: error} for those that raised (after trying
        all). A fault still active counts as healed or heal_failed accordingly."""
        errors = {}
        with self.lock:
            for name, nemesis in self.nemeses.items():
                try:
                    nemesis.heal_all(self.run)
                except Exception as e:  # noqa: BLE001
                    log.error("healing %s failed: %s", name, e)
                    errors[name] = f"{name}: {type(e).__name__}: {e}"[:500]
            for kind in self.active:
                self.stats[kind]["heal_failed" if kind in errors else "healed"] += 1
            self.active.clear()
        return errors

    def never_took_effect(self) -> list[str]:
        """The kinds asked for that never took effect on any node, with why."""
        reasons = []
        for kind, counts in self.stats.items():
            if counts["started"] == 0:
                detail = (f"{counts['scheduled']} scheduled, {counts['failed']} failed"
                          if counts["scheduled"] else "never scheduled")
                reasons.append(f"nemesis {kind} never took effect ({detail})")
        return reasons
