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


# ---------------------------------------------------------------- group commit

def _lines(path) -> int:
    with open(path, "rb") as f:
        return f.read().count(b"\n")


def test_group_commit_writes_a_group_at_once_and_the_rest_when_the_block_ends(tmp_path):
    path = tmp_path / "h.jsonl"
    w = HistoryWriter(str(path))
    with w.group_commit(max_events=4, max_delay_s=3600):
        for i in range(6):
            w.append({"type": "invoke", "process": i, "f": "read", "value": None})
        assert _lines(path) == 4          # one group written; two events queued
        w.flush()
        assert _lines(path) == 6
        w.append({"type": "invoke", "process": 9, "f": "read", "value": None})
        assert _lines(path) == 6
    assert _lines(path) == 7              # the end of the block writes what is queued
    w.append({"type": "invoke", "process": 10, "f": "read", "value": None})
    assert _lines(path) == 8              # per event again after it
    w.close()
    assert [op["index"] for op in read_history(str(path))] == list(range(8))


def test_group_commit_writes_what_has_waited_longer_than_its_delay(tmp_path):
    import time
    path = tmp_path / "h.jsonl"
    w = HistoryWriter(str(path))
    with w.group_commit(max_events=1000, max_delay_s=0.05):
        w.append({"type": "invoke", "process": 0, "f": "read", "value": None})
        w.append({"type": "invoke", "process": 1, "f": "read", "value": None})
        assert _lines(path) == 0
        time.sleep(0.06)
        w.append({"type": "invoke", "process": 2, "f": "read", "value": None})
        assert _lines(path) == 3
    w.close()


def test_group_commit_fsyncs_off_the_recording_thread_and_stops_its_thread(tmp_path):
    import threading
    w = HistoryWriter(str(tmp_path / "h.jsonl"), fsync_every=4)
    with w.group_commit(max_events=2, max_delay_s=3600):
        assert any(t.name == "history-fsync" for t in threading.enumerate())
        for i in range(20):
            w.append({"type": "invoke", "process": i, "f": "read", "value": None})
    assert not any(t.name == "history-fsync" for t in threading.enumerate())
    w.close()


def test_a_kill_9_loses_at_most_the_queued_group(tmp_path):
    """The child records 100 events in groups of 16 and is killed with SIGKILL: the file
    holds the 96 written ones, a readable prefix; the 4 queued ones are the loss."""
    import signal
    import subprocess
    import sys
    path = tmp_path / "h.jsonl"
    child = subprocess.Popen([sys.executable, "-c", f"""
import sys, time
from harness.history import HistoryWriter
w = HistoryWriter({str(path)!r})
with w.group_commit(max_events=16, max_delay_s=3600):
    for i in range(100):
        w.append({{"type": "invoke", "process": i, "f": "read", "value": None}})
    print("recorded", flush=True)
    time.sleep(60)
"""], stdout=subprocess.PIPE, text=True, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    try:
        assert child.stdout.readline().strip() == "recorded"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    ops = read_history(str(path))
    assert [op["index"] for op in ops] == list(range(96))


def test_a_full_disk_in_group_commit_stops_recording_with_what_is_on_disk(tmp_path):
    import errno
    from harness.history import HistoryWriteError
    w = HistoryWriter(str(tmp_path / "h.jsonl"))
    real = w._file
    with pytest.raises(HistoryWriteError, match="first 2 events"):
        with w.group_commit(max_events=2, max_delay_s=3600):
            for i in range(2):
                w.append({"type": "invoke", "process": i, "f": "read", "value": None})

            def full(data):
                raise OSError(errno.ENOSPC, "No space left on device")
            real.write = full
            w.append({"type": "invoke", "process": 2, "f": "read", "value": None})
            w.append({"type": "invoke", "process": 3, "f": "read", "value": None})
    with pytest.raises(HistoryWriteError):
        w.append({"type": "invoke", "process": 4, "f": "read", "value": None})
    w.close()
    assert [op["index"] for op in read_history(str(tmp_path / "h.jsonl"))] == [0, 1]


def test_values_json_lacks_are_written_as_before_or_as_json_can_hold_them(tmp_path):
    class Opaque:
        def __str__(self):
            return "opaque!"
    w = HistoryWriter(str(tmp_path / "h.jsonl"))
    w.append({"type": "ok", "process": 0, "f": "read", "value": Opaque()})
    w.append({"type": "ok", "process": 0, "f": "read", "value": float("nan")})
    w.append({"type": "ok", "process": 0, "f": "read", "value": (1, 2)})
    w.append({"type": "ok", "process": 0, "f": "read", "value": 2 ** 70, "node": "é"})
    w.close()
    ops = read_history(str(tmp_path / "h.jsonl"))
    assert [op["value"] for op in ops] == ["opaque!", None, [1, 2], 2 ** 70]
    assert ops[3]["node"] == "é"
    first = (tmp_path / "h.jsonl").read_text().splitlines()[0]
    assert first == '{"index":0,"type":"ok","process":0,"f":"read","value":"opaque!"}'


def test_closing_during_group_commit_writes_what_is_queued_and_stops_the_fsync_thread(tmp_path):
    """The run's watchdog closes the history from its own thread while the interpreter
    may still be recording."""
    import threading
    path = tmp_path / "h.jsonl"
    w = HistoryWriter(str(path))
    with w.group_commit(max_events=100, max_delay_s=3600):
        for i in range(5):
            w.append({"type": "invoke", "process": i, "f": "read", "value": None})
        closer = threading.Thread(target=w.close)
        closer.start()
        closer.join()
        assert not any(t.name == "history-fsync" for t in threading.enumerate())
        w.flush()                       # nothing to do on a closed history
    assert [op["index"] for op in read_history(str(path))] == list(range(5))


def test_an_interruption_ending_group_commit_is_not_replaced_by_a_write_failure(tmp_path):
    import errno
    from harness.history import HistoryWriteError
    w = HistoryWriter(str(tmp_path / "h.jsonl"))
    with pytest.raises(KeyboardInterrupt):
        with w.group_commit(max_events=100, max_delay_s=3600):
            w.append({"type": "invoke", "process": 0, "f": "read", "value": None})

            def full(data):
                raise OSError(errno.ENOSPC, "No space left on device")
            w._file.write = full
            raise KeyboardInterrupt
    with pytest.raises(HistoryWriteError, match="first 0 events"):
        w.append({"type": "invoke", "process": 1, "f": "read", "value": None})
    w.close()
