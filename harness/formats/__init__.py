"""History inputs: every format the checkers read, mapped to history.jsonl-style op dicts.

Formats and the semantics each carries (see docs/history-format.md):

| format | source | semantics |
|---|---|---|
| `jsonl` | our history.jsonl | register starts nil; nil reads strict; failed ops did not happen |
| `json` | elle-cli JSON (an array, or JSON lines without index) | as jsonl |
| `edn` | Jepsen history.edn, Knossos data files | Knossos: a register starts at 0, a read of nil is a wildcard |
| `porcupine-etcd` | Porcupine's Jepsen etcd logs | starts nil; nil reads strict; a failed cas happened and saw another value |
| `porcupine-kv` | Porcupine's kv logs | per-key string starting "", get/put/append |

`load(path, fmt=None, *, time_limit_s=None, max_bytes=None, allow_special=False)` detects
the format when not given and returns a LoadedHistory: the ops, the line each op came
from, and a `Semantics` that tells checkers how to read them. What `load` raises:

* `InputError` (exit 4) naming path:line for malformed input: bytes that are not UTF-8,
  a syntax error, a field of the wrong type, values nested too deep, indexes that are not
  strictly increasing integers, a file larger than `max_bytes`, a FIFO or device (unless
  `allow_special`), a directory, a missing file;
* `UsageError` (exit 4) for an unknown format name;
* `ReadTimeLimit` (exit 2) when reading takes longer than `time_limit_s`: the input was
  not judged, so the verdict is unknown.

Nothing else: any other exception from a loader is a bug (tests/harness/test_fuzz_inputs.py).
"""

from __future__ import annotations

import gc
import json
import json.scanner
import math
import re
from dataclasses import dataclass, field, replace

from ..errors import InputError, UsageError
from ..history import TYPES as _TYPES
from .reading import (CHECK_EVERY, JSON_DECODER, MAX_DEPTH, NO_LIMITS, SURROGATE_ESCAPE,
                      Limits, ReadTimeLimit, check_file, decode, depth_error, gc_paused,
                      has_lone_surrogate, read_bytes, surrogate_error, too_deep)

__all__ = ["FORMATS", "LoadedHistory", "ReadTimeLimit", "Semantics", "SEMANTICS", "detect",
           "detect_text", "load", "MAX_DEPTH"]

FORMATS = ("jsonl", "json", "edn", "porcupine-etcd", "porcupine-kv")

REGISTER_MODELS = ("register", "cas-register")


@dataclass(frozen=True)
class Semantics:
    """How a format's ops are to be read by the linearizability checker.

    `initial` is the initial state of the format's models, but only of those named in
    `initial_models` (all models when that is None): Knossos starts a register at 0, and
    that 0 means nothing to a kv store or a set. Ask `initial_for(model)`, or take
    `for_model(model)`, a copy whose `initial` is right for that model.
    """

    default_model: str = "cas-register"
    initial: object = None
    nil_read_is_wildcard: bool = False     # Knossos: a read of nil constrains nothing
    failed_cas_observed: bool = False      # Porcupine etcd: fail cas = compared and lost
    initial_models: tuple[str, ...] | None = None

    def initial_for(self, model: str | None) -> object:
        """The initial state for `model` (None: the format's default model); None means
        the model's own default."""
        model = model or self.default_model
        if self.initial_models is not None and model not in self.initial_models:
            return None
        return self.initial

    def for_model(self, model: str | None) -> "Semantics":
        """These semantics with `initial` fixed for `model` (what a checker that reads
        `semantics.initial` should be given once the model is chosen)."""
        return replace(self, initial=self.initial_for(model),
                       default_model=model or self.default_model)


@dataclass
class LoadedHistory:
    """The ops of one input file, in file order, with the line each came from.

    `lines[i]` is the 1-based line where `ops[i]` starts (None where a format cannot
    tell); `line_of(op)` finds it, so an error raised about an op (checkers.MalformedOp
    carries the op itself) can name path:line.
    """

    ops: list[dict]
    format: str
    semantics: Semantics = field(default_factory=Semantics)
    lines: list[int | None] = field(default_factory=list)
    path: str | None = None
    _line_by_id: dict | None = field(default=None, repr=False, compare=False)
    _line_by_index: dict | None = field(default=None, repr=False, compare=False)

    def line_of(self, op: dict) -> int | None:
        """The line `op` starts on, or None: found by identity (one of `ops`), else by
        its `index` (a copy a checker made; indexes are unique within a file)."""
        if self._line_by_id is None:
            self._line_by_id = {id(o): line for o, line in zip(self.ops, self.lines)}
        line = self._line_by_id.get(id(op))
        if line is not None or not isinstance(op, dict) or type(op.get("index")) is not int:
            return line
        if self._line_by_index is None:
            self._line_by_index = {o["index"]: line for o, line in zip(self.ops, self.lines)}
        return self._line_by_index.get(op["index"])


SEMANTICS = {
    "jsonl": Semantics(),
    "json": Semantics(),
    "edn": Semantics(initial=0, nil_read_is_wildcard=True, initial_models=REGISTER_MODELS),
    "porcupine-etcd": Semantics(failed_cas_observed=True),
    "porcupine-kv": Semantics(default_model="kv", initial=""),
}

_KV_FS = re.compile(r":f\s+:(get|put|append)\b")


def detect(path: str, *, allow_special: bool = False) -> str:
    """The format of the file at `path`, from its first 4 KiB (a FIFO or device is
    refused unless `allow_special`, and then read whole)."""
    return detect_text(path, _head(read_bytes(path, Limits(allow_special=allow_special),
                                              head=4096)))


def _head(data: bytes) -> str:
    """The first 4 KiB of `data` as text; a character cut at the end, or any byte that is
    not UTF-8, is replaced (detection only: loading reports bad bytes)."""
    return data[:4096].decode("utf-8", errors="replace").lstrip("\ufeff")


def detect_text(path: str, head: str) -> str:
    """The format of a file that begins with `head` (a few KiB of it)."""
    stripped = head.lstrip()
    if not stripped:
        return "jsonl"
    # JSON first: a JSON value may well mention jepsen.util.
    if stripped.startswith("{\"") or stripped.startswith("{ \""):
        return "jsonl"
    if stripped.startswith("[") and re.match(r"\[\s*\{\s*\"", stripped):
        return "json"
    if "jepsen.util" in head or re.match(r"INFO\s", stripped):
        return "porcupine-etcd"
    # Porcupine's kv logs are one complete flat map per line; an EDN vector of kv ops, or
    # maps spanning lines, are EDN (read by the EDN reader whatever their f).
    first_line = stripped.split("\n", 1)[0].rstrip()
    if stripped.startswith("{:") and first_line.endswith("}") and _KV_FS.search(first_line) \
            and ":key" in first_line:
        return "porcupine-kv"
    if stripped[0] in "[({;#":
        return "edn"
    raise InputError(path, 1, "cannot tell the format; pass --format "
                              f"({', '.join(FORMATS)})")


def load(path: str, fmt: str | None = None, *, time_limit_s: float | None = None,
         max_bytes: int | None = None, allow_special: bool = False) -> LoadedHistory:
    """Read the history at `path` (see the module docstring for what it raises).

    `time_limit_s` bounds reading and parsing (None: no bound); `max_bytes` the file's
    size (None: no bound); `allow_special` allows a FIFO or device as input, read
    without blocking past the time limit.
    """
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}; valid: {', '.join(FORMATS)}")
    if time_limit_s is not None and not (isinstance(time_limit_s, (int, float))
                                         and math.isfinite(time_limit_s) and time_limit_s >= 0):
        raise UsageError(f"the time limit must be a finite number of seconds >= 0, "
                         f"got {time_limit_s!r}")
    if max_bytes is not None and not (type(max_bytes) is int and max_bytes >= 0):
        raise UsageError(f"the size limit must be a whole number of bytes >= 0, got {max_bytes!r}")
    limits = Limits.start(time_limit_s, max_bytes, allow_special)
    with gc_paused():
        loaded = _load(path, fmt, limits)
        if len(loaded.ops) >= FREEZE_AT:
            # A large history is moved out of the cyclic collector's reach before it is
            # switched back on: its first pass would otherwise walk every op (0.5 s of
            # the 1.6 s it takes to load 100k list-append transactions), and later passes
            # again. The ops hold no cycles; refcounting still frees them.
            gc.freeze()
        return loaded


FREEZE_AT = 10_000


def _load(path: str, fmt: str | None, limits: Limits) -> LoadedHistory:
    if check_file(path, limits):
        # A FIFO or device is read once, whole (its head cannot be read twice).
        text = decode(path, read_bytes(path, limits))
        fmt = fmt or detect_text(path, text[:4096])
    else:
        fmt = fmt or detect_text(path, _head(read_bytes(path, limits, head=4096)))
        # history.jsonl is streamed a line at a time; the others are read whole.
        text = None if fmt == "jsonl" else decode(path, read_bytes(path, limits))
    if fmt == "jsonl":
        from ..history import parse_text, read_history_with_lines
        if text is None:
            ops, lines = read_history_with_lines(path, limits=limits)
        else:
            lines = []
            ops = parse_text(text, path, line_numbers=lines, limits=limits)
    elif fmt == "json":
        ops, lines = _parse_json(text, path, limits)
    elif fmt == "porcupine-etcd":
        from .porcupine import parse_etcd_log
        ops, lines = parse_etcd_log(text, path, limits)
    elif fmt == "porcupine-kv":
        from .porcupine import parse_kv_log
        ops, lines = parse_kv_log(text, path, limits)
    else:
        from .jepsen import parse_edn
        ops, lines = parse_edn(text, path, limits)
    return LoadedHistory(ops, fmt, SEMANTICS[fmt], lines, path)


_WS = re.compile(r"[ \t\n\r]*+")
_SCAN = json.scanner.make_scanner(JSON_DECODER)


def _parse_json(text: str, path: str, limits: Limits = NO_LIMITS
                ) -> tuple[list[dict], list[int]]:
    """elle-cli JSON: an array of op objects, or JSON lines. Independent `[k v]` tuples
    become `key` and `value` as in EDN (jepsen.split_independent_vectors)."""
    from ..history import number_ops, parse_text
    from .jepsen import normalize_op, split_independent_vectors

    start = _WS.match(text).end()
    if text.startswith("[", start):
        fast = _json_array_by_lines(text, start, path, limits)
        raws, lines = fast if fast is not None else _json_array(text, start, path, limits)
        ops = []
        for position, line in enumerate(lines):
            raw, raws[position] = raws[position], None    # let each parsed element go
            if type(raw) is not dict:
                raise InputError(path, line, "expected an op object")
            ops.append(normalize_op(raw, path, line))
    else:
        lines = []
        ops = parse_text(text, path, line_numbers=lines, limits=limits)
    split_independent_vectors(ops)
    number_ops(ops, lines, path)
    return ops, lines


def _json_array_by_lines(text: str, pos: int, path: str, limits: Limits
                         ) -> tuple[list, list[int]] | None:
    """The elements of the JSON array at text[pos] and their lines, when it is laid out
    one element per line (as elle-cli and Jepsen write it); None when it is not, or when
    anything is amiss, and `_json_array` reads it (and says what is wrong).

    Each line, less the array's own "[", "]" and the "," after an element, must be one
    JSON object (read by msgspec: see harness.history.fast_json_loads), so the text is
    exactly "[" element "," ... element "]" with whitespace around: the same array the
    scanner would read, element for element and line for line, at about 4x its speed.
    """
    from ..history import _FAST_DECODE as decode
    if decode is None:
        return None
    items: list = []
    lines: list[int] = []
    rows = text[pos + 1:].split("\n")
    first_line = text.count("\n", 0, pos) + 1
    expect_more = True          # an element must come (after "[" or ",")
    closed = False
    for offset, row in enumerate(rows):
        piece = row.strip(" \t\r")
        if not piece:
            continue
        if closed:
            return None                         # text after the closing "]"
        if piece.endswith("]") and not piece.endswith("}]") and piece != "]":
            return None
        if piece == "]":
            if expect_more and items:
                return None                     # a trailing comma
            closed = True
            continue
        if not expect_more:
            return None                         # two elements without a comma
        if piece.endswith("}]"):
            piece, closed = piece[:-1].rstrip(" \t\r"), True
            expect_more = False
        elif piece.endswith(","):
            piece = piece[:-1].rstrip(" \t\r")
        else:
            expect_more = False
        if not piece.startswith("{") or not piece.endswith("}"):
            return None
        try:
            item = decode(piece)
        except Exception:   # noqa: BLE001 - the scanner will say what is wrong
            return None
        if type(item) is not dict:
            return None
        if (piece.count("[") + piece.count("{") > MAX_DEPTH and too_deep(item)) or \
                ("\\u" in piece and SURROGATE_ESCAPE.search(piece)
                 and has_lone_surrogate(item)):
            return None
        items.append(item)
        lines.append(first_line + offset)
        if len(items) % CHECK_EVERY == 0:
            limits.check_time(path)
    if not closed or (expect_more and items):
        return None
    return items, lines


def _json_array(text: str, pos: int, path: str, limits: Limits) -> tuple[list, list[int]]:
    """The elements of the JSON array starting at text[pos], each with the line it starts
    on; element by element (the C scanner), so the time limit is looked at as it goes."""
    ws = _WS.match
    scan = _SCAN
    items: list = []
    lines: list[int] = []
    line, counted_to = 1, 0
    pos = ws(text, pos + 1).end()
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            try:
                item, end = scan(text, pos)
            except StopIteration:
                raise _json_error(text, path, pos) from None
            except json.JSONDecodeError as e:
                raise InputError(path, e.lineno, f"not valid JSON ({e.msg})") from None
            except ValueError as e:       # e.g. an integer too long to convert
                raise InputError(path, line + text.count("\n", counted_to, pos),
                                 f"not valid JSON ({str(e)[:100]})") from None
            except RecursionError:
                raise depth_error(path, line + text.count("\n", counted_to, pos)) from None
            line += text.count("\n", counted_to, pos)
            counted_to = pos
            # Counting brackets is cheap; only an element with many of them can nest too deep.
            if text.count("[", pos, end) + text.count("{", pos, end) > MAX_DEPTH \
                    and too_deep(item):
                raise depth_error(path, line)
            if SURROGATE_ESCAPE.search(text, pos, end) and has_lone_surrogate(item):
                raise surrogate_error(path, line)
            items.append(item)
            lines.append(line)
            if len(items) % CHECK_EVERY == 0:
                limits.check_time(path)
            pos = ws(text, end).end()
            if text.startswith(",", pos):
                pos = ws(text, pos + 1).end()
                continue
            if text.startswith("]", pos):
                pos += 1
                break
            raise _json_error(text, path, pos, "expected ',' or ']' after an element")
    if ws(text, pos).end() != len(text):
        raise _json_error(text, path, ws(text, pos).end(), "text after the closing ']'")
    return items, lines


def _json_error(text: str, path: str, pos: int, what: str | None = None) -> InputError:
    """An InputError for invalid JSON at or after `pos`, with the JSON module's own
    description and line when it has one."""
    if what is None:
        try:
            JSON_DECODER.raw_decode(text, pos)
            what = "not valid JSON"
        except json.JSONDecodeError as e:
            return InputError(path, e.lineno, f"not valid JSON ({e.msg})")
        except (ValueError, RecursionError) as e:
            what = f"not valid JSON ({type(e).__name__})"
    return InputError(path, text.count("\n", 0, pos) + 1, what)


def check_type(path: str, line: int | None, t) -> str:
    if not isinstance(t, str) or t not in _TYPES:
        raise InputError(path, line, f"op type must be one of {', '.join(_TYPES)}, got {t!r}"[:200])
    return t
