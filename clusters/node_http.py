"""One HTTP connection from a client worker to one node: what the bundled HTTP clients
(raftkv, sqldb, etcd's JSON gateway) share. `open(node)` only prepares the connection, as
the Client contract requires (opening changes nothing on the system); the socket is made on
the first request, so a refused connection is seen by `invoke`, where it is a `fail`.

`call` and `refused` hold the outcome rules of the bundled servers (raftkv and sqldb speak
the same JSON-over-HTTP dialect of clusters/raft):
* nothing sent (refused, connect timeout): `fail`, unavailable: it certainly did not happen;
* sent, then a timeout or a lost connection: `info` for an op that may change state, `fail`
  for one that cannot (a read changes nothing, whatever happened);
* 503 (no leader, not the leader): `fail`, unavailable; 400/404/405/409 (refused, rolled
  back): `fail`; any other status: as a lost answer.
"""

from __future__ import annotations

import http.client
import json
import socket


class NodeHTTPClient:
    def __init__(self, ips: dict[str, str], timeout_s: float, port: int):
        self.ips = ips
        self.timeout_s = timeout_s
        self.port = port
        self.node: str | None = None
        self.conn: http.client.HTTPConnection | None = None

    def open(self, node: str) -> None:
        self.node = node
        self.conn = http.client.HTTPConnection(self.ips[node], self.port, timeout=self.timeout_s)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def call(self, method: str, path: str, body, may_change: bool):
        """Send one request: (status, decoded JSON answer), or the outcome dict of a
        request that got no answer."""
        indeterminate = "info" if may_change else "fail"
        conn = self.conn
        try:
            if conn.sock is None:
                try:
                    conn.connect()
                except (ConnectionRefusedError, socket.timeout, OSError) as e:
                    conn.close()
                    return {"type": "fail", "error": error_name(e), "node": self.node,
                            "unavailable": True}
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if payload else {}
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"{}")
        except (socket.timeout, TimeoutError):
            conn.close()
            return {"type": indeterminate, "error": "timeout", "node": self.node}
        except (http.client.HTTPException, OSError, ValueError) as e:
            conn.close()
            return {"type": indeterminate, "error": error_name(e), "node": self.node,
                    "unavailable": True}

    def refused(self, status: int, data: dict, may_change: bool) -> dict:
        """The outcome of an answer that is not a success."""
        error = data.get("error", f"http-{status}") if isinstance(data, dict) else f"http-{status}"
        if status == 503:
            return {"type": "fail", "error": error, "node": self.node, "unavailable": True}
        if status in (400, 404, 405, 409):
            return {"type": "fail", "error": str(error)[:200], "node": self.node}
        return {"type": "info" if may_change else "fail", "error": error, "node": self.node}


def error_name(e: Exception) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection-refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "connect-timeout"
    if isinstance(e, (ConnectionResetError, http.client.RemoteDisconnected)):
        return "connection-lost"
    return type(e).__name__
