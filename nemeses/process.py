"""Process faults: crash (SIGKILL, restart on heal) and pause (SIGSTOP, SIGCONT on heal).

Targets are chosen per fault among Jepsen's specs: `one` random node, a `minority`, a
`majority`, `all` nodes, or the `primaries` (current leaders, from the system); by default
one, minority or primaries. Crashing a majority or all at once is what exposes lost
un-fsynced writes. The system does the signalling
(`kill`, `start`, `pause`, `resume`), since only it knows its processes.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

TARGETS = ("one", "minority", "primaries")        # the default choice
ALL_TARGETS = ("one", "minority", "majority", "all", "primaries")


def choose_targets(spec: str, nodes: list[str], rng: random.Random,
                   primaries: list[str] = ()) -> list[str]:
    nodes = sorted(nodes)
    if spec == "one":
        return [rng.choice(nodes)]
    if spec == "minority":
        count = rng.randint(1, (len(nodes) - 1) // 2)
        return sorted(rng.sample(nodes, count))
    if spec == "primaries":
        return sorted(p for p in primaries if p in nodes) or [rng.choice(nodes)]
    if spec == "majority":
        return sorted(rng.sample(nodes, len(nodes) // 2 + 1))
    if spec == "all":
        return nodes
    raise ValueError(f"unknown target spec {spec!r}")


def _on_nodes(fn, nodes):
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        list(pool.map(fn, nodes))


class _ProcessFault:
    name = ""
    verb = ""

    def __init__(self, targets=TARGETS):
        self.targets = tuple(targets)
        unknown = [t for t in self.targets if t not in ALL_TARGETS]
        if unknown:
            from harness.errors import UsageError
            raise UsageError(f"unknown --process-targets {', '.join(unknown)}; valid: "
                             f"{', '.join(ALL_TARGETS)}")
        self.affected: list[str] = []

    def start(self, run, rng):
        spec = rng.choice(self.targets)
        primaries = run.primaries() if spec == "primaries" else []
        nodes = choose_targets(spec, run.cluster.nodes, rng, primaries)
        _on_nodes(lambda n: self.inject(run, n), nodes)
        self.affected = nodes
        return {"phase": "start", "target": spec, "nodes": nodes}

    def stop(self, run):
        nodes, self.affected = self.affected, []
        _on_nodes(lambda n: self.recover(run, n), nodes)
        return {"phase": "end", "nodes": nodes}

    def heal_all(self, run):
        _on_nodes(lambda n: self.recover(run, n), run.cluster.nodes)
        self.affected = []


class KillNemesis(_ProcessFault):
    """SIGKILL the system's process on the targets; restart it on heal."""

    name = "kill"

    def inject(self, run, node):
        run.system.kill(run.cluster, node)

    def recover(self, run, node):
        run.system.start(run.cluster, node)


class PauseNemesis(_ProcessFault):
    """SIGSTOP the system's process on the targets; SIGCONT on heal."""

    name = "pause"

    def inject(self, run, node):
        run.system.pause(run.cluster, node)

    def recover(self, run, node):
        run.system.resume(run.cluster, node)
