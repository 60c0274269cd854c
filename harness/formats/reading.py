"""Reading an input file under limits: size, time, file kind, encoding, nesting depth.

Every loader reads its file through `read_text` (or, history.jsonl, `iter_lines`, a line
at a time), so a hostile or unlucky input (a FIFO nobody writes to, /dev/zero, a 20 GB
file, a byte flip in a UTF-8 sequence, a value nested ten thousand levels deep) ends in a
one-line error, never in a hang, a traceback or unbounded memory:

* special files (FIFO, character or block device, socket) are refused with an InputError
  unless `allow_special`; when allowed they are read without blocking past the deadline;
* more than `max_bytes` is an InputError ("larger than the limit"), found from the size of
  a regular file before reading it, and by counting for anything else;
* bytes that are not UTF-8 are an InputError naming the line of the first bad byte (a
  UTF-8 byte-order mark is accepted and dropped);
* past the time limit, `ReadTimeLimit`: the input may be fine, there was just not time to
  read it, so the verdict is unknown rather than an input error;
* values nested deeper than `MAX_DEPTH` are an InputError (checkers walk values
  recursively; no history needs more than a handful of levels);
* JSON is read as the standard has it (`JSON_DECODER`: no NaN or Infinity, which Python
  would accept), and a lone UTF-16 surrogate escape ("\\ud800") is an InputError: it is
  not a character, and printing or writing it as UTF-8 would fail later.
"""

from __future__ import annotations

import json
import os
import re
import select
import stat
import time
from dataclasses import dataclass

from ..errors import EXIT_UNKNOWN, HarnessError, InputError
from ..gcpause import gc_paused  # noqa: F401 - re-exported for the loaders

# Deepest nesting of containers in an op (the op map itself counts as one level). Real
# histories need at most 4 or 5 (an op, its txn list, a micro-op, a read's list).
MAX_DEPTH = 100

_CHUNK = 1 << 20
# How many lines, tokens or elements a loader handles between two looks at the clock.
CHECK_EVERY = 4096


class ReadTimeLimit(HarnessError):
    """Reading or parsing the input took longer than the time limit given to `load`.

    Not an input error: the file may be fine, there was not time to read it. The CLI
    reports the file's verdict as unknown (exit 2, EXIT_UNKNOWN) with this message.
    """

    exit_code = EXIT_UNKNOWN

    def __init__(self, path: str, limit_s: float):
        super().__init__(f"{path}: reading the history took longer than the time limit "
                         f"of {limit_s:g}s")
        self.path, self.limit_s = path, limit_s


@dataclass
class Limits:
    """The bounds one `load` call reads under. `deadline` is a time.monotonic() value."""

    time_limit_s: float | None = None
    max_bytes: int | None = None
    allow_special: bool = False
    deadline: float | None = None

    @classmethod
    def start(cls, time_limit_s: float | None = None, max_bytes: int | None = None,
              allow_special: bool = False) -> "Limits":
        """Limits whose clock starts now."""
        deadline = None if time_limit_s is None else time.monotonic() + time_limit_s
        return cls(time_limit_s, max_bytes, allow_special, deadline)

    def check_time(self, path: str) -> None:
        """Raise ReadTimeLimit if the deadline has passed (cheap: call it every few
        thousand lines, not per character)."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ReadTimeLimit(path, self.time_limit_s)


NO_LIMITS = Limits()


def _too_large(path: str, limit: int) -> InputError:
    return InputError(path, None, f"larger than the limit of {limit / 2**20:g} MiB; pass "
                                  "--max-input-mb to read it")


def _kind(mode: int) -> str | None:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


def check_file(path: str, limits: Limits = NO_LIMITS) -> bool:
    """Refuse what cannot be read under `limits` before reading any of it: a missing
    file, a directory, a special file (unless allowed), a regular file larger than
    `max_bytes`. Returns whether the file is special (a FIFO or device)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError) as e:
        raise InputError(path, None, getattr(e, "strerror", None) or str(e)) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(path, None, "is a directory, not a history file")
    special = _kind(st.st_mode)
    if special and not limits.allow_special:
        raise InputError(path, None, f"is {special}, not a regular file; refusing to read it "
                                     "(it may never end)")
    if not special and limits.max_bytes is not None and st.st_size > limits.max_bytes:
        raise _too_large(path, limits.max_bytes)
    return special is not None


def iter_lines(path: str, limits: Limits = NO_LIMITS):
    """(line number, text, whether a newline ended it) for each line of a regular file,
    streamed: a block of whole lines (about `_CHUNK` bytes) is held at a time. Lines end
    at "\\n" only (a JSON string may hold other line separators). Bytes that are not UTF-8
    are an InputError at their line; the size limit is enforced as the file is read (it
    may grow). Each block is decoded in one call; a block with a bad byte, or one that
    crosses the size limit, is gone through line by line, so errors come in file order
    exactly as if every line were read on its own."""
    max_bytes = limits.max_bytes
    try:
        with open(path, "rb") as f:
            total, lineno, carry = 0, 0, b""
            while True:
                chunk = f.read(_CHUNK)
                if not chunk:
                    break
                data = carry + chunk if carry else chunk
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    carry = data
                    if max_bytes is not None and total + len(carry) > max_bytes:
                        raise _too_large(path, max_bytes)
                    continue
                block, carry = data[:cut], data[cut:]
                if max_bytes is not None and total + len(block) > max_bytes:
                    for row in _block_lines(path, block, lineno, total, max_bytes):
                        yield row
                    raise AssertionError("unreachable: the block crosses the size limit")
                total += len(block)
                try:
                    text = block.decode("utf-8")
                except UnicodeDecodeError:
                    for row in _block_lines(path, block, lineno, total - len(block), max_bytes):
                        yield row
                    raise AssertionError("unreachable: the block has a bad byte") from None
                if lineno == 0 and text.startswith("\ufeff"):
                    text = text[1:]
                lines = text.split("\n")
                lines.pop()                      # the empty text after the last newline
                for line in lines:
                    lineno += 1
                    yield lineno, line, True
            if carry:
                yield from _block_lines(path, carry, lineno, total, max_bytes)
    except OSError as e:
        raise InputError(path, None, e.strerror or str(e)) from None


def _block_lines(path: str, block: bytes, lineno: int, total: int, max_bytes: int | None):
    """The lines of `block` one at a time, as the file's lines after `lineno` (with `total`
    bytes before them): each counted against the size limit and decoded on its own."""
    for raw in _split_nl(block):
        lineno += 1
        total += len(raw)
        if max_bytes is not None and total > max_bytes:
            raise _too_large(path, max_bytes)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(path, lineno, f"not UTF-8 text (byte 0x{raw[e.start]:02x} "
                                           f"at column {e.start + 1})") from None
        if lineno == 1 and line.startswith("\ufeff"):
            line = line[1:]
        terminated = line.endswith("\n")
        yield lineno, line[:-1] if terminated else line, terminated


def _split_nl(block: bytes) -> list[bytes]:
    """Lines ending at b"\\n" only, each with its newline."""
    parts = block.split(b"\n")
    last = parts.pop()
    return [p + b"\n" for p in parts] + ([last] if last else [])


def read_bytes(path: str, limits: Limits = NO_LIMITS, head: int | None = None) -> bytes:
    """The file's bytes, under `limits` (see the module docstring); with `head`, only the
    first `head` bytes (of a FIFO or device: consumed, they cannot be read again)."""
    special = check_file(path, limits)
    try:
        if special:
            return _read_special(path, limits, head)
        with open(path, "rb") as f:
            if head is not None:
                return f.read(head)
            if limits.max_bytes is None and limits.deadline is None:
                return f.read()
            chunks, total = [], 0
            while True:
                chunk = f.read(_CHUNK)
                if not chunk:
                    return b"".join(chunks)
                total += len(chunk)
                if limits.max_bytes is not None and total > limits.max_bytes:
                    raise _too_large(path, limits.max_bytes)   # it grew while we read
                chunks.append(chunk)
                limits.check_time(path)
    except OSError as e:
        raise InputError(path, None, e.strerror or str(e)) from None


def _read_special(path: str, limits: Limits, head: int | None = None) -> bytes:
    """A FIFO or device, opened non-blocking and read with select, so that a writer that
    never comes (or never stops) runs into the deadline instead of hanging the read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        chunks, total = [], 0
        while True:
            timeout = None
            if limits.deadline is not None:
                timeout = limits.deadline - time.monotonic()
                if timeout <= 0:
                    raise ReadTimeLimit(path, limits.time_limit_s)
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise ReadTimeLimit(path, limits.time_limit_s)
            try:
                chunk = os.read(fd, _CHUNK)
            except BlockingIOError:
                continue
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            chunks.append(chunk)
            if head is not None and total >= head:
                return b"".join(chunks)[:head]
            if limits.max_bytes is not None and total > limits.max_bytes:
                raise _too_large(path, limits.max_bytes)
    finally:
        os.close(fd)


def decode(path: str, data: bytes) -> str:
    """UTF-8 text of `data`; bytes that are not UTF-8 are an InputError at their line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputError(path, line, f"not UTF-8 text (byte 0x{data[e.start]:02x} at column "
                                     f"{column})") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def read_text(path: str, limits: Limits = NO_LIMITS) -> str:
    """`read_bytes` then `decode`."""
    return decode(path, read_bytes(path, limits))


def too_deep(value, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` nests lists/dicts more than `limit` levels (iterative: a value deep
    enough to matter would overflow a recursive walk)."""
    if not isinstance(value, (list, dict)):
        return False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (list, dict)):
                stack.append((child, depth + 1))
    return False


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


# JSON as the standard has it: Python's json module also reads NaN and Infinity, and a NaN
# is not equal to itself (a read of NaN after a write of NaN would be a violation).
JSON_DECODER = json.JSONDecoder(parse_constant=_no_constant)

# A \uD800-\uDFFF escape in JSON text: a surrogate, fine in a pair, not a character alone.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def has_lone_surrogate(value) -> bool:
    """Whether a parsed value holds a lone UTF-16 surrogate in a string (JSON can spell
    one; it is not a character, and printing or writing it as UTF-8 fails)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def surrogate_error(path: str, line: int | None) -> InputError:
    return InputError(path, line, "a \\uD800-\\uDFFF escape that is not half of a pair: "
                                  "not a character")


def depth_error(path: str, line: int | None) -> InputError:
    return InputError(path, line, f"value nested more than {MAX_DEPTH} levels deep")
