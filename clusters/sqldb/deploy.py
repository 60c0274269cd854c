"""Deploying sqldb onto a cluster: the Raft deployment shared with raftkv
(clusters/raft/deploy.py), then the workloads' tables, created once through the API.

Each node runs server/sqldb_server.py detached with its log in /var/log/sqldb/server.log
and its Raft log and SQLite database in /var/lib/sqldb.

System options (`--system-opt`), each a bug real replicated SQL databases have shipped:
`stale-reads` (read-only transactions answered by the local replica), `read-before-log`
(the leader reads its applied state, only the writes are replicated, no conflict check),
`no-fsync` (log and database never fsync'd: a power loss, the `lose-unfsynced` nemesis,
loses acknowledged writes; a process crash does not).
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request

from harness.errors import DeployError, UsageError
from harness.options import Option

from ..raft import RaftSystem
from ..raft.deploy import CLIENT_PORT

from .client import SCHEMA, SqlDBClient, statement

log = logging.getLogger(__name__)

SERVER_DIR = os.path.join(os.path.dirname(__file__), "server")
SCHEMA_TIMEOUT_S = 15.0


class SqlDB(RaftSystem):
    """The bundled SQL database (list-append, rw-register, bank, set), with three unsafe
    modes. Capabilities as raftkv's: kill/start, pause/resume, the Raft leader as
    `primaries`, its log folder, each node's Raft role as `health`."""

    name = "sqldb"
    server_dir = SERVER_DIR
    server_file = "sqldb_server.py"
    default_workload = "list-append"
    workloads = ("list-append", "rw-register", "bank", "set")
    options = (
        Option("stale-reads", "bool", False, "read-only transactions are answered from the "
               "local replica without ReadIndex (stale reads: not strict-serializable)"),
        Option("read-before-log", "bool", False, "the leader runs a transaction's reads "
               "against its applied state and replicates only its writes, with no conflict "
               "check (lost updates, G-single, G2-item)"),
        Option("no-fsync", "bool", False, "neither the Raft log nor SQLite is fsync'd "
               "(a power loss, not a process crash, loses acknowledged writes)"),
    )

    def __init__(self, stale_reads: bool = False, read_before_log: bool = False,
                 no_fsync: bool = False):
        self.flags = tuple(name for name, on in (("stale-reads", stale_reads),
                                                 ("read-before-log", read_before_log),
                                                 ("no-fsync", no_fsync)) if on)

    def setup(self, cluster) -> None:
        super().setup(cluster)
        self.execute(cluster, [statement(sql) for sql in SCHEMA])

    def prepare(self, cluster, workload) -> None:
        """The bank workload's accounts, each with its initial balance, created once
        before the clients start (harness.system's `prepare`; the other workloads start
        from empty tables)."""
        accounts = getattr(workload, "accounts", None)
        if getattr(workload, "name", None) != "bank" or accounts is None:
            return
        insert = "INSERT OR IGNORE INTO accounts (id, balance) VALUES (?, ?)"
        self.execute(cluster, [statement(insert, a, workload.initial_balance)
                               for a in accounts])

    def execute(self, cluster, statements: list[dict],
                timeout_s: float = SCHEMA_TIMEOUT_S) -> list[dict]:
        """Run one write transaction through the current leader (retried until it is
        acknowledged; the statements must be idempotent). Chunks of at most 64."""
        results = []
        for start in range(0, len(statements), 64):
            results += self._execute_once(cluster, statements[start:start + 64], timeout_s)
        return results

    def _execute_once(self, cluster, statements, timeout_s):
        deadline = time.monotonic() + timeout_s
        body = json.dumps({"statements": statements}).encode()
        last = "no node answered"
        while time.monotonic() < deadline:
            for node in self.primaries(cluster) or cluster.nodes:
                request = urllib.request.Request(
                    f"http://{cluster.ips[node]}:{CLIENT_PORT}/txn", data=body, method="POST",
                    headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=3) as resp:
                        return json.loads(resp.read())["results"]
                except urllib.error.HTTPError as e:
                    answer = e.read().decode(errors="replace")[:200]
                    if e.code in (400, 409):
                        raise DeployError(node, f"sqldb refused the setup transaction: {answer}")
                    last = f"{node}: HTTP {e.code} {answer}"
                except Exception as e:
                    last = f"{node}: {type(e).__name__}: {e}"
            time.sleep(0.2)
        raise DeployError(None, f"sqldb did not run the setup transaction within "
                                f"{timeout_s:g}s ({last})")

    def client(self, cluster, workload: str):
        if workload not in self.workloads:
            raise UsageError(f"sqldb cannot run workload {workload!r}; valid: "
                             f"{', '.join(self.workloads)}")
        ips = dict(cluster.ips)
        return lambda: SqlDBClient(ips, workload)
