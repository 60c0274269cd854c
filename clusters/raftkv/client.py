"""The raftkv client for the register workload: read / write / cas on one key per op.

Outcome rules (Jepsen's): an answer that says the op did not happen is `fail`; anything
that leaves us unsure (timeout, connection lost after sending, a 504 from the server) is
`info`. Reads have no effect, so a read that did not answer is simply `fail`: that keeps
its process alive and costs the checker nothing.
"""

from __future__ import annotations


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
        got = self.call(method, path, body, may_change=f != "read")
        if isinstance(got, dict):
            return got
        status, data = got
        if status == 200:
            if f == "read":
                return {"type": "ok", "value": data.get("value"), "node": self.node}
            return {"type": "ok", "value": value, "node": self.node}
        return self.refused(status, data, may_change=f != "read")
