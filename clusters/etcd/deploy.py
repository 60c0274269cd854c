"""Deploying etcd onto a cluster: one member per node, on the run's fixed IPs.

Each node runs the image's `etcd` binary detached (setsid) with its data in
/var/lib/etcd/data and its log in /var/log/etcd/etcd.log; a small shell wrapper writes
the member's pid to /run/etcd.pid before exec'ing etcd, so kill/pause signal exactly
that process. All members start at once with the full `--initial-cluster` (static
bootstrap: no discovery service, nothing leaves the cluster's network). A restarted
member (after a kill) finds its data dir and rejoins as itself; `--initial-cluster-state
new` is ignored once the data dir exists.

`setup` returns when every member answers through the v3 JSON gateway, all name the
same leader, and a linearizable read succeeds on each (so clients see a serving
cluster, not one still electing).

Reuse: a system that needs etcd as its coordination service (pgha's DCS) builds an
`Etcd()` and calls `setup`, `kill`, `start`, `primaries`... on the same `Cluster`, and
points its own processes at `client_urls(cluster)`; nothing here is specific to the
workloads.
"""

from __future__ import annotations

import base64
import json
import logging
import shlex
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from harness.errors import DeployError, UsageError
from harness.options import Option

from ..daemon import PidFileDaemon, detached, silent_node_error

from .client import CLIENT_PORT, EtcdClient

log = logging.getLogger(__name__)

PEER_PORT = 2380
LOG_DIR = "/var/log/etcd"
LOG_FILE = f"{LOG_DIR}/etcd.log"
DATA_DIR = "/var/lib/etcd/data"
PID_FILE = "/run/etcd.pid"
READY_TIMEOUT_S = 20.0
STATUS_TIMEOUT_S = 0.5
# etcd's defaults (100 ms heartbeat, 1 s election timeout) are kept: they are what users
# run, and a partitioned leader steps down (CheckQuorum) within one election timeout.
HEARTBEAT_MS = 100
ELECTION_MS = 1000


class Etcd(PidFileDaemon):
    """A real etcd 3.4 cluster (register, set and list-append workloads).

    Capabilities: kill/start and pause/resume of a member's etcd process, the current
    leader as `primaries` (from each member's maintenance status), the log folder, and a
    health probe (each member's role as it answers now)."""

    name = "etcd"
    pid_file = PID_FILE
    default_workload = "register"
    workloads = ("register", "set", "list-append")
    capabilities = frozenset({"kill", "pause", "primaries", "log-files", "health", "data-dirs"})
    data_dirs = (("/var/lib/etcd", "root"),)       # DATA_DIR lives inside
    # For the SSH backend: what setup creates on a host (removed after the run) and the
    # binary it needs there (Debian: apt-get install etcd-server).
    host_paths = (DATA_DIR, LOG_DIR, PID_FILE)
    host_commands = ("etcd",)
    options = (
        Option("serializable-reads", "bool", False, "reads are etcd's serializable range "
               "reads: answered from the member's local state, possibly stale (not "
               "linearizable); the default is linearizable reads"),
    )

    def __init__(self, serializable_reads: bool = False):
        self.serializable_reads = serializable_reads

    # ---- lifecycle
    def setup(self, cluster) -> None:
        def install(node):
            cluster.exec(node, f"rm -rf {DATA_DIR} {PID_FILE} && mkdir -p {LOG_DIR} "
                               f"$(dirname {DATA_DIR})", timeout=10)
            self.start(cluster, node)

        with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as pool:
            list(pool.map(install, cluster.nodes))
        self.await_ready(cluster)

    def teardown(self, cluster) -> None:
        for node in cluster.nodes:
            self.kill(cluster, node)

    @staticmethod
    def client_urls(cluster) -> list[str]:
        return [f"http://{cluster.ips[n]}:{CLIENT_PORT}" for n in cluster.nodes]

    def start_command(self, cluster, node) -> str:
        ip = cluster.ips[node]
        initial = ",".join(f"{n}=http://{cluster.ips[n]}:{PEER_PORT}" for n in cluster.nodes)
        token = "harness-" + "-".join(sorted(cluster.ips.values()))[-60:]
        etcd = " ".join([
            "exec etcd", f"--name {shlex.quote(node)}", f"--data-dir {DATA_DIR}",
            f"--listen-client-urls http://{ip}:{CLIENT_PORT},http://127.0.0.1:{CLIENT_PORT}",
            f"--advertise-client-urls http://{ip}:{CLIENT_PORT}",
            f"--listen-peer-urls http://{ip}:{PEER_PORT}",
            f"--initial-advertise-peer-urls http://{ip}:{PEER_PORT}",
            f"--initial-cluster {initial}", "--initial-cluster-state new",
            f"--initial-cluster-token {shlex.quote(token)}",
            f"--heartbeat-interval {HEARTBEAT_MS}", f"--election-timeout {ELECTION_MS}",
        ])
        wrapper = f"echo $$ > {PID_FILE}; {etcd}"
        return detached(f"sh -c {shlex.quote(wrapper)}", PID_FILE, LOG_FILE)

    # ---- observation
    def status(self, cluster, node, timeout_s: float = STATUS_TIMEOUT_S) -> dict | None:
        """The member's maintenance status through the gateway, or None if it does not
        answer: {"member": id, "leader": id (0: none known), "term": raft term}."""
        data = _post(cluster.ips[node], "/v3/maintenance/status", {}, timeout_s)
        if data is None or "header" not in data:
            return None
        header = data["header"]
        return {"member": str(header.get("member_id", "")), "leader": str(data.get("leader", "0")),
                "term": int(data.get("raftTerm", data.get("raft_term", header.get("raft_term", 0))))}

    def statuses(self, cluster) -> dict[str, dict | None]:
        with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as pool:
            return dict(zip(cluster.nodes, pool.map(lambda n: self.status(cluster, n),
                                                    cluster.nodes)))

    @staticmethod
    def _roles(statuses: dict[str, dict | None]) -> dict[str, str]:
        """leader / follower / no-leader / down per node. A member is the leader when it
        names itself; among several (an old leader that has not yet noticed) the highest
        term wins, the others count as followers of a stale view."""
        top = max((s["term"] for s in statuses.values()
                   if s and s["leader"] == s["member"]), default=None)
        roles = {}
        for node, s in statuses.items():
            if s is None:
                roles[node] = "down"
            elif s["leader"] in ("", "0"):
                roles[node] = "no-leader"
            elif s["leader"] == s["member"] and s["term"] == top:
                roles[node] = "leader"
            else:
                roles[node] = "follower"
        return roles

    def primaries(self, cluster) -> list[str]:
        return sorted(n for n, r in self._roles(self.statuses(cluster)).items() if r == "leader")

    def health(self, cluster) -> dict[str, str]:
        """Each member's role as it answers now ("down" when it does not answer)."""
        return self._roles(self.statuses(cluster))

    def await_ready(self, cluster, timeout_s: float = READY_TIMEOUT_S) -> str:
        """Wait until every member names the same leader and serves a linearizable read
        through the gateway; returns the leader's node name."""
        deadline = time.monotonic() + timeout_s
        statuses: dict = {}
        while time.monotonic() < deadline:
            statuses = self.statuses(cluster)
            leaders = {s["leader"] for s in statuses.values() if s}
            if all(statuses.values()) and len(leaders) == 1 and leaders != {"0"}:
                if all(self._serves(cluster, n) for n in cluster.nodes):
                    leader = next((n for n, s in statuses.items()
                                   if s["member"] == s["leader"]), "?")
                    log.info("etcd: leader %s", leader)
                    return leader
            time.sleep(0.1)
        silent = silent_node_error(cluster, statuses, "etcd", CLIENT_PORT, LOG_FILE, timeout_s)
        if silent is not None:
            raise silent
        raise DeployError(None, f"etcd did not agree on a serving leader within "
                                f"{timeout_s:g}s: {self._roles(statuses)}")

    @staticmethod
    def _serves(cluster, node) -> bool:
        key = base64.b64encode(b"harness/ready").decode()
        data = _post(cluster.ips[node], "/v3/kv/range", {"key": key}, 2.0)
        return data is not None and "header" in data

    def log_files(self, node) -> list[str]:
        return [LOG_DIR]

    def client(self, cluster, workload: str):
        if workload not in self.workloads:
            raise UsageError(f"etcd cannot run workload {workload!r}; valid: "
                             f"{', '.join(self.workloads)}")
        serializable = self.serializable_reads
        return lambda: EtcdClient(cluster.ips, workload, serializable_reads=serializable)


def _post(ip: str, path: str, body: dict, timeout_s: float) -> dict | None:
    """POST a JSON body to the member's gateway; its JSON answer, or None on any error."""
    request = urllib.request.Request(f"http://{ip}:{CLIENT_PORT}{path}",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except Exception:
        return None
