from harness.errors import UsageError
from harness.options import build

from nemeses.delayer import attribute, message, packet_ids
from nemeses.packet import CHAIN, QUEUE, PacketNemesis, delayer_start_cmd, loss_commands


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
    for bad in ("-1", "101", "lots"):
        try:
            build(PacketNemesis, "packet", {"loss": bad}, "--nemesis-opt")
        except UsageError as e:
            assert "loss" in str(e)
        else:
            raise AssertionError(f"loss={bad} accepted")
    assert PacketNemesis().problems(1) and not PacketNemesis().problems(2)
    assert "do nothing" in PacketNemesis(loss=0).problems(3)[0]
    assert "jitter needs" in PacketNemesis(jitter=5).problems(3)[0]
    assert not PacketNemesis(loss=0, delay=50, jitter=10).problems(3)


def test_delay_queues_what_loss_lets_through_to_the_delayer():
    ips = {"n1": "10.0.0.1", "n2": "10.0.0.2"}
    cmd = loss_commands(list(ips), ips, 10, delay=True)["n1"]
    drop = cmd.index("-s 10.0.0.2 -m statistic")
    queue = cmd.index(f"-s 10.0.0.2 -j NFQUEUE --queue-num {QUEUE} --queue-bypass")
    assert drop < queue
    assert "statistic" not in loss_commands(list(ips), ips, 0, delay=True)["n1"]
    start = delayer_start_cmd(50, 10, 7)
    assert f"delayer.py {QUEUE} 50 10 7" in start and "setsid" in start


def test_the_delayer_speaks_nfnetlink_queue():
    """Messages as the kernel lays them out: header, nfgenmsg with the queue (big endian),
    4-byte aligned attributes; a queued packet's id is read from NFQA_PACKET_HDR."""
    import struct
    msg = message(1, 4711, attribute(2, struct.pack("!II", 1, 99)), seq=5)
    length, kind, flags, seq, _ = struct.unpack_from("=IHHII", msg)
    assert length == len(msg) == 16 + 4 + 12 and kind == (3 << 8) | 1 and seq == 5
    assert struct.unpack_from("!H", msg, 18)[0] == 4711
    packet = message(0, 4711, attribute(1, struct.pack("!IHB", 1234, 0x0800, 1))
                     + attribute(10, b"abc"), seq=0)
    assert list(packet_ids(packet + packet)) == [1234, 1234]
