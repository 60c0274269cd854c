"""etcd's client maps every way a gateway request can end to Jepsen's outcome, against a
fake gateway on loopback: nothing sent -> fail (unavailable); sent without an answer ->
info (fail for a read, which changes nothing); etcd saying the request was not applied
(a failed compare, no leader, a dropped proposal) -> fail; etcd errors that leave a
write's fate open ("request timed out", "leader changed") -> info. It also pins what is
sent: serializable ranges only with the option, list-append's one guarded txn and its
retry only after a failed compare."""

import base64
import http.server
import json
import socket
import threading

import pytest

from clusters.etcd.client import EtcdClient, classify_error

HEADER = {"header": {"revision": "7", "raft_term": "2"}}


def b64(text):
    return base64.b64encode(text.encode()).decode()


def kv(key, value, mod_revision=5):
    return {"key": b64(key), "value": b64(value), "mod_revision": str(mod_revision)}


class FakeGateway:
    """Answers each POST with `script(path, body)` -> (status, dict) or None to hang.
    Every request is recorded as (path, body)."""

    def __init__(self, script):
        self.requests = []
        self.release = threading.Event()
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                gateway.requests.append((self.path, body))
                answer = script(self.path, body)
                if answer is None:
                    gateway.release.wait(5)
                    return
                status, data = answer
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self):
        return self.server.server_address[1]

    def stop(self):
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def gateway():
    made = []

    def make(script):
        g = FakeGateway(script)
        made.append(g)
        return g

    yield make
    for g in made:
        g.stop()


def client_for(port, workload="register", serializable=False, timeout_s=0.5):
    c = EtcdClient({"n1": "127.0.0.1"}, workload, serializable_reads=serializable,
                   timeout_s=timeout_s, port=port)
    c.open("n1")
    return c


READ = ("register", {"f": "read", "key": 1, "value": None})
WRITE = ("register", {"f": "write", "key": 1, "value": 3})
CAS = ("register", {"f": "cas", "key": 1, "value": [1, 2]})
ADD = ("set", {"f": "add", "value": 9})
SET_READ = ("set", {"f": "read", "value": None})
APPEND_TXN = ("list-append", {"f": "txn", "value": [["append", 1, 4], ["r", 2, None]]})
READ_TXN = ("list-append", {"f": "txn", "value": [["r", 1, None], ["r", 2, None]]})
ALL_OPS = [READ, WRITE, CAS, ADD, SET_READ, APPEND_TXN, READ_TXN]
IDS = ["read", "write", "cas", "add", "set-read", "append-txn", "read-txn"]


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("workload, op", ALL_OPS, ids=IDS)
def test_refused_connection_is_fail_and_unavailable(workload, op):
    out = client_for(closed_port(), workload).invoke(op)
    assert out["type"] == "fail" and out["error"] == "connection-refused" and out["unavailable"]


@pytest.mark.parametrize("workload, op, expected", [
    (*WRITE, "info"), (*CAS, "info"), (*ADD, "info"), (*READ, "fail"), (*SET_READ, "fail"),
    (*READ_TXN, "fail")], ids=["write", "cas", "add", "read", "set-read", "read-txn"])
def test_sent_but_unanswered_is_indeterminate_except_reads(gateway, workload, op, expected):
    g = gateway(lambda path, body: None)
    out = client_for(g.port, workload).invoke(op)
    assert out["type"] == expected and "timeout" in out["error"]
    assert not out.get("unavailable")


def test_list_append_commit_unanswered_is_info_but_its_read_unanswered_is_fail(gateway):
    """The first request (the read of the keys) applies nothing; the guarded txn might."""
    def commit_hangs(path, body):
        if body.get("compare"):
            return None
        return 200, {**HEADER, "responses": [{"response_range": {}}, {"response_range": {}}]}

    out = client_for(gateway(commit_hangs).port, "list-append").invoke(APPEND_TXN[1])
    assert out["type"] == "info"
    read_hangs = gateway(lambda path, body: None)
    out = client_for(read_hangs.port, "list-append").invoke(APPEND_TXN[1])
    assert out["type"] == "fail"
    assert len(read_hangs.requests) == 1 and "compare" not in read_hangs.requests[0][1]


@pytest.mark.parametrize("status, error, workload, op, expected, unavailable", [
    (503, "etcdserver: no leader", *WRITE, "fail", True),
    (500, "raft proposal dropped", *CAS, "fail", True),
    (503, "etcdserver: no leader", *READ, "fail", True),
    (503, "etcdserver: request timed out", *WRITE, "info", False),
    (503, "etcdserver: request timed out", *READ, "fail", False),
    (503, "etcdserver: leader changed", *ADD, "info", False),
    (500, "etcdserver: something new", *WRITE, "info", False),
    (400, "etcdserver: duplicate key given in txn request", *APPEND_TXN, "fail", False),
])
def test_etcd_errors_map_to_outcomes(gateway, status, error, workload, op, expected, unavailable):
    g = gateway(lambda path, body: (status, {"error": error, "message": error, "code": 14}))
    out = client_for(g.port, workload).invoke(op)
    assert out["type"] == expected and out["error"] == error
    assert bool(out.get("unavailable")) is unavailable


def test_an_answer_without_etcd_shape_is_indeterminate_for_a_write(gateway):
    g = gateway(lambda path, body: (502, {"nothing": "here"}))
    assert client_for(g.port).invoke(WRITE[1])["type"] == "info"
    assert client_for(g.port).invoke(READ[1])["type"] == "fail"


def test_a_failed_cas_compare_is_fail_and_not_unavailable(gateway):
    g = gateway(lambda path, body: (200, dict(HEADER)))     # "succeeded" omitted: false
    out = client_for(g.port).invoke(CAS[1])
    assert out["type"] == "fail" and out["error"] == "cas-mismatch"
    assert not out.get("unavailable")
    path, body = g.requests[0]
    assert path == "/v3/kv/txn"
    assert body["compare"] == [{"key": b64("harness/register/1"), "target": "VALUE",
                                "result": "EQUAL", "value": b64("1")}]
    assert body["success"] == [{"request_put": {"key": b64("harness/register/1"),
                                                "value": b64("2")}}]


def test_ok_read_decodes_the_value_and_a_missing_key_reads_none(gateway):
    g = gateway(lambda path, body: (200, {**HEADER, "kvs": [kv("harness/register/1", "4")]}))
    assert client_for(g.port).invoke(READ[1]) == {"type": "ok", "value": 4, "node": "n1"}
    empty = gateway(lambda path, body: (200, dict(HEADER)))
    assert client_for(empty.port).invoke(READ[1])["value"] is None


@pytest.mark.parametrize("serializable", [False, True])
def test_reads_are_serializable_only_with_the_option(gateway, serializable):
    g = gateway(lambda path, body: (200, {**HEADER, "responses": [{"response_range": {}}] * 2}))
    client_for(g.port, "register", serializable).invoke(READ[1])
    client_for(g.port, "set", serializable).invoke(SET_READ[1])
    client_for(g.port, "list-append", serializable).invoke(READ_TXN[1])
    ranges = [g.requests[0][1], g.requests[1][1]] + \
        [op["request_range"] for op in g.requests[2][1]["success"]]
    assert len(ranges) == 4
    assert all(r.get("serializable", False) is serializable for r in ranges)


def test_set_read_is_one_prefix_range_sorted(gateway):
    g = gateway(lambda path, body: (200, {**HEADER, "kvs": [
        kv("harness/set/10", "10"), kv("harness/set/2", "2"), kv("harness/set/7", "7")]}))
    out = client_for(g.port, "set").invoke(SET_READ[1])
    assert out["type"] == "ok" and out["value"] == [2, 7, 10]
    body = g.requests[0][1]
    assert body["key"] == b64("harness/set/") and body["range_end"] == b64("harness/set0")


def list_store(lists, mod_revisions, fail_compares=0):
    """A fake gateway holding lists; its first `fail_compares` guarded txns fail."""
    state = {"failures_left": fail_compares}

    def script(path, body):
        if body.get("compare"):
            if state["failures_left"] > 0:
                state["failures_left"] -= 1
                return 200, dict(HEADER)
            return 200, {**HEADER, "succeeded": True, "responses": []}
        responses = []
        for op in body["success"]:
            key = base64.b64decode(op["request_range"]["key"]).decode()
            k = int(key.rsplit("/", 1)[1])
            found = {"kvs": [kv(key, json.dumps(lists[k]), mod_revisions[k])]} if k in lists else {}
            responses.append({"response_range": found})
        return 200, {**HEADER, "responses": responses}

    return script


def test_list_append_is_one_txn_guarded_on_every_key_it_touches(gateway):
    g = gateway(list_store({1: [1, 2], 2: [5]}, {1: 11, 2: 12}))
    txn = [["append", 1, 3], ["r", 1, None], ["r", 2, None], ["append", 1, 4]]
    out = client_for(g.port, "list-append").invoke({"f": "txn", "value": txn})
    assert out["type"] == "ok"
    assert out["value"] == [["append", 1, 3], ["r", 1, [1, 2, 3]], ["r", 2, [5]],
                            ["append", 1, 4]]
    (_, read), (_, commit) = g.requests
    assert "compare" not in read
    assert sorted((c["key"], c["target"], c["mod_revision"]) for c in commit["compare"]) == [
        (b64("harness/list-append/1"), "MOD", "11"), (b64("harness/list-append/2"), "MOD", "12")]
    # One put per appended key (etcd refuses two puts of one key in a txn).
    assert commit["success"] == [{"request_put": {"key": b64("harness/list-append/1"),
                                                  "value": b64("[1, 2, 3, 4]")}}]


def test_list_append_of_a_missing_key_compares_revision_zero(gateway):
    g = gateway(list_store({}, {}))
    out = client_for(g.port, "list-append").invoke({"f": "txn", "value": [["append", 3, 1]]})
    assert out["type"] == "ok"
    assert g.requests[1][1]["compare"][0]["mod_revision"] == "0"


def test_a_failed_compare_is_retried_from_a_fresh_read(gateway):
    g = gateway(list_store({1: [1]}, {1: 3}, fail_compares=2))
    out = client_for(g.port, "list-append").invoke(APPEND_TXN[1])
    assert out["type"] == "ok" and out["attempts"] == 3
    kinds = ["commit" if body.get("compare") else "read" for _, body in g.requests]
    assert kinds == ["read", "commit"] * 3


def test_compares_that_keep_failing_end_as_fail_conflict(gateway):
    g = gateway(list_store({1: [1]}, {1: 3}, fail_compares=10_000))
    out = client_for(g.port, "list-append").invoke(APPEND_TXN[1])
    assert out["type"] == "fail" and out["error"] == "conflict"
    assert not out.get("unavailable")


def test_read_only_list_append_txn_is_a_single_read(gateway):
    g = gateway(list_store({1: [1, 2]}, {1: 3}))
    out = client_for(g.port, "list-append").invoke(READ_TXN[1])
    assert out == {"type": "ok", "value": [["r", 1, [1, 2]], ["r", 2, []]], "node": "n1"}
    assert len(g.requests) == 1


def test_connection_dropped_after_sending_a_write_is_info():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)

    def drop():
        conn, _ = s.accept()
        conn.recv(65536)
        conn.close()

    threading.Thread(target=drop, daemon=True).start()
    out = client_for(s.getsockname()[1]).invoke(WRITE[1])
    s.close()
    assert out["type"] == "info" and out["error"] == "connection-lost"


@pytest.mark.parametrize("message, applied_maybe, unavailable", [
    ("etcdserver: no leader", False, True),
    ("raft proposal dropped", False, True),
    ("etcdserver: request timed out", True, False),
    ("etcdserver: request timed out, possibly due to previous leader failure", True, False),
    ("etcdserver: leader changed", True, False),
    ("etcdserver: mvcc: required revision has been compacted", False, False),
])
def test_classify_error(message, applied_maybe, unavailable):
    assert classify_error(message) == (applied_maybe, unavailable)
