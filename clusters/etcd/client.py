"""The etcd client: register, set and list-append ops over etcd's v3 JSON gateway.

Why the standard library (`http.client`) and not a client package: the gateway is plain
HTTP + JSON (`POST /v3/kv/range|put|txn`, keys and values base64), and outcome
classification needs to know exactly where a request failed: before anything was sent
(connect refused: `fail`) or after (timeout, connection lost: maybe applied, `info`).
The maintained gateway client on PyPI (etcd3gw) folds both into one
ConnectionFailedError and pulls in requests/futurist/pbr; the gRPC client (etcd3) is
unmaintained since 2020 and pins an old protobuf. Neither is in the image or the venv.

How each workload maps onto etcd (keys live under `harness/<workload>/`):
* register: read = range of the key; write = put; cas [old, new] = one txn comparing
  the key's VALUE with old and putting new on success (a missing key fails the compare,
  as the cas-register model's initial None matches no value);
* set: add v = put of `harness/set/<v>`; read = one range over the prefix (a single
  revision of the store), the elements sorted;
* list-append: each transaction is ONE etcd txn. First the involved keys are read (one
  read-only txn of ranges, atomic at one revision): their lists (JSON) and mod
  revisions. A read-only transaction ends there. Otherwise a txn guarded by
  `mod_revision == seen` for every key it touches puts each appended key's new list;
  its reads are answered from the values seen plus the transaction's own earlier
  appends, which the compares guarantee were the store's state when it committed. A
  failed compare applies nothing, so the transaction is retried from the read (up to
  MAX_TXN_ATTEMPTS, within twice the timeout); only then is it `fail` (a conflict).

Outcomes (Jepsen's rules):
* nothing sent (connect refused or timed out): `fail`, `unavailable`;
* etcd answered that nothing happened (a failed compare, no leader, a dropped proposal,
  an invalid request): `fail`; the ones meaning the member cannot serve now are
  `unavailable`;
* sent without a usable answer (timeout, connection lost, an error etcd gives when the
  proposal may still commit, e.g. "request timed out" or "leader changed"): `info`,
  except for reads, which change nothing and are `fail`.
Every request has the client's timeout.

`serializable_reads`: ranges carry `"serializable": true`, so the member answers from its
own state without confirming with a quorum: fast, and possibly stale (a partitioned
member keeps answering with what it had). The default is etcd's linearizable read.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time

from ..node_http import NodeHTTPClient

CLIENT_PORT = 2379
DEFAULT_TIMEOUT_S = 3.0
MAX_TXN_ATTEMPTS = 8
PREFIX = "harness"

# etcd errors (the gateway's "error" text) that prove the request was not applied.
# Those in UNAVAILABLE also mean the member cannot serve at all right now.
UNAVAILABLE = ("etcdserver: no leader", "raft proposal dropped", "etcdserver: not capable",
               "etcdserver: too many requests", "all SubConns are in TransientFailure",
               "connection refused")
NOT_APPLIED = UNAVAILABLE + ("duplicate key given in txn request",
                             "etcdserver: too many operations in txn request",
                             "required revision has been compacted",
                             "etcdserver: request is too large")


class NotSent(Exception):
    """The request never left: connecting failed."""


class Unanswered(Exception):
    """The request was sent, no answer came (timeout, connection lost)."""


class Refused(Exception):
    """etcd answered with an error. `applied_maybe` when the error does not rule out that
    the request takes effect; `unavailable` when the member cannot serve now."""

    def __init__(self, error: str, applied_maybe: bool, unavailable: bool):
        super().__init__(error)
        self.error = error
        self.applied_maybe = applied_maybe
        self.unavailable = unavailable


def classify_error(message: str) -> tuple[bool, bool]:
    """(applied_maybe, unavailable) for an etcd error message."""
    unavailable = any(m in message for m in UNAVAILABLE)
    applied_maybe = not any(m in message for m in NOT_APPLIED)
    return applied_maybe, unavailable


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


def prefix_end(prefix: str) -> str:
    """The range_end that makes a range cover every key starting with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class EtcdClient(NodeHTTPClient):
    """One worker's connection to one etcd member, for one workload."""

    def __init__(self, ips: dict[str, str], workload: str = "register",
                 serializable_reads: bool = False, timeout_s: float = DEFAULT_TIMEOUT_S,
                 port: int = CLIENT_PORT):
        super().__init__(ips, timeout_s, port)
        self.workload = workload
        self.serializable_reads = serializable_reads

    # ---- one gateway call
    def call(self, path: str, body: dict) -> dict:
        """POST `body` to the gateway; the JSON answer, or NotSent / Unanswered / Refused."""
        conn = self.conn
        if conn.sock is None:
            try:
                conn.connect()
            except OSError as e:
                conn.close()
                raise NotSent(_error_name(e)) from None
        try:
            conn.request("POST", path, body=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            raw = resp.read()
        except (http.client.HTTPException, OSError) as e:
            conn.close()
            raise Unanswered(_error_name(e)) from None
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = None
        if resp.status == 200 and isinstance(data, dict) and "header" in data:
            return data
        error = (data or {}).get("error") if isinstance(data, dict) else None
        if not error:
            raise Unanswered(f"http-{resp.status}")
        raise Refused(error, *classify_error(error))

    def range(self, key: str, range_end: str | None = None) -> list[dict]:
        request = {"key": b64(key)}
        if range_end is not None:
            request["range_end"] = b64(range_end)
        if self.serializable_reads:
            request["serializable"] = True
        return self.call("/v3/kv/range", request).get("kvs", [])

    def key(self, name) -> str:
        return f"{PREFIX}/{self.workload}/{name}"

    # ---- ops
    def invoke(self, op: dict) -> dict:
        f = op["f"]
        handler = getattr(self, f"_{self.workload.replace('-', '_')}_{f}", None)
        if handler is None:
            return {"type": "fail", "error": f"unsupported op {f!r} for {self.workload}",
                    "node": self.node}
        is_read = f == "read" or (f == "txn" and all(m[0] == "r" for m in op["value"]))
        try:
            out = handler(op)
        except NotSent as e:
            return {"type": "fail", "error": str(e), "node": self.node, "unavailable": True}
        except Unanswered as e:
            return {"type": "fail" if is_read else "info", "error": str(e), "node": self.node}
        except Refused as e:
            outcome = {"type": "info" if e.applied_maybe and not is_read else "fail",
                       "error": e.error, "node": self.node}
            if e.unavailable:
                outcome["unavailable"] = True
            return outcome
        out.setdefault("node", self.node)
        return out

    def _register_read(self, op):
        kvs = self.range(self.key(op["key"]))
        return {"type": "ok", "value": int(unb64(kvs[0]["value"])) if kvs else None}

    def _register_write(self, op):
        self.call("/v3/kv/put", {"key": b64(self.key(op["key"])), "value": b64(str(op["value"]))})
        return {"type": "ok", "value": op["value"]}

    def _register_cas(self, op):
        old, new = op["value"]
        key = b64(self.key(op["key"]))
        answer = self.call("/v3/kv/txn", {
            "compare": [{"key": key, "target": "VALUE", "result": "EQUAL", "value": b64(str(old))}],
            "success": [{"request_put": {"key": key, "value": b64(str(new))}}]})
        if answer.get("succeeded"):
            return {"type": "ok", "value": op["value"]}
        return {"type": "fail", "error": "cas-mismatch", "value": op["value"]}

    def _set_add(self, op):
        self.call("/v3/kv/put", {"key": b64(self.key(op["value"])), "value": b64(str(op["value"]))})
        return {"type": "ok", "value": op["value"]}

    def _set_read(self, op):
        prefix = self.key("")
        kvs = self.range(prefix, prefix_end(prefix))
        return {"type": "ok", "value": sorted(int(unb64(kv["value"])) for kv in kvs)}

    def _list_append_txn(self, op):
        mops = op["value"]
        keys = list(dict.fromkeys(m[1] for m in mops))
        appends = [m for m in mops if m[0] == "append"]
        give_up_at = time.monotonic() + 2 * self.timeout_s
        for attempt in range(1, MAX_TXN_ATTEMPTS + 1):
            if attempt > 1 and time.monotonic() > give_up_at:
                return {"type": "fail", "error": "conflict", "attempts": attempt - 1}
            seen = self._read_lists(keys)
            if not appends:
                return {"type": "ok", "value": _fill_reads(mops, seen)}
            compare = [{"key": b64(self.key(k)), "target": "MOD", "result": "EQUAL",
                        "mod_revision": str(seen[k][1])} for k in keys]
            final: dict = {}
            for _, k, v in appends:
                final.setdefault(k, list(seen[k][0])).append(v)
            puts = [{"request_put": {"key": b64(self.key(k)), "value": b64(json.dumps(lst))}}
                    for k, lst in final.items()]
            try:
                answer = self.call("/v3/kv/txn", {"compare": compare, "success": puts})
            except Unanswered as e:
                raise Unanswered(f"{e} (commit, attempt {attempt})") from None
            if answer.get("succeeded"):
                return {"type": "ok", "value": _fill_reads(mops, seen), "attempts": attempt}
            # A failed compare applied nothing: read again and retry.
        return {"type": "fail", "error": "conflict", "attempts": MAX_TXN_ATTEMPTS}

    def _read_lists(self, keys) -> dict:
        """{key: (list, mod_revision)} of `keys`, read in one read-only txn (one revision).
        Any failure here is a read's: the transaction has applied nothing."""
        ranges = []
        for k in keys:
            request = {"key": b64(self.key(k))}
            if self.serializable_reads:
                request["serializable"] = True
            ranges.append({"request_range": request})
        try:
            answer = self.call("/v3/kv/txn", {"success": ranges})
        except Unanswered as e:
            raise Refused(f"{e} (read)", applied_maybe=False, unavailable=False) from None
        except Refused as e:
            raise Refused(e.error, applied_maybe=False, unavailable=e.unavailable) from None
        seen = {}
        for k, response in zip(keys, answer.get("responses", [])):
            kvs = response.get("response_range", {}).get("kvs", [])
            if kvs:
                seen[k] = (json.loads(unb64(kvs[0]["value"])), int(kvs[0]["mod_revision"]))
            else:
                seen[k] = ([], 0)
        if len(seen) != len(keys):
            raise Refused("short read-only txn answer", applied_maybe=False, unavailable=False)
        return seen


def _fill_reads(mops, seen) -> list:
    """The micro-ops with each read's value: the list seen plus this transaction's own
    earlier appends to that key."""
    current = {k: list(lst) for k, (lst, _) in seen.items()}
    out = []
    for f, k, v in mops:
        if f == "append":
            current[k].append(v)
            out.append([f, k, v])
        else:
            out.append([f, k, list(current[k])])
    return out


def _error_name(e: Exception) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection-refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(e, (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
        return "connection-lost"
    return type(e).__name__
