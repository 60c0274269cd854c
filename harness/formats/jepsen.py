"""Jepsen and Knossos EDN histories: a vector of op maps, or one op map per line."""

from __future__ import annotations

from ..errors import InputError
from ..history import number_ops, validate
from . import check_type
from .edn import read_text_forms
from .reading import NO_LIMITS, Limits, read_text

REGISTER_FS = ("read", "write", "cas")


def normalize_op(raw: dict, path: str, line: int | None, index: int | None = None) -> dict:
    """A Jepsen/Elle op map (EDN or elle-cli JSON) as a history.jsonl op, validated like
    one (harness.history.validate). Its `index` is kept when given (the caller checks the
    order of a file's indexes), and is `index` otherwise, if that is not None."""
    if "f" not in raw and isinstance(raw.get("value"), list) and \
            all(isinstance(m, list) for m in raw["value"]):
        raw = dict(raw, f="txn")      # Elle's histories leave :f out: a list of micro-ops
    if "type" not in raw or "f" not in raw:
        raise InputError(path, line, "op map needs :type and :f")
    # Some Jepsen test fixtures omit :process on a single-threaded history: use 0.
    op = {"type": check_type(path, line, raw["type"]),
          "process": raw.get("process", 0), "f": raw["f"], "value": raw.get("value")}
    if "index" in raw:
        op["index"] = raw["index"]
    elif index is not None:
        op["index"] = index
    for field in ("time", "key", "node", "error"):
        if field in raw:
            op[field] = raw[field]
    value = op["value"]
    if isinstance(value, dict) and len(value) == 2 and set(value) == {"key", "value"}:
        op["key"], op["value"] = value["key"], value["value"]    # jepsen.independent/tuple
    if "time" in op and (type(op["time"]) is not int):
        op.pop("time")
    problem = validate(op)
    if problem:
        raise InputError(path, line, problem)
    return op


def parse_edn(text: str, path: str, limits: Limits = NO_LIMITS) -> tuple[list[dict], list[int]]:
    """The ops of an EDN history and the line each op's map starts on."""
    forms = read_text_forms(text, path, limits)
    if len(forms) == 1 and isinstance(forms[0].value, list):
        entries = list(zip(forms[0].item_lines, forms[0].value))
    else:
        entries = [(form.line, form.value) for form in forms]
    ops, lines = [], []
    for line, raw in entries:
        if not isinstance(raw, dict):
            raise InputError(path, line, f"expected an op map, got {type(raw).__name__}")
        ops.append(normalize_op(raw, path, line))
        lines.append(line)
    split_independent_vectors(ops)
    number_ops(ops, lines, path)
    return ops, lines


def load_edn(path: str, limits: Limits = NO_LIMITS) -> list[dict]:
    return parse_edn(read_text(path, limits), path, limits)[0]


def split_independent_vectors(ops: list[dict]) -> None:
    """Jepsen's independent keys as plain vectors: read/write value [k v], cas [k [a b]].

    Only when every register op of the history has that shape: a lone cas [a b] is a
    plain compare-and-set. Used for EDN and elle-cli JSON alike (JSON writes the tuple
    as a two-element array).
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
