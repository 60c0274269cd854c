"""The history: every operation of a run, in the order it happened.

The file format is fixed by ../shared/docs/history-format.md: JSON lines, one event per
line, appended and flushed as each event happens so that a crash of the harness loses
nothing already recorded and a partial file can still be checked. Ops are plain dicts
with the documented fields (index, type, process, f, value, time, and optionally key,
node, error); plain dicts keep the hot path cheap and the format self-evident.

Semantics (Jepsen's): `invoke` starts an op; `ok` means it took effect, `fail` that it
certainly did not, `info` that it may or may not have. A process whose op ended in `info`
never invokes again.
"""

from __future__ import annotations

import json
import os
import threading
from typing import IO, Iterable, Iterator

from collections import deque

from .errors import HarnessError, InputError

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
TYPES = (INVOKE, OK, FAIL, INFO)
NEMESIS = "nemesis"

FIELD_ORDER = ("index", "type", "process", "f", "key", "value", "time", "node", "error")


def is_client_op(op: dict) -> bool:
    return op.get("process") != NEMESIS


class HistoryWriter:
    """Appends events to history.jsonl, assigning `index`, flushing after each line.

    Thread-safe: the interpreter and the nemesis worker both record. `fsync_every`
    bounds what an OS crash (not just a harness crash) can lose; flush alone already
    protects against the harness being killed.

    The history is not kept in memory (an hour-long run records gigabytes): only the
    last `keep_recent` events, for generators that look back (`recent()`), and counts.
    The whole history is read back from disk for checking (`read_back()`).

    A write the store refuses (disk full, read-only) raises `HistoryWriteError` naming
    how much of the history is on disk; every later append raises it again, so the run
    stops instead of recording into the void.
    """

    def __init__(self, path: str, fsync_every: int = 256, keep_recent: int = 10_000):
        self.path = path
        try:
            self._file: IO[str] = open(path, "a", encoding="utf-8")
        except OSError as e:
            from .store import StoreError, describe_os_error
            raise StoreError(f"cannot write {path}: {describe_os_error(e)}") from None
        self._lock = threading.Lock()
        self._next_index = 0
        self._fsync_every = fsync_every
        self._recent: deque = deque(maxlen=keep_recent)
        self.bytes_written = 0
        self.completions = {OK: 0, FAIL: 0, INFO: 0}     # client completions by type
        self.failure: Exception | None = None

    @property
    def count(self) -> int:
        return self._next_index

    def append(self, op: dict) -> dict:
        with self._lock:
            if self.failure is not None:
                raise self.failure
            op = dict(op)
            op["index"] = self._next_index
            ordered = {k: op[k] for k in FIELD_ORDER if k in op}
            ordered.update((k, v) for k, v in op.items() if k not in ordered)
            line = json.dumps(ordered, separators=(",", ":"), default=str) + "\n"
            try:
                self._file.write(line)
                self._file.flush()
                if (self._next_index + 1) % self._fsync_every == 0:
                    os.fsync(self._file.fileno())
            except OSError as e:
                self.failure = self._write_error(e)
                raise self.failure from None
            self._next_index += 1
            self.bytes_written += len(line)
            self._recent.append(ordered)
            if ordered.get("type") in self.completions and ordered.get("process") != NEMESIS:
                self.completions[ordered["type"]] += 1
            return ordered

    def _write_error(self, e: OSError) -> Exception:
        from .store import describe_os_error
        return HistoryWriteError(
            f"cannot write the history ({describe_os_error(e)}): {self.path} holds the first "
            f"{self._next_index} events (about {self.bytes_written} bytes); the run stopped")

    def recent(self) -> list[dict]:
        """The last events recorded (at most keep_recent), oldest first."""
        with self._lock:
            return list(self._recent)

    def read_back(self) -> list[dict]:
        """The whole history as recorded on disk (a torn last line is left out)."""
        return read_history(self.path)

    def close(self) -> None:
        with self._lock:
            if self._file.closed:
                return
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as e:
                if self.failure is None:
                    self.failure = self._write_error(e)
            finally:
                try:
                    self._file.close()
                except OSError:
                    pass


class HistoryWriteError(HarnessError):
    """The history could not be written (exit 3); what was written is kept."""


def parse_lines(lines: Iterable[str], path: str = "<history>") -> Iterator[dict]:
    """Parse history.jsonl lines, validating the fields every checker relies on.

    A torn final line (the harness was killed mid-write) is skipped; a malformed line
    anywhere else is an InputError naming path:line.
    """
    pending: tuple[int, str] | None = None
    for lineno, line in enumerate(lines, 1):
        if pending is not None:
            raise InputError(path, pending[0], pending[1])
        if not line.strip():
            continue
        try:
            op = json.loads(line)
        except ValueError as e:
            if not line.endswith("\n"):
                return  # torn last line: everything before it is intact
            pending = (lineno, f"not valid JSON ({e.msg})")
            continue
        if not isinstance(op, dict):
            raise InputError(path, lineno, "expected a JSON object")
        problem = validate(op)
        if problem:
            raise InputError(path, lineno, problem)
        yield op
    if pending is not None:
        # A bad line that ends the file and ends with a newline: still malformed.
        raise InputError(path, pending[0], pending[1])


def validate(op: dict) -> str | None:
    t = op.get("type")
    if t not in TYPES:
        return f"field `type` must be one of {', '.join(TYPES)}, got {t!r}"
    if "process" not in op:
        return "missing field `process`"
    p = op["process"]
    if not (isinstance(p, int) or p == NEMESIS or isinstance(p, str)):
        return f"field `process` must be an int or \"nemesis\", got {p!r}"
    if not isinstance(op.get("f"), str):
        return "missing or non-string field `f`"
    if "time" in op and not isinstance(op["time"], int):
        return f"field `time` must be an integer (ns), got {op['time']!r}"
    return None


def read_history(path: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            ops = list(parse_lines(f, path))
    except OSError as e:
        raise InputError(path, None, e.strerror or str(e)) from None
    for i, op in enumerate(ops):
        op.setdefault("index", i)
    return ops


def pair_ops(history: list[dict]) -> list[tuple[dict, dict | None]]:
    """Match each client invoke with its completion (None if it never completed).

    Completions are matched by process: a process has at most one outstanding op.
    """
    open_by_process: dict = {}
    pairs: list[list] = []
    for op in history:
        if not is_client_op(op):
            continue
        p = op["process"]
        if op["type"] == INVOKE:
            entry = [op, None]
            open_by_process[p] = entry
            pairs.append(entry)
        else:
            entry = open_by_process.pop(p, None)
            if entry is not None:
                entry[1] = op
    return [(inv, comp) for inv, comp in pairs]
