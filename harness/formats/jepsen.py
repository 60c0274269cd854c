"""Jepsen and Knossos EDN histories: a vector of op maps, or one op map per line."""

from __future__ import annotations

from ..errors import InputError
from .edn import read_file_forms

REGISTER_FS = ("read", "write", "cas")


def normalize_op(raw: dict, path: str, line: int | None, index: int) -> dict:
    if "f" not in raw and isinstance(raw.get("value"), list) and \
            all(isinstance(m, list) for m in raw["value"]):
        raw = dict(raw, f="txn")      # Elle's histories leave :f out: a list of micro-ops
    if "type" not in raw or "f" not in raw:
        raise InputError(path, line, "op map needs :type and :f")
    from . import check_type
    # Some Jepsen test fixtures omit :process on a single-threaded history: use 0.
    op = {"index": raw.get("index", index), "type": check_type(path, line, raw["type"]),
          "process": raw.get("process", 0), "f": raw["f"], "value": raw.get("value")}
    for field in ("time", "key", "node", "error"):
        if field in raw:
            op[field] = raw[field]
    value = op["value"]
    if isinstance(value, dict) and set(value) == {"key", "value"}:   # jepsen.independent/tuple
        op["key"], op["value"] = value["key"], value["value"]
    if not isinstance(op["time"] if "time" in op else 0, int):
        op.pop("time")
    return op


def load_edn(path: str) -> list[dict]:
    forms = read_file_forms(path)
    if len(forms) == 1 and isinstance(forms[0][1], list):
        line, items = forms[0]
        entries = [(line, item) for item in items]
    else:
        entries = forms
    ops = []
    for i, (line, raw) in enumerate(entries):
        if not isinstance(raw, dict):
            raise InputError(path, line, f"expected an op map, got {type(raw).__name__}")
        ops.append(normalize_op(raw, path, line, i))
    _split_independent_vectors(ops)
    for i, op in enumerate(ops):
        op["index"] = i
    return ops


def _split_independent_vectors(ops: list[dict]) -> None:
    """Jepsen's independent keys as plain vectors: read/write value [k v], cas [k [a b]].

    Only when every register op of the history has that shape: a lone cas [a b] is a
    plain compare-and-set.
    """
    register_ops = [op for op in ops if op["f"] in REGISTER_FS and op["process"] != "nemesis"]
    if not register_ops or any("key" in op for op in register_ops):
        return

    def is_tuple(op):
        v = op["value"]
        if not (isinstance(v, list) and len(v) == 2):
            return False
        if op["f"] == "cas" and op["type"] == "invoke":
            return isinstance(v[1], list) and len(v[1]) == 2
        return True

    if all(is_tuple(op) for op in register_ops if op["type"] in ("invoke", "ok")):
        for op in register_ops:
            if isinstance(op["value"], list) and len(op["value"]) == 2:
                op["key"], op["value"] = op["value"]
