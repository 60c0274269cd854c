"""pgha's outcome classification, without a server: psycopg's exception classes at each
stage of a transaction map to Jepsen's outcomes, and PgClient.invoke applies them
against a fake connection."""

import psycopg
import pytest
from psycopg import errors

from clusters.pgha import client as pgclient
from clusters.pgha.client import COMMIT, CONNECT, READING, WRITING, PgClient, classify


@pytest.mark.parametrize("exc, stage, read_only, expected", [
    (psycopg.OperationalError("connection refused"), CONNECT, False, ("fail", True)),
    (psycopg.OperationalError("session is read-only"), CONNECT, True, ("fail", True)),
    (errors.SerializationFailure("could not serialize"), COMMIT, False, ("fail", False)),
    (errors.SerializationFailure("could not serialize"), WRITING, False, ("fail", False)),
    (errors.DeadlockDetected("deadlock"), WRITING, False, ("fail", False)),
    (errors.ReadOnlySqlTransaction("read-only"), WRITING, False, ("fail", True)),
    (psycopg.OperationalError("server closed the connection"), COMMIT, False, ("info", False)),
    (psycopg.OperationalError("consuming input failed"), WRITING, False, ("info", False)),
    (errors.AdminShutdown("terminating connection"), COMMIT, False, ("info", False)),
    (errors.QueryCanceled("statement timeout"), COMMIT, False, ("info", False)),
    (errors.QueryCanceled("statement timeout"), WRITING, False, ("info", False)),
    (psycopg.OperationalError("server closed the connection"), READING, True, ("fail", False)),
    (psycopg.OperationalError("server closed the connection"), COMMIT, True, ("fail", False)),
    (errors.UndefinedTable("no table"), READING, False, ("fail", False)),
])
def test_classify(exc, stage, read_only, expected):
    outcome = classify(exc, stage, read_only)
    assert (outcome["type"], outcome.get("unavailable", False)) == expected


class FakeCursor:
    def __init__(self, conn):
        self.conn = conn
        self.row = None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def execute(self, sql, params):
        if self.conn.fail_on and self.conn.fail_on[0] in sql:
            raise self.conn.fail_on[1]
        if sql.startswith("SELECT"):
            self.row = self.conn.rows.get(params[0])
        else:
            k, v = params
            self.conn.rows[k] = v if k not in self.conn.rows else self.conn.rows[k] + "," + v
        return self

    def fetchone(self):
        return None if self.row is None else (self.row,)


class FakeInfo:
    host = "10.0.0.2"


class FakeConn:
    info = FakeInfo()
    closed = False
    broken = False

    def __init__(self, fail_on=None, commit_error=None):
        self.rows = {}
        self.fail_on = fail_on
        self.commit_error = commit_error
        self.rolled_back = 0

    def cursor(self):
        return FakeCursor(self)

    def commit(self):
        if self.commit_error:
            raise self.commit_error

    def rollback(self):
        self.rolled_back += 1

    def close(self):
        self.closed = True


def client_with(monkeypatch, conn=None, connect_error=None):
    def fake_connect(hosts, *a, **kw):
        if connect_error:
            raise connect_error
        return conn
    monkeypatch.setattr(pgclient, "connect", fake_connect)
    c = PgClient({"n1": "10.0.0.1", "n2": "10.0.0.2"}, "list-append", timeout_s=2)
    c.open("n1")
    return c


def txn(*mops):
    return {"type": "invoke", "f": "txn", "value": [list(m) for m in mops]}


def test_ok_txn_records_the_serving_node_and_reads_lists(monkeypatch):
    conn = FakeConn()
    c = client_with(monkeypatch, conn)
    out = c.invoke(txn(("append", 1, 5), ("append", 1, 6), ("r", 1, None)))
    assert out == {"type": "ok", "node": "n2",
                   "value": [["append", 1, 5], ["append", 1, 6], ["r", 1, [5, 6]]]}
    assert c.invoke(txn(("r", 2, None)))["value"] == [["r", 2, []]]


def test_refused_connection_is_an_unavailable_fail(monkeypatch):
    c = client_with(monkeypatch, connect_error=psycopg.OperationalError(
        "connection to server failed: Connection refused"))
    out = c.invoke(txn(("append", 1, 5)))
    assert out["type"] == "fail" and out["unavailable"] and out["error"] == "connect: refused"


def test_connection_lost_at_commit_is_info_and_drops_the_connection(monkeypatch):
    conn = FakeConn(commit_error=psycopg.OperationalError("server closed the connection"))
    c = client_with(monkeypatch, conn)
    out = c.invoke(txn(("append", 1, 5)))
    assert out["type"] == "info" and out["node"] == "n2"
    assert c.conn is None


def test_serialization_failure_is_fail_and_rolls_back(monkeypatch):
    conn = FakeConn(commit_error=errors.SerializationFailure("could not serialize"))
    c = client_with(monkeypatch, conn)
    out = c.invoke(txn(("append", 1, 5)))
    assert out["type"] == "fail" and out["error"] == "serialization-failure"
    assert conn.rolled_back == 1 and c.conn is conn


def test_failed_read_only_txn_is_fail(monkeypatch):
    conn = FakeConn(fail_on=("SELECT", psycopg.OperationalError("server closed")))
    c = client_with(monkeypatch, conn)
    assert c.invoke(txn(("r", 1, None)))["type"] == "fail"


def test_not_primary_anymore_is_unavailable_fail(monkeypatch):
    conn = FakeConn(fail_on=("INSERT", errors.ReadOnlySqlTransaction("read-only transaction")))
    c = client_with(monkeypatch, conn)
    out = c.invoke(txn(("append", 1, 5)))
    assert out["type"] == "fail" and out["unavailable"] is True
