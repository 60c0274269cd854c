"""Packet loss and latency between the nodes (the `packet` nemesis).

Each node drops a share of the packets it receives from the other nodes of the cluster
(iptables `statistic --mode random`, in the harness's own chain HARNESS-PACKET; see
nemeses/firewall.py): every link between nodes loses about `loss` percent of its packets
in each direction, at random, for the length of the fault. With `delay`, the packets that
get through are queued (iptables NFQUEUE, queue QUEUE, `--queue-bypass` so nothing is
lost if the delayer is gone) to a delayer process in the node (nemeses/delayer.py) that
holds each for `delay` ± `jitter` ms: every one-way trip between nodes takes that long,
a round trip twice that. This kernel has no netem qdisc; where one exists `tc netem`
would do the same. The controller's own traffic (the clients, the harness's probes) is
not touched: the fault is between the nodes, as a flaky network between servers is.
Healing flushes the chain, then stops the delayer and removes its files.

Not built: duplication (neither iptables nor a queue verdict can copy a packet).
"""

from __future__ import annotations

import os

from harness.options import Option

from clusters.daemon import detached

from . import Unhealed, firewall

CHAIN = "HARNESS-PACKET"
QUEUE = 4711                       # the NFQUEUE number the delayer binds (any unused one)
NODE_DIR = "/run/harness-packet"
DELAYER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "delayer.py")
PID_FILE = f"{NODE_DIR}/delayer.pid"


def packet_rules(peer_ips: list[str], loss_percent: float, delay: bool) -> list[str]:
    """Rules for one node: per peer, drop `loss_percent` of its packets, then queue the
    rest to the delayer when `delay`."""
    rules = []
    for ip in peer_ips:
        if loss_percent > 0:
            rules.append(f"-s {ip} -m statistic --mode random --probability "
                         f"{loss_percent / 100:.4f} -j DROP")
        if delay:
            rules.append(f"-s {ip} -j NFQUEUE --queue-num {QUEUE} --queue-bypass")
    return rules


def loss_commands(nodes: list[str], ips: dict[str, str], loss_percent: float,
                  delay: bool = False) -> dict[str, str]:
    """Each node's command: its rules against every other node, all at once."""
    return {node: firewall.rules_cmd(CHAIN, packet_rules(
                [ips[peer] for peer in nodes if peer != node], loss_percent, delay))
            for node in nodes}


def delayer_start_cmd(delay_ms: float, jitter_ms: float, seed: int) -> str:
    command = (f"sh -c 'echo $$ > {PID_FILE}; exec python3 {NODE_DIR}/delayer.py {QUEUE} "
               f"{delay_ms:g} {jitter_ms:g} {seed}'")
    return detached(command, PID_FILE, f"{NODE_DIR}/delayer.log", fault_env=False)


def delayer_stop_cmd() -> str:
    return (f"if [ -f {PID_FILE} ]; then kill -9 $(cat {PID_FILE}) 2>/dev/null; fi; "
            f"rm -rf {NODE_DIR}")


class PacketNemesis:
    """Loses and/or delays a share of the packets between every pair of nodes, per fault."""

    name = "packet"
    options = (
        Option("loss", "float", 20.0, "percent of the packets between nodes dropped, each "
               "way", minimum=0.0, maximum=100.0),
        Option("delay", "float", 0.0, "milliseconds each packet between nodes is held, "
               "each way (0: none)", minimum=0.0, maximum=60_000.0),
        Option("jitter", "float", 0.0, "milliseconds the delay varies by, uniformly, "
               "either way", minimum=0.0, maximum=60_000.0),
    )
    requires = frozenset()

    def __init__(self, loss: float = 20.0, delay: float = 0.0, jitter: float = 0.0):
        self.loss, self.delay, self.jitter = loss, delay, jitter

    def problems(self, node_count: int) -> list[str]:
        found = [] if node_count >= 2 else ["packet faults between nodes need at least 2 nodes"]
        if self.loss == 0 and self.delay == 0:
            found.append("packet.loss and packet.delay are both 0: the fault would do nothing")
        if self.jitter and not self.delay:
            found.append("packet.jitter needs packet.delay")
        return found

    def start(self, run, rng):
        nodes = list(run.cluster.nodes)
        errors: dict[str, str] = {}
        if self.delay:
            seed = rng.randrange(2**31) if rng is not None else 0
            errors = self._start_delayers(run, nodes, seed)
        live = [n for n in nodes if n not in errors]
        errors |= firewall.apply(run, "packet faults", loss_commands(
            live, run.cluster.ips, self.loss, delay=bool(self.delay))) if live else {}
        if len(errors) == len(nodes):
            raise firewall.FaultFailed("packet faults", errors)
        value = {"phase": "start", "loss_percent": self.loss, "delay_ms": self.delay,
                 "jitter_ms": self.jitter, "nodes": sorted(n for n in nodes if n not in errors)}
        if errors:
            value["errors"] = errors
        return value

    def _start_delayers(self, run, nodes, seed) -> dict[str, str]:
        def install(node):
            run.cluster.exec(node, f"mkdir -p {NODE_DIR}", timeout=firewall.EXEC_TIMEOUT_S)
            run.cluster.remote.upload(node, DELAYER, NODE_DIR)
            run.cluster.exec(node, delayer_start_cmd(self.delay, self.jitter, seed),
                             timeout=firewall.EXEC_TIMEOUT_S)

        from . import on_nodes
        _, errors = on_nodes(install, nodes)
        return errors

    def stop(self, run):
        errors = self._heal(run)
        return {"phase": "end", **({"errors": errors} if errors else {})}

    def heal_all(self, run):
        errors = self._heal(run)
        if errors:
            raise Unhealed("heal packet faults", errors)

    def _heal(self, run) -> dict[str, str]:
        # Rules first (no packet is queued to a delayer about to go), then the delayers.
        return firewall.apply(run, "healing packet faults",
                              {n: f"{firewall.flush_cmd(CHAIN)} && {delayer_stop_cmd()}"
                               for n in run.cluster.nodes})
