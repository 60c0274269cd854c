"""Deploying a server built on the Raft core (clusters/raft/raftcore.py): what raftkv and
sqldb share on the harness side.

Each node gets the core in /opt/raft and the server's folder in /opt/<name>/server (so
the server finds the core at ../../raft), runs it detached (setsid) with its log in
/var/log/<name>/server.log and its data in /var/lib/<name>; its pid file lets the
nemeses signal exactly that process. Every server answers GET /status with its Raft role,
term, leader and commit index, which is how `setup` waits for a leader, `primaries`
names it and `health` reports each node's role.

A subclass sets `name`, `server_dir` (its local server folder), `server_file`, and
`flags` (the unsafe modes chosen, as command-line flags), plus its options and client.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from harness.errors import DeployError

from ..daemon import PidFileDaemon, detached, silent_node_error

log = logging.getLogger(__name__)

CORE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "raftcore.py")
CORE_REMOTE_DIR = "/opt/raft"
CLIENT_PORT = 8000
PEER_PORT = 7000
READY_TIMEOUT_S = 15.0


class RaftSystem(PidFileDaemon):
    """setup / teardown / start and the Raft observations for one Raft-core server."""

    name: str
    server_dir: str
    server_file: str
    flags: tuple[str, ...] = ()
    capabilities = frozenset({"kill", "pause", "primaries", "log-files", "health", "data-dirs",
                              "clock"})

    @property
    def remote_dir(self) -> str:
        return f"/opt/{self.name}"

    @property
    def log_dir(self) -> str:
        return f"/var/log/{self.name}"

    @property
    def storage_root(self) -> str:
        """Holds the data directory; never removed by the system (it may be a mount)."""
        return f"/var/lib/{self.name}"

    @property
    def data_dir(self) -> str:
        return f"{self.storage_root}/data"

    @property
    def data_dirs(self) -> tuple[tuple[str, str], ...]:
        """Where everything a node must find again after a crash lives, and its owner."""
        return ((self.storage_root, "root"),)

    @property
    def pid_file(self) -> str:
        return f"/run/{self.name}.pid"

    @property
    def host_paths(self) -> tuple[str, ...]:
        """Everything setup creates on a node: the SSH backend removes exactly these."""
        return (self.remote_dir, CORE_REMOTE_DIR, self.storage_root, self.log_dir, self.pid_file)

    # ---- lifecycle
    def setup(self, cluster) -> None:
        def install(node):
            cluster.exec(node, f"rm -rf {self.remote_dir} {CORE_REMOTE_DIR} {self.data_dir} && "
                               f"mkdir -p {self.log_dir} {self.data_dir}")
            cluster.remote.upload(node, CORE_FILE, CORE_REMOTE_DIR)
            cluster.remote.upload(node, self.server_dir, self.remote_dir)
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
        server = f"{self.remote_dir}/{os.path.basename(self.server_dir)}/{self.server_file}"
        return detached(f"python3 {server} --id {shlex.quote(node)} --peers {peers} "
                        f"--client-port {CLIENT_PORT} --peer-port {PEER_PORT} "
                        f"--data-dir {self.data_dir} --pid-file {self.pid_file} {flags}",
                        self.pid_file, f"{self.log_dir}/server.log")

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
                    log.info("%s: leader %s (term %d)", self.name, leader["id"], leader["term"])
                    return leader["id"]
            time.sleep(0.1)
        silent = silent_node_error(cluster, statuses, self.name, CLIENT_PORT,
                                   f"{self.log_dir}/server.log", timeout_s)
        if silent is not None:
            raise silent
        raise DeployError(None, f"{self.name} elected no stable leader within {timeout_s:g}s: "
                                f"{ {n: (s or {}).get('role') for n, s in statuses.items()} }")

    def log_files(self, node) -> list[str]:
        return [self.log_dir]

    def health(self, cluster) -> dict[str, str]:
        """Each node's Raft role as it answers now ("down" when it does not answer)."""
        return {n: (s or {}).get("role", "down") if s else "down"
                for n, s in self.statuses(cluster).items()}
