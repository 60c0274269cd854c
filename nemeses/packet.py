"""Packet loss between the nodes (the `packet` nemesis).

Each node drops a share of the packets it receives from the other nodes of the cluster
(iptables `statistic --mode random`, in the harness's own chain HARNESS-PACKET; see
nemeses/firewall.py): every link between nodes loses about `loss` percent of its packets
in each direction, at random, for the length of the fault. The controller's own traffic
(the clients, the harness's probes) is not touched: the fault is between the nodes, as
a flaky network between servers is. Healing flushes the chain.

Not built yet (issue 13): duplication, and latency with jitter, which need a delayer
(NFQUEUE) process in each node, since this kernel has no netem qdisc.
"""

from __future__ import annotations

from harness.options import Option

from . import firewall

CHAIN = "HARNESS-PACKET"


def loss_commands(nodes: list[str], ips: dict[str, str], loss_percent: float) -> dict[str, str]:
    """Each node's command: drop `loss_percent` of the packets from each other node."""
    probability = f"{loss_percent / 100:.4f}"
    return {node: firewall.rules_cmd(CHAIN, [
                f"-s {ips[peer]} -m statistic --mode random --probability {probability} -j DROP"
                for peer in nodes if peer != node])
            for node in nodes}


class PacketNemesis:
    """Loses a share of the packets between every pair of nodes, per fault."""

    name = "packet"
    options = (Option("loss", "float", 20.0, "percent of the packets between nodes dropped, "
                      "each way", minimum=0.1, maximum=100.0),)
    requires = frozenset()

    def __init__(self, loss: float = 20.0):
        self.loss = loss

    def problems(self, node_count: int) -> list[str]:
        return [] if node_count >= 2 else ["packet loss between nodes needs at least 2 nodes"]

    def start(self, run, rng):
        nodes = list(run.cluster.nodes)
        errors = firewall.apply(run, "packet loss",
                                loss_commands(nodes, run.cluster.ips, self.loss))
        value = {"phase": "start", "loss_percent": self.loss,
                 "nodes": sorted(n for n in nodes if n not in errors)}
        if errors:
            value["errors"] = errors
        return value

    def stop(self, run):
        errors = self._heal(run)
        return {"phase": "end", **({"errors": errors} if errors else {})}

    def heal_all(self, run):
        errors = self._heal(run)
        if errors:
            raise RuntimeError("could not heal packet loss on " +
                               "; ".join(f"{n}: {e}" for n, e in sorted(errors.items())))

    def _heal(self, run) -> dict[str, str]:
        return firewall.apply(run, "healing packet loss",
                              {n: firewall.flush_cmd(CHAIN) for n in run.cluster.nodes})
