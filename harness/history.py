"""The history: every operation of a run, in the order it happened.

The file format is fixed by docs/history-format.md: JSON lines, one event per
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
import time
from contextlib import contextmanager
from typing import IO, Iterable, Iterator

from collections import deque

from .errors import HarnessError, InputError

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
TYPES = (INVOKE, OK, FAIL, INFO)
NEMESIS = "nemesis"

FIELD_ORDER = ("index", "type", "process", "f", "key", "value", "time", "node", "error")
_FIELDS_AFTER_INDEX = FIELD_ORDER[1:]


def is_client_op(op: dict) -> bool:
    return op.get("process") != NEMESIS


class HistoryWriter:
    """Appends events to history.jsonl, assigning `index`, and writes them out.

    Thread-safe: the interpreter and the runner's teardown both record. Writing is one of
    two modes:

    * **per event** (the default): each line is written and flushed before `append`
      returns, so a harness killed at any moment has lost nothing it recorded;
    * **group commit** (`with writer.group_commit(max_events, max_delay_s):`, what the
      interpreter uses): lines are queued in memory and written with one write + flush
      when `max_events` are queued, when the oldest has waited `max_delay_s` (looked at
      on each append), on `flush()`, and when the block ends. A kill -9 of the harness
      loses at most what is queued: the last `max_events` events at most, and the events
      of the last `max_delay_s` at most while events keep coming (the interpreter flushes
      before it hands ops to their workers and before it waits for anything, so every
      invoke is on disk before its call starts, and nothing stays queued while it waits).
      The file is
      always a prefix of the history in index order, so what a crash leaves is still
      checkable: ops whose completion was lost read as still open (indeterminate).

    `fsync_every` bounds what an OS crash (not just a harness crash) can lose: the file
    is fsynced each time that many more events are written. Per event, the fsync is done
    in `append`; in group commit a thread of the writer does it, so the recording thread
    never waits on the disk (an fsync took 0.5 ms median, 4 ms at the 90th percentile,
    measured on this machine's disk, and came every 256 events: about a tenth of the
    interpreter's time at 20,000 ops/s). An fsync that fails stops the recording as a
    failed write does.

    Lines are encoded by msgspec (a sixth of the standard json module's cost per event,
    measured: 0.8 against 7.3 us), falling back to the standard module for what msgspec
    refuses. A value JSON has no type for is written as its `str()`, as before, except
    the types msgspec writes natively: a set or tuple as a list, bytes as base64, a
    datetime / date / time / UUID / Decimal as its ISO / canonical string, a dataclass as
    an object; a float NaN or infinity is written as null (the standard module writes
    `NaN`, which no strict JSON reader accepts).

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
            self._file: IO[bytes] = open(path, "ab")
        except OSError as e:
            from .store import StoreError, describe_os_error
            raise StoreError(f"cannot write {path}: {describe_os_error(e)}") from None
        self._lock = threading.Lock()
        self._next_index = 0
        self._fsync_every = fsync_every
        self._next_fsync = fsync_every     # fsync once this many events are written
        self._recent: deque = deque(maxlen=keep_recent)
        self._queued: list[bytes] = []     # encoded lines not yet written (group commit)
        self._queued_since = 0.0           # time.monotonic() of the oldest queued line
        self._max_events = 1               # 1: write and flush per event
        self._max_delay_s = 0.0
        self._syncer: _Syncer | None = None   # fsyncs for group commit
        self.written = 0                   # events written and flushed
        self.bytes_written = 0
        self.completions = {OK: 0, FAIL: 0, INFO: 0}     # client completions by type
        self.failure: Exception | None = None

    @property
    def count(self) -> int:
        return self._next_index

    def append(self, op: dict) -> dict:
        """Record `op` under the next index; return the event as recorded (fields in
        the documented order, `index` first)."""
        with self._lock:
            if self.failure is not None:
                raise self.failure
            # Claim the index before writing: SIGINT/SIGTERM raise Interrupted in the main
            # thread between any two bytecodes, also between the write and the increment,
            # and the next event then reused the index (a duplicate that made the history
            # unreadable). Claimed first, an interruption leaves at worst a gap, which the
            # format allows.
            index = self._next_index
            self._next_index = index + 1
            ordered = {"index": index}
            for k in _FIELDS_AFTER_INDEX:
                if k in op:
                    ordered[k] = op[k]
            if len(ordered) <= len(op) - ("index" in op):     # fields beyond the usual
                ordered.update((k, v) for k, v in op.items() if k not in ordered)
            self._queued.append(_encode_line(ordered))
            if len(self._queued) >= self._max_events:
                self._write_queued()
            elif len(self._queued) == 1:
                self._queued_since = time.monotonic()
            elif time.monotonic() - self._queued_since >= self._max_delay_s:
                self._write_queued()
            self._recent.append(ordered)
            if ordered.get("type") in self.completions and ordered.get("process") != NEMESIS:
                self.completions[ordered["type"]] += 1
            return ordered

    def flush(self) -> None:
        """Write out every queued event (group commit); a no-op when none is queued."""
        with self._lock:
            if self._queued and self.failure is None and not self._file.closed:
                self._write_queued()

    @contextmanager
    def group_commit(self, max_events: int = 256, max_delay_s: float = 0.05):
        """Queue events and write them in groups inside the block (see the class
        docstring for the loss window); everything queued is written when it ends.

        A write that fails then is raised, unless the block is already ending with an
        exception (an interruption must stay what ends the run): it is kept in
        `failure`, and raised by the next append. Not reentrant."""
        if max_events < 1 or max_delay_s < 0:
            raise ValueError("group_commit needs max_events >= 1 and max_delay_s >= 0")
        with self._lock:
            if self._file.closed:
                raise ValueError("group_commit on a closed history")
            if self._syncer is not None:
                raise ValueError("group_commit is already on")
            self._max_events, self._max_delay_s = max_events, max_delay_s
            self._syncer = _Syncer(self._file.fileno())
            self._syncer.start()
        failing = False
        try:
            yield self
        except BaseException:
            failing = True
            raise
        finally:
            with self._lock:
                self._max_events, self._max_delay_s = 1, 0.0
                syncer, self._syncer = self._syncer, None
                try:
                    if self._queued and self.failure is None and not self._file.closed:
                        try:
                            self._write_queued()
                        except HistoryWriteError:
                            if not failing:
                                raise
                finally:
                    if syncer is not None:      # None: close() stopped it already
                        syncer.stop()
                        if syncer.error is not None and self.failure is None:
                            self.failure = self._write_error(syncer.error)

    def _write_queued(self) -> None:
        """Write and flush the queued lines. The queue is taken before the write: an
        interruption (SIGINT raises between any two bytecodes) may then lose lines
        (a gap in the indexes, which the format allows) but never write one twice."""
        lines, self._queued = self._queued, []
        data = b"".join(lines)
        if self._syncer is not None and self._syncer.error is not None:
            self.failure = self._write_error(self._syncer.error)
            raise self.failure
        try:
            self._file.write(data)
            self._file.flush()
            self.written += len(lines)
            if self.written >= self._next_fsync:
                self._next_fsync = self.written + self._fsync_every
                if self._syncer is None:
                    os.fsync(self._file.fileno())
                else:
                    self._syncer.request()
        except OSError as e:
            self.failure = self._write_error(e)
            raise self.failure from None
        self.bytes_written += len(data)

    def _write_error(self, e: OSError) -> Exception:
        from .store import describe_os_error
        return HistoryWriteError(
            f"cannot write the history ({describe_os_error(e)}): {self.path} holds the first "
            f"{self.written} events (about {self.bytes_written} bytes); the run stopped")

    def recent(self) -> list[dict]:
        """The last events recorded (at most keep_recent), oldest first."""
        with self._lock:
            return list(self._recent)

    def read_back(self) -> list[dict]:
        """The whole history as recorded on disk (a torn last line is left out)."""
        self.flush()
        return read_history(self.path)

    def close(self) -> None:
        """Write what is queued, fsync and close. Safe from another thread while events
        are recorded (the run's hard-deadline watchdog closes it): the fsync thread is
        stopped before the descriptor is closed."""
        with self._lock:
            if self._file.closed:
                return
            syncer, self._syncer = self._syncer, None
            if syncer is not None:
                syncer.stop()
                if syncer.error is not None and self.failure is None:
                    self.failure = self._write_error(syncer.error)
            try:
                if self._queued and self.failure is None:
                    self._write_queued()
                self._file.flush()
                os.fsync(self._file.fileno())
            except (OSError, HistoryWriteError) as e:
                if self.failure is None:
                    self.failure = self._write_error(e)
            finally:
                try:
                    self._file.close()
                except OSError:
                    pass


class _Syncer(threading.Thread):
    """fsyncs one file descriptor whenever asked, off the thread that writes it.

    Requests coalesce: asked again while an fsync runs, it fsyncs once more after it.
    The owner stops it (`stop`, which waits for it) before closing the descriptor, so it
    never fsyncs a descriptor number that has been closed and reused. The first failure
    is kept in `error` for the owner to raise; the thread then ends."""

    def __init__(self, fd: int):
        super().__init__(name="history-fsync", daemon=True)
        self.fd = fd
        self.error: OSError | None = None
        self._wanted = threading.Event()
        self._stopping = False

    def request(self) -> None:
        self._wanted.set()

    def run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                os.fsync(self.fd)       # stopping too: a request may be waiting
            except OSError as e:
                self.error = e
                return
            if self._stopping:
                return

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        self.join()


try:
    import msgspec.json as _msgspec_json_encode
    _MSGSPEC_ENCODE = _msgspec_json_encode.Encoder(enc_hook=str).encode
except ImportError:    # a dependency, but writing must not depend on it
    _MSGSPEC_ENCODE = None
_STANDARD_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def _encode_line(event: dict) -> bytes:
    """One event as a JSON line, in bytes (see HistoryWriter on how values are written)."""
    if _MSGSPEC_ENCODE is not None:
        try:
            return _MSGSPEC_ENCODE(event) + b"\n"
        except Exception:   # noqa: BLE001 - e.g. a key that is not a string: the standard way
            pass
    return (_STANDARD_ENCODER.encode(event) + "\n").encode("utf-8")


class HistoryWriteError(HarnessError):
    """The history could not be written (exit 3); what was written is kept."""


def parse_lines(lines: Iterable[str], path: str = "<history>", *,
                line_numbers: list[int] | None = None, limits=None) -> Iterator[dict]:
    """Parse history.jsonl lines (with their line ends, as iterating a file gives them),
    validating the fields every checker relies on.

    A torn final line (the harness was killed mid-write: no newline at its end) is
    skipped; a malformed line anywhere else is an InputError naming path:line. The line
    number of each op yielded is appended to `line_numbers` when given; `limits` (a
    harness.formats.reading.Limits) bounds the time spent. Indexes are validated per op
    (integers) but their order is the caller's to check (`number_ops`).
    """
    rows = ((lineno, line, line.endswith("\n")) for lineno, line in enumerate(lines, 1))
    return _parse_rows(rows, path, line_numbers, limits)


def parse_text(text: str, path: str = "<history>", *, line_numbers: list[int] | None = None,
               limits=None) -> list[dict]:
    """All ops of a history.jsonl text, as `parse_lines`, then numbered (`number_ops`)."""
    parts = text.split("\n")
    last = len(parts)
    rows = ((lineno, part, lineno < last) for lineno, part in enumerate(parts, 1))
    lines: list[int] = [] if line_numbers is None else line_numbers
    ops = list(_parse_rows(rows, path, lines, limits))
    number_ops(ops, lines, path)
    return ops


def _parse_rows(rows, path: str, line_numbers: list[int] | None, limits) -> Iterator[dict]:
    """Rows are (line number, text, whether a newline ended it)."""
    from .formats.reading import (CHECK_EVERY, MAX_DEPTH, SURROGATE_ESCAPE, depth_error,
                                  has_lone_surrogate, surrogate_error, too_deep)

    fast = _FAST_DECODE
    loads = _standard_loads
    types = frozenset(TYPES)
    share = _Sharer()
    pending: tuple[int, str] | None = None
    for lineno, line, terminated in rows:
        if pending is not None:
            raise InputError(path, pending[0], pending[1])
        if limits is not None and lineno % CHECK_EVERY == 1:   # line 1, then every few thousand
            limits.check_time(path)
        if not line or line.isspace():
            continue
        op = None
        if fast is not None:            # see fast_json_loads
            try:
                op = fast(line)
            except Exception:   # noqa: BLE001 - the standard decoder says what is wrong
                pass
        if type(op) is not dict:
            try:
                op = loads(line)
            except RecursionError:
                raise depth_error(path, lineno) from None
            except ValueError as e:
                if not terminated:
                    return  # torn last line: everything before it is intact
                pending = (lineno, f"not valid JSON ({getattr(e, 'msg', e)})")
                continue
            if type(op) is not dict:
                raise InputError(path, lineno, "expected a JSON object")
        # The common op, checked in one expression; anything else goes through validate.
        t, index = op.get("type"), op.get("index", 0)
        if not (type(t) is str and t in types and type(op.get("process")) is int
                and type(op.get("f")) is str and type(op.get("time", 0)) is int
                and type(index) is int and index >= 0):
            problem = validate(op)
            if problem:
                raise InputError(path, lineno, problem)
        # Counting brackets is cheap; only a line with many of them can nest too deep.
        if line.count("[") + line.count("{") > MAX_DEPTH and too_deep(op):
            raise depth_error(path, lineno)
        if "\\u" in line and SURROGATE_ESCAPE.search(line) and has_lone_surrogate(op):
            raise surrogate_error(path, lineno)
        if line_numbers is not None:
            line_numbers.append(lineno)
        if lineno > SHARE_FROM_LINE:
            share(op)
        yield op
    if pending is not None:
        # A bad line that ends the file and ends with a newline: still malformed.
        raise InputError(path, pending[0], pending[1])


# Ops are shared (`_Sharer`) from this line on: it costs about a third of the parsing
# time, and memory only matters for large histories (a 100k-transaction history, 200k
# lines, takes 0.3 GB to check; 1M, 2M lines, needs the 0.7 GB it saves to stay under 3 GB).
SHARE_FROM_LINE = 250_000


class _Sharer:
    """Makes equal strings and integers in ops one object, as they are read.

    A decoder makes a new object for every string and integer it reads, and a large
    history repeats a few of them millions of times: each op's `type` and `f`, and in a
    value made of small lists (a transaction's micro-ops `[f, key, value]`, `[key,
    value]` pairs) their first two items. Sharing them took 0.7 GB off the 2.4 GB that
    1M list-append transactions took to hold. Values are unchanged (a string stays a
    string, an int an int: `True` is never made `1`, whose hash it shares)."""

    def __init__(self):
        self.strings: dict = {t: t for t in TYPES}
        self.ints: dict = {}

    def __call__(self, op: dict) -> None:
        strings = self.strings
        t = op.get("type")
        if type(t) is str:
            op["type"] = strings.setdefault(t, t)
        f = op.get("f")
        if type(f) is str:
            op["f"] = strings.setdefault(f, f)
        value = op.get("value")
        if type(value) is not list:
            return
        share_string, share_int = strings.setdefault, self.ints.setdefault
        for item in value:
            if type(item) is list and len(item) > 1:
                x = item[0]
                if type(x) is str:
                    item[0] = share_string(x, x)
                elif type(x) is int:
                    item[0] = share_int(x, x)
                x = item[1]
                if type(x) is int:
                    item[1] = share_int(x, x)
                elif type(x) is str:
                    item[1] = share_string(x, x)


try:
    import msgspec.json as _msgspec_json
    _FAST_DECODE = _msgspec_json.Decoder().decode
except ImportError:   # a dependency, but reading must not depend on it: same values, slower
    _FAST_DECODE = None


def fast_json_loads(text: str):
    """One JSON value, read as `reading.JSON_DECODER` reads it, only faster.

    msgspec, not orjson: orjson turns an integer beyond 64 bits into a float
    (123456789012345678901234567890 reads as 1.2345678901234568e+29), and 1 is not 1.0
    to the checkers; msgspec keeps it exact, and is as strict as the standard (no NaN,
    no trailing commas, no raw control characters). Measured on the 200,000 lines of a
    100k-transaction list-append history, gc off, same run: 0.88 s against the
    standard json module's 2.46 s (orjson 1.18 s; load average 14 on 2 shared cores).
    Whatever msgspec refuses (a lone surrogate escape, 1e400, invalid JSON, too deep) is
    read again by the standard decoder, so values and error messages are exactly its.
    """
    if _FAST_DECODE is not None:
        try:
            return _FAST_DECODE(text)
        except Exception:       # noqa: BLE001 - the standard decoder says what is wrong
            pass
    return _standard_loads(text)


def _standard_loads(text: str):
    from .formats.reading import JSON_DECODER
    return JSON_DECODER.decode(text)


def validate(op: dict) -> str | None:
    """What is wrong with one op's fields, or None. The order of indexes across a file is
    `number_ops`'s to check."""
    t = op.get("type")
    if not isinstance(t, str) or t not in TYPES:
        return f"field `type` must be one of {', '.join(TYPES)}, got {_short(t)}"
    if "process" not in op:
        return "missing field `process`"
    p = op["process"]
    if not (type(p) is int or isinstance(p, str)):
        return f"field `process` must be an int or \"nemesis\", got {_short(p)}"
    if not isinstance(op.get("f"), str):
        return "missing or non-string field `f`"
    if "time" in op and type(op["time"]) is not int:
        return f"field `time` must be an integer (ns), got {_short(op['time'])}"
    if "index" in op and (type(op["index"]) is not int or op["index"] < 0):
        return f"field `index` must be a non-negative integer, got {_short(op['index'])}"
    return None


def _short(value) -> str:
    """repr of a value for an error message, cut short (it may be huge or hostile)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def number_ops(ops: list[dict], lines: list[int | None], path: str) -> None:
    """Check the `index` of a file's ops, or give them one.

    The rule (docs/history-format.md): either no op has an index, and each gets its
    position in the file (0, 1, 2, ...), or every op has one, and the indexes increase
    strictly in file order (gaps allowed). Checkers take `index` as an op's identity and
    as history order, so a duplicate or a step back would let a checker pair or order
    ops differently from the file: an InputError at the op's line (`lines` runs parallel
    to `ops`).
    """
    if not ops:
        return
    if "index" not in ops[0]:
        for position, op in enumerate(ops):
            if "index" in op:
                raise InputError(path, lines[position], "this op has an `index` but the first "
                                 "op has none: give every op an index, or none")
            op["index"] = position
        return
    previous = -1
    for position, op in enumerate(ops):
        index = op.get("index")
        if index is None:
            raise InputError(path, lines[position], "missing `index` (the first op has one: "
                             "give every op an index, or none)")
        if index <= previous:
            raise InputError(path, lines[position], f"index {index} does not follow index "
                             f"{previous}: indexes must increase strictly in file order")
        previous = index


def read_history(path: str, *, limits=None) -> list[dict]:
    """The ops of a history.jsonl file (see `parse_lines`, `number_ops`); `limits` (a
    harness.formats.reading.Limits) bounds its size, the time spent and the file kind."""
    return read_history_with_lines(path, limits=limits)[0]


def read_history_with_lines(path: str, *, limits=None) -> tuple[list[dict], list[int]]:
    """`read_history`, and the line of each op."""
    from .formats.reading import NO_LIMITS, check_file, gc_paused, iter_lines, read_text

    limits = limits or NO_LIMITS
    lines: list[int] = []
    with gc_paused():
        if check_file(path, limits):      # a FIFO or device: read whole, without blocking
            ops = parse_text(read_text(path, limits), path, line_numbers=lines, limits=limits)
        else:                             # a file: streamed, a line at a time
            ops = list(_parse_rows(iter_lines(path, limits), path, lines, limits))
            number_ops(ops, lines, path)
    return ops, lines


def pair_ops(history: list[dict]) -> list[list]:
    """Match each client invoke with its completion: [invoke, completion or None] pairs,
    in invoke order.

    Completions are matched by process: a process has at most one outstanding op. Kept
    to plain locals and no copy at the end: the linearizability checker pairs every op of
    a history with it, and it was a fifth of partitioning a 100k-op history.
    """
    open_by_process: dict = {}
    pairs: list[list] = []
    for op in history:
        process = op.get("process")
        if process == NEMESIS:
            continue
        if op["type"] == INVOKE:
            entry = [op, None]
            open_by_process[process] = entry
            pairs.append(entry)
        else:
            entry = open_by_process.pop(process, None)
            if entry is not None:
                entry[1] = op
    return pairs
