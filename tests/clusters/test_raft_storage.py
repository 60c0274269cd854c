"""The Raft core's storage (clusters/raft/raftcore.py Storage): what the safe mode makes
durable, and what the unsafe no-fsync mode does instead (writes at once, never fsyncs)."""

from __future__ import annotations

import os

import pytest

from clusters.raft.raftcore import Storage


@pytest.fixture
def fsyncs(monkeypatch):
    """Every fsync call, as the kind of file it was on ('dir' or the file's name)."""
    calls = []
    real = os.fsync

    def spy(fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        calls.append("dir" if os.path.isdir(path) else os.path.basename(path))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return calls


def test_the_safe_mode_fsyncs_log_meta_and_the_new_names(tmp_path, fsyncs):
    storage = Storage(str(tmp_path / "data"))
    assert fsyncs == ["dir"]              # the parent: the data directory's own name
    storage.load()
    assert fsyncs == ["dir", "dir"]       # the new log file's name
    storage.append([(1, {"op": "put"})])
    storage.save_meta(1, "n1")
    assert fsyncs == ["dir", "dir", "log.jsonl", "meta.json.tmp", "dir"]


def test_no_fsync_writes_everything_at_once_and_never_fsyncs(tmp_path, fsyncs):
    storage = Storage(str(tmp_path), fsync=False)
    storage.load()
    storage.append([(1, {"op": "put"})])
    storage.save_meta(2, "n3")
    storage.rewrite([(1, {"op": "put"}), (2, {"op": "cas"})])
    assert fsyncs == []
    # what a crash of the process leaves: every write is in the files already
    term, voted_for, entries = Storage(str(tmp_path), fsync=False).load()
    assert (term, voted_for, [tuple(e) for e in entries]) == \
        (2, "n3", [(1, {"op": "put"}), (2, {"op": "cas"})])


def test_a_failed_write_stops_the_process_instead_of_carrying_on(tmp_path, monkeypatch):
    import errno

    storage = Storage(str(tmp_path))
    storage.load()

    def eio(fd):
        raise OSError(errno.EIO, "Input/output error")

    def exit_(code):
        raise SystemExit(code)

    monkeypatch.setattr(os, "fsync", eio)
    monkeypatch.setattr(os, "_exit", exit_)
    with pytest.raises(SystemExit) as stopped:
        storage.append([(1, {"op": "put"})])
    assert stopped.value.code == 70
