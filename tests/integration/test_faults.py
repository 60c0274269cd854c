"""Each network fault takes effect on real containers, and heals: measured with ping
between nodes, not inferred from the rules; and a safe system stays valid under it."""

import logging
import re
import uuid

from harness import image
from harness.control.docker import DockerCluster

from nemeses.packet import CHAIN, NODE_DIR, PacketNemesis

from .conftest import harness, results_of, run_dir_of


class _Run:
    def __init__(self, cluster):
        self.cluster = cluster
        self.log = logging.getLogger("test")


def _loss(cluster, src, dst, count=200) -> float:
    _, out = cluster.exec(src, f"ping -q -c {count} -i 0.01 -W 1 {cluster.ips[dst]}",
                          check=False, timeout=60)
    return float(re.search(r"([\d.]+)% packet loss", out).group(1))


def test_packet_loss_drops_the_share_asked_for_and_heals(docker_client):
    owner = DockerCluster(docker_client, "packet" + uuid.uuid4().hex[:8],
                          image.require(docker_client), 2)
    try:
        cluster = owner.create()
        run = _Run(cluster)
        assert _loss(cluster, "n1", "n2") == 0.0
        nemesis = PacketNemesis(loss=50)
        value = nemesis.start(run, None)
        assert value["nodes"] == ["n1", "n2"] and "errors" not in value
        # A request and its reply each cross a lossy link: 1 - 0.5 * 0.5 = 75 % lost.
        assert 55 <= _loss(cluster, "n1", "n2") <= 92
        nemesis.stop(run)
        assert _loss(cluster, "n1", "n2") == 0.0
        nemesis.heal_all(run)                       # idempotent
        _, rules = cluster.exec("n1", f"iptables -S {CHAIN}")
        assert rules.strip() == f"-N {CHAIN}"
    finally:
        owner.destroy()


def _rtt_ms(cluster, src, dst, count=30) -> tuple[float, float, float]:
    # -U: user-to-user time. Without it ping reports the kernel's receive timestamp, taken
    # before the packet is queued to the delayer, and the last leg's delay is invisible.
    _, out = cluster.exec(src, f"ping -U -q -c {count} -i 0.05 -W 2 {cluster.ips[dst]}",
                          check=False, timeout=60)
    low, avg, high = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/", out).groups()
    return float(low), float(avg), float(high)


def test_packet_delay_holds_each_packet_for_delay_and_jitter_and_heals(docker_client):
    owner = DockerCluster(docker_client, "delay" + uuid.uuid4().hex[:8],
                          image.require(docker_client), 2)
    try:
        cluster = owner.create()
        run = _Run(cluster)
        assert _rtt_ms(cluster, "n1", "n2")[2] < 20
        nemesis = PacketNemesis(loss=0, delay=50, jitter=10)
        value = nemesis.start(run, __import__("random").Random(1))
        assert value["nodes"] == ["n1", "n2"] and "errors" not in value
        # Each way 40-60 ms: a round trip 80-120 ms (plus scheduling on a busy machine).
        low, avg, high = _rtt_ms(cluster, "n1", "n2")
        assert 78 <= low and 90 <= avg <= 150, (low, avg, high)
        nemesis.stop(run)
        assert _rtt_ms(cluster, "n1", "n2")[2] < 20
        for node in cluster.nodes:
            rc, _ = cluster.exec(node, f"test -e {NODE_DIR}", check=False)
            assert rc != 0                          # the delayer's files are gone
            _, procs = cluster.exec(node, "pgrep -f [d]elayer.py || true")
            assert not procs.strip()
    finally:
        owner.destroy()


def test_safe_raftkv_under_packet_loss_is_linearizable(docker_client, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "raftkv", "--nemesis", "packet", "--nemesis-opt",
                  "packet.loss=30", "--nemesis-opt", "packet.delay=20", "--nemesis-opt",
                  "packet.jitter=10", "--time-limit", "25", "--store", store)
    assert res.returncode == 0, res.stdout + res.stderr
    results = results_of(store)
    assert results["run"]["nemeses"]["packet"]["started"] >= 1
    assert results["linearizable"]["valid"] is True
    assert run_dir_of(store)
