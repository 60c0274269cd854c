"""A small EDN reader: enough of EDN for Jepsen, Knossos and Elle histories.

Maps, vectors, lists, sets, strings, keywords (read as plain strings without the colon,
the elle-cli JSON convention), integers, floats, nil/true/false, symbols (as strings),
comments, `#_` discards and tagged literals (the tag is dropped: `#jepsen.history.Op{...}`
reads as its map). Errors carry the line number.
"""

from __future__ import annotations

import re

from ..errors import InputError

_TOKEN = re.compile(r"""
    (?P<ws>[\s,]+|;[^\n]*)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<open>\#\{|[\[\({])
  | (?P<close>[\]\)}])
  | (?P<discard>\#_)
  | (?P<tag>\#[A-Za-z][\w.\-/]*)
  | (?P<char>\\(?:newline|space|tab|return|.))
  | (?P<atom>[^\s,;"\[\](){}]+)
""", re.X)

_INT = re.compile(r"[+-]?\d+N?$")
_FLOAT = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f"}
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r"}


class EDNError(Exception):
    def __init__(self, line: int, what: str):
        super().__init__(what)
        self.line, self.what = line, what


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
        return int(text.rstrip("N"))
    if _FLOAT.match(text):
        return float(text.rstrip("M"))
    return text  # a symbol


def _string(text: str) -> str:
    body = text[1:-1]
    if "\\" not in body:
        return body
    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)",
                  lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "u" and len(m.group(1)) == 5
                  else _ESCAPES.get(m.group(1), m.group(1)), body)


def read_all(text: str) -> list[tuple[int, object]]:
    """All top-level forms in `text`, each with the line it starts on."""
    forms: list[tuple[int, object]] = []
    stack: list[tuple[str, list, int]] = []  # (closing char, items, start line)
    line = 1
    discard_depth: list[int] = []            # stack depths at which the next form is dropped
    pos, n = 0, len(text)

    def emit(value, start_line):
        if discard_depth and discard_depth[-1] == len(stack):
            discard_depth.pop()
            return
        if stack:
            stack[-1][1].append(value)
        else:
            forms.append((start_line, value))

    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise EDNError(line, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup
        tok = m.group(kind)
        pos = m.end()
        if kind == "ws":
            line += tok.count("\n")
            continue
        if kind == "str":
            emit(_string(tok), line)
            line += tok.count("\n")
        elif kind == "open":
            closer = {"[": "]", "(": ")", "{": "}", "#{": "}"}[tok]
            stack.append((closer if tok != "#{" else "}#", [], line))
        elif kind == "close":
            if not stack:
                raise EDNError(line, f"unmatched {tok!r}")
            closer, items, start = stack.pop()
            if closer[0] != tok:
                raise EDNError(line, f"expected {closer[0]!r} to close the form from line {start}, got {tok!r}")
            if closer == "}":
                if len(items) % 2:
                    raise EDNError(start, "map with an odd number of forms")
                value = {_key(items[i]): items[i + 1] for i in range(0, len(items), 2)}
            elif closer == "}#":
                value = items  # sets read as lists: order does not matter to checkers
            else:
                value = items
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


def _key(k):
    if isinstance(k, list):
        return tuple(k)
    return k


def read_file_forms(path: str) -> list[tuple[int, object]]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise InputError(path, None, e.strerror or str(e)) from None
    try:
        return read_all(text)
    except EDNError as e:
        raise InputError(path, e.line, f"EDN: {e.what}") from None
