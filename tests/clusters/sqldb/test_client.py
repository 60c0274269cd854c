"""sqldb's client: the statements each workload's op becomes, the completion values read
back from the answer, and every way a request can end mapped to Jepsen's outcome against
a fake server on loopback (nothing sent -> fail; sent without an answer -> info, fail for
a read-only transaction; the server saying no -> fail)."""

import http.server
import json
import socket
import threading

import pytest

from clusters.sqldb.client import (BANK_CREDIT, BANK_DEBIT, LIST_APPEND, LIST_READ,
                                   SqlDBClient, completion_value, txn_statements)

APPEND_TXN = {"f": "txn", "value": [["r", 1, None], ["append", 1, 3]]}
READ_TXN = {"f": "txn", "value": [["r", 1, None], ["r", 2, None]]}


class FakeServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


def serve(status=200, body=None, hang=False):
    release = threading.Event()
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            if hang:
                release.wait(5)
                return
            data = json.dumps(body or {}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = FakeServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, release, seen


def client_for(port, workload="list-append", timeout_s=0.5):
    c = SqlDBClient({"n1": "127.0.0.1"}, workload, timeout_s=timeout_s, port=port)
    c.open("n1")
    return c


def test_a_list_append_txn_is_one_request_with_one_statement_per_micro_op():
    statements, read_only = txn_statements("list-append", APPEND_TXN)
    assert [s["sql"] for s in statements] == [LIST_READ, LIST_APPEND]
    assert statements[1]["params"] == [1, "3"] and read_only is False
    assert txn_statements("list-append", READ_TXN)[1] is True


def test_a_transfer_is_two_conditional_updates_and_an_overdraft_is_a_fail():
    op = {"f": "transfer", "value": {"from": 1, "to": 2, "amount": 3}}
    statements, _ = txn_statements("bank", op)
    assert [s["sql"] for s in statements] == [BANK_CREDIT, BANK_DEBIT]
    done = [{"rows": [], "changes": 1}, {"rows": [], "changes": 1}]
    nothing = [{"rows": [], "changes": 0}, {"rows": [], "changes": 0}]
    assert completion_value("bank", op, done) == op["value"]
    assert completion_value("bank", op, nothing) is None


def test_reads_become_lists_registers_balances_and_sets():
    results = [{"rows": [["1,2,3"]]}, {"rows": []}]
    assert completion_value("list-append", READ_TXN, results) == [["r", 1, [1, 2, 3]],
                                                                  ["r", 2, []]]
    assert completion_value("rw-register", READ_TXN, [{"rows": [[7]]}, {"rows": []}]) == \
        [["r", 1, 7], ["r", 2, None]]
    assert completion_value("bank", {"f": "read"}, [{"rows": [[0, 10], [1, 5]]}]) == \
        {"0": 10, "1": 5}
    assert completion_value("set", {"f": "read"}, [{"rows": [[1], [4]]}]) == [1, 4]


def test_an_ok_answer_completes_the_txn_with_the_rows_read():
    answer = {"results": [{"rows": [["1,2"]], "changes": 0}, {"rows": [], "changes": 1}]}
    server, _, seen = serve(200, answer)
    try:
        out = client_for(server.server_address[1]).invoke(APPEND_TXN)
    finally:
        server.shutdown()
    assert out == {"type": "ok", "value": [["r", 1, [1, 2]], ["append", 1, 3]], "node": "n1"}
    assert len(seen[0]["statements"]) == 2


def test_refused_connection_is_fail_and_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out = client_for(port).invoke(APPEND_TXN)
    assert out["type"] == "fail" and out["error"] == "connection-refused" and out["unavailable"]


@pytest.mark.parametrize("op, expected", [(APPEND_TXN, "info"), (READ_TXN, "fail")])
def test_sent_but_unanswered_is_info_unless_read_only(op, expected):
    server, release, _ = serve(hang=True)
    try:
        out = client_for(server.server_address[1]).invoke(op)
    finally:
        release.set()
        server.shutdown()
    assert out["type"] == expected and out["error"] == "timeout"


@pytest.mark.parametrize("status, op, expected, unavailable", [
    (503, APPEND_TXN, "fail", True),
    (409, APPEND_TXN, "fail", False),
    (400, APPEND_TXN, "fail", False),
    (504, APPEND_TXN, "info", False),
    (504, READ_TXN, "fail", False),
    (500, APPEND_TXN, "info", False),
])
def test_server_answers_map_to_outcomes(status, op, expected, unavailable):
    server, _, _ = serve(status, {"error": "x"})
    try:
        out = client_for(server.server_address[1]).invoke(op)
    finally:
        server.shutdown()
    assert out["type"] == expected
    assert bool(out.get("unavailable")) is unavailable


def test_an_op_the_workload_does_not_know_fails_without_a_request():
    out = client_for(1).invoke({"f": "cas", "value": None})
    assert out["type"] == "fail" and "unsupported" in out["error"]
