"""Raft, standard library only: the replication core both bundled servers run on.

This module runs inside the node containers on the image's python3 (the servers put its
folder on sys.path); it imports nothing from the harness. It implements Raft as in
Ongaro's thesis:

* randomized election timeouts, terms, RequestVote and AppendEntries;
* the log-matching rules (consistency check on prev index/term, truncation of conflicting
  suffixes) and the commit rule: the leader commits only by a majority on an entry of its
  own term (a no-op is appended on election so that happens promptly);
* current term, vote and log are persisted and fsync'd before any message that depends on
  them is sent (vote grant, append acknowledgement, the leader counting itself);
* recovery on restart from the persisted term, vote and log; a state machine that keeps
  its own durable state says up to which index it has applied, the rest is re-applied as
  the commit index is learned again;
* linearizable reads by ReadIndex: the leader notes its commit index, confirms it is still
  leader by a majority acknowledging a heartbeat sent after the read arrived, waits until
  it has applied up to that index, then answers from its state machine;
* check-quorum: a leader that has not heard from a majority for an election timeout steps
  down, so an isolated leader stops accepting requests instead of timing them out;
* optionally (`lease_reads`, raftkv's --lease-reads mode) leader leases: a majority's
  acknowledgement of a heartbeat round sent at time t gives the leader a lease until
  t + LEASE_S (shorter than the minimum election timeout), during which it answers reads
  from its state at once, with no heartbeat round, and does not step down. It is safe
  only because every node then keeps the thesis's §6.4 rule: a node that heard from a
  current leader within the minimum election timeout neither grants a vote nor adopts a
  candidate's term (and its election timer, reset by that message, has not run out). The
  lease is measured on the leader's wall clock (`lease_clock`, time.time), as leases
  that store expiry timestamps are: it assumes that clock never steps, which is what the
  clock nemesis breaks. The followers' rule keeps the monotonic clock.

Peers exchange one-way JSON-line messages over TCP (replies are messages too), the style of
etcd's raft: no RPC waits on a partitioned peer. A client request reaching a follower is
forwarded to the leader over the same peer channel (`leader_call`), so a node cut off from
the leader cannot serve it.

What a server supplies is its replicated state machine (the `StateMachine` contract below:
raftkv's is a dict, sqldb's an SQLite database) and what its leader does with a client
request (`on_leader`, usually `replicate(command)` or `linearizable(read)`). Results are
`(http_status, json_body)` pairs; 503 means the request certainly did not take effect,
504 that it may have.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from typing import Awaitable, Callable, Protocol

log = logging.getLogger("raft")

FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"

HEARTBEAT_S = 0.05
ELECTION_TIMEOUT_S = (0.3, 0.6)
REQUEST_TIMEOUT_S = 2.0       # server-side wait for commit / forwarded reply
APPEND_BATCH = 512            # max entries per AppendEntries message
INFLIGHT_RESEND_S = 0.5       # resend appends not acknowledged within this
PEER_CONNECT_TIMEOUT_S = 0.25
PEER_SILENCE_RESET_S = 1.0    # drop an outbound connection whose peer has gone silent
# The leader lease (lease_reads): shorter than the minimum election timeout by a margin
# for the clock rates of two healthy nodes to differ and a message to be processed.
LEASE_S = 0.25
assert LEASE_S < ELECTION_TIMEOUT_S[0]
# The clock the lease is measured on: the wall clock, deliberately (see the docstring).
lease_clock = time.time

NOT_LEADER = (503, {"error": "not-leader"})
UNAVAILABLE = (503, {"error": "unavailable"})
TIMEOUT = (504, {"error": "timeout"})


class StateMachine(Protocol):
    """The replicated state a server supplies. Raft calls it from its one event-loop
    thread, so a call sees no other request in between.

    * `applied_index()`: on start, the last log index whose effect the state machine has
      kept durably (0 for one that lives in memory); Raft re-applies from the next one.
      It is called once the log is loaded with that log's last index; a state machine that
      is ahead of its log (possible only when the log was not fsync'd) must reset itself
      and return 0.
    * `apply(entries)`: apply committed entries `[(index, command), ...]` in order and
      return one result `(status, body)` per entry. It must be deterministic: every node
      applies the same entries and must reach the same state and results. A batch may be
      made durable as one unit (sqldb commits one SQLite transaction per batch).
    """

    def applied_index(self, log_last_index: int) -> int: ...

    def apply(self, entries: list[tuple[int, dict]]) -> list[tuple[int, dict]]: ...


# --------------------------------------------------------------------------- storage

def fail_stop(write):
    """A write to the log or vote that fails (EIO, a full disk) ends the process.

    Carrying on would leave memory ahead of the files (an entry counted as persisted that
    is not, or a gap in the log, line i no longer index i+1); crashing and recovering from
    the files is the only safe answer, as PostgreSQL's PANIC on a failed fsync is."""
    def wrapped(self, *args):
        try:
            return write(self, *args)
        except OSError as e:
            log.critical("storage write failed, stopping: %s", e)
            logging.shutdown()
            os._exit(70)
    wrapped.__name__ = write.__name__
    wrapped.__doc__ = write.__doc__
    return wrapped


class Storage:
    """Durable current term, vote and log.

    The log file holds one JSON array `[term, command]` per line; line i is log index i+1.
    Appends go to the end; truncation of a conflicting suffix rewrites the file (rare:
    only after a leader change). A torn last line from a crash is discarded on load.
    With fsync=False (the unsafe --no-fsync mode) everything is written to the files at
    once, as in the safe mode, but never fsync'd: a crash of the process loses nothing (the
    OS has the data), a power loss loses what the OS had not yet written back.
    """

    def __init__(self, data_dir: str, fsync: bool = True):
        self.dir = data_dir
        self.fsync = fsync
        os.makedirs(data_dir, exist_ok=True)
        if fsync:
            # The data directory's own name (made here or by the installer) is durable only
            # once its parent is fsync'd: the storage-fault layer found it never was, so a
            # power loss could take the whole directory. Once per start: one fsync.
            _fsync_path(os.path.dirname(os.path.abspath(data_dir)))
        self.meta_path = os.path.join(data_dir, "meta.json")
        self.log_path = os.path.join(data_dir, "log.jsonl")

    def load(self) -> tuple[int, str | None, list]:
        term, voted_for = 0, None
        if os.path.exists(self.meta_path):
            with open(self.meta_path) as f:
                meta = json.load(f)
            term, voted_for = meta["term"], meta["voted_for"]
        entries = []
        good_bytes = 0
        if os.path.exists(self.log_path):
            with open(self.log_path, "rb") as f:
                for raw in f:
                    if not raw.endswith(b"\n"):
                        break
                    try:
                        t, cmd = json.loads(raw)
                    except ValueError:
                        break
                    entries.append((t, cmd))
                    good_bytes += len(raw)
            if good_bytes != os.path.getsize(self.log_path):
                with open(self.log_path, "r+b") as f:
                    f.truncate(good_bytes)
        created = not os.path.exists(self.log_path)
        self.log_file = open(self.log_path, "ab")
        if created and self.fsync:
            self._fsync_dir()      # a new file's name is durable only once its directory is
        return term, voted_for, entries

    @fail_stop
    def save_meta(self, term: int, voted_for: str | None) -> None:
        tmp = self.meta_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"term": term, "voted_for": voted_for}, f)
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
        os.replace(tmp, self.meta_path)
        if self.fsync:
            self._fsync_dir()

    @fail_stop
    def append(self, entries: list) -> None:
        self.log_file.write("".join(json.dumps(e, separators=(",", ":")) + "\n"
                                    for e in entries).encode())
        self.log_file.flush()
        if self.fsync:
            os.fsync(self.log_file.fileno())

    @fail_stop
    def rewrite(self, entries: list) -> None:
        """Replace the whole log (after truncating a conflicting suffix)."""
        self.log_file.close()
        tmp = self.log_path + ".tmp"
        with open(tmp, "wb") as f:
            f.write("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries).encode())
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
        os.replace(tmp, self.log_path)
        if self.fsync:
            self._fsync_dir()
        self.log_file = open(self.log_path, "ab")

    def _fsync_dir(self) -> None:
        _fsync_path(self.dir)


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- peers

class PeerLink:
    """Outbound, best-effort, ordered message channel to one peer.

    Messages are dropped while the peer is unreachable: Raft tolerates loss (appends are
    resent on the next heartbeat, elections retry), and dropping keeps a partitioned peer
    from growing a backlog. Only votes, which are cheap and idempotent, wait in a short
    backlog for the connection. A forwarded client request is never replayed: the caller
    has already told the client it failed.

    A firewall that drops packets leaves a TCP connection looking healthy while it
    black-holes everything, and after the heal TCP's retransmission backoff can keep it
    silent for seconds more. So a connection is aborted and re-dialled when we have been
    waiting for an answer from the peer for PEER_SILENCE_RESET_S and heard nothing.
    """

    BACKLOG_TYPES = ("vote", "vote_r")

    def __init__(self, node: "RaftNode", peer_id: str, host: str, port: int):
        self.node, self.peer_id, self.host, self.port = node, peer_id, host, port
        self.writer: asyncio.StreamWriter | None = None
        self.connecting = False
        self.connected_at = 0.0
        self.last_attempt = 0.0
        self.expect_since: float | None = None
        self.backlog: list[bytes] = []

    def send(self, msg: dict, expects_reply: bool = False) -> bool:
        now = time.monotonic()
        heard = self.node.last_heard.get(self.peer_id, 0.0)
        if expects_reply and (self.expect_since is None or heard >= self.expect_since):
            self.expect_since = now
        line = (json.dumps(msg, separators=(",", ":")) + "\n").encode()
        w = self.writer
        if w is not None and (w.is_closing() or self._silent(now, heard)):
            w.transport.abort()
            self.writer = w = None
            self.expect_since = now if expects_reply else None
        if w is None:
            if msg["type"] in self.BACKLOG_TYPES:
                self.backlog = self.backlog[-15:] + [line]
            if not self.connecting and now - self.last_attempt > 0.1:
                self.connecting = True
                self.last_attempt = now
                asyncio.ensure_future(self._connect())
            return False
        if w.transport.get_write_buffer_size() > 4 << 20:
            return False
        w.write(line)
        return True

    def _silent(self, now: float, heard: float) -> bool:
        return (self.expect_since is not None
                and now - self.expect_since > PEER_SILENCE_RESET_S
                and now - heard > PEER_SILENCE_RESET_S
                and now - self.connected_at > PEER_SILENCE_RESET_S)

    async def _connect(self) -> None:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), PEER_CONNECT_TIMEOUT_S)
            writer.write(b"".join(self.backlog))
            self.backlog.clear()
            self.writer = writer
            self.connected_at = time.monotonic()
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            self.connecting = False


# --------------------------------------------------------------------------- node

class RaftNode:
    """One member of the group: Raft's state, the peer protocol and the client paths.

    `on_leader(request)` is the server's coroutine that serves a client request on the
    leader (it reaches the leader through `leader_call`, forwarded if need be)."""

    def __init__(self, node_id: str, peers: dict[str, str], peer_port: int,
                 storage: Storage, state_machine: StateMachine,
                 on_leader: Callable[[dict], Awaitable[tuple[int, dict]]],
                 lease_reads: bool = False):
        self.id = node_id
        self.lease_reads = lease_reads
        self.peer_ids = [p for p in peers if p != node_id]
        self.cluster_size = len(peers)
        self.storage = storage
        self.state_machine = state_machine
        self.on_leader = on_leader
        self.links = {p: PeerLink(self, p, peers[p], peer_port) for p in self.peer_ids}
        self.last_heard: dict[str, float] = {}

        self.term, self.voted_for, entries = storage.load()
        self.log = [(0, None)] + [tuple(e) for e in entries]   # index 0 is a sentinel
        self.role = FOLLOWER
        self.leader: str | None = None
        # Entries the state machine kept are committed (it applies only committed ones).
        self.last_applied = state_machine.applied_index(len(self.log) - 1)
        self.commit_index = self.last_applied

        self.votes: set[str] = set()
        self.next_index: dict[str, int] = {}
        self.match_index: dict[str, int] = {}
        self.inflight_upto: dict[str, int] = {}
        self.inflight_at: dict[str, float] = {}
        self.acked_seq: dict[str, int] = {}
        self.last_ack: dict[str, float] = {}
        self.seq = 0
        self.leader_since = 0.0
        self.lease_until = 0.0                      # lease_clock() time; leader only
        self.round_sent: dict[int, float] = {}      # heartbeat seq -> lease_clock() at send
        self.leader_contact = 0.0                   # monotonic: last append from a leader
        self.election_deadline = 0.0
        self.reset_election_timer()

        self.waiting_writes: dict[int, tuple[int, asyncio.Future]] = {}
        self.pending_reads: list[dict] = []        # ReadIndex requests in flight
        self.forwarded: dict[int, asyncio.Future] = {}
        self.forward_ids = 0
        self.dirty = False                          # entries not yet persisted (leader)
        self.persisted_index = len(self.log) - 1
        log.info("start id=%s term=%d voted_for=%s log=%d applied=%d fsync=%s",
                 self.id, self.term, self.voted_for, self.last_index, self.last_applied,
                 storage.fsync)

    # ---- helpers
    @property
    def last_index(self) -> int:
        return len(self.log) - 1

    @property
    def majority(self) -> int:
        return self.cluster_size // 2 + 1

    def term_at(self, index: int) -> int:
        return self.log[index][0]

    def reset_election_timer(self) -> None:
        self.election_deadline = time.monotonic() + random.uniform(*ELECTION_TIMEOUT_S)

    def send(self, peer: str, msg: dict) -> bool:
        return self.links[peer].send(msg, expects_reply=msg["type"] in ("append", "vote", "fwd"))

    def set_term(self, term: int, voted_for: str | None) -> None:
        self.term, self.voted_for = term, voted_for
        self.storage.save_meta(term, voted_for)

    def become_follower(self, term: int, leader: str | None) -> None:
        if term > self.term:
            self.set_term(term, None)
        if self.role != FOLLOWER:
            log.info("term %d: %s -> follower (leader %s)", self.term, self.role, leader)
        was_leader = self.role == LEADER
        self.role = FOLLOWER
        self.leader = leader
        self.lease_until = 0.0
        self.round_sent.clear()
        if was_leader:
            for read in self.pending_reads:
                if not read["future"].done():
                    read["future"].set_result(NOT_LEADER)
            self.pending_reads.clear()

    # ---- timers
    async def ticker(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            now = time.monotonic()
            if self.role == LEADER:
                self.check_quorum(now)
            if self.role == LEADER:
                self.broadcast(heartbeat=True)
            elif now >= self.election_deadline:
                self.start_election()

    def check_quorum(self, now: float) -> None:
        recent = 1 + sum(1 for p in self.peer_ids
                         if now - self.last_ack.get(p, 0) < ELECTION_TIMEOUT_S[1])
        if self.holds_lease():
            return      # no other leader can exist before the lease ends: keep serving
        if recent < self.majority and now - self.leader_since > ELECTION_TIMEOUT_S[1]:
            log.info("term %d: lost contact with a majority, stepping down", self.term)
            self.become_follower(self.term, None)
            self.reset_election_timer()

    # ---- elections
    def start_election(self) -> None:
        self.role = CANDIDATE
        self.leader = None
        self.set_term(self.term + 1, self.id)
        self.votes = {self.id}
        self.reset_election_timer()
        log.info("term %d: starting election (last %d/%d)", self.term, self.last_index,
                 self.term_at(self.last_index))
        for p in self.peer_ids:
            self.send(p, {"type": "vote", "term": self.term, "from": self.id,
                          "lli": self.last_index, "llt": self.term_at(self.last_index)})
        self.maybe_win()

    def on_vote(self, m: dict) -> None:
        if self.lease_reads and self.heard_from_leader():
            # Thesis §6.4: within the minimum election timeout of hearing from a current
            # leader (or while leading) a node neither adopts the candidate's term nor
            # grants its vote, so no leader is elected while a lease may still hold.
            self.send(m["from"], {"type": "vote_r", "term": self.term, "from": self.id,
                                  "granted": False})
            return
        if m["term"] > self.term:
            self.become_follower(m["term"], None)
        up_to_date = (m["llt"], m["lli"]) >= (self.term_at(self.last_index), self.last_index)
        granted = (m["term"] == self.term and self.voted_for in (None, m["from"]) and up_to_date)
        if granted:
            self.set_term(self.term, m["from"])       # persisted before the reply
            self.reset_election_timer()
        self.send(m["from"], {"type": "vote_r", "term": self.term, "from": self.id,
                              "granted": granted})

    def on_vote_r(self, m: dict) -> None:
        if m["term"] > self.term:
            self.become_follower(m["term"], None)
            return
        if self.role == CANDIDATE and m["term"] == self.term and m["granted"]:
            self.votes.add(m["from"])
            self.maybe_win()

    def maybe_win(self) -> None:
        if self.role != CANDIDATE or len(self.votes) < self.majority:
            return
        log.info("term %d: elected leader with votes %s", self.term, sorted(self.votes))
        self.role = LEADER
        self.leader = self.id
        self.leader_since = time.monotonic()
        for p in self.peer_ids:
            self.next_index[p] = self.last_index + 1
            self.match_index[p] = 0
            self.inflight_upto[p] = self.last_index
            self.inflight_at[p] = 0.0
            self.acked_seq[p] = 0
            self.last_ack[p] = time.monotonic()
        # A no-op in the new term lets earlier-term entries (and ReadIndex) commit promptly.
        self.propose({"op": "noop"})

    # ---- replication (leader side)
    def propose(self, cmd: dict) -> int:
        self.log.append((self.term, cmd))
        index = self.last_index
        if not self.dirty:
            self.dirty = True
            asyncio.get_running_loop().call_soon(self.flush_and_replicate)
        return index

    def flush_and_replicate(self) -> None:
        """Group commit: persist every entry proposed this loop turn with one fsync."""
        self.dirty = False
        if self.persisted_index < self.last_index:
            self.storage.append(self.log[self.persisted_index + 1:])
            self.persisted_index = self.last_index
        if self.role == LEADER:
            self.broadcast(heartbeat=False)
            self.advance_commit()

    def broadcast(self, heartbeat: bool) -> None:
        if heartbeat:
            self.seq += 1
            if self.lease_reads:
                self.round_sent[self.seq] = lease_clock()
        now = time.monotonic()
        for p in self.peer_ids:
            if self.inflight_upto[p] > self.match_index[p] and now - self.inflight_at[p] > INFLIGHT_RESEND_S:
                self.inflight_upto[p] = max(self.match_index[p], self.next_index[p] - 1)
            start = self.inflight_upto[p] + 1
            start = max(start, 1)
            entries = self.log[start:min(self.persisted_index, start + APPEND_BATCH - 1) + 1]
            if not entries and not heartbeat:
                continue
            prev = start - 1
            msg = {"type": "append", "term": self.term, "from": self.id, "prev_i": prev,
                   "prev_t": self.term_at(prev), "entries": entries,
                   "commit": self.commit_index, "seq": self.seq}
            if self.send(p, msg) and entries:
                self.inflight_upto[p] = prev + len(entries)
                self.inflight_at[p] = now

    def on_append_r(self, m: dict) -> None:
        if m["term"] > self.term:
            self.become_follower(m["term"], None)
            self.reset_election_timer()
            return
        if self.role != LEADER or m["term"] != self.term:
            return
        p = m["from"]
        now = time.monotonic()
        self.last_ack[p] = now
        self.acked_seq[p] = max(self.acked_seq[p], m["seq"])
        if self.lease_reads:
            self.extend_lease()
        if m["success"]:
            if m["match"] > self.match_index[p]:
                self.match_index[p] = m["match"]
                self.inflight_at[p] = now
            self.next_index[p] = max(self.next_index[p], self.match_index[p] + 1)
            if self.inflight_upto[p] < self.match_index[p]:
                self.inflight_upto[p] = self.match_index[p]
            self.advance_commit()
        else:
            self.next_index[p] = max(self.match_index[p] + 1, min(m["hint"], self.last_index + 1))
            self.inflight_upto[p] = self.next_index[p] - 1
            self.inflight_at[p] = 0.0
            self.broadcast_to_lagging(p)
        self.serve_reads()

    def broadcast_to_lagging(self, p: str) -> None:
        start = self.inflight_upto[p] + 1
        entries = self.log[start:min(self.persisted_index, start + APPEND_BATCH - 1) + 1]
        if not entries:
            return
        prev = start - 1
        if self.send(p, {"type": "append", "term": self.term, "from": self.id, "prev_i": prev,
                         "prev_t": self.term_at(prev), "entries": entries,
                         "commit": self.commit_index, "seq": self.seq}):
            self.inflight_upto[p] = prev + len(entries)
            self.inflight_at[p] = time.monotonic()

    def advance_commit(self) -> None:
        matches = sorted([self.persisted_index] + [self.match_index[p] for p in self.peer_ids],
                         reverse=True)
        candidate = matches[self.majority - 1]
        # Raft's commit rule: only an entry of the leader's own term commits by counting.
        if candidate > self.commit_index and self.term_at(candidate) == self.term:
            self.commit_index = candidate
            self.apply()

    # ---- replication (follower side)
    def on_append(self, m: dict) -> None:
        if m["term"] < self.term:
            self.send(m["from"], {"type": "append_r", "term": self.term, "from": self.id,
                                  "success": False, "hint": 0, "match": 0, "seq": m["seq"]})
            return
        if m["term"] > self.term or self.role != FOLLOWER or self.leader != m["from"]:
            self.become_follower(m["term"], m["from"])
        self.leader_contact = time.monotonic()
        self.reset_election_timer()     # >= the minimum election timeout: see on_vote
        prev_i, entries = m["prev_i"], m["entries"]
        reply = {"type": "append_r", "term": self.term, "from": self.id, "seq": m["seq"]}
        if prev_i > self.last_index:
            self.send(m["from"], dict(reply, success=False, hint=self.last_index + 1, match=0))
            return
        if self.term_at(prev_i) != m["prev_t"]:
            conflict_term = self.term_at(prev_i)
            hint = prev_i
            while hint > self.commit_index + 1 and self.term_at(hint - 1) == conflict_term:
                hint -= 1
            self.send(m["from"], dict(reply, success=False, hint=hint, match=0))
            return
        new_from = None
        for j, (t, cmd) in enumerate(entries):
            idx = prev_i + 1 + j
            if idx <= self.last_index:
                if self.term_at(idx) == t:
                    continue
                # Log matching: drop the conflicting suffix (never committed entries).
                assert idx > self.commit_index, "conflict below commit index"
                del self.log[idx:]
                self.fail_waiting_from(idx)
                self.storage.rewrite(self.log[1:])
                self.persisted_index = self.last_index
            new_from = j
            break
        if new_from is not None:
            new_entries = [tuple(e) for e in entries[new_from:]]
            self.log.extend(new_entries)
            self.storage.append(new_entries)      # fsync'd before the acknowledgement
            self.persisted_index = self.last_index
        match = prev_i + len(entries)
        if min(m["commit"], match) > self.commit_index:
            self.commit_index = min(m["commit"], match)
            self.apply()
        self.send(m["from"], dict(reply, success=True, hint=0, match=match))

    def fail_waiting_from(self, index: int) -> None:
        for i in [i for i in self.waiting_writes if i >= index]:
            _, fut = self.waiting_writes.pop(i)
            if not fut.done():
                fut.set_result((503, {"error": "not-leader"}))

    # ---- state machine
    def apply(self) -> None:
        if self.last_applied < self.commit_index:
            first = self.last_applied + 1
            batch = [(i, self.log[i][1]) for i in range(first, self.commit_index + 1)]
            results = self.state_machine.apply(batch)
            self.last_applied = self.commit_index
            for (index, _), result in zip(batch, results):
                waiting = self.waiting_writes.pop(index, None)
                if waiting is None:
                    continue
                proposed_term, fut = waiting
                if not fut.done():
                    if proposed_term == self.log[index][0]:
                        fut.set_result(result)
                    else:   # our entry was replaced: it certainly did not take effect
                        fut.set_result(NOT_LEADER)
        self.serve_reads()

    # ---- client paths
    async def leader_call(self, request: dict, read_only: bool) -> tuple[int, dict]:
        """Serve `request` with `on_leader` on this node if it leads, else on the leader
        (forwarded over the peer channel). `read_only` says a lost answer is a definite
        failure (503) rather than an unknown outcome (504)."""
        if self.role == LEADER:
            return await self.on_leader(request)
        leader = self.leader
        if leader is None or leader not in self.links:
            return 503, {"error": "no-leader"}
        self.forward_ids += 1
        fid = self.forward_ids
        fut = asyncio.get_running_loop().create_future()
        self.forwarded[fid] = fut
        if not self.send(leader, {"type": "fwd", "from": self.id, "id": fid, "req": request}):
            self.forwarded.pop(fid, None)
            return UNAVAILABLE
        try:
            return await asyncio.wait_for(fut, REQUEST_TIMEOUT_S)
        except asyncio.TimeoutError:
            return UNAVAILABLE if read_only else TIMEOUT
        finally:
            self.forwarded.pop(fid, None)

    async def replicate(self, command: dict) -> tuple[int, dict]:
        """On the leader: append `command` to the log and answer the state machine's
        result once it is committed and applied (504 if that takes too long)."""
        if self.role != LEADER:
            return NOT_LEADER
        fut = asyncio.get_running_loop().create_future()
        index = self.propose(command)
        self.waiting_writes[index] = (self.term, fut)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), REQUEST_TIMEOUT_S)
        except asyncio.TimeoutError:
            return TIMEOUT

    async def linearizable(self, read: Callable[[], tuple[int, dict]]) -> tuple[int, dict]:
        """On the leader: run `read()` against the state machine once ReadIndex allows
        (leadership confirmed after the request arrived, state applied up to the commit
        index it saw). A read that cannot be confirmed in time fails (503): it changed
        nothing. With lease_reads, a leader holding its lease answers at once."""
        if self.role != LEADER:
            return NOT_LEADER
        if self.lease_reads and self.holds_lease():
            return read()
        fut = asyncio.get_running_loop().create_future()
        self.pending_reads.append({"future": fut, "read": read, "index": None, "seq": None})
        self.serve_reads()
        try:
            return await asyncio.wait_for(asyncio.shield(fut), REQUEST_TIMEOUT_S)
        except asyncio.TimeoutError:
            return UNAVAILABLE

    # ---- leader lease (lease_reads)
    def extend_lease(self) -> None:
        """The newest heartbeat round a majority (the leader counts itself) has
        acknowledged, sent at t, extends the lease to t + LEASE_S."""
        acked = sorted([self.seq] + [self.acked_seq[p] for p in self.peer_ids], reverse=True)
        seq = acked[self.majority - 1]
        sent = self.round_sent.get(seq)
        if sent is not None:
            self.lease_until = max(self.lease_until, sent + LEASE_S)
        for old in [s for s in self.round_sent if s < seq]:
            del self.round_sent[old]

    def holds_lease(self) -> bool:
        """Leader, an entry of its term committed (so its state has everything committed
        before it), and the lease not over by its clock."""
        return (self.lease_reads and self.role == LEADER
                and self.term_at(self.commit_index) == self.term
                and self.last_applied >= self.commit_index
                and lease_clock() < self.lease_until)

    def heard_from_leader(self) -> bool:
        """Leading, or heard from a current leader within the minimum election timeout."""
        return self.role == LEADER or (
            self.leader is not None
            and time.monotonic() - self.leader_contact < ELECTION_TIMEOUT_S[0])

    def serve_reads(self) -> None:
        """ReadIndex: answer reads once leadership is confirmed and the state caught up."""
        if self.role != LEADER or not self.pending_reads:
            return
        # Until an entry of this term commits, the commit index may lag what was committed.
        if self.term_at(self.commit_index) != self.term:
            return
        need_heartbeat = False
        remaining = []
        for read in self.pending_reads:
            if read["future"].done():
                continue
            if read["index"] is None:
                read["index"] = self.commit_index
                read["seq"] = self.seq + 1      # confirmed by the next heartbeat round
                need_heartbeat = True
            acks = 1 + sum(1 for p in self.peer_ids if self.acked_seq[p] >= read["seq"])
            if acks >= self.majority and self.last_applied >= read["index"]:
                read["future"].set_result(read["read"]())
            else:
                remaining.append(read)
        self.pending_reads = remaining
        if need_heartbeat:
            self.broadcast(heartbeat=True)

    async def on_fwd(self, m: dict) -> None:
        if self.role != LEADER:
            status, body = NOT_LEADER
        else:
            status, body = await self.on_leader(m["req"])
        self.send(m["from"], {"type": "fwd_r", "from": self.id, "id": m["id"],
                              "status": status, "body": body})

    def on_fwd_r(self, m: dict) -> None:
        fut = self.forwarded.get(m["id"])
        if fut is not None and not fut.done():
            fut.set_result((m["status"], m["body"]))

    def status(self) -> dict:
        return {"id": self.id, "role": self.role, "term": self.term, "leader": self.leader,
                "commit": self.commit_index, "applied": self.last_applied,
                "last_index": self.last_index, "fsync": self.storage.fsync,
                "lease_reads": self.lease_reads}

    # ---- message dispatch
    def dispatch(self, m: dict) -> None:
        sender = m.get("from")
        if sender is not None:
            self.last_heard[sender] = time.monotonic()
        t = m.get("type")
        if t == "append":
            self.on_append(m)
        elif t == "append_r":
            self.on_append_r(m)
        elif t == "vote":
            self.on_vote(m)
        elif t == "vote_r":
            self.on_vote_r(m)
        elif t == "fwd":
            asyncio.ensure_future(self.on_fwd(m))
        elif t == "fwd_r":
            self.on_fwd_r(m)


# --------------------------------------------------------------------------- servers

async def serve_peer(node: RaftNode, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            try:
                msg = json.loads(line)
            except ValueError:
                break
            node.dispatch(msg)
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        pass
    finally:
        writer.close()


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           409: "Conflict", 503: "Service Unavailable", 504: "Gateway Timeout"}

Handler = Callable[[str, str, "dict | list | None"], Awaitable[tuple[int, dict]]]


async def serve_client(handle: Handler, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter):
    """A minimal HTTP/1.1 server with keep-alive and JSON bodies: each request is
    answered with `await handle(method, path, body)`; a body that is not JSON is a 400."""
    try:
        while True:
            request_line = await reader.readline()
            if not request_line:
                break
            try:
                method, path, _ = request_line.decode().split(" ", 2)
            except ValueError:
                break
            headers = {}
            while True:
                h = await reader.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                name, _, value = h.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            raw = await reader.readexactly(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                status, payload = 400, {"error": "bad-json"}
            else:
                status, payload = await handle(method, path, body)
            data = json.dumps(payload).encode()
            writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % (status, REASONS.get(status, "").encode(),
                                                          len(data)) + data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


def parse_peers(spec: str) -> dict[str, str]:
    peers = {}
    for item in spec.split(","):
        name, _, host = item.partition("=")
        peers[name.strip()] = host.strip()
    return peers


def add_arguments(parser, default_data_dir: str) -> None:
    """The command-line options every Raft server shares."""
    parser.add_argument("--id", required=True)
    parser.add_argument("--peers", required=True, help="n1=10.0.0.1,n2=10.0.0.2,...")
    parser.add_argument("--client-port", type=int, default=8000)
    parser.add_argument("--peer-port", type=int, default=7000)
    parser.add_argument("--data-dir", default=default_data_dir)
    parser.add_argument("--bind", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--pid-file", help="write this process's pid here")
    parser.add_argument("--no-fsync", action="store_true",
                        help="unsafe: write the log and vote without ever fsyncing them "
                             "(a power loss, not a crash, loses acknowledged entries)")


def prepare_process(args) -> None:
    """Write the pid file and set up logging to stderr (the daemon's log file)."""
    import sys
    if args.pid_file:
        with open(args.pid_file, "w") as f:
            f.write(str(os.getpid()))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")


async def serve(node: RaftNode, handle: Handler, bind: str, peer_port: int,
                client_port: int) -> None:
    """Listen for peers and clients, then run the node's timers forever."""
    await asyncio.start_server(lambda r, w: serve_peer(node, r, w), bind, peer_port)
    await asyncio.start_server(lambda r, w: serve_client(handle, r, w), bind, client_port)
    log.info("listening: clients on %d, peers on %d", client_port, peer_port)
    await node.ticker()
