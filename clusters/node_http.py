"""One HTTP connection from a client worker to one node: what the bundled HTTP clients
(raftkv, etcd's JSON gateway) share. `open(node)` only prepares the connection, as the
Client contract requires (opening changes nothing on the system); the socket is made on
the first request, so a refused connection is seen by `invoke`, where it is a `fail`."""

from __future__ import annotations

import http.client


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
