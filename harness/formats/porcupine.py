"""Porcupine's Jepsen etcd logs (`INFO  jepsen.util - <process> :<type> :<f> <value>`) and
its kv logs (one flat EDN map per line). Both are line formats: each op's line is its
line in the file."""

from __future__ import annotations

import re

from ..errors import InputError
from .edn import EDNError, read_all
from .reading import CHECK_EVERY, NO_LIMITS, Limits, depth_error, read_text

# Possessive quantifiers throughout: a long token must not make the match backtrack.
_LINE = re.compile(r"^\S++\s++jepsen\.util\s++-\s++(\S++)\s++:(\w++)\s++:(\w++)\s*+(.*)$", re.S)


def _lines(text: str, path: str, limits: Limits):
    """(line number, line) for each non-blank line, under `limits`."""
    for lineno, line in enumerate(text.split("\n"), 1):
        if lineno % CHECK_EVERY == 0:
            limits.check_time(path)
        if line.strip():
            yield lineno, line


def _edn_value(path: str, lineno: int, raw: str):
    try:
        return read_all(raw)
    except EDNError as e:
        if "nested more than" in e.what:
            raise depth_error(path, lineno) from None
        raise InputError(path, lineno, f"bad value {raw[:80]!r}: {e.what}") from None


def load_etcd_log(path: str, limits: Limits = NO_LIMITS) -> list[dict]:
    return parse_etcd_log(read_text(path, limits), path, limits)[0]


def parse_etcd_log(text: str, path: str, limits: Limits = NO_LIMITS
                   ) -> tuple[list[dict], list[int]]:
    """The ops of an etcd log and the line of each (index = position in the file)."""
    ops, lines = [], []
    for lineno, line in _lines(text, path, limits):
        m = _LINE.match(line)
        if not m:
            raise InputError(path, lineno, "expected `INFO jepsen.util - <process> :<type> :<f> <value>`")
        process, typ, fname, raw_value = m.groups()
        raw_value = raw_value.strip()
        if typ not in ("invoke", "ok", "fail", "info"):
            raise InputError(path, lineno, f"unknown op type :{typ}")
        forms = _edn_value(path, lineno, raw_value) if raw_value else []
        value = forms[0][1] if forms else None
        op = {"index": len(ops), "type": typ,
              "process": int(process) if _PROCESS_NUMBER.fullmatch(process) else process,
              "f": fname, "value": value, "time": lineno}
        if value == "timed-out":
            op["value"] = None
            op["error"] = "timed-out"
        ops.append(op)
        lines.append(lineno)
    return ops, lines


_PROCESS_NUMBER = re.compile(r"-?[0-9]{1,18}")


# Porcupine's kv logs: one flat EDN map per line, almost always in exactly this shape.
_KV_LINE = re.compile(r'^\{:process ([0-9]{1,18}+), :type :(invoke|ok|fail|info), :f :(get|put|append), '
                      r':key "([^"\\]*+)", :value (nil|"([^"\\]*+)")\}\s*+$')


def load_kv_log(path: str, limits: Limits = NO_LIMITS) -> list[dict]:
    return parse_kv_log(read_text(path, limits), path, limits)[0]


def parse_kv_log(text: str, path: str, limits: Limits = NO_LIMITS
                 ) -> tuple[list[dict], list[int]]:
    """Porcupine kv logs and the line of each op, with a fast path for the common line shape without escapes
    (the EDN reader handles any other line, and reports errors with the line number)."""
    from . import check_type
    from .jepsen import normalize_op
    ops, lines = [], []
    for lineno, line in _lines(text, path, limits):
        m = _KV_LINE.match(line)
        if m:
            process, typ, fname, key, raw_value, value = m.groups()
            ops.append({"index": len(ops), "type": typ, "process": int(process), "f": fname,
                        "value": None if raw_value == "nil" else value, "key": key})
            lines.append(lineno)
            continue
        for _, raw in _edn_value(path, lineno, line):
            if not isinstance(raw, dict):
                raise InputError(path, lineno, "expected an op map")
            check_type(path, lineno, raw.get("type"))
            ops.append(normalize_op(raw, path, lineno, len(ops)))
            lines.append(lineno)
    from ..history import number_ops
    number_ops(ops, lines, path)
    return ops, lines
