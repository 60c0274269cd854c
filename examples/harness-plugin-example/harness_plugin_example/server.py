"""The onekv server: runs inside each container with the image's python3 (standard
library only). It is deliberately tiny: a dict of registers in memory, served over HTTP.

The node named by --primary holds the only copy; every other node forwards each request
to it (so the system is linearizable: one copy, one order). With --no-forward every node
answers from its own dict instead: clients on different nodes see different registers,
which the harness reports as not linearizable.

    GET  /status          {"id", "primary"}
    GET  /r/KEY           {"value": v}            (null when never written)
    PUT  /r/KEY  {"value": v}
    POST /cas/KEY {"old": a, "new": b}   -> {"ok": true|false}

503: not applied (the primary refused the connection). 504: unknown (the primary did not
answer after the request was sent: it may have applied it).
"""

import argparse
import http.client
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = 8100
FORWARD_TIMEOUT_S = 1.0

registers: dict = {}
lock = threading.Lock()


def apply(method: str, path: str, body: dict) -> tuple[int, dict]:
    kind, _, key = path.strip("/").partition("/")
    with lock:
        if method == "GET" and kind == "r":
            return 200, {"value": registers.get(key)}
        if method == "PUT" and kind == "r":
            registers[key] = body.get("value")
            return 200, {}
        if method == "POST" and kind == "cas":
            if registers.get(key) == body.get("old"):
                registers[key] = body.get("new")
                return 200, {"ok": True}
            return 200, {"ok": False}
    return 404, {"error": "no such route"}


def forward(primary_ip: str, method: str, path: str, raw: bytes) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(primary_ip, PORT, timeout=FORWARD_TIMEOUT_S)
    try:
        try:
            conn.connect()
        except OSError as e:
            return 503, {"error": f"primary unreachable: {e}"}
        try:
            conn.request(method, path, body=raw, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"{}")
        except OSError as e:
            return 504, {"error": f"primary did not answer: {e}"}
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", required=True)
    parser.add_argument("--primary", required=True)
    parser.add_argument("--primary-ip", required=True)
    parser.add_argument("--pid-file", required=True)
    parser.add_argument("--no-forward", action="store_true")
    args = parser.parse_args()
    serves_locally = args.id == args.primary or args.no_forward

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_any(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/status":
                status, out = 200, {"id": args.id, "primary": args.primary}
            elif serves_locally:
                status, out = apply(self.command, self.path, json.loads(raw or b"{}"))
            else:
                status, out = forward(args.primary_ip, self.command, self.path, raw)
            data = json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = handle_any

        def log_message(self, fmt, *a):
            pass

    with open(args.pid_file, "w") as f:
        f.write(str(os.getpid()))
    print(f"onekv {args.id} serving on {PORT}; primary {args.primary}"
          f"{' (no forwarding)' if args.no_forward else ''}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()


if __name__ == "__main__":
    main()
