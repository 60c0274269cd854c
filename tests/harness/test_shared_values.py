"""Loading a history.jsonl shares equal strings and integers between ops (issue 16,
item 4: memory), without changing any value."""

from __future__ import annotations

import json

from harness.formats import load


def test_equal_strings_and_ints_are_one_object_and_values_are_unchanged(tmp_path, monkeypatch):
    from harness import history
    monkeypatch.setattr(history, "SHARE_FROM_LINE", 0)
    ops = [{"index": 0, "type": "invoke", "process": 0, "f": "txn",
            "value": [["append", 12345, 1], ["r", "key-1", None]], "time": 1},
           {"index": 1, "type": "invoke", "process": 1, "f": "txn",
            "value": [["append", 12345, 2], ["r", "key-1", None], [True, 1, 1.0]], "time": 2},
           {"index": 2, "type": "invoke", "process": 2, "f": "write", "value": 7, "time": 3}]
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(op) + "\n" for op in ops))
    loaded = load(str(path)).ops
    assert loaded == ops
    a, b = loaded[0]["value"], loaded[1]["value"]
    assert a[0][0] is b[0][0] and a[0][1] is b[0][1] and a[1][1] is b[1][1]
    assert loaded[0]["type"] is loaded[2]["type"] and loaded[0]["f"] is loaded[1]["f"]
    # true is not 1 (they hash alike): it stays a bool, and 1 stays an int.
    assert b[2][0] is True and type(b[2][1]) is int and type(b[2][2]) is float


def test_ops_before_the_sharing_line_are_read_as_decoded(tmp_path, monkeypatch):
    from harness import history
    monkeypatch.setattr(history, "SHARE_FROM_LINE", 1)
    ops = [{"index": i, "type": "ok", "process": 0, "f": "txn",
            "value": [["append", 100000, i]], "time": i} for i in range(3)]
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(op) + "\n" for op in ops))
    loaded = load(str(path)).ops
    assert loaded == ops
    first, second, third = (op["value"][0][1] for op in loaded)
    assert second is third and first is not second
