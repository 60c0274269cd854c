from harness.errors import UsageError
from harness.options import build

from nemeses.packet import CHAIN, PacketNemesis, loss_commands


def test_each_node_drops_a_share_of_every_peers_packets_in_its_own_chain():
    ips = {"n1": "10.0.0.1", "n2": "10.0.0.2", "n3": "10.0.0.3"}
    commands = loss_commands(list(ips), ips, 12.5)
    assert set(commands) == set(ips)
    for node, cmd in commands.items():
        assert f"iptables -N {CHAIN}" in cmd and f"-I INPUT 1 -j {CHAIN}" in cmd
        peers = [ip for n, ip in ips.items() if n != node]
        for ip in peers:
            assert f"-A {CHAIN} -s {ip} -m statistic --mode random --probability 0.1250 -j DROP" in cmd
        assert f"-s {ips[node]} " not in cmd          # never its own address


def test_options_are_bounded():
    assert build(PacketNemesis, "packet", {"loss": "35"}, "--nemesis-opt").loss == 35.0
    for bad in ("0", "101", "lots"):
        try:
            build(PacketNemesis, "packet", {"loss": bad}, "--nemesis-opt")
        except UsageError as e:
            assert "loss" in str(e)
        else:
            raise AssertionError(f"loss={bad} accepted")
    assert PacketNemesis().problems(1) and not PacketNemesis().problems(2)
