"""The leader-lease rules of the Raft core (raftkv's lease-reads mode), in one process:
a node's message handlers driven by hand, its outgoing messages captured, its clocks
(the monotonic one for the followers' rule, the wall one for the lease) set by the test."""

import asyncio
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "clusters", "raft"))

import raftcore  # noqa: E402
from raftcore import (ELECTION_TIMEOUT_S, LEADER, LEASE_S, RaftNode,  # noqa: E402
                      Storage)

PEERS = {"n1": "127.0.0.1", "n2": "127.0.0.2", "n3": "127.0.0.3"}


class Clocks:
    def __init__(self, monkeypatch):
        self.mono, self.wall = 1000.0, 5_000_000.0
        monkeypatch.setattr(raftcore.time, "monotonic", lambda: self.mono)
        monkeypatch.setattr(raftcore, "lease_clock", lambda: self.wall)

    def advance(self, s):
        self.mono += s
        self.wall += s


class KV:
    def __init__(self):
        self.kv = {}

    def applied_index(self, last):
        return 0

    def apply(self, entries):
        for _, cmd in entries:
            if cmd.get("op") == "put":
                self.kv[cmd["k"]] = cmd["v"]
        return [(200, {"ok": True}) for _ in entries]


def make_node(tmp_path, node_id="n1", lease=True):
    async def on_leader(request):
        return 200, {}
    node = RaftNode(node_id, PEERS, 7000, Storage(str(tmp_path / node_id)), KV(), on_leader,
                    lease_reads=lease)
    node.sent = []
    node.send = lambda peer, msg: node.sent.append((peer, msg)) or True
    return node


def sent_of(node, kind):
    return [(p, m) for p, m in node.sent if m["type"] == kind]


def elect(node):
    """Make `node` leader of term 1 with the votes of n2 (call inside a loop)."""
    node.start_election()
    node.on_vote_r({"type": "vote_r", "term": node.term, "from": "n2", "granted": True})
    assert node.role == LEADER
    node.flush_and_replicate()
    # n2 acknowledges the no-op: an entry of the leader's term commits.
    node.on_append_r({"type": "append_r", "term": node.term, "from": "n2", "seq": node.seq,
                      "success": True, "hint": 0, "match": node.last_index})
    assert node.commit_index == node.last_index


def heartbeat_acked_by(node, peer, clocks, delay=0.001):
    node.broadcast(heartbeat=True)
    seq = node.seq
    clocks.advance(delay)
    node.on_append_r({"type": "append_r", "term": node.term, "from": peer, "seq": seq,
                      "success": True, "hint": 0, "match": node.last_index})
    return seq


def append_from(leader, term=1):
    return {"type": "append", "term": term, "from": leader, "prev_i": 0, "prev_t": 0,
            "entries": [], "commit": 0, "seq": 1}


def vote_request(candidate, term):
    return {"type": "vote", "term": term, "from": candidate, "lli": 5, "llt": term}


@pytest.mark.parametrize("lease", [True, False])
def test_a_follower_that_heard_from_a_leader_neither_votes_nor_adopts_the_term(
        tmp_path, monkeypatch, lease):
    clocks = Clocks(monkeypatch)
    node = make_node(tmp_path, "n3", lease=lease)
    node.on_append(append_from("n1"))
    assert node.leader == "n1" and node.term == 1
    clocks.advance(ELECTION_TIMEOUT_S[0] * 0.9)
    node.on_vote(vote_request("n2", 2))
    (_, reply), = sent_of(node, "vote_r")
    if lease:       # thesis §6.4: the current leader may still hold its lease
        assert reply == {"type": "vote_r", "term": 1, "from": "n3", "granted": False}
        assert node.term == 1 and node.voted_for is None and node.leader == "n1"
    else:           # plain Raft: a higher term wins the vote at once
        assert reply["granted"] and node.term == 2 and node.voted_for == "n2"


def test_after_the_minimum_election_timeout_the_follower_votes_again(tmp_path, monkeypatch):
    clocks = Clocks(monkeypatch)
    node = make_node(tmp_path, "n3")
    node.on_append(append_from("n1"))
    clocks.advance(ELECTION_TIMEOUT_S[0] + 0.01)
    node.on_vote(vote_request("n2", 2))
    (_, reply), = sent_of(node, "vote_r")
    assert reply["granted"] and reply["term"] == 2 and node.voted_for == "n2"


def test_the_followers_rule_is_on_the_monotonic_clock_not_the_wall_clock(tmp_path, monkeypatch):
    clocks = Clocks(monkeypatch)
    node = make_node(tmp_path, "n3")
    node.on_append(append_from("n1"))
    clocks.wall += 3600          # a stepped wall clock does not make it forget its leader
    node.on_vote(vote_request("n2", 2))
    assert not sent_of(node, "vote_r")[0][1]["granted"]


def test_a_leader_refuses_votes_and_answers_reads_from_its_lease(tmp_path, monkeypatch):
    clocks = Clocks(monkeypatch)

    async def body():
        node = make_node(tmp_path)
        elect(node)
        node.sent.clear()
        node.on_vote(vote_request("n3", node.term + 5))
        assert node.role == LEADER and not sent_of(node, "vote_r")[0][1]["granted"]
        assert node.term == 1

        sent_at = clocks.wall
        heartbeat_acked_by(node, "n2", clocks)
        assert node.lease_until == pytest.approx(sent_at + LEASE_S)
        node.sent.clear()
        assert await node.linearizable(lambda: (200, {"value": "x"})) == (200, {"value": "x"})
        assert not node.sent            # no heartbeat round for a read under the lease

        clocks.advance(LEASE_S)         # the lease is over: back to ReadIndex
        assert not node.holds_lease()
        read = asyncio.ensure_future(node.linearizable(lambda: (200, {"value": "y"})))
        await asyncio.sleep(0)
        assert sent_of(node, "append") and not read.done()
        heartbeat_ack = {"type": "append_r", "term": node.term, "from": "n3", "seq": node.seq,
                         "success": True, "hint": 0, "match": node.last_index}
        node.on_append_r(heartbeat_ack)
        assert await read == (200, {"value": "y"})

    asyncio.run(body())


def test_only_a_majority_acknowledged_round_grants_the_lease(tmp_path, monkeypatch):
    clocks = Clocks(monkeypatch)

    async def body():
        node = RaftNode("n1", dict(PEERS, n4="127.0.0.4", n5="127.0.0.5"), 7000,
                        Storage(str(tmp_path / "n1")), KV(), None, lease_reads=True)
        node.send = lambda peer, msg: True
        node.start_election()
        for p in ("n2", "n3"):
            node.on_vote_r({"type": "vote_r", "term": 1, "from": p, "granted": True})
        node.flush_and_replicate()
        for p in ("n2", "n3"):
            node.on_append_r({"type": "append_r", "term": 1, "from": p, "seq": node.seq,
                              "success": True, "hint": 0, "match": node.last_index})
        first = node.lease_until
        node.broadcast(heartbeat=True)
        clocks.advance(0.1)
        node.on_append_r({"type": "append_r", "term": 1, "from": "n2", "seq": node.seq,
                          "success": True, "hint": 0, "match": node.last_index})
        assert node.lease_until == first        # 2 of 5 acknowledged the new round
        node.on_append_r({"type": "append_r", "term": 1, "from": "n4", "seq": node.seq,
                          "success": True, "hint": 0, "match": node.last_index})
        assert node.lease_until == pytest.approx(clocks.wall - 0.1 + LEASE_S)

    asyncio.run(body())


def test_no_lease_before_an_entry_of_the_term_commits(tmp_path, monkeypatch):
    Clocks(monkeypatch)

    async def body():
        node = make_node(tmp_path)
        node.start_election()
        node.on_vote_r({"type": "vote_r", "term": node.term, "from": "n2", "granted": True})
        node.broadcast(heartbeat=True)
        node.on_append_r({"type": "append_r", "term": node.term, "from": "n2", "seq": node.seq,
                          "success": False, "hint": 1, "match": 0})
        assert node.lease_until > 0 and not node.holds_lease()

    asyncio.run(body())


def test_a_leader_keeps_its_role_while_its_lease_holds_then_checks_quorum(tmp_path, monkeypatch):
    clocks = Clocks(monkeypatch)

    async def body():
        node = make_node(tmp_path)
        elect(node)
        heartbeat_acked_by(node, "n2", clocks)
        clocks.advance(ELECTION_TIMEOUT_S[1] + 0.1)     # nobody answered since
        clocks.wall -= 10                                 # ... but its wall clock stepped back
        node.check_quorum(clocks.mono)
        assert node.role == LEADER and node.holds_lease()  # the bug the clock nemesis finds
        clocks.wall += 10
        node.check_quorum(clocks.mono)
        assert node.role != LEADER and node.lease_until == 0

    asyncio.run(body())


def test_without_lease_reads_no_lease_is_ever_held(tmp_path, monkeypatch):
    clocks = Clocks(monkeypatch)

    async def body():
        node = make_node(tmp_path, lease=False)
        elect(node)
        heartbeat_acked_by(node, "n2", clocks)
        assert node.lease_until == 0 and not node.holds_lease() and not node.round_sent

    asyncio.run(body())
