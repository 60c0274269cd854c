"""Porcupine's Jepsen etcd logs: `INFO  jepsen.util - <process> :<type> :<f> <value>`."""

from __future__ import annotations

import re

from ..errors import InputError
from .edn import EDNError, read_all

_LINE = re.compile(r"^\S+\s+jepsen\.util\s+-\s+(\S+)\s+:(\w+)\s+:(\w+)\s*(.*?)\s*$")


def load_etcd_log(path: str) -> list[dict]:
    ops = []
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise InputError(path, None, e.strerror or str(e)) from None
    with f:
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
