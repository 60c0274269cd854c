"""Nemeses: fault injectors.

A nemesis is a small object (Jepsen's contract), built from its declared `options`:

* `start(run, rng) -> dict` injects one fault and returns what it did (which nodes, what
  shape), recorded in the history when the fault takes effect. A fault that took effect
  on some targets only is not an exception: the value lists the `nodes` it reached and
  the `errors` per node it did not. `start` raises only when the fault took effect
  nowhere (the dispatcher records that as a failed start and heals, to be sure);
* `stop(run) -> dict` heals the fault it started, returning what it healed, with
  `errors` per node where healing failed; it raises when healing failed everywhere;
* `heal_all(run)` returns every node to health whatever state it is in. It must be
  idempotent and safe to call at any time, including when nothing was started: the
  runner calls it at the end of every run, on Ctrl-C and on crashes. It raises when it
  could not heal some node.

Optional:
* `before_setup(cluster, system) -> undo | None` lays what the fault needs under the
  system before the system is set up (a FUSE file system over its data directories, a
  clock file its processes read); the runner calls it on the bare nodes and pushes the
  returned callable onto the run's teardown stack (the Docker backend discards the nodes
  anyway; on SSH hosts it must undo everything). It raises DeployError naming the node;

Declarations the runner and CLI read, so no code outside a nemesis knows its name:
* `options`: tuple of harness.options.Option (e.g. partition's `shapes`);
* `requires`: capabilities the system must have (e.g. {"kill"}): refused at resolve time;
* `node_features`: what the nodes must offer beyond the defaults (e.g. {"fuse"}: the
  Docker backend then gives each container /dev/fuse and the right to mount);
* `problems(node_count) -> list[str]`: reasons the configured fault cannot happen on a
  cluster of that size (e.g. a minority of 2 nodes is nobody): refused at resolve time.

`run` is the RunContext (cluster, system, logger); `rng` is the run's seeded random.
"""

from __future__ import annotations

import random
from typing import Any, Protocol

# The built-in nemeses, registered by name (entry points add more: group harness.nemeses).
BUILTINS = {
    "partition": "nemeses.partition:PartitionNemesis",
    "kill": "nemeses.process:KillNemesis",
    "pause": "nemeses.process:PauseNemesis",
    "packet": "nemeses.packet:PacketNemesis",
    "lose-unfsynced": "nemeses.data_fs:LoseUnfsyncedNemesis",
    "disk": "nemeses.data_fs:DiskNemesis",
    "clock": "nemeses.clock:ClockNemesis",
}


class Nemesis(Protocol):
    name: str

    def start(self, run: Any, rng: random.Random) -> dict: ...

    def stop(self, run: Any) -> dict: ...

    def heal_all(self, run: Any) -> None: ...


class FaultFailed(Exception):
    """A fault (or its healing) took effect on no target; `errors` maps node -> reason."""

    def __init__(self, what: str, errors: dict[str, str]):
        detail = "; ".join(f"{n}: {e}" for n, e in sorted(errors.items()))
        super().__init__(f"{what} failed on every node ({detail})" if errors else what)
        self.errors = errors


class Unhealed(RuntimeError):
    """heal_all could not heal some nodes: `what` failed on each, with the reason."""

    def __init__(self, what: str, errors: dict[str, str]):
        super().__init__(f"could not {what} on " +
                         "; ".join(f"{n}: {e}" for n, e in sorted(errors.items())))
        self.errors = errors


def on_nodes(action, nodes: list[str]) -> tuple[list[str], dict[str, str]]:
    """Run `action(node)` on every node in parallel; never stops at the first error.

    Returns (nodes where it succeeded, {node: error} where it raised), so a fault that
    failed on one node of five is recorded as what it did on the other four."""
    from concurrent.futures import ThreadPoolExecutor

    def attempt(node):
        try:
            action(node)
            return node, None
        except Exception as e:  # noqa: BLE001 - each node's failure is recorded, not raised
            return node, f"{type(e).__name__}: {e}"[:300]

    if not nodes:
        return [], {}
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        outcomes = list(pool.map(attempt, nodes))
    done = [n for n, err in outcomes if err is None]
    errors = {n: err for n, err in outcomes if err is not None}
    return done, errors
