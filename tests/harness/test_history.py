import json

import pytest

from harness.errors import InputError
from harness.history import HistoryWriter, pair_ops, read_history


def test_writer_assigns_indices_and_flushes_each_event(tmp_path):
    path = tmp_path / "history.jsonl"
    w = HistoryWriter(str(path))
    w.append({"type": "invoke", "process": 0, "f": "read", "value": None, "time": 1})
    # Visible to a reader before close: flushed per event.
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["index"] == 0
    w.append({"type": "ok", "process": 0, "f": "read", "value": 3, "time": 2})
    w.close()
    ops = read_history(str(path))
    assert [op["index"] for op in ops] == [0, 1]
    assert ops[1]["value"] == 3


def test_torn_last_line_is_ignored(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"index":0,"type":"invoke","process":0,"f":"read","value":null,"time":1}\n'
                    '{"index":1,"type":"ok","proc')
    assert len(read_history(str(path))) == 1


def test_malformed_line_in_the_middle_names_file_and_line(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"index":0,"type":"invoke","process":0,"f":"read","value":null}\n'
                    'garbage\n'
                    '{"index":2,"type":"ok","process":0,"f":"read","value":null}\n')
    with pytest.raises(InputError) as e:
        read_history(str(path))
    assert f"{path}:2" in str(e.value)


def test_missing_type_is_reported_with_its_line(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"index":0,"process":0,"f":"read"}\n')
    with pytest.raises(InputError, match=r":1: field `type`"):
        read_history(str(path))


def test_pair_ops_matches_by_process_and_leaves_open_invokes_unmatched():
    h = [
        {"index": 0, "type": "invoke", "process": 0, "f": "write", "value": 1},
        {"index": 1, "type": "invoke", "process": 1, "f": "read", "value": None},
        {"index": 2, "type": "ok", "process": 1, "f": "read", "value": 1},
        {"index": 3, "type": "info", "process": "nemesis", "f": "partition", "value": {}},
    ]
    pairs = pair_ops(h)
    assert pairs[0][1] is None
    assert pairs[1][1]["index"] == 2
    assert len(pairs) == 2


def test_the_writer_keeps_only_a_bounded_recent_view_and_reads_back_everything(tmp_path):
    from harness.history import HistoryWriter
    w = HistoryWriter(str(tmp_path / "h.jsonl"), keep_recent=5)
    for i in range(20):
        w.append({"type": "invoke", "process": 0, "f": "read", "value": i})
    w.close()
    assert [op["value"] for op in w.recent()] == [15, 16, 17, 18, 19]
    assert [op["index"] for op in w.read_back()] == list(range(20))
    assert w.count == 20


def test_a_full_disk_stops_recording_with_what_is_on_disk(tmp_path):
    import errno

    import pytest

    from harness.history import HistoryWriteError, HistoryWriter
    w = HistoryWriter(str(tmp_path / "h.jsonl"))
    w.append({"type": "invoke", "process": 0, "f": "read", "value": None})

    class FullFile:
        closed = False

        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

        def fileno(self):
            return 0

        def close(self):
            self.closed = True

    w._file.close()
    w._file = FullFile()
    with pytest.raises(HistoryWriteError, match="no space left on the device.*first 1 events"):
        w.append({"type": "ok", "process": 0, "f": "read", "value": 1})
    with pytest.raises(HistoryWriteError):
        w.append({"type": "invoke", "process": 1, "f": "read", "value": None})


def test_bytes_that_are_not_utf8_are_an_input_error_not_a_decode_error(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_bytes(b'{"index":0,"type":"invoke","process":0,"f":"read","value":null}\n'
                     b'{"index":1,"type":"ok","process":0,"f":"read","value":"\xc3"}\n')
    with pytest.raises(InputError, match=r"h.jsonl:2: not UTF-8"):
        read_history(str(path))


def test_indexes_are_validated_and_absent_ones_numbered_in_file_order(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"type":"invoke","process":0,"f":"read","value":null}\n'
                    '{"type":"ok","process":0,"f":"read","value":null}\n')
    assert [op["index"] for op in read_history(str(path))] == [0, 1]
    path.write_text('{"index":5,"type":"invoke","process":0,"f":"read","value":null}\n'
                    '{"index":5,"type":"ok","process":0,"f":"read","value":null}\n')
    with pytest.raises(InputError, match=r"h.jsonl:2: index 5 does not follow index 5"):
        read_history(str(path))


def test_parse_lines_reports_line_numbers_and_validates_index_type():
    from harness.history import parse_lines
    lines = ['\n', '{"index":0,"type":"invoke","process":0,"f":"read"}\n']
    numbers = []
    assert len(list(parse_lines(lines, "h", line_numbers=numbers))) == 1 and numbers == [2]
    with pytest.raises(InputError, match=r"h:1: field `index` must be a non-negative integer"):
        list(parse_lines(['{"index":"x","type":"invoke","process":0,"f":"read"}\n'], "h"))


def test_an_interrupt_between_the_write_and_the_bookkeeping_never_reuses_an_index(tmp_path):
    """SIGTERM raises in the main thread between any two bytecodes: here right after a
    line is written. The next event must not get the same index (it did: the history
    could not be read back)."""
    w = HistoryWriter(str(tmp_path / "h.jsonl"))
    w.append({"type": "invoke", "process": 0, "f": "read", "value": None, "time": 1})
    real_flush = w._file.flush

    def interrupted_flush():
        real_flush()
        raise KeyboardInterrupt
    w._file.flush = interrupted_flush
    with pytest.raises(KeyboardInterrupt):
        w.append({"type": "ok", "process": 0, "f": "read", "value": 1, "time": 2})
    w._file.flush = real_flush
    w.append({"type": "info", "process": "nemesis", "f": "partition", "value": {}, "time": 3})
    w.close()
    ops = read_history(str(tmp_path / "h.jsonl"))
    assert [op["index"] for op in ops] == [0, 1, 2]
