"""The sqldb client: each op is ONE transaction, a `POST /txn` of SQL statements to the
worker's node (which forwards to the leader).

Statements per workload (tables in SCHEMA, created by the system's setup):
* list-append: read = `SELECT v FROM lists WHERE k = ?` (comma-separated ints, [] when
  the row is missing); append = an upsert that appends `,v` in place;
* rw-register: read = `SELECT v FROM registers WHERE k = ?`; write = an upsert;
* bank: read = every row of `accounts`; transfer = two conditional UPDATEs in one
  transaction (credit `to` only if `from` holds the amount, then debit `from`), so a
  transfer that would overdraw changes nothing and is a `fail`;
* set: add = `INSERT INTO elements`; read = every element.

Outcome rules (Jepsen's): an answer that says the transaction did not happen is `fail`
(refused connection, 503, an SQL error the server rolled back: 409, a malformed request);
anything that leaves us unsure (timeout, connection lost after sending, a 504) is `info`,
except for read-only transactions, which change nothing: those are `fail`.
"""

from __future__ import annotations


from ..node_http import NodeHTTPClient

DEFAULT_TIMEOUT_S = 5.0
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS lists (k INTEGER PRIMARY KEY, v TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS registers (k INTEGER PRIMARY KEY, v INTEGER)",
    "CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS elements (v INTEGER PRIMARY KEY)",
)
LIST_READ = "SELECT v FROM lists WHERE k = ?"
LIST_APPEND = ("INSERT INTO lists (k, v) VALUES (?, ?) "
               "ON CONFLICT (k) DO UPDATE SET v = v || ',' || excluded.v")
REGISTER_READ = "SELECT v FROM registers WHERE k = ?"
REGISTER_WRITE = ("INSERT INTO registers (k, v) VALUES (?, ?) "
                  "ON CONFLICT (k) DO UPDATE SET v = excluded.v")
BANK_READ = "SELECT id, balance FROM accounts ORDER BY id"
BANK_CREDIT = ("UPDATE accounts SET balance = balance + ?1 WHERE id = ?2 "
               "AND (SELECT balance FROM accounts WHERE id = ?3) >= ?1")
BANK_DEBIT = "UPDATE accounts SET balance = balance - ?1 WHERE id = ?3 AND balance >= ?1"
SET_ADD = "INSERT INTO elements (v) VALUES (?)"
SET_READ = "SELECT v FROM elements ORDER BY v"


def statement(sql: str, *params) -> dict:
    return {"sql": sql, "params": list(params)}


class Unsupported(ValueError):
    pass


def txn_statements(workload: str, op: dict) -> tuple[list[dict], bool]:
    """The statements of `op` and whether the transaction is read-only."""
    f, value = op.get("f"), op.get("value")
    if workload in ("list-append", "rw-register") and f == "txn":
        out = []
        for mop in value:
            kind, k, v = mop
            if kind == "r":
                out.append(statement(LIST_READ if workload == "list-append" else REGISTER_READ, k))
            elif kind == "append" and workload == "list-append":
                out.append(statement(LIST_APPEND, k, str(v)))
            elif kind == "w" and workload == "rw-register":
                out.append(statement(REGISTER_WRITE, k, v))
            else:
                raise Unsupported(f"unsupported micro-op {kind!r} for {workload}")
        return out, all(m[0] == "r" for m in value)
    if workload == "bank" and f == "read":
        return [statement(BANK_READ)], True
    if workload == "bank" and f == "transfer":
        params = (value["amount"], value["to"], value["from"])
        return [statement(BANK_CREDIT, *params), statement(BANK_DEBIT, *params)], False
    if workload == "set" and f == "read":
        return [statement(SET_READ)], True
    if workload == "set" and f == "add":
        return [statement(SET_ADD, value)], False
    raise Unsupported(f"unsupported op {f!r} for {workload}")


def completion_value(workload: str, op: dict, results: list[dict]):
    """The ok completion's value from the statements' results (None: the transaction did
    nothing, e.g. a transfer that would overdraw)."""
    f, value = op.get("f"), op.get("value")
    if f == "txn":
        out = []
        for mop, result in zip(value, results):
            kind, k, v = mop
            if kind != "r":
                out.append([kind, k, v])
            elif workload == "list-append":
                rows = result["rows"]
                out.append([kind, k, [int(x) for x in rows[0][0].split(",")]
                            if rows and rows[0][0] else []])
            else:
                rows = result["rows"]
                out.append([kind, k, rows[0][0] if rows else None])
        return out
    if workload == "bank" and f == "read":
        return {str(account): balance for account, balance in results[0]["rows"]}
    if workload == "bank" and f == "transfer":
        if results[0]["changes"] != 1 or results[1]["changes"] != 1:
            return None
        return value
    if workload == "set" and f == "read":
        return [row[0] for row in results[0]["rows"]]
    return value


class SqlDBClient(NodeHTTPClient):
    """One worker's keep-alive connection to its node, for one workload."""

    def __init__(self, ips: dict[str, str], workload: str,
                 timeout_s: float = DEFAULT_TIMEOUT_S, port: int = 8000):
        super().__init__(ips, timeout_s, port)
        self.workload = workload

    def invoke(self, op: dict) -> dict:
        try:
            statements, read_only = txn_statements(self.workload, op)
        except (Unsupported, TypeError, ValueError, KeyError) as e:
            return {"type": "fail", "error": str(e), "node": self.node}
        outcome = self.post(statements, read_only)
        if outcome["type"] != "ok":
            return outcome
        value = completion_value(self.workload, op, outcome.pop("results"))
        if value is None:
            return {"type": "fail", "error": "insufficient-funds", "node": self.node}
        return dict(outcome, value=value)

    def post(self, statements: list[dict], read_only: bool) -> dict:
        """POST /txn; an ok outcome carries the statements' `results`."""
        got = self.call("POST", "/txn", {"statements": statements}, may_change=not read_only)
        if isinstance(got, dict):
            return got
        status, data = got
        if status == 200 and isinstance(data.get("results"), list) \
                and len(data["results"]) == len(statements):
            return {"type": "ok", "results": data["results"], "node": self.node}
        return self.refused(status if status != 200 else 502, data, may_change=not read_only)
