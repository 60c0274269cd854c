"""raftkv's client maps every way a request can end to Jepsen's outcome, against a fake
server on loopback: nothing sent -> fail; sent without an answer -> info (fail for a
read, which changes nothing); the server saying no -> fail; a node that cannot serve ->
marked unavailable (the interpreter backs off)."""

import http.server
import socket
import threading

import pytest

from clusters.raftkv.client import RaftKVClient


class FakeServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


def serve(status=None, body=b"{}", hang=False):
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            if hang:
                release.wait(5)
                return
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = _answer

    server = FakeServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, release


def client_for(port, timeout_s=0.5):
    c = RaftKVClient({"n1": "127.0.0.1"}, timeout_s=timeout_s, port=port)
    c.open("n1")
    return c


WRITE = {"f": "write", "key": 1, "value": 3}
READ = {"f": "read", "key": 1, "value": None}
CAS = {"f": "cas", "key": 1, "value": [1, 2]}


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("op", [WRITE, READ, CAS])
def test_refused_connection_is_fail_and_unavailable(op):
    out = client_for(closed_port()).invoke(op)
    assert out["type"] == "fail" and out["error"] == "connection-refused" and out["unavailable"]


@pytest.mark.parametrize("op, expected", [(WRITE, "info"), (CAS, "info"), (READ, "fail")])
def test_sent_but_unanswered_is_indeterminate_except_reads(op, expected):
    server, release = serve(hang=True)
    try:
        out = client_for(server.server_address[1]).invoke(op)
    finally:
        release.set()
        server.shutdown()
    assert out["type"] == expected and out["error"] == "timeout"


@pytest.mark.parametrize("status, op, expected, unavailable", [
    (503, WRITE, "fail", True),
    (409, CAS, "fail", False),
    (404, READ, "fail", False),
    (500, WRITE, "info", False),
    (504, CAS, "info", False),
])
def test_server_answers_map_to_outcomes(status, op, expected, unavailable):
    server, _ = serve(status=status, body=b'{"error": "no-leader"}')
    try:
        out = client_for(server.server_address[1]).invoke(op)
    finally:
        server.shutdown()
    assert out["type"] == expected
    assert bool(out.get("unavailable")) is unavailable


def test_ok_read_returns_the_value():
    server, _ = serve(status=200, body=b'{"value": 4}')
    try:
        out = client_for(server.server_address[1]).invoke(READ)
    finally:
        server.shutdown()
    assert out == {"type": "ok", "value": 4, "node": "n1"}


def test_connection_dropped_after_sending_a_write_is_info():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)

    def drop():
        conn, _ = s.accept()
        conn.recv(65536)
        conn.close()

    threading.Thread(target=drop, daemon=True).start()
    out = client_for(s.getsockname()[1]).invoke(WRITE)
    s.close()
    assert out["type"] == "info"
