"""The run's lifecycle as a stack of resources, each owning its teardown.

Jepsen nests with-db, with-nemesis and with-log-snarfing so that teardown order follows
from set-up order. Here `Resources` is that stack: each resource is pushed with the
function that undoes it, and `close()` runs them last-in first-out, each exactly once,
logging (never raising) what fails so one broken teardown cannot skip the others.

`close()` may be called from the main thread at the end of a run or from the watchdog
thread when the run's hard deadline passes; whoever comes first runs the teardowns, the
other waits for them (bounded) and returns.

`ClusterMonitor` watches the cluster while the workload runs (the backend's view: engine,
network, containers; and the system's own health probe when it has one) and records what
it sees. A node or the engine that disappears outside the nemesis's control is a harness
failure: the monitor sets `lost` with the reason and signals the interpreter to stop.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger("harness")


class Resources:
    def __init__(self):
        self._stack: list[tuple[str, Callable[[], None]]] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._closing = False
        self.errors: list[str] = []

    def push(self, name: str, teardown: Callable[[], None]) -> None:
        with self._lock:
            self._stack.append((name, teardown))

    def close(self, wait_s: float | None = None) -> list[str]:
        """Run every teardown once, newest first; returns the errors (also logged)."""
        with self._lock:
            if self._closing:
                first = False
            else:
                self._closing = first = True
        if not first:
            self._closed.wait(wait_s)
            return self.errors
        try:
            while True:
                with self._lock:
                    if not self._stack:
                        break
                    name, teardown = self._stack.pop()
                try:
                    teardown()
                except Exception as e:  # noqa: BLE001 - the other teardowns must still run
                    log.exception("teardown of %s failed", name)
                    self.errors.append(f"{name}: {type(e).__name__}: {e}")
        finally:
            self._closed.set()
        return self.errors


class ClusterMonitor(threading.Thread):
    """Polls `probe()` every `interval_s`; the first problem it reports ends the run.

    `probe()` returns a list of problems (empty when the cluster is as the harness left
    it). `health()`, when given, returns the system's view per node ({node: state}); its
    samples are kept (bounded) as the run's health timeline.
    """

    MAX_SAMPLES = 2000

    def __init__(self, probe: Callable[[], list[str]], stop: threading.Event,
                 clock: Callable[[], int], health: Callable[[], dict] | None = None,
                 interval_s: float = 1.0, health_every: int = 5):
        super().__init__(name="cluster-monitor", daemon=True)
        self.probe = probe
        self.health = health
        self.stop_run = stop
        self.clock = clock
        self.interval_s = interval_s
        self.health_every = health_every
        self.lost: str | None = None
        self.samples: list[dict] = []
        self.events: list[dict] = []
        self._done = threading.Event()

    def run(self) -> None:
        tick = 0
        while not self._done.wait(self.interval_s):
            try:
                problems = self.probe()
            except Exception as e:  # noqa: BLE001 - a probe that cannot run is a finding
                problems = [f"cannot inspect the cluster: {type(e).__name__}: {e}"]
            if problems:
                self.lost = "; ".join(problems)
                self.events.append({"time": self.clock(), "problem": self.lost})
                log.error("cluster lost: %s", self.lost)
                self.stop_run.set()
                return
            tick += 1
            if self.health is not None and tick % self.health_every == 0:
                self._sample_health()

    def _sample_health(self) -> None:
        try:
            nodes = self.health()
        except Exception as e:  # noqa: BLE001 - health is informative only
            nodes = {"error": f"{type(e).__name__}: {e}"}
        if len(self.samples) < self.MAX_SAMPLES:
            self.samples.append({"time": self.clock(), "nodes": nodes})
        log.debug("health: %s", nodes)

    def finish(self) -> None:
        self._done.set()
        if self.is_alive():
            self.join(timeout=5)

    def check_now(self) -> str | None:
        """One more probe, synchronously (e.g. right after the workload ended)."""
        if self.lost:
            return self.lost
        try:
            problems = self.probe()
        except Exception as e:  # noqa: BLE001
            problems = [f"cannot inspect the cluster: {type(e).__name__}: {e}"]
        if problems:
            self.lost = "; ".join(problems)
            self.events.append({"time": self.clock(), "problem": self.lost})
        return self.lost

