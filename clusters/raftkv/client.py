"""The raftkv client for the register workload: read / write / cas on one key per op.

Outcome rules (Jepsen's): an answer that says the op did not happen is `fail`; anything
that leaves us unsure (timeout, connection lost after sending, a 504 from the server) is
`info`. Reads have no effect, so a read that did not answer is simply `fail`: that keeps
its process alive and costs the checker nothing.
"""

from __future__ import annotations

import http.client
import json
import socket

from ..node_http import NodeHTTPClient

CLIENT_PORT = 8000
DEFAULT_TIMEOUT_S = 5.0


class RaftKVClient(NodeHTTPClient):
    def __init__(self, ips: dict[str, str], timeout_s: float = DEFAULT_TIMEOUT_S,
                 port: int = CLIENT_PORT):
        super().__init__(ips, timeout_s, port)

    def invoke(self, op: dict) -> dict:
        f, key, value = op["f"], op.get("key"), op.get("value")
        if f == "read":
            method, path, body = "GET", f"/kv/{key}", None
        elif f == "write":
            method, path, body = "PUT", f"/kv/{key}", {"value": value}
        elif f == "cas":
            method, path, body = "POST", f"/cas/{key}", {"old": value[0], "new": value[1]}
        else:
            return {"type": "fail", "error": f"unsupported op {f!r}", "node": self.node}
        indeterminate = "fail" if f == "read" else "info"
        conn = self.conn
        try:
            if conn.sock is None:
                try:
                    conn.connect()
                except (ConnectionRefusedError, socket.timeout, OSError) as e:
                    conn.close()
                    # Nothing was sent: the op certainly did not happen.
                    return {"type": "fail", "error": _error_name(e), "node": self.node,
                            "unavailable": True}
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if payload else {}
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            data = json.loads(resp.read() or b"{}")
        except (socket.timeout, TimeoutError):
            conn.close()
            return {"type": indeterminate, "error": "timeout", "node": self.node}
        except (http.client.HTTPException, OSError, ValueError) as e:
            conn.close()
            return {"type": indeterminate, "error": _error_name(e), "node": self.node,
                    "unavailable": True}
        status = resp.status
        if status == 200:
            if f == "read":
                return {"type": "ok", "value": data.get("value"), "node": self.node}
            return {"type": "ok", "value": value, "node": self.node}
        error = data.get("error", f"http-{status}")
        if status == 503:    # no leader / not leader / unavailable: the node cannot serve now
            return {"type": "fail", "error": error, "node": self.node, "unavailable": True}
        if status in (409, 404, 405, 400):
            return {"type": "fail", "error": error, "node": self.node}
        return {"type": indeterminate, "error": error, "node": self.node}


def _error_name(e: Exception) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection-refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "connect-timeout"
    if isinstance(e, (ConnectionResetError, http.client.RemoteDisconnected)):
        return "connection-lost"
    return type(e).__name__
