"""The onekv system: how harness deploys it, controls its processes and talks to it.

A system is a class with declarations the harness reads (name, options, capabilities,
workloads) and methods that take the `Cluster` explicitly (harness.system describes the
contract). It is built as `OneKV(**options)` from the `--system-opt` values.
"""

from __future__ import annotations

import http.client
import json
import os
import time

from harness.errors import DeployError, UsageError
from harness.options import Option

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "server.py")
REMOTE_DIR = "/opt/onekv"
LOG_DIR = "/var/log/onekv"
PID_FILE = "/run/onekv.pid"
PORT = 8100
CLIENT_TIMEOUT_S = 2.0        # every client call has a timeout: a run never hangs
READY_TIMEOUT_S = 10.0


class OneKV:
    """One register server per node; n1 holds the data and the others forward to it."""

    name = "onekv"
    default_workload = "ascending"
    workloads = ("ascending", "register")
    # What nemeses may ask of it: `kill` (kill/start), `pause` (pause/resume),
    # `primaries`, `log-files`. A nemesis that requires anything else is refused with
    # exit 4 before a container starts.
    capabilities = frozenset({"kill", "pause", "primaries", "log-files"})
    options = (
        Option("no-forward", "bool", False, "every node answers from its own copy "
               "(not linearizable: the harness catches it)"),
    )

    def __init__(self, no_forward: bool = False):
        self.no_forward = no_forward

    # ---- lifecycle: setup returns only when every node serves
    def setup(self, cluster) -> None:
        for node in cluster.nodes:
            cluster.exec(node, f"mkdir -p {REMOTE_DIR} {LOG_DIR}")
            cluster.remote.upload(node, SERVER, REMOTE_DIR)
            self.start(cluster, node)
        deadline = time.monotonic() + READY_TIMEOUT_S
        waiting = list(cluster.nodes)
        while waiting and time.monotonic() < deadline:
            waiting = [n for n in waiting if self._status(cluster, n) is None]
            time.sleep(0.1)
        if waiting:
            raise DeployError(waiting[0], f"onekv did not answer on port {PORT} within "
                                          f"{READY_TIMEOUT_S:g}s; see {LOG_DIR}/server.log")

    def teardown(self, cluster) -> None:
        for node in cluster.nodes:
            self.kill(cluster, node)

    # ---- process controls (capabilities kill and pause); each is idempotent
    def start(self, cluster, node) -> None:
        primary = cluster.nodes[0]
        flags = " --no-forward" if self.no_forward else ""
        cluster.exec(node, f"if [ -f {PID_FILE} ] && kill -0 $(cat {PID_FILE}) 2>/dev/null; "
                           f"then exit 0; fi; cd / && setsid python3 {REMOTE_DIR}/server.py "
                           f"--id {node} --primary {primary} --primary-ip {cluster.ips[primary]} "
                           f"--pid-file {PID_FILE}{flags} >>{LOG_DIR}/server.log 2>&1 "
                           f"</dev/null & sleep 0.05", timeout=10)

    def kill(self, cluster, node) -> None:
        cluster.exec(node, f"[ -f {PID_FILE} ] && kill -9 $(cat {PID_FILE}) 2>/dev/null; "
                           f"rm -f {PID_FILE}; true", timeout=10)

    def pause(self, cluster, node) -> None:
        cluster.exec(node, f"[ -f {PID_FILE} ] && kill -STOP $(cat {PID_FILE}); true", timeout=10)

    def resume(self, cluster, node) -> None:
        cluster.exec(node, f"[ -f {PID_FILE} ] && kill -CONT $(cat {PID_FILE}); true", timeout=10)

    # ---- observation
    def primaries(self, cluster) -> list[str]:
        return [cluster.nodes[0]]

    def log_files(self, node) -> list[str]:
        return [LOG_DIR]

    def _status(self, cluster, node):
        try:
            conn = http.client.HTTPConnection(cluster.ips[node], PORT, timeout=0.5)
            conn.request("GET", "/status")
            return json.loads(conn.getresponse().read())
        except (OSError, ValueError):
            return None

    # ---- the client factory for a workload
    def client(self, cluster, workload: str):
        if workload not in self.workloads:
            raise UsageError(f"onekv cannot run workload {workload!r}; valid: "
                             f"{', '.join(self.workloads)}")
        return lambda: OneKVClient(cluster.ips)


class OneKVClient:
    """A connection from one worker to one node (harness.interpreter.Client).

    `invoke` returns the completion: `ok`, `fail` (certainly not applied) or `info` (may
    have been applied), with the node that served it. Reads that do not answer are `fail`:
    a read has no effect."""

    def __init__(self, ips: dict[str, str]):
        self.ips = ips
        self.node = None
        self.conn = None

    def open(self, node: str) -> None:
        self.node = node
        self.conn = http.client.HTTPConnection(self.ips[node], PORT, timeout=CLIENT_TIMEOUT_S)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def invoke(self, op: dict) -> dict:
        f, key, value = op["f"], op.get("key"), op.get("value")
        if f == "read":
            request = ("GET", f"/r/{key}", None)
        elif f == "write":
            request = ("PUT", f"/r/{key}", {"value": value})
        elif f == "cas":
            request = ("POST", f"/cas/{key}", {"old": value[0], "new": value[1]})
        else:
            return {"type": "fail", "error": f"onekv has no op {f!r}"}
        try:
            if self.conn.sock is None:
                self.conn.connect()
        except OSError as e:          # nothing reached the node
            self.conn.close()
            return {"type": "fail", "error": f"connect: {e}", "node": self.node,
                    "unavailable": True}
        try:
            body = json.dumps(request[2]).encode() if request[2] is not None else None
            self.conn.request(request[0], request[1], body=body,
                              headers={"Content-Type": "application/json"})
            resp = self.conn.getresponse()
            out = json.loads(resp.read() or b"{}")
        except (OSError, http.client.HTTPException, ValueError) as e:
            self.conn.close()         # sent: a write may have been applied
            return {"type": "fail" if f == "read" else "info", "error": str(e)[:200],
                    "node": self.node}
        if resp.status == 503:
            return {"type": "fail", "error": out.get("error"), "node": self.node,
                    "unavailable": True}
        if resp.status != 200:
            return {"type": "fail" if f == "read" else "info", "error": out.get("error"),
                    "node": self.node}
        if f == "read":
            return {"type": "ok", "value": out.get("value"), "node": self.node}
        if f == "cas" and not out.get("ok"):
            return {"type": "fail", "error": "cas: value differs", "node": self.node}
        return {"type": "ok", "value": value, "node": self.node}
