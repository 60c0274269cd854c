"""The pgha client: list-append and rw-register transactions as SQL transactions on the
current primary, through psycopg 3.

Finding the primary: one libpq multi-host conninfo naming every node (the worker's own
node first) with `target_session_attrs=read-write`, so libpq skips standbys and dead
nodes; `connect_timeout` bounds each host's attempt. The connection is opened lazily by
the first op, and again after any connection error. The node that served an op is
recorded in its completion's `node` field (the host libpq settled on).

Each op is ONE transaction (autocommit off, the isolation level from the system option):
* list-append on `lists(k int primary key, v text)`: append = `INSERT ... ON CONFLICT (k)
  DO UPDATE SET v = lists.v || ',' || excluded.v` (in place, one statement); read =
  `SELECT v` and the comma-separated ints as a list ([] for a missing row);
* rw-register on `registers(k int primary key, v int)`: write = upsert, read = `SELECT v`.

Timeouts: `statement_timeout` (server side) bounds each statement; a paused or
partitioned server answers nothing, so a watchdog also shuts the socket down when an op
outlives the client timeout (the op then fails as a lost connection).

Outcomes (see `classify`):
* could not connect (refused, timed out, no read-write server): `fail`, `unavailable`;
* the server refused the transaction: serialization failure, deadlock, any SQL error
  before COMMIT was sent: `fail`; "read-only transaction" (the node is no longer the
  primary): `fail`, `unavailable`;
* the connection was lost or the statement timed out (or was cancelled) after a write
  or the COMMIT was sent: `info` (it may have committed), except for read-only
  transactions, which change nothing: `fail`. A cancelled COMMIT is `info` too
  (synchronous replication: committed locally, waiting for the standby).
"""

from __future__ import annotations

import os
import socket
import threading

import psycopg
from psycopg import errors

PG_PORT = 5432
DEFAULT_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2
ISOLATION_LEVELS = {
    "read-committed": psycopg.IsolationLevel.READ_COMMITTED,
    "repeatable-read": psycopg.IsolationLevel.REPEATABLE_READ,
    "serializable": psycopg.IsolationLevel.SERIALIZABLE,
}
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS lists (k int PRIMARY KEY, v text)",
    "CREATE TABLE IF NOT EXISTS registers (k int PRIMARY KEY, v int)",
)
APPEND = ("INSERT INTO lists AS l (k, v) VALUES (%s, %s) ON CONFLICT (k) "
          "DO UPDATE SET v = l.v || ',' || excluded.v")
WRITE = ("INSERT INTO registers (k, v) VALUES (%s, %s) ON CONFLICT (k) "
         "DO UPDATE SET v = excluded.v")

# Stages of a transaction, for classification.
CONNECT, READING, WRITING, COMMIT = "connect", "reading", "writing", "commit"


def conninfo(hosts: list[str], connect_timeout: int = CONNECT_TIMEOUT_S,
             statement_timeout_ms: int | None = None, read_write: bool = True) -> str:
    parts = [f"host={','.join(hosts)}", f"port={','.join([str(PG_PORT)] * len(hosts))}",
             "user=postgres", "dbname=postgres", f"connect_timeout={connect_timeout}",
             "application_name=harness"]
    if read_write:
        parts.append("target_session_attrs=read-write")
    if statement_timeout_ms:
        parts.append(f"options='-c statement_timeout={statement_timeout_ms}'")
    return " ".join(parts)


def connect(hosts: list[str], connect_timeout: int = CONNECT_TIMEOUT_S,
            statement_timeout_ms: int | None = None) -> psycopg.Connection:
    return psycopg.connect(conninfo(hosts, connect_timeout, statement_timeout_ms))


def classify(exc: BaseException, stage: str, read_only: bool) -> dict:
    """The completion (type, error, maybe unavailable) of a transaction that raised `exc`
    at `stage` (connect / reading / writing / commit)."""
    name = type(exc).__name__
    sqlstate = getattr(exc, "sqlstate", None)
    if stage == CONNECT:
        return {"type": "fail", "error": f"connect: {_short(exc)}", "unavailable": True}
    if isinstance(exc, errors.ReadOnlySqlTransaction):
        return {"type": "fail", "error": "not-primary", "unavailable": True}
    if isinstance(exc, errors.SerializationFailure):
        return {"type": "fail", "error": "serialization-failure"}
    if isinstance(exc, errors.DeadlockDetected):
        return {"type": "fail", "error": "deadlock"}
    # No answer, a lost connection, a cancelled statement, the server shutting down: the
    # transaction may or may not have committed if a write or COMMIT was in flight.
    ambiguous = (sqlstate is None or isinstance(exc, (psycopg.OperationalError,
                                                      psycopg.InterfaceError, OSError)))
    if ambiguous and not read_only and stage in (WRITING, COMMIT):
        return {"type": "info", "error": f"{stage}: {name}"}
    if ambiguous:
        return {"type": "fail", "error": f"{stage}: {name}"}
    # The server answered with an SQL error before COMMIT: the transaction is aborted.
    if stage == COMMIT:
        return {"type": "fail", "error": f"commit refused: {sqlstate} {name}"}
    return {"type": "fail", "error": f"{sqlstate} {name}"}


def _short(exc: BaseException) -> str:
    """A connect error in a few words (libpq lists every host it tried)."""
    text = str(exc)
    if "read-only" in text:
        return "no read-write server"
    if "timeout expired" in text:
        return "timeout"
    if "refused" in text or "accepting TCP/IP" in text:
        return "refused"
    lines = text.strip().splitlines()
    return (lines[-1] if lines else type(exc).__name__)[:120]


class PgClient:
    """One worker's connection to the current primary, for one workload."""

    def __init__(self, ips: dict[str, str], workload: str = "list-append",
                 isolation: str = "serializable", timeout_s: float = DEFAULT_TIMEOUT_S,
                 nodes: list[str] | None = None):
        self.ips = ips
        self.workload = workload
        self.isolation = ISOLATION_LEVELS[isolation]
        self.timeout_s = timeout_s
        self.nodes = list(nodes or ips)
        self.by_ip = {ip: n for n, ip in ips.items()}
        self.node: str | None = None
        self.conn: psycopg.Connection | None = None
        self.serving: str | None = None

    def open(self, node: str) -> None:
        self.node = node

    def close(self) -> None:
        self._drop()

    def _drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None

    def _connect(self) -> None:
        if self.conn is not None and not self.conn.closed:
            return
        start = self.nodes.index(self.node) if self.node in self.nodes else 0
        order = self.nodes[start:] + self.nodes[:start]
        conn = connect([self.ips[n] for n in order], CONNECT_TIMEOUT_S,
                       int(self.timeout_s * 1000 * 0.8))
        conn.isolation_level = self.isolation
        conn.autocommit = False
        self.conn = conn
        self.serving = self.by_ip.get(conn.info.host, conn.info.host)

    def _abort_socket(self) -> None:
        """The watchdog: unblock a call waiting on a server that does not answer."""
        conn = self.conn
        try:
            fd = conn.pgconn.socket
            s = socket.socket(fileno=os.dup(fd))
            try:
                s.shutdown(socket.SHUT_RDWR)
            finally:
                s.close()
        except Exception:
            pass

    def invoke(self, op: dict) -> dict:
        mops = op["value"]
        read_only = all(m[0] == "r" for m in mops)
        stage = CONNECT
        watchdog = None
        try:
            self._connect()
            watchdog = threading.Timer(self.timeout_s, self._abort_socket)
            watchdog.daemon = True
            watchdog.start()
            out = []
            with self.conn.cursor() as cur:
                for f, k, v in mops:
                    if f == "r":
                        stage = READING if stage in (CONNECT, READING) else stage
                        out.append([f, k, self._read(cur, k)])
                    else:
                        stage = WRITING
                        self._write(cur, f, k, v)
                        out.append([f, k, v])
            stage = COMMIT
            self.conn.commit()
            return {"type": "ok", "value": out, "node": self.serving}
        except Exception as e:
            outcome = classify(e, stage, read_only)
            outcome["node"] = self.serving if stage != CONNECT else self.node
            if self.conn is not None and (self.conn.closed or self.conn.broken
                                          or outcome["type"] == "info"
                                          or outcome.get("unavailable")):
                self._drop()
            elif self.conn is not None:
                try:
                    self.conn.rollback()
                except Exception:
                    self._drop()
            return outcome
        finally:
            if watchdog is not None:
                watchdog.cancel()

    def _read(self, cur, k):
        if self.workload == "list-append":
            row = cur.execute("SELECT v FROM lists WHERE k = %s", (k,)).fetchone()
            if row is None or not row[0]:
                return []
            return [int(x) for x in row[0].split(",")]
        row = cur.execute("SELECT v FROM registers WHERE k = %s", (k,)).fetchone()
        return None if row is None else row[0]

    def _write(self, cur, f, k, v):
        if f == "append":
            cur.execute(APPEND, (k, str(v)))
        elif f == "w":
            cur.execute(WRITE, (k, v))
        else:
            raise ValueError(f"unsupported micro-op {f!r} for {self.workload}")
