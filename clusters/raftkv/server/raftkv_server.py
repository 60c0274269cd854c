#!/usr/bin/env python3
"""raftkv: a Raft-replicated key-value store, standard library only.

This file runs inside the node containers on the image's python3; it imports nothing from
the harness. Raft itself (elections, replication, persistence, ReadIndex, check-quorum,
forwarding) is the shared core in clusters/raft/raftcore.py, which deploy uploads to
../../raft relative to this file. What raftkv adds is its state machine, a dict, and its
API.

Client API (HTTP/1.1 with keep-alive, JSON bodies):
  GET  /kv/<key>                         -> 200 {"value": v}            (v null if absent)
  PUT  /kv/<key>   {"value": v}          -> 200 {"ok": true}
  POST /cas/<key>  {"old": a, "new": b}  -> 200 {"ok": true} | 409 {"ok": false, "error": "cas-mismatch"}
  GET  /status                           -> 200 {"id", "role", "term", "leader", "commit", ...}
Errors: 503 {"error": "no-leader" | "not-leader" | "unavailable"} means the request certainly
did not take effect; 504 {"error": "timeout"} means it may have.

Deliberately unsafe modes, chosen at start, let the harness prove it catches bugs:
  --unsafe-reads   every node answers reads at once from its local state machine;
  --no-fsync       the log and vote are written but never fsync'd: a crash of the
                   process loses nothing (the OS has the writes), a power loss
                   (the lose-unfsynced nemesis) loses acknowledged entries;
  --lease-reads    the leader answers reads from its state while it holds a leader lease
                   measured on its wall clock (raftcore.py): linearizable while clocks
                   behave, stale reads when the leader's clock steps.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "raft"))

from raftcore import (RaftNode, Storage, add_arguments, parse_peers,  # noqa: E402
                      prepare_process, serve)


class KVStateMachine:
    """A dict of key -> value; put and cas are its commands. Lives in memory: on restart
    it is rebuilt by re-applying the log."""

    def __init__(self):
        self.kv: dict[str, object] = {}

    def applied_index(self, log_last_index: int) -> int:
        return 0

    def apply(self, entries: list) -> list:
        return [self.apply_command(cmd) for _, cmd in entries]

    def apply_command(self, cmd: dict) -> tuple[int, dict]:
        op = cmd.get("op")
        if op == "put":
            self.kv[cmd["k"]] = cmd["v"]
            return 200, {"ok": True}
        if op == "cas":
            if self.kv.get(cmd["k"]) == cmd["old"]:
                self.kv[cmd["k"]] = cmd["new"]
                return 200, {"ok": True}
            return 409, {"ok": False, "error": "cas-mismatch"}
        return 200, {"ok": True}

    def read(self, key: str) -> tuple[int, dict]:
        return 200, {"value": self.kv.get(key)}


class KVServer:
    def __init__(self, node_id: str, peers: dict[str, str], peer_port: int,
                 storage: Storage, unsafe_reads: bool, lease_reads: bool = False):
        self.unsafe_reads = unsafe_reads
        self.kv = KVStateMachine()
        self.node = RaftNode(node_id, peers, peer_port, storage, self.kv, self.on_leader,
                             lease_reads=lease_reads)

    async def handle(self, method: str, path: str, body):
        if path == "/status":
            return 200, dict(self.node.status(), unsafe_reads=self.unsafe_reads)
        parts = path.strip("/").split("/", 1)
        if len(parts) != 2 or not parts[1]:
            return 404, {"error": "not-found"}
        kind, key = parts
        body = body if isinstance(body, dict) else {}
        if kind == "kv" and method == "GET":
            if self.unsafe_reads:
                return self.kv.read(key)
            request = {"op": "get", "k": key}
        elif kind == "kv" and method == "PUT":
            request = {"op": "put", "k": key, "v": body.get("value")}
        elif kind == "cas" and method == "POST":
            request = {"op": "cas", "k": key, "old": body.get("old"), "new": body.get("new")}
        else:
            return 405, {"error": "method-not-allowed"}
        return await self.node.leader_call(request, read_only=request["op"] == "get")

    async def on_leader(self, request: dict):
        if request["op"] == "get":
            return await self.node.linearizable(lambda: self.kv.read(request["k"]))
        return await self.node.replicate(request)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="raftkv server")
    add_arguments(p, "/var/lib/raftkv")
    p.add_argument("--unsafe-reads", action="store_true")
    p.add_argument("--lease-reads", action="store_true",
                   help="the leader answers reads during a wall-clock leader lease")
    args = p.parse_args(argv)
    peers = parse_peers(args.peers)
    if args.id not in peers:
        raise SystemExit(f"--id {args.id} is not in --peers")
    prepare_process(args)
    server = KVServer(args.id, peers, args.peer_port,
                      Storage(args.data_dir, fsync=not args.no_fsync), args.unsafe_reads,
                      args.lease_reads)
    asyncio.run(serve(server.node, server.handle, args.bind, args.peer_port,
                      args.client_port))


if __name__ == "__main__":
    main()
