"""The raftkv server on loopback addresses (127.x.y.z), as real processes, no Docker."""

import os
import sys
import time

import pytest

from tests.clusters import local_raft

SERVER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "clusters", "raftkv", "server",
                      "raftkv_server.py")


class LocalCluster(local_raft.LocalCluster):
    def __init__(self, tmp_path, size=3, flags=()):
        super().__init__(SERVER, tmp_path, size, flags, subnet=88)


@pytest.fixture
def cluster(tmp_path):
    c = LocalCluster(tmp_path)
    yield c
    c.stop()


def test_elects_a_leader_and_serves_put_get_cas_through_any_node(cluster):
    cluster.leader()
    assert cluster.request("n1", "PUT", "/kv/a", {"value": 1}) == (200, {"ok": True})
    assert cluster.request("n2", "GET", "/kv/a") == (200, {"value": 1})
    assert cluster.request("n3", "POST", "/cas/a", {"old": 1, "new": 2}) == (200, {"ok": True})
    status, body = cluster.request("n1", "POST", "/cas/a", {"old": 1, "new": 3})
    assert status == 409 and body["error"] == "cas-mismatch"
    assert cluster.request("n3", "GET", "/kv/a") == (200, {"value": 2})
    assert cluster.request("n3", "GET", "/kv/missing") == (200, {"value": None})


def test_acknowledged_writes_survive_leader_crash_and_restart(cluster):
    leader = cluster.leader()
    for i in range(20):
        assert cluster.request(leader, "PUT", f"/kv/k{i}", {"value": i})[0] == 200
    cluster.kill(leader)
    new_leader = cluster.leader(exclude=(leader,))
    assert new_leader != leader
    for i in range(20):
        assert cluster.request(new_leader, "GET", f"/kv/k{i}") == (200, {"value": i})
    cluster.request(new_leader, "PUT", "/kv/after", {"value": 99})
    cluster.start(leader)  # recovers term, vote and log from disk, then catches up
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        s = cluster.status(leader)
        if s and s["applied"] >= 22:
            break
        time.sleep(0.1)
    s = cluster.status(leader)
    assert s["last_index"] >= 22 and s["role"] == "follower"


def test_a_minority_cannot_serve_writes_or_safe_reads(tmp_path):
    c = LocalCluster(tmp_path)
    try:
        leader = c.leader()
        others = [n for n in c.ips if n != leader]
        c.kill(others[0])
        c.kill(others[1])
        status, body = c.request(leader, "PUT", "/kv/x", {"value": 1}, timeout=5)
        assert status in (503, 504)
        status, body = c.request(leader, "GET", "/kv/x", timeout=5)
        assert status == 503
    finally:
        c.stop()


def test_torn_log_tail_is_discarded_on_restart(tmp_path):
    sys.path.insert(0, os.path.join(os.path.dirname(SERVER), "..", "..", "raft"))
    from raftcore import Storage
    s = Storage(str(tmp_path))
    s.load()
    s.append([(1, {"op": "put", "k": "a", "v": 1}), (1, {"op": "noop"})])
    with open(s.log_path, "ab") as f:
        f.write(b'[1,{"op":"pu')
    term, vote, entries = Storage(str(tmp_path)).load()
    assert len(entries) == 2
    assert os.path.getsize(s.log_path) == len(open(s.log_path, "rb").read().split(b"\n")[0]) + \
        len(open(s.log_path, "rb").read().split(b"\n")[1]) + 2
