"""Process faults: crash (SIGKILL, restart on heal) and pause (SIGSTOP, SIGCONT on heal).

Targets are chosen per fault among Jepsen's specs: `one` random node, a `minority`, a
`majority`, `all` nodes, or the `primaries` (current leaders, from the system); by default
one, minority or primaries. Crashing a majority or all at once is what exposes lost
un-fsynced writes. The system does the signalling (`kill`, `start`, `pause`, `resume`),
since only it knows its processes: these nemeses require the matching capability.
"""

from __future__ import annotations

import random

from harness.options import Option

from . import FaultFailed, Unhealed, on_nodes

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


def target_problems(targets, node_count: int) -> list[str]:
    """Why some of `targets` can never be chosen on `node_count` nodes."""
    if node_count < 3 and "minority" in targets:
        return [f"a minority of {node_count} node(s) is nobody (a minority needs 3 nodes)"]
    return []


TARGETS_OPTION = Option(
    "targets", "list", default=TARGETS, choices=ALL_TARGETS, flag="--process-targets",
    help="whom each fault hits, chosen per fault: one, minority, majority, all, primaries")


class _ProcessFault:
    """A fault on chosen nodes: `inject(run, node)` at the start, `recover(run, node)` at
    the heal. Either may return a dict of what it saw on that node (what a power loss
    lost, how many errors a disk injected): recorded per node under `detail` in the
    fault's start or end value."""

    name = ""
    verb = ""
    options = (TARGETS_OPTION,)

    def __init__(self, targets=TARGETS):
        self.targets = tuple(targets)
        self.affected: list[str] = []

    def problems(self, node_count: int) -> list[str]:
        return target_problems(self.targets, node_count)

    def start(self, run, rng):
        spec = rng.choice(self.targets)
        primaries = run.primaries() if spec == "primaries" else []
        nodes = choose_targets(spec, run.cluster.nodes, rng, primaries)
        detail: dict[str, dict] = {}
        done, errors = on_nodes(lambda n: _note(detail, n, self.inject(run, n)), nodes)
        if not done:
            raise FaultFailed(f"{self.verb} of {', '.join(nodes)}", errors)
        self.affected = done
        value = {"phase": "start", "target": spec, "nodes": done}
        return _with(value, detail, errors)

    def stop(self, run):
        nodes, self.affected = self.affected, []
        detail: dict[str, dict] = {}
        done, errors = on_nodes(lambda n: _note(detail, n, self.recover(run, n)), nodes)
        if nodes and not done:
            raise FaultFailed(f"healing {self.verb} of {', '.join(nodes)}", errors)
        return _with({"phase": "end", "nodes": done}, detail, errors)

    def heal_all(self, run):
        done, errors = on_nodes(lambda n: self.recover(run, n), run.cluster.nodes)
        self.affected = []
        if errors:
            raise FaultFailed(f"healing {self.verb}", errors) if not done else \
                Unhealed(f"heal {self.verb}", errors)


def _note(detail: dict, node: str, seen) -> None:
    if seen:
        detail[node] = seen


def _with(value: dict, detail: dict, errors: dict) -> dict:
    if detail:
        value["detail"] = dict(sorted(detail.items()))
    if errors:
        value["errors"] = errors
    return value


class KillNemesis(_ProcessFault):
    """SIGKILL the system's process on the targets; restart it on heal."""

    name = "kill"
    verb = "kill"
    requires = frozenset({"kill"})

    def inject(self, run, node):
        run.system.kill(run.cluster, node)

    def recover(self, run, node):
        run.system.start(run.cluster, node)


class PauseNemesis(_ProcessFault):
    """SIGSTOP the system's process on the targets; SIGCONT on heal."""

    name = "pause"
    verb = "pause"
    requires = frozenset({"pause"})

    def inject(self, run, node):
        run.system.pause(run.cluster, node)

    def recover(self, run, node):
        run.system.resume(run.cluster, node)
