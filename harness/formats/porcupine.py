"""Porcupine's Jepsen etcd logs: `INFO  jepsen.util - <process> :<type> :<f> <value>`."""

from __future__ import annotations

import re

from ..errors import InputError
from .edn import EDNError, read_all

_LINE = re.compile(r"^\S+\s+jepsen\.util\s+-\s+(\S+)\s+:(\w+)\s+:(\w+)\s*(.*?)\s*$")


def _open(path: str):
    try:
        return open(path, encoding="utf-8")
    except OSError as e:
        raise InputError(path, None, e.strerror or str(e)) from None


def load_etcd_log(path: str) -> list[dict]:
    ops = []
    with _open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            m = _LINE.match(line)
            if not m:
                raise InputError(path, lineno, "expected `INFO jepsen.util - <process> :<type> :<f> <value>`")
            process, typ, fname, raw_value = m.groups()
            if typ not in ("invoke", "ok", "fail", "info"):
                raise InputError(path, lineno, f"unknown op type :{typ}")
            try:
                forms = read_all(raw_value) if raw_value else []
            except EDNError as e:
                raise InputError(path, lineno, f"bad value {raw_value!r}: {e.what}") from None
            value = forms[0][1] if forms else None
            op = {"index": len(ops), "type": typ,
                  "process": int(process) if process.lstrip("-").isdigit() else process,
                  "f": fname, "value": value, "time": lineno}
            if value == "timed-out":
                op["value"] = None
                op["error"] = "timed-out"
            ops.append(op)
    return ops


# Porcupine's kv logs: one flat EDN map per line, almost always in exactly this shape.
_KV_LINE = re.compile(r'^\{:process (\d+), :type :(invoke|ok|fail|info), :f :(get|put|append), '
                      r':key "((?:[^"\\]|\\.)*)", :value (nil|"((?:[^"\\]|\\.)*)")\}\s*$')


def load_kv_log(path: str) -> list[dict]:
    """Porcupine kv logs, with a fast path for the common line shape (the EDN reader
    handles any other line, and reports errors with the line number)."""
    from . import check_type
    from .jepsen import normalize_op
    ops = []
    with _open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            m = _KV_LINE.match(line)
            if m and "\\" not in line:
                process, typ, fname, key, raw_value, value = m.groups()
                ops.append({"index": len(ops), "type": typ, "process": int(process), "f": fname,
                            "value": None if raw_value == "nil" else value, "key": key})
                continue
            try:
                forms = read_all(line)
            except EDNError as e:
                raise InputError(path, lineno, f"EDN: {e.what}") from None
            for _, raw in forms:
                if not isinstance(raw, dict):
                    raise InputError(path, lineno, "expected an op map")
                check_type(path, lineno, raw.get("type"))
                ops.append(normalize_op(raw, path, lineno, len(ops)))
    return ops
