"""The sqldb server on loopback addresses (127.x.y.z), as real processes, no Docker:
transactions through any node, rollback on error, determinism checks, recovery from the
SQLite file and the log, and each unsafe mode doing what it says."""

import os
import time

import pytest

from tests.clusters import local_raft

SERVER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "clusters", "sqldb", "server",
                      "sqldb_server.py")
SCHEMA = "CREATE TABLE IF NOT EXISTS lists (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"
APPEND = ("INSERT INTO lists (k, v) VALUES (?, ?) "
          "ON CONFLICT (k) DO UPDATE SET v = v || ',' || excluded.v")
READ = "SELECT v FROM lists WHERE k = ?"


def st(sql, *params):
    return {"sql": sql, "params": list(params)}


class LocalCluster(local_raft.LocalCluster):
    def __init__(self, tmp_path, size=3, flags=()):
        super().__init__(SERVER, tmp_path, size, flags, subnet=89)

    def txn(self, node, *statements, timeout=3):
        return self.request(node, "POST", "/txn", {"statements": list(statements)}, timeout)

    def wait_applied(self, node, index, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.status(node)
            if s and s["applied"] >= index:
                return s
            time.sleep(0.05)
        raise AssertionError(f"{node} did not apply up to {index}: {self.status(node)}")


@pytest.fixture
def cluster(tmp_path):
    c = LocalCluster(tmp_path)
    leader = c.leader()
    assert c.txn(leader, st(SCHEMA))[0] == 200
    index = c.status(leader)["commit"]
    for node in c.ips:      # every node has the table and knows the leader
        c.wait_applied(node, index)
    yield c
    c.stop()


def rows(answer, i):
    return answer[1]["results"][i]["rows"]


def test_a_transaction_through_any_node_sees_its_own_writes_and_reads_linearizably(cluster):
    status, body = cluster.txn("n2", st(APPEND, 1, "1"), st(APPEND, 1, "2"), st(READ, 1))
    assert status == 200 and body["results"][0]["changes"] == 1
    assert rows((status, body), 2) == [["1,2"]]
    for node in cluster.ips:    # read-only: ReadIndex on the leader, from every node
        assert rows(cluster.txn(node, st(READ, 1)), 0) == [["1,2"]]
    assert rows(cluster.txn("n3", st(READ, 99)), 0) == []


def test_a_failing_statement_rolls_back_the_whole_transaction(cluster):
    status, body = cluster.txn("n1", st(APPEND, 5, "1"), st("INSERT INTO nosuch VALUES (1)"))
    assert status == 409 and body["statement"] == 1 and "nosuch" in body["error"]
    assert rows(cluster.txn("n1", st(READ, 5)), 0) == []


@pytest.mark.parametrize("sql, params, word", [
    ("SELECT random()", [], "random()"),
    ("INSERT INTO lists VALUES (7, randomblob(4))", [], "randomblob()"),
    ("INSERT INTO lists VALUES (7, CURRENT_TIMESTAMP)", [], "current_timestamp()"),
    ("INSERT INTO lists VALUES (7, datetime(?))", ["now"], "datetime()"),
    ("BEGIN", [], "transaction control"),
    ("PRAGMA synchronous = OFF", [], "PRAGMA"),
    ("UPDATE _raft SET applied = 0", [], "_raft"),
])
def test_non_deterministic_or_unsafe_sql_is_refused_with_a_clear_error(cluster, sql, params, word):
    status, body = cluster.txn("n1", {"sql": sql, "params": params})
    assert status == 409 and word in body["error"], body
    assert rows(cluster.txn("n1", st(READ, 7)), 0) == []


def test_malformed_requests_are_400(cluster):
    assert cluster.request("n1", "POST", "/txn", {"statements": []})[0] == 400
    assert cluster.request("n1", "POST", "/txn", {"statements": [{"sql": 1}]})[0] == 400
    assert cluster.request("n1", "POST", "/txn", [1])[0] == 400
    assert cluster.request("n1", "GET", "/txn")[0] == 405


def test_every_node_applies_the_same_state_and_a_restarted_node_recovers(cluster):
    for i in range(20):
        assert cluster.txn("n1", st(APPEND, i % 3, str(i)))[0] == 200
    leader = cluster.leader()
    cluster.kill(leader)
    new_leader = cluster.leader(exclude=(leader,))
    assert cluster.txn(new_leader, st(APPEND, 0, "after"))[0] == 200
    expected = rows(cluster.txn(new_leader, st("SELECT k, v FROM lists ORDER BY k")), 0)
    assert expected[0][1].endswith(",after")
    cluster.start(leader)   # resumes from its SQLite file's applied index, then catches up
    index = cluster.status(new_leader)["commit"]
    for node in cluster.ips:
        cluster.wait_applied(node, index)
    # Every replica's SQLite file holds the same rows.
    import sqlite3
    cluster.stop()
    for node in cluster.ips:
        db = sqlite3.connect(str(cluster.tmp / node / "sqldb.sqlite"))
        assert [list(r) for r in db.execute("SELECT k, v FROM lists ORDER BY k")] == expected


def test_a_minority_cannot_serve_writes_or_safe_reads(cluster):
    leader = cluster.leader()
    others = [n for n in cluster.ips if n != leader]
    for n in others:
        cluster.kill(n)
    status, _ = cluster.txn(leader, st(APPEND, 1, "1"), timeout=5)
    assert status in (503, 504)
    status, _ = cluster.txn(leader, st(READ, 1), timeout=5)
    assert status == 503


def test_stale_reads_mode_answers_from_a_cut_off_replica(tmp_path):
    c = LocalCluster(tmp_path, flags=["--stale-reads"])
    try:
        leader = c.leader()
        assert c.txn(leader, st(SCHEMA))[0] == 200
        stale, other = [n for n in c.ips if n != leader]
        c.wait_applied(stale, c.status(leader)["commit"])
        c.kill(stale)
        assert c.txn(leader, st(APPEND, 1, "1"))[0] == 200
        c.kill(leader)
        c.kill(other)
        c.start(stale)      # alone: no leader, yet it answers from its own copy
        deadline = time.monotonic() + 10
        while c.status(stale) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rows(c.txn(stale, st(READ, 1)), 0) == []
    finally:
        c.stop()


def test_safe_mode_refuses_a_read_it_cannot_confirm(tmp_path):
    c = LocalCluster(tmp_path)
    try:
        leader = c.leader()
        assert c.txn(leader, st(SCHEMA))[0] == 200
        alone = next(n for n in c.ips if n != leader)
        for n in c.ips:
            if n != alone:
                c.kill(n)
        assert c.txn(alone, st(READ, 1), timeout=5)[0] == 503
    finally:
        c.stop()


def test_read_before_log_mode_reads_the_state_before_concurrent_writes(tmp_path):
    c = LocalCluster(tmp_path, flags=["--read-before-log"])
    try:
        leader = c.leader()
        assert c.txn(leader, st(SCHEMA))[0] == 200
        status, body = c.txn(leader, st(READ, 1), st(APPEND, 1, "1"), st(READ, 1))
        # The reads come from the applied state before the write went through the log.
        assert status == 200 and rows((status, body), 0) == [] and rows((status, body), 2) == [["1"]]
        assert rows(c.txn(leader, st(READ, 1)), 0) == [["1"]]
    finally:
        c.stop()


def test_no_fsync_mode_keeps_acknowledged_writes_when_every_process_crashes(tmp_path):
    """The realistic bug writes but never fsyncs: a process crash loses nothing (the OS has
    the data); only a power loss does (the lose-unfsynced nemesis, on real nodes)."""
    c = LocalCluster(tmp_path, flags=["--no-fsync"])
    try:
        leader = c.leader()
        assert c.txn(leader, st(SCHEMA))[0] == 200
        for key in (1, 2, 3):
            assert c.txn(leader, st(APPEND, key, "1"))[0] == 200
            for n in c.ips:
                c.kill(n)
            for n in c.ips:
                c.start(n)
            leader = c.leader()
            assert rows(c.txn(leader, st(READ, key)), 0) == [["1"]]
    finally:
        c.stop()
