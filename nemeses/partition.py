"""Network partitions, as grudges enforced with iptables inside the nodes.

A *grudge* maps each node to the set of nodes it drops traffic from (Jepsen's term).
The shapes are pure functions of the node list (and a random source), so they are
tested without a cluster:

* `halves`: a random split into a smaller and a larger half;
* `one`: one random node cut off from all others;
* `majorities-ring`: every node sees a majority of the cluster, but no two nodes see the
  same majority (each sees its ring neighbours within distance n//2 ... for 5 nodes, two
  on each side), which makes leader elections fight;
* `bridge`: two halves that cannot talk to each other, joined by one node that sees both;
* `primaries`: the current leaders (from the system) cut off from all other nodes.

Enforcement: each node gets a chain HARNESS-PARTITION of DROP rules, hooked into INPUT
(nemeses/firewall.py). Healing flushes only that chain, never anything the harness did
not create.
"""

from __future__ import annotations

import logging
import random
from typing import Iterable

from harness.options import Option

from . import Unhealed, firewall

log = logging.getLogger(__name__)

CHAIN = "HARNESS-PARTITION"
SHAPES = ("halves", "one", "majorities-ring", "bridge", "primaries")

Grudge = dict  # node -> frozenset of nodes whose packets it drops


def complete_grudge(components: Iterable[Iterable[str]]) -> Grudge:
    """Nodes in different components drop each other's traffic."""
    components = [list(c) for c in components]
    grudge: Grudge = {}
    for comp in components:
        others = frozenset(n for c in components if c is not comp for n in c)
        for node in comp:
            grudge[node] = others
    return grudge


def split_halves(nodes: list[str], rng: random.Random) -> list[list[str]]:
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    small = len(nodes) // 2
    return [sorted(shuffled[:small]), sorted(shuffled[small:])]


def halves(nodes, rng, primaries=()) -> tuple[Grudge, dict]:
    groups = split_halves(nodes, rng)
    return complete_grudge(groups), {"groups": groups}


def one(nodes, rng, primaries=()) -> tuple[Grudge, dict]:
    victim = rng.choice(sorted(nodes))
    groups = [[victim], sorted(n for n in nodes if n != victim)]
    return complete_grudge(groups), {"groups": groups}


def majorities_ring(nodes, rng, primaries=()) -> tuple[Grudge, dict]:
    """Each node sees itself and its n//2 nearest neighbours on a shuffled ring."""
    ring = list(nodes)
    rng.shuffle(ring)
    n = len(ring)
    reach = n // 2
    grudge: Grudge = {}
    views = {}
    for i, node in enumerate(ring):
        visible = {ring[(i + d) % n] for d in range(-(reach // 2), reach - reach // 2 + 1)}
        # For odd n this is a majority centred on the node; for even n it leans one way.
        views[node] = sorted(visible)
        grudge[node] = frozenset(set(nodes) - visible)
    # Symmetrise: if a drops b, b drops a, so every link is cut both ways.
    for a in list(grudge):
        for b in grudge[a]:
            grudge[b] = grudge[b] | {a}
    return grudge, {"ring": ring, "views": {k: sorted(set(nodes) - grudge[k]) for k in ring}}


def bridge(nodes, rng, primaries=()) -> tuple[Grudge, dict]:
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    middle = shuffled[0]
    rest = shuffled[1:]
    left, right = sorted(rest[: len(rest) // 2]), sorted(rest[len(rest) // 2:])
    grudge = complete_grudge([left, right])
    grudge[middle] = frozenset()
    return grudge, {"groups": [left + [middle], [middle] + right], "bridge": middle}


def isolate_primaries(nodes, rng, primaries=()) -> tuple[Grudge, dict]:
    leaders = sorted(p for p in primaries if p in nodes)
    if not leaders:
        return one(nodes, rng)
    others = sorted(n for n in nodes if n not in leaders)
    groups = [[p] for p in leaders] + [others]
    return complete_grudge(groups), {"groups": groups, "primaries": leaders}


SHAPE_FUNCTIONS = {
    "halves": halves, "one": one, "majorities-ring": majorities_ring,
    "bridge": bridge, "primaries": isolate_primaries,
}


def grudge_shape(shape: str, nodes: list[str], rng: random.Random,
                 primaries: Iterable[str] = ()) -> tuple[Grudge, dict]:
    return SHAPE_FUNCTIONS[shape](list(nodes), rng, tuple(primaries))


def drop_commands(grudge: Grudge, ips: dict[str, str]) -> dict[str, str]:
    """The shell command to run on each node to enforce `grudge`."""
    return {node: firewall.rules_cmd(CHAIN, [f"-s {ips[d]} -j DROP" for d in sorted(dropped)])
            for node, dropped in grudge.items()}


def heal_cmd() -> str:
    return firewall.flush_cmd(CHAIN)


MIN_NODES = {"halves": 2, "one": 2, "majorities-ring": 3, "bridge": 3, "primaries": 2}


class PartitionNemesis:
    """Partitions the network into one of SHAPES per fault (chosen from `shapes` in turn
    at random), healing by flushing the harness's own chain on every node.

    A start that reached no node raises FaultFailed; one that reached some records the
    others under `errors`. Healing checks every node's answer: a heal that failed on
    every node raises, so it is never recorded as healed."""

    name = "partition"
    options = (Option("shapes", "list", default=SHAPES, choices=SHAPES,
                      flag="--partition-shapes",
                      help="partition shapes to choose from per fault"),)
    requires = frozenset()

    def __init__(self, shapes: Iterable[str] = SHAPES):
        self.shapes = tuple(shapes)
        self.active = False

    def problems(self, node_count: int) -> list[str]:
        too_small = [s for s in self.shapes if node_count < MIN_NODES[s]]
        if too_small:
            return [f"partition shape(s) {', '.join(too_small)} need at least "
                    f"{max(MIN_NODES[s] for s in too_small)} nodes, the cluster has {node_count}"]
        return []

    def start(self, run, rng):
        shape = rng.choice(self.shapes)
        primaries = run.primaries() if shape == "primaries" else ()
        grudge, description = grudge_shape(shape, run.cluster.nodes, rng, primaries)
        commands = drop_commands(grudge, run.cluster.ips)
        self.active = True
        errors = firewall.apply(run, f"partition {shape}", commands)
        value = {"phase": "start", "shape": shape, **description}
        if errors:
            value["errors"] = errors
        return value

    def stop(self, run):
        errors = self._heal(run)
        value = {"phase": "end"}
        if errors:
            value["errors"] = errors
        return value

    def heal_all(self, run):
        errors = self._heal(run)
        if errors:
            raise Unhealed("heal the partition", errors)

    def _heal(self, run) -> dict[str, str]:
        errors = firewall.apply(run, "healing the partition",
                                {n: heal_cmd() for n in run.cluster.nodes})
        self.active = bool(errors)
        return errors
