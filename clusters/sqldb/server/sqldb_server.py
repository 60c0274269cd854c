#!/usr/bin/env python3
"""sqldb: SQLite on every node, replicated by Raft (the design rqlite popularised).

Standard library only (sqlite3 is in the image's python3); imports nothing from the
harness. Raft is the shared core in clusters/raft/raftcore.py, uploaded to ../../raft
relative to this file; sqldb supplies the state machine (an SQLite database) and its API.

Client API (HTTP/1.1 with keep-alive, JSON bodies):
  POST /txn {"statements": [{"sql": "...", "params": [...]}, ...]}
       -> 200 {"results": [{"rows": [[...], ...], "changes": n}, ...]}   one per statement
       -> 409 {"error": "<SQLite's message>", "statement": i}            rolled back: nothing happened
       -> 400 {"error": ...}                                              malformed request
  GET  /status -> 200 {"id", "role", "term", "leader", "commit", "applied", ...}
Errors: 503 {"error": "no-leader" | "not-leader" | "unavailable"} means the transaction
certainly did not take effect; 504 {"error": "timeout"} means it may have.

The statements of one request are one transaction. A transaction is read-only when every
statement is a SELECT or VALUES; it runs under PRAGMA query_only, so a statement that
would write anyway fails. Every other transaction is a write transaction: the whole of it
(reads included) goes through the Raft log as one entry, and every node applies it to its
database in log order, so the log order is the serialization order. Read-only
transactions are linearizable by ReadIndex on the leader. Both kinds reach the leader
through the node the client talks to.

Determinism: every node applies the same SQL to the same state, so the SQL must not
depend on anything else. An authorizer rejects random(), randomblob(), CURRENT_TIME /
CURRENT_DATE / CURRENT_TIMESTAMP and the date and time functions when the statement or
its parameters say 'now'; the transaction then fails (409) on every node alike with a
message naming the function. Transaction control (BEGIN, COMMIT, SAVEPOINT...), PRAGMA,
ATTACH and the bookkeeping table `_raft` are refused the same way.

Durability: the database is data-dir/sqldb.sqlite in WAL mode with synchronous=FULL, so
each applied batch is fsync'd as SQLite normally does. The batch's last log index is
stored in `_raft` in the same SQLite transaction; on restart the node resumes from it
and re-applies the rest of its log as the commit index is learned again.

Unsafe modes, chosen at start, each a bug real replicated SQL databases have shipped:
  --stale-reads      read-only transactions run at once on the local replica, without
                     ReadIndex and without going to the leader (stale reads; under a
                     partition, reads that miss acknowledged writes);
  --read-before-log  the leader runs a write transaction's reads against its current
                     applied state and sends only its writes through the log, with no
                     conflict check (lost updates, write skew: G-single, G2-item);
  --no-fsync         the Raft log and vote are written but never fsync'd and SQLite runs
                     with synchronous=OFF: a power loss (not a process crash) loses
                     acknowledged writes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import re
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "raft"))

from raftcore import (RaftNode, Storage, add_arguments, parse_peers,  # noqa: E402
                      prepare_process, serve)

log = logging.getLogger("sqldb")

DB_FILE = "sqldb.sqlite"
META_TABLE = "_raft"
MAX_STATEMENTS = 64
NONDETERMINISTIC = {"random", "randomblob", "current_time", "current_date",
                    "current_timestamp"}
CLOCK_FUNCTIONS = {"date", "time", "datetime", "julianday", "strftime", "unixepoch",
                   "timediff"}
REFUSED_ACTIONS = {sqlite3.SQLITE_TRANSACTION: "transaction control",
                   sqlite3.SQLITE_PRAGMA: "PRAGMA",
                   sqlite3.SQLITE_ATTACH: "ATTACH",
                   sqlite3.SQLITE_DETACH: "DETACH"}
if hasattr(sqlite3, "SQLITE_SAVEPOINT"):
    REFUSED_ACTIONS[sqlite3.SQLITE_SAVEPOINT] = "SAVEPOINT"
READ_ONLY_START = re.compile(r"\s*(select|values)\b", re.IGNORECASE)


class Refused(Exception):
    """A statement the authorizer refused; the message names why."""


def is_read_only(statements: list[dict]) -> bool:
    return all(READ_ONLY_START.match(s["sql"]) for s in statements)


def parse_statements(body) -> list[dict]:
    """The request's statements as [{"sql", "params"}], or ValueError naming the problem."""
    if not isinstance(body, dict) or not isinstance(body.get("statements"), list):
        raise ValueError('the body must be {"statements": [{"sql": ..., "params": [...]}, ...]}')
    statements = body["statements"]
    if not 1 <= len(statements) <= MAX_STATEMENTS:
        raise ValueError(f"a transaction has 1 to {MAX_STATEMENTS} statements")
    out = []
    for i, s in enumerate(statements):
        if not isinstance(s, dict) or not isinstance(s.get("sql"), str):
            raise ValueError(f"statement {i}: needs a string 'sql'")
        params = s.get("params", [])
        if not isinstance(params, list) or not all(
                p is None or isinstance(p, (int, float, str)) for p in params):
            raise ValueError(f"statement {i}: 'params' must be a list of numbers, strings "
                             "or nulls")
        out.append({"sql": s["sql"], "params": params})
    return out


def _json_value(v):
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    return v


class SQLiteStateMachine:
    """The replicated SQLite database of one node (see the module docstring)."""

    def __init__(self, data_dir: str, fsync: bool = True):
        self.path = os.path.join(data_dir, DB_FILE)
        self.fsync = fsync
        self.internal = False       # our own bookkeeping statements pass the authorizer
        self.current: dict | None = None
        self.refusal: str | None = None
        self._open()

    def _open(self) -> None:
        # No statement cache: the authorizer runs when a statement is prepared, and a
        # cached statement would skip it (with new parameters, say 'now').
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                  cached_statements=0)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'OFF'}")
        self.db.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} "
                        "(id INTEGER PRIMARY KEY CHECK (id = 0), applied INTEGER NOT NULL)")
        self.db.execute(f"INSERT OR IGNORE INTO {META_TABLE} VALUES (0, 0)")
        self.db.set_authorizer(self._authorize)

    def _reset(self) -> None:
        self.db.close()
        for suffix in ("", "-wal", "-shm"):
            try:
                os.remove(self.path + suffix)
            except FileNotFoundError:
                pass
        self._open()

    # ---- the authorizer: determinism and the transaction boundary are ours
    def _authorize(self, action, arg1, arg2, db_name, source):
        if self.internal:
            return sqlite3.SQLITE_OK
        if action in REFUSED_ACTIONS:
            return self._deny(f"{REFUSED_ACTIONS[action]} is not allowed in a transaction")
        if action == sqlite3.SQLITE_FUNCTION:
            name = (arg2 or "").lower()
            if name in NONDETERMINISTIC:
                return self._deny(f"non-deterministic function {name}() is not allowed")
            if name in CLOCK_FUNCTIONS and self._says_now():
                return self._deny(f"{name}() of 'now' is not deterministic and is not allowed")
        if (arg1 or "").lower() == META_TABLE and action != sqlite3.SQLITE_FUNCTION:
            return self._deny(f"table {META_TABLE} is sqldb's own")
        return sqlite3.SQLITE_OK

    def _deny(self, reason: str) -> int:
        self.refusal = reason
        return sqlite3.SQLITE_DENY

    def _says_now(self) -> bool:
        s = self.current or {}
        return "now" in s.get("sql", "").lower() or any(
            isinstance(p, str) and "now" in p.lower() for p in s.get("params", ()))

    def _internal(self, sql: str) -> None:
        self.internal = True
        try:
            self.db.execute(sql)
        finally:
            self.internal = False

    def _run(self, statements: list[dict]) -> tuple[int, dict]:
        """Run statements in the open transaction: 200 with each one's rows, or 409 with
        the first error (the caller rolls back)."""
        results = []
        for i, s in enumerate(statements):
            self.current, self.refusal = s, None
            try:
                cur = self.db.execute(s["sql"], s["params"])
                rows = [[_json_value(v) for v in row] for row in cur.fetchall()]
                results.append({"rows": rows, "changes": max(cur.rowcount, 0)})
            except sqlite3.Error as e:
                message = self.refusal or str(e)
                return 409, {"error": message, "statement": i}
            finally:
                self.current = None
        return 200, {"results": results}

    # ---- StateMachine
    def applied_index(self, log_last_index: int) -> int:
        self.internal = True
        try:
            applied = self.db.execute(f"SELECT applied FROM {META_TABLE}").fetchone()[0]
        finally:
            self.internal = False
        if applied > log_last_index:
            # Only possible when the log was not fsync'd: start over from the log.
            log.warning("database applied up to %d but the log ends at %d: rebuilding",
                        applied, log_last_index)
            self._reset()
            return 0
        return applied

    def apply(self, entries: list) -> list:
        """Apply committed entries as one SQLite transaction (one fsync), each entry in a
        savepoint of its own so a failing one leaves no trace."""
        results = []
        self._internal("BEGIN IMMEDIATE")
        try:
            for index, cmd in entries:
                if cmd.get("op") != "txn":
                    results.append((200, {"ok": True}))
                    continue
                self._internal("SAVEPOINT entry")
                result = self._run(cmd["statements"])
                if result[0] != 200:
                    self._internal("ROLLBACK TO entry")
                self._internal("RELEASE entry")
                results.append(result)
            self.internal = True
            try:
                self.db.execute(f"UPDATE {META_TABLE} SET applied = ?", (entries[-1][0],))
            finally:
                self.internal = False
            self._internal("COMMIT")
        except BaseException:
            # The database could not commit what every other node will: stop rather than
            # diverge. Restart resumes from the last committed batch.
            log.exception("applying entries %d..%d failed", entries[0][0], entries[-1][0])
            os._exit(70)
        return results

    def read(self, statements: list[dict]) -> tuple[int, dict]:
        """Run a transaction against the applied state and roll it back: the reads of a
        read-only transaction, or (read-before-log) a write transaction's preview."""
        self._internal("BEGIN")
        try:
            return self._run(statements)
        finally:
            self._internal("ROLLBACK")

    def read_only(self, statements: list[dict]) -> tuple[int, dict]:
        self._internal("PRAGMA query_only = ON")
        try:
            return self.read(statements)
        finally:
            self._internal("PRAGMA query_only = OFF")


class SQLServer:
    def __init__(self, node_id: str, peers: dict[str, str], peer_port: int, data_dir: str,
                 fsync: bool, stale_reads: bool, read_before_log: bool):
        self.stale_reads = stale_reads
        self.read_before_log = read_before_log
        self.db = SQLiteStateMachine(data_dir, fsync)
        self.node = RaftNode(node_id, peers, peer_port, Storage(data_dir, fsync=fsync),
                             self.db, self.on_leader)

    async def handle(self, method: str, path: str, body):
        if path == "/status":
            return 200, dict(self.node.status(), stale_reads=self.stale_reads,
                             read_before_log=self.read_before_log)
        if path != "/txn":
            return 404, {"error": "not-found"}
        if method != "POST":
            return 405, {"error": "method-not-allowed"}
        try:
            statements = parse_statements(body)
        except ValueError as e:
            return 400, {"error": str(e)}
        read_only = is_read_only(statements)
        if read_only and self.stale_reads:
            return self.db.read_only(statements)
        return await self.node.leader_call({"statements": statements, "read_only": read_only},
                                           read_only=read_only)

    async def on_leader(self, request: dict):
        statements = request["statements"]
        if request["read_only"]:
            return await self.node.linearizable(lambda: self.db.read_only(statements))
        if self.read_before_log:
            return await self.reads_then_log(statements)
        return await self.node.replicate({"op": "txn", "statements": statements})

    async def reads_then_log(self, statements: list[dict]):
        """--read-before-log: the reads come from the leader's applied state now, only
        the writes are replicated, and nothing checks that the reads still hold."""
        status, preview = self.db.read(statements)
        if status != 200:
            return status, preview
        writes = [(i, s) for i, s in enumerate(statements) if not READ_ONLY_START.match(s["sql"])]
        status, applied = await self.node.replicate(
            {"op": "txn", "statements": [s for _, s in writes]})
        if status != 200:
            if status == 409:
                applied = dict(applied, statement=writes[applied["statement"]][0])
            return status, applied
        results = list(preview["results"])
        for (i, _), result in zip(writes, applied["results"]):
            results[i] = result
        return 200, {"results": results}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="sqldb server")
    add_arguments(p, "/var/lib/sqldb")
    p.add_argument("--stale-reads", action="store_true")
    p.add_argument("--read-before-log", action="store_true")
    args = p.parse_args(argv)
    peers = parse_peers(args.peers)
    if args.id not in peers:
        raise SystemExit(f"--id {args.id} is not in --peers")
    prepare_process(args)
    os.makedirs(args.data_dir, exist_ok=True)
    server = SQLServer(args.id, peers, args.peer_port, args.data_dir, not args.no_fsync,
                       args.stale_reads, args.read_before_log)
    log.info("sqldb: sqlite %s, stale_reads=%s read_before_log=%s", sqlite3.sqlite_version,
             args.stale_reads, args.read_before_log)
    asyncio.run(serve(server.node, server.handle, args.bind, args.peer_port,
                      args.client_port))


if __name__ == "__main__":
    main()
