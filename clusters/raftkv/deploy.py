"""Deploying raftkv onto a cluster: upload the server, run it as a daemon, wait for a leader.

The server (server/raftkv_server.py) needs only the image's python3. Each node runs it
detached (setsid) with its log in /var/log/raftkv/server.log and its data in
/var/lib/raftkv; its pid file lets the nemesis signal exactly that process.

System options (`--system-opt`): `unsafe-reads` (every node answers reads from local
state: stale reads) and `no-fsync` (acknowledged entries can be lost on a crash).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from harness.errors import DeployError, UsageError
from harness.options import Option

from ..daemon import PidFileDaemon, detached, silent_node_error

from .client import CLIENT_PORT, RaftKVClient

log = logging.getLogger(__name__)

SERVER_DIR = os.path.join(os.path.dirname(__file__), "server")
REMOTE_DIR = "/opt/raftkv"
LOG_DIR = "/var/log/raftkv"
DATA_DIR = "/var/lib/raftkv"
PID_FILE = "/run/raftkv.pid"
PEER_PORT = 7000
READY_TIMEOUT_S = 15.0


class RaftKV(PidFileDaemon):
    """The bundled Raft key-value store (register workload), with two unsafe modes.

    Declares what nemeses may ask of it: kill/start and pause/resume of a node's server
    process, the current leader as `primaries`, its log folder, and a health probe (each
    node's Raft role)."""

    name = "raftkv"
    pid_file = PID_FILE
    default_workload = "register"
    workloads = ("register",)
    capabilities = frozenset({"kill", "pause", "primaries", "log-files", "health"})
    # Everything setup creates on a node: the SSH backend removes exactly these.
    host_paths = (REMOTE_DIR, DATA_DIR, LOG_DIR, PID_FILE)
    options = (
        Option("unsafe-reads", "bool", False, "every node answers reads from its local "
               "state (stale reads: not linearizable)"),
        Option("no-fsync", "bool", False, "acknowledge log entries before they are "
               "fsync'd (acknowledged writes can be lost when nodes crash)"),
    )

    def __init__(self, unsafe_reads: bool = False, no_fsync: bool = False):
        self.flags = tuple(name for name, on in (("unsafe-reads", unsafe_reads),
                                                 ("no-fsync", no_fsync)) if on)

    # ---- lifecycle
    def setup(self, cluster) -> None:
        def install(node):
            cluster.exec(node, f"rm -rf {REMOTE_DIR} {DATA_DIR} && mkdir -p {LOG_DIR} {DATA_DIR}")
            cluster.remote.upload(node, SERVER_DIR, REMOTE_DIR)
            self.start(cluster, node)

        with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as pool:
            list(pool.map(install, cluster.nodes))
        self.await_leader(cluster)

    def teardown(self, cluster) -> None:
        for node in cluster.nodes:
            self.kill(cluster, node)

    def start_command(self, cluster, node) -> str:
        peers = ",".join(f"{n}={cluster.ips[n]}" for n in cluster.nodes)
        flags = " ".join(f"--{o}" for o in self.flags)
        server = f"{REMOTE_DIR}/server/raftkv_server.py"
        return detached(f"python3 {server} --id {shlex.quote(node)} --peers {peers} "
                        f"--client-port {CLIENT_PORT} --peer-port {PEER_PORT} "
                        f"--data-dir {DATA_DIR} --pid-file {PID_FILE} {flags}",
                        PID_FILE, f"{LOG_DIR}/server.log")

    # ---- observation
    def status(self, cluster, node, timeout_s: float = 0.5) -> dict | None:
        try:
            with urllib.request.urlopen(f"http://{cluster.ips[node]}:{CLIENT_PORT}/status",
                                        timeout=timeout_s) as resp:
                return json.loads(resp.read())
        except Exception:
            return None

    def statuses(self, cluster) -> dict[str, dict | None]:
        with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as pool:
            return dict(zip(cluster.nodes, pool.map(lambda n: self.status(cluster, n),
                                                    cluster.nodes)))

    def primaries(self, cluster) -> list[str]:
        leaders = [(s["term"], n) for n, s in self.statuses(cluster).items()
                   if s and s.get("role") == "leader"]
        if not leaders:
            return []
        top = max(t for t, _ in leaders)
        return sorted(n for t, n in leaders if t == top)

    def await_leader(self, cluster, timeout_s: float = READY_TIMEOUT_S) -> str:
        """Wait until a majority follows one leader that has committed in its term."""
        deadline = time.monotonic() + timeout_s
        statuses: dict = {}
        while time.monotonic() < deadline:
            statuses = self.statuses(cluster)
            leaders = [s for s in statuses.values()
                       if s and s["role"] == "leader" and s["commit"] >= 1]
            if leaders:
                leader = max(leaders, key=lambda s: s["term"])
                followers = sum(1 for s in statuses.values()
                                if s and s["leader"] == leader["id"] and s["term"] == leader["term"])
                if followers >= len(cluster.nodes) // 2 + 1:
                    log.info("raftkv: leader %s (term %d)", leader["id"], leader["term"])
                    return leader["id"]
            time.sleep(0.1)
        silent = silent_node_error(cluster, statuses, "raftkv", CLIENT_PORT,
                                   f"{LOG_DIR}/server.log", timeout_s)
        if silent is not None:
            raise silent
        raise DeployError(None, f"raftkv elected no stable leader within {timeout_s:g}s: "
                                f"{ {n: (s or {}).get('role') for n, s in statuses.items()} }")

    def log_files(self, node) -> list[str]:
        return [LOG_DIR]

    def health(self, cluster) -> dict[str, str]:
        """Each node's Raft role as it answers now ("down" when it does not answer)."""
        return {n: (s or {}).get("role", "down") if s else "down"
                for n, s in self.statuses(cluster).items()}

    def client(self, cluster, workload: str):
        if workload not in self.workloads:
            raise UsageError(f"raftkv cannot run workload {workload!r}; valid: "
                             f"{', '.join(self.workloads)}")
        return lambda: RaftKVClient(cluster.ips)
