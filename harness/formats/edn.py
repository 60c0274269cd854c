"""A small EDN reader: enough of EDN for Jepsen, Knossos and Elle histories.

Maps, vectors, lists, sets, strings, keywords (read as plain strings without the colon,
the elle-cli JSON convention), integers, floats, nil/true/false, symbols (as strings),
comments, `#_` discards and tagged literals (the tag is dropped: `#jepsen.history.Op{...}`
reads as its map). Errors carry the line number.

Built for hostile input: the reader keeps its own stack (no recursion) and refuses forms
nested deeper than `max_depth`; its token patterns never backtrack (possessive
quantifiers), so a 20 MB string costs about 20 MB; an integer too long for Python's
int() conversion limit is an error, not a crash; a caller-supplied `check_time` is called
every few thousand tokens so a deadline bounds reading.
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple

from ..errors import InputError
from .reading import CHECK_EVERY, MAX_DEPTH, NO_LIMITS, Limits, depth_error, read_text

_TOKEN = re.compile(r"""
    (?P<ws>[\s,]++|;[^\n]*+)
  | (?P<str>"[^"\\]*+(?:\\.[^"\\]*+)*+")
  | (?P<open>\#\{|[\[\({])
  | (?P<close>[\]\)}])
  | (?P<discard>\#_)
  | (?P<tag>\#[A-Za-z][\w.\-/]*+)
  | (?P<char>\\(?:newline|space|tab|return|.))
  | (?P<atom>[^\s,;"\[\](){}]++)
""", re.X | re.S)

_INT = re.compile(r"[+-]?\d++N?$")
_FLOAT = re.compile(r"[+-]?\d++(?:\.\d*+)?(?:[eE][+-]?\d++)?M?$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f"}
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r"}
_SURROGATE = re.compile("[\ud800-\udfff]")
_CLOSERS = {"[": "]", "(": ")", "{": "}", "#{": "}#"}
# Python refuses int() of longer digit strings (sys.get_int_max_str_digits); so do we.
_MAX_INT_DIGITS = 4000


# The op maps of Jepsen and Knossos histories are nearly all flat, on one line:
# {:process 7, :type :invoke, :f :cas, :value [2 3]}. Such a map is matched whole and
# read by a small loop instead of token by token through the stack (3x faster on the
# Knossos corpus, where reading took 10x longer than checking). Only keyword keys; values
# nil, true, false, keywords, integers of up to 18 digits, strings without escapes, and
# vectors of such integers; entries apart by whitespace or commas (no newline). Anything
# else fails the match and is read the general way, so values and errors are unchanged.
_SEP = r"[ ,\t]"
_FAST_INT = r"-?\d{1,18}+"
_FAST_VALUE = (r'(?:nil|true|false|:[\w\-]++|' + _FAST_INT + r'|"[^"\\\n]*+"|\[' + _SEP
               + r"*+(?:" + _FAST_INT + r"(?:" + _SEP + r"++" + _FAST_INT + r")*+)?" + _SEP
               + r"*+\])")
_FAST_ENTRY = r":[\w\-]++" + _SEP + r"++" + _FAST_VALUE
_FAST_MAP = re.compile(r"\{" + _SEP + r"*+(?:" + _FAST_ENTRY + r"(?:" + _SEP + r"++"
                       + _FAST_ENTRY + r")*+)?" + _SEP + r"*+\}")
_FAST_TOKEN = re.compile(r'"([^"\\\n]*+)"|(\[)|(\])|([^ ,\t\[\]{}"]++)')
FAST_MAPS = True      # tests turn it off to compare


def _fast_map(text: str, start: int, end: int, line: int) -> dict:
    """The value of a map `_FAST_MAP` matched at text[start:end] (same as the stack's)."""
    items: list = []
    vector: list | None = None
    for m in _FAST_TOKEN.finditer(text, start + 1, end - 1):
        string, opened, closed, atom = m.groups()
        if opened:
            vector = []
        elif closed:
            items.append(vector)
            vector = None
        else:
            value = string if string is not None else _atom(atom, line)
            (items if vector is None else vector).append(value)
    return {items[i]: items[i + 1] for i in range(0, len(items), 2)}


class EDNError(Exception):
    def __init__(self, line: int, what: str):
        super().__init__(what)
        self.line, self.what = line, what


class Form(NamedTuple):
    """A top-level form: the line it starts on, its value, and for a vector or list the
    line each of its elements starts on (what op lines are made of)."""

    line: int
    value: object
    item_lines: list[int] | None


def _atom(text: str, line: int):
    if text == "nil":
        return None
    if text == "true":
        return True
    if text == "false":
        return False
    if text[0] == ":":
        return text[1:]
    if _INT.match(text):
        if len(text) > _MAX_INT_DIGITS:
            raise EDNError(line, f"integer of {len(text)} digits is too long")
        return int(text.rstrip("N"))
    if _FLOAT.match(text):
        return float(text.rstrip("M"))
    return text  # a symbol


def _string(text: str, line: int) -> str:
    body = text[1:-1]
    if "\\" not in body:
        return body
    value = re.sub(r"\\(u[0-9a-fA-F]{4}|.)",
                   lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "u" and len(m.group(1)) == 5
                   else _ESCAPES.get(m.group(1), m.group(1)), body, flags=re.S)
    if _SURROGATE.search(value):
        # \uD83D\uDE00 is one character written as a UTF-16 pair: join pairs; a lone half
        # is not a character.
        try:
            value = value.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            raise EDNError(line, "a \\uD800-\\uDFFF escape that is not half of a pair") from None
    return value


def read_all(text: str, *, max_depth: int = MAX_DEPTH,
             check_time: Callable[[], None] | None = None) -> list[tuple[int, object]]:
    """All top-level forms in `text`, each with the line it starts on."""
    return [(form.line, form.value) for form in read_forms(text, max_depth=max_depth,
                                                           check_time=check_time)]


def read_forms(text: str, *, max_depth: int = MAX_DEPTH,
               check_time: Callable[[], None] | None = None) -> list[Form]:
    """All top-level forms in `text` (see `Form`).

    Raises EDNError (with a line) for malformed text and for nesting deeper than
    `max_depth`; whatever `check_time` raises propagates.
    """
    forms: list[Form] = []
    # Frames: (closing token, items, start line, item start lines or None).
    stack: list[tuple[str, list, int, list | None]] = []
    line = 1
    discard_depth: list[int] = []            # stack depths at which the next form is dropped
    pos, n = 0, len(text)
    tokens = 0
    match = _TOKEN.match

    def emit(value, start_line):
        if discard_depth and discard_depth[-1] == len(stack):
            discard_depth.pop()
            return
        if stack:
            frame = stack[-1]
            frame[1].append(value)
            if frame[3] is not None:
                frame[3].append(start_line)
        else:
            forms.append(Form(start_line, value,
                              item_lines if isinstance(value, list) else None))

    item_lines: list[int] | None = None
    while pos < n:
        m = match(text, pos)
        if m is None:
            raise EDNError(line, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup
        tok = m.group(kind)
        pos = m.end()
        tokens += 1
        if check_time is not None and tokens % CHECK_EVERY == 0:
            check_time()
        if kind == "ws":
            line += tok.count("\n")
            continue
        if kind == "str":
            emit(_string(tok, line), line)
            line += tok.count("\n")
        elif kind == "open":
            if tok == "{" and FAST_MAPS and len(stack) + 2 <= max_depth:
                fast = _FAST_MAP.match(text, m.start())
                if fast is not None:
                    pos = fast.end()
                    emit(_fast_map(text, m.start(), pos, line), line)
                    continue
            if len(stack) >= max_depth:
                raise EDNError(line, f"forms nested more than {max_depth} levels deep")
            # Element lines are kept for the top-level form only (the ops of a vector).
            stack.append((_CLOSERS[tok], [], line, [] if not stack else None))
        elif kind == "close":
            if not stack:
                raise EDNError(line, f"unmatched {tok!r}")
            closer, items, start, lines = stack.pop()
            if closer[0] != tok:
                raise EDNError(line, f"expected {closer[0]!r} to close the form from line {start}, got {tok!r}")
            if closer == "}":
                if len(items) % 2:
                    raise EDNError(start, "map with an odd number of forms")
                value = {_key(items[i], start): items[i + 1] for i in range(0, len(items), 2)}
            else:
                value = items  # sets read as lists: order does not matter to checkers
            item_lines = lines
            emit(value, start)
        elif kind == "discard":
            discard_depth.append(len(stack))
        elif kind == "tag":
            continue  # the tagged value follows and is read as itself
        elif kind == "char":
            c = tok[1:]
            emit(_CHARS.get(c, c), line)
        else:
            emit(_atom(tok, line), line)
    if stack:
        raise EDNError(stack[-1][2], "form not closed before end of file")
    return forms


def _key(k, line: int):
    """A map key as a hashable value: a vector key becomes a tuple; a map or a vector
    holding maps or vectors cannot be a key of a Python dict and is an error."""
    if isinstance(k, list):
        k = tuple(k)
    try:
        hash(k)
    except TypeError:
        raise EDNError(line, "a map key must be a scalar or a vector of scalars") from None
    return k


def read_file_forms(path: str, limits: Limits = NO_LIMITS) -> list[Form]:
    """The forms of an EDN file (see `Form`); every problem an InputError at path:line."""
    return read_text_forms(read_text(path, limits), path, limits)


def read_text_forms(text: str, path: str, limits: Limits = NO_LIMITS) -> list[Form]:
    """The forms of `text`, read from `path`; every problem an InputError at path:line."""
    try:
        return read_forms(text, check_time=lambda: limits.check_time(path))
    except EDNError as e:
        if "nested more than" in e.what:
            raise depth_error(path, e.line) from None
        raise InputError(path, e.line, f"EDN: {e.what}") from None
