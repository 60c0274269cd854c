"""The fast history.jsonl reader gives what the line-at-a-time standard reader gave:
the same lines (block boundaries anywhere), the same values (msgspec, with the standard
decoder behind it) and the same errors at the same lines."""

from __future__ import annotations

import json
import random

import pytest

from harness.errors import InputError
from harness.formats import reading
from harness.history import fast_json_loads, read_history_with_lines


def naive_lines(data: bytes):
    """What iter_lines yielded before blocks: each line decoded on its own."""
    out = []
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        if lineno == len(data.split(b"\n")) and raw == b"":
            break
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            out.append(("error", lineno, f"byte 0x{raw[e.start]:02x} at column {e.start + 1}"))
            return out
        if lineno == 1 and line.startswith("\ufeff"):
            line = line[1:]
        terminated = lineno < len(data.split(b"\n"))
        out.append((lineno, line, terminated))
    return out


def fast_lines(path):
    out = []
    try:
        for row in reading.iter_lines(str(path)):
            out.append(row)
    except InputError as e:
        out.append(("error", e.line, str(e).split("(", 1)[1].rstrip(")")))
    return out


PIECES = [b'{"a":1}', b"", b"  ", b"\r", b"\xef\xbb\xbf", "é€😀".encode(), b"\xff", b"\xe2\x82",
          b'{"b":"x\\u00e9"}', b"\t", b"x" * 30]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
def test_lines_are_the_same_whatever_the_block_boundaries(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(reading, "_CHUNK", chunk)
    rng = random.Random(chunk)
    for case in range(150):
        pieces = [rng.choice(PIECES[:-3] if rng.random() < 0.7 else PIECES)
                  for _ in range(rng.randint(0, 8))]
        data = b"\n".join(pieces) + (b"\n" if rng.random() < 0.5 else b"")
        path = tmp_path / f"h{case}.jsonl"
        path.write_bytes(data)
        assert fast_lines(path) == naive_lines(data), (case, data)


def test_the_size_limit_is_met_at_the_same_line_as_before(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "_CHUNK", 16)
    path = tmp_path / "h.jsonl"
    path.write_bytes(b"\n".join([b'{"a":%d}' % i for i in range(20)]) + b"\n")
    limits = reading.Limits(max_bytes=50)
    seen = []
    with pytest.raises(InputError, match="larger than the limit"):
        for row in reading.iter_lines(str(path), limits):
            seen.append(row[0])
    # Lines 1-10 are 8 bytes each: lines 1-6 (48 bytes) fit, line 7 crosses 50.
    assert seen == [1, 2, 3, 4, 5, 6]


VALUES = ['{"x":123456789012345678901234567890}', '{"x":-9223372036854775809}',
          '{"x":1.0}', '{"x":1}', '{"x":-0.0}', '{"x":1e400}', '{"x":"\\ud800"}',
          '{"x":"\\ud83d\\ude00"}', '{"x":[true,false,null]}', '{"x":{"a":1,"a":2}}',
          '{"x":0.1}', '{"x":5e-324}', '{"x":"\\u0000"}']


@pytest.mark.parametrize("text", VALUES)
def test_values_are_those_of_the_standard_decoder(text):
    expected = reading.JSON_DECODER.decode(text)
    got = fast_json_loads(text)
    assert json.dumps(got) == json.dumps(expected)
    assert type(got["x"]) is type(expected["x"])


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", "{'a':1}", "[1,]", '"a\tb"', "01"])
def test_what_the_standard_refuses_is_refused_with_its_message(text):
    with pytest.raises(ValueError) as standard:
        reading.JSON_DECODER.decode(text)
    with pytest.raises(ValueError) as fast:
        fast_json_loads(text)
    assert str(fast.value) == str(standard.value)


def test_a_history_reads_the_same_with_and_without_msgspec(tmp_path, monkeypatch):
    import harness.history as history
    rng = random.Random(5)
    lines = []
    for i in range(300):
        op = {"index": i, "type": rng.choice(["invoke", "ok", "fail", "info"]),
              "process": rng.choice([0, 1, "nemesis"]), "f": "txn",
              "value": [["append", rng.randint(0, 3), rng.choice([1, 1.5, 2**70, "s"])]],
              "time": i * 10}
        lines.append(json.dumps(op))
        if rng.random() < 0.1:
            lines.append("")
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join(lines) + "\n")
    fast = read_history_with_lines(str(path))
    monkeypatch.setattr(history, "_FAST_DECODE", None)
    slow = read_history_with_lines(str(path))
    assert json.dumps(fast) == json.dumps(slow)


def test_a_json_array_read_by_lines_is_what_the_scanner_reads():
    from harness.formats import NO_LIMITS, _json_array, _json_array_by_lines
    rng = random.Random(11)
    elements = ['{"type":"ok","process":1,"f":"r","value":[1]}', '{"a":"]"}', '{"b":[{}]}',
                '{"c":","}', "[1]", "3", '{"x":1', '"s"}', '{"d":1e400}', '{"e":"\\ud800"}',
                '{"f":123456789012345678901234567890}', "{}"]
    seps = [",\n", ",", "\n,", ", \n", ",\n\n", "\n", ",\r\n", ",,\n"]
    fast_used = 0
    for case in range(4000):
        chosen = [rng.choice(elements[:1] * 6 + elements) for _ in range(rng.randint(0, 4))]
        body = ""
        for i, e in enumerate(chosen):
            body += e + (rng.choice(seps) if i < len(chosen) - 1 else "")
        text = rng.choice(["[", "[\n", " [ ", "\n["]) + body + \
            rng.choice(["]", "\n]", "]\n", " ]\n\n", "", "]x", ",]", "}]"])
        start = len(text) - len(text.lstrip(" \t\n\r"))
        fast = _json_array_by_lines(text, start, "p", NO_LIMITS)
        try:
            slow = _json_array(text, start, "p", NO_LIMITS)
        except InputError:
            slow = "error"
        if fast is not None:
            fast_used += 1
            assert slow != "error", text
            assert json.dumps(fast) == json.dumps(slow), text
    assert fast_used > 500
