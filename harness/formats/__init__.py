"""History inputs: every format the checkers read, mapped to history.jsonl-style op dicts.

Formats and the semantics each carries (see ../shared/corpus/FORMATS.md):

| format | source | semantics |
|---|---|---|
| `jsonl` | our history.jsonl | register starts nil; nil reads strict; failed ops did not happen |
| `json` | elle-cli JSON (an array, or JSON lines without index) | as jsonl |
| `edn` | Jepsen history.edn, Knossos data files | Knossos: register starts at 0, a read of nil is a wildcard |
| `porcupine-etcd` | Porcupine's Jepsen etcd logs | starts nil; nil reads strict; a failed cas happened and saw another value |
| `porcupine-kv` | Porcupine's kv logs | per-key string starting "", get/put/append |

`load(path, fmt=None)` detects the format when not given and returns a LoadedHistory:
the ops plus a `Semantics` that tells checkers how to read them. Malformed input raises
InputError naming path:line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ..errors import InputError, UsageError
from ..history import TYPES, parse_lines

FORMATS = ("jsonl", "json", "edn", "porcupine-etcd", "porcupine-kv")


@dataclass(frozen=True)
class Semantics:
    """How a format's ops are to be read by the linearizability checker."""

    default_model: str = "cas-register"
    initial: object = None
    nil_read_is_wildcard: bool = False     # Knossos: a read of nil constrains nothing
    failed_cas_observed: bool = False      # Porcupine etcd: fail cas = compared and lost


@dataclass
class LoadedHistory:
    ops: list[dict]
    format: str
    semantics: Semantics = field(default_factory=Semantics)


SEMANTICS = {
    "jsonl": Semantics(),
    "json": Semantics(),
    "edn": Semantics(initial=0, nil_read_is_wildcard=True),
    "porcupine-etcd": Semantics(failed_cas_observed=True),
    "porcupine-kv": Semantics(default_model="kv", initial=""),
}


def detect(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except OSError as e:
        raise InputError(path, None, e.strerror or str(e)) from None
    stripped = head.lstrip()
    if not stripped:
        return "jsonl"
    if "jepsen.util" in head or re.match(r"INFO\s", stripped):
        return "porcupine-etcd"
    if stripped.startswith("{\"") or stripped.startswith("{ \""):
        return "jsonl"
    if stripped.startswith("[") and re.match(r"\[\s*\{\s*\"", stripped):
        return "json"
    if re.search(r":f\s+:(get|put|append)\b", head) and ":key" in head:
        return "porcupine-kv"
    if stripped[0] in "[({;#":
        return "edn"
    raise InputError(path, 1, "cannot tell the format; pass --format "
                              f"({', '.join(FORMATS)})")


def load(path: str, fmt: str | None = None) -> LoadedHistory:
    fmt = fmt or detect(path)
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fmt == "jsonl":
        from ..history import read_history
        ops = read_history(path)
    elif fmt == "json":
        ops = _load_json(path)
    elif fmt == "porcupine-etcd":
        from .porcupine import load_etcd_log
        ops = load_etcd_log(path)
    elif fmt == "porcupine-kv":
        from .porcupine import load_kv_log
        ops = load_kv_log(path)
    else:
        from .jepsen import load_edn
        ops = load_edn(path)
    return LoadedHistory(ops, fmt, SEMANTICS[fmt])


def _load_json(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("["):
        try:
            raw = json.loads(text)
        except ValueError as e:
            raise InputError(path, getattr(e, "lineno", None), f"not valid JSON ({e})") from None
        from .jepsen import normalize_op
        ops = []
        for i, op in enumerate(raw):
            if not isinstance(op, dict):
                raise InputError(path, None, f"element {i} is not an object")
            ops.append(normalize_op(op, path, None, i))
        return ops
    ops = list(parse_lines(text.splitlines(keepends=True), path))
    for i, op in enumerate(ops):
        op.setdefault("index", i)
    return ops


def check_type(path: str, line: int | None, t) -> str:
    if t not in TYPES:
        raise InputError(path, line, f"op type must be one of {', '.join(TYPES)}, got {t!r}")
    return t
