"""Deploying raftkv onto a cluster: upload the server and the Raft core, run it as a
daemon, wait for a leader (all of it clusters/raft/deploy.py, shared with sqldb).

The server (server/raftkv_server.py) needs only the image's python3. Each node runs it
detached (setsid) with its log in /var/log/raftkv/server.log and its data in
/var/lib/raftkv; its pid file lets the nemesis signal exactly that process.

System options (`--system-opt`): `unsafe-reads` (every node answers reads from local
state: stale reads), `no-fsync` (the log is written but never fsync'd: a power loss,
the `lose-unfsynced` nemesis, loses acknowledged writes; a process crash does not) and
`lease-reads` (the leader answers reads during a leader lease on its wall clock: safe
while clocks behave, stale reads under the clock nemesis).
"""

from __future__ import annotations

import os

from harness.errors import UsageError
from harness.options import Option

from ..raft import RaftSystem

from .client import RaftKVClient

SERVER_DIR = os.path.join(os.path.dirname(__file__), "server")


class RaftKV(RaftSystem):
    """The bundled Raft key-value store (register workload), with three unsafe modes.

    Declares what nemeses may ask of it: kill/start and pause/resume of a node's server
    process, the current leader as `primaries`, its log folder, and a health probe (each
    node's Raft role)."""

    name = "raftkv"
    server_dir = SERVER_DIR
    server_file = "raftkv_server.py"
    default_workload = "register"
    workloads = ("register",)
    options = (
        Option("unsafe-reads", "bool", False, "every node answers reads from its local "
               "state (stale reads: not linearizable)"),
        Option("no-fsync", "bool", False, "write the log but never fsync it (a power "
               "loss, not a process crash, loses acknowledged writes)"),
        Option("lease-reads", "bool", False, "the leader answers reads during a leader "
               "lease measured on its wall clock instead of a heartbeat round per read "
               "(linearizable unless its clock steps: see the clock nemesis)"),
    )

    def __init__(self, unsafe_reads: bool = False, no_fsync: bool = False,
                 lease_reads: bool = False):
        self.flags = tuple(name for name, on in (("unsafe-reads", unsafe_reads),
                                                 ("no-fsync", no_fsync),
                                                 ("lease-reads", lease_reads)) if on)

    def client(self, cluster, workload: str):
        if workload not in self.workloads:
            raise UsageError(f"raftkv cannot run workload {workload!r}; valid: "
                             f"{', '.join(self.workloads)}")
        return lambda: RaftKVClient(cluster.ips)
