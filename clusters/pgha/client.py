"""The pgha client: list-append, rw-register, bank and set operations as SQL transactions
on the current primary, through psycopg 3.

Finding the primary: one libpq multi-host conninfo naming every node (the worker's own
node first) with `target_session_attrs=read-write`, so libpq skips standbys and dead
nodes; `connect_timeout` bounds each host's attempt. The connection is opened lazily by
the first op, and again after any connection error. The node that served an op is
recorded in its completion's `node` field (the host libpq settled on).

Each op is ONE transaction (autocommit off, the isolation level from the system option):
* list-append on `lists(k int primary key, v text)`: append = `INSERT ... ON CONFLICT (k)
  DO UPDATE SET v = lists.v || ',' || excluded.v` (in place, one statement); read =
  `SELECT v` and the comma-separated ints as a list ([] for a missing row);
* rw-register on `registers(k int primary key, v int)`: write = upsert, read = `SELECT v`;
* bank on `accounts(id int primary key, balance int)`: read = every row; transfer = read
  both balances, refuse (fail, `insufficient-funds`) if the source would go negative, then
  write both new balances: read-then-write, so an isolation level weaker than repeatable
  read loses updates and the bank checker sees the total change;
* set on `elements(v int primary key)`: add = INSERT, read = every element.

With `replica_reads`, read-only transactions go to a hot standby
(`target_session_attrs=standby`, the worker's own node first) at REPEATABLE READ (a
standby cannot run SERIALIZABLE): they may read a state the primary has moved past, a
stale read the real-time models catch. When no standby answers they fail (unavailable)
rather than fall back to the primary (`prefer-standby` did, under load, for a whole run).

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
    "CREATE TABLE IF NOT EXISTS accounts (id int PRIMARY KEY, balance int NOT NULL)",
    "CREATE TABLE IF NOT EXISTS elements (v int PRIMARY KEY)",
)
WORKLOADS = ("list-append", "rw-register", "bank", "set")
APPEND = ("INSERT INTO lists AS l (k, v) VALUES (%s, %s) ON CONFLICT (k) "
          "DO UPDATE SET v = l.v || ',' || excluded.v")
WRITE = ("INSERT INTO registers (k, v) VALUES (%s, %s) ON CONFLICT (k) "
         "DO UPDATE SET v = excluded.v")

# Stages of a transaction, for classification.
CONNECT, READING, WRITING, COMMIT = "connect", "reading", "writing", "commit"


def conninfo(hosts: list[str], connect_timeout: int = CONNECT_TIMEOUT_S,
             statement_timeout_ms: int | None = None, target: str = "read-write") -> str:
    """libpq conninfo over every host; `target`: libpq's target_session_attrs (read-write:
    the primary; standby: a hot standby)."""
    parts = [f"host={','.join(hosts)}", f"port={','.join([str(PG_PORT)] * len(hosts))}",
             "user=postgres", "dbname=postgres", f"connect_timeout={connect_timeout}",
             "application_name=harness", f"target_session_attrs={target}"]
    if statement_timeout_ms:
        parts.append(f"options='-c statement_timeout={statement_timeout_ms}'")
    return " ".join(parts)


def connect(hosts: list[str], connect_timeout: int = CONNECT_TIMEOUT_S,
            statement_timeout_ms: int | None = None,
            target: str = "read-write") -> psycopg.Connection:
    return psycopg.connect(conninfo(hosts, connect_timeout, statement_timeout_ms, target))


def prepare(hosts: list[str], workload) -> None:
    """Create what `workload` needs beyond the schema, once, idempotently, through the
    primary: bank's accounts with their initial balances."""
    if getattr(workload, "name", None) != "bank":
        return
    with connect(hosts, connect_timeout=5, statement_timeout_ms=10_000) as conn:
        conn.autocommit = True
        for account in workload.accounts:
            conn.execute("INSERT INTO accounts (id, balance) VALUES (%s, %s) "
                         "ON CONFLICT (id) DO NOTHING", (account, workload.initial_balance))


class InsufficientFunds(Exception):
    """A transfer that would leave its source account negative: refused, nothing written."""


def classify(exc: BaseException, stage: str, read_only: bool) -> dict:
    """The completion (type, error, maybe unavailable) of a transaction that raised `exc`
    at `stage` (connect / reading / writing / commit)."""
    name = type(exc).__name__
    sqlstate = getattr(exc, "sqlstate", None)
    if stage == CONNECT:
        return {"type": "fail", "error": f"connect: {_short(exc)}", "unavailable": True}
    if isinstance(exc, InsufficientFunds):
        return {"type": "fail", "error": "insufficient-funds"}
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


class _Session:
    """One libpq connection (to the primary, or to a standby for replica reads), opened
    lazily and dropped after any connection error."""

    def __init__(self, target: str, isolation):
        self.target = target
        self.isolation = isolation
        self.conn: psycopg.Connection | None = None
        self.serving: str | None = None

    def open(self, hosts: list[str], by_ip: dict, timeout_s: float) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            conn = connect(hosts, CONNECT_TIMEOUT_S, int(timeout_s * 1000 * 0.8), self.target)
            conn.isolation_level = self.isolation
            conn.autocommit = False
            self.conn = conn
            self.serving = by_ip.get(conn.info.host, conn.info.host)
        return self.conn

    def drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None


class PgClient:
    """One worker's connection to the current primary (and, with replica reads, to a
    standby), for one workload.

    `workload` is the workload's name; bank's transfers need nothing else (the accounts
    are created by `prepare` before the clients start)."""

    def __init__(self, ips: dict[str, str], workload: str = "list-append",
                 isolation: str = "serializable", timeout_s: float = DEFAULT_TIMEOUT_S,
                 nodes: list[str] | None = None, replica_reads: bool = False):
        if workload not in WORKLOADS:
            raise ValueError(f"pgha has no client for workload {workload!r}")
        self.ips = ips
        self.workload = workload
        self.timeout_s = timeout_s
        self.nodes = list(nodes or ips)
        self.by_ip = {ip: n for n, ip in ips.items()}
        self.node: str | None = None
        self.primary = _Session("read-write", ISOLATION_LEVELS[isolation])
        self.replica = _Session("standby", ISOLATION_LEVELS["repeatable-read"]) \
            if replica_reads else None
        self.session = self.primary

    @property
    def conn(self):
        return self.session.conn

    @property
    def serving(self):
        return self.session.serving

    def open(self, node: str) -> None:
        self.node = node

    def close(self) -> None:
        self.primary.drop()
        if self.replica is not None:
            self.replica.drop()

    def _hosts(self) -> list[str]:
        start = self.nodes.index(self.node) if self.node in self.nodes else 0
        return [self.ips[n] for n in self.nodes[start:] + self.nodes[:start]]

    def _abort_socket(self, conn) -> None:
        """The watchdog: unblock a call waiting on a server that does not answer."""
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
        f = op.get("f", "txn")
        read_only = self._read_only(op)
        self.session = self.replica if (read_only and self.replica is not None) else self.primary
        stage = CONNECT
        watchdog = None
        try:
            conn = self.session.open(self._hosts(), self.by_ip, self.timeout_s)
            watchdog = threading.Timer(self.timeout_s, self._abort_socket, (conn,))
            watchdog.daemon = True
            watchdog.start()
            stage = READING
            with conn.cursor() as cur:
                if f == "txn":
                    value = []
                    for mf, k, v in op["value"]:
                        if mf == "r":
                            value.append([mf, k, self._read(cur, k)])
                        else:
                            stage = WRITING
                            self._write(cur, mf, k, v)
                            value.append([mf, k, v])
                elif f == "read":
                    value = self._read_all(cur)
                elif f == "transfer":
                    stage = WRITING
                    self._transfer(cur, op["value"])
                    value = op["value"]
                elif f == "add":
                    stage = WRITING
                    cur.execute("INSERT INTO elements (v) VALUES (%s)", (op["value"],))
                    value = op["value"]
                else:
                    raise ValueError(f"unsupported operation {f!r} for {self.workload}")
            stage = COMMIT
            conn.commit()
            return {"type": "ok", "value": value, "node": self.serving}
        except Exception as e:
            outcome = classify(e, stage, read_only)
            outcome["node"] = self.serving if stage != CONNECT else self.node
            conn = self.session.conn
            if conn is not None and (conn.closed or conn.broken or outcome["type"] == "info"
                                     or outcome.get("unavailable")):
                self.session.drop()
            elif conn is not None:
                try:
                    conn.rollback()
                except Exception:
                    self.session.drop()
            return outcome
        finally:
            if watchdog is not None:
                watchdog.cancel()

    @staticmethod
    def _read_only(op: dict) -> bool:
        f = op.get("f", "txn")
        if f == "txn":
            return all(m[0] == "r" for m in op["value"])
        return f == "read"

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

    def _read_all(self, cur):
        if self.workload == "bank":
            return {str(a): b for a, b in
                    cur.execute("SELECT id, balance FROM accounts ORDER BY id").fetchall()}
        return [v for (v,) in cur.execute("SELECT v FROM elements ORDER BY v").fetchall()]

    def _transfer(self, cur, t: dict) -> None:
        balances = dict(cur.execute("SELECT id, balance FROM accounts WHERE id IN (%s, %s)",
                                    (t["from"], t["to"])).fetchall())
        if balances.get(t["from"], 0) < t["amount"]:
            raise InsufficientFunds(f"account {t['from']} holds {balances.get(t['from'])}")
        cur.execute("UPDATE accounts SET balance = %s WHERE id = %s",
                    (balances[t["from"]] - t["amount"], t["from"]))
        cur.execute("UPDATE accounts SET balance = %s WHERE id = %s",
                    (balances[t["to"]] + t["amount"], t["to"]))
