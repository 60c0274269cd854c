"""The store: one folder per run, laid out so people can grep it by hand.

    store/<test-name>/<timestamp>/
        test.json        the whole configuration, seed included
        history.jsonl    every op, flushed per event
        harness.log      the harness's own log
        nodes/<node>/    logs collected from each node
        results.json     the checkers' verdicts
        report.html      the self-contained report
        junit.xml        one test case per checker, for CI systems
    store/<test-name>/latest -> <timestamp>
    store/latest -> <test-name>/<timestamp>

Errors: a store path that cannot be a folder (it is a file) is the user's to fix (exit 4,
UsageError); a store that cannot be written (read-only, full, permissions) is a
`StoreError` (exit 3) naming the path and the reason. Run folders never collide: two runs
of one test in the same millisecond get distinct folders (a suffix -2, -3, ...).
"""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

from .errors import HarnessError, UsageError

DEFAULT_STORE = "store"


class StoreError(HarnessError):
    """The store cannot be written (exit 3): read-only, full, or not permitted."""


def describe_os_error(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "no space left on the device"
    if e.errno == errno.EROFS:
        return "the file system is read-only"
    if e.errno == errno.EDQUOT:
        return "the disk quota is exceeded"
    return e.strerror or str(e)


def new_run_dir(base: str, test_name: str) -> Path:
    base_path = Path(base)
    for parent in [base_path, *base_path.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"--store {base}: {parent} is a file, not a folder")
            break
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime())
    stamp += f".{int(time.time() * 1000) % 1000:03d}"
    try:
        (base_path / test_name).mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 1000):
            name = stamp if attempt == 1 else f"{stamp}-{attempt}"
            run_dir = base_path / test_name / name
            try:
                run_dir.mkdir()
                break
            except FileExistsError:
                continue
        else:
            raise StoreError(f"--store {base}: no free run folder name for {stamp}")
    except NotADirectoryError:
        raise UsageError(f"--store {base}: a part of the path is a file, not a folder") from None
    except OSError as e:
        raise StoreError(f"cannot create a run folder in the store {base}: "
                         f"{describe_os_error(e)}") from None
    _relink(base_path / test_name / "latest", run_dir.name)
    _relink(base_path / "latest", os.path.join(test_name, run_dir.name))
    return run_dir


def _relink(link: Path, target: str) -> None:
    tmp = link.with_name(f"{link.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)
    except OSError:
        pass  # a store on a file system without symlinks still works, just without `latest`


def write_json(path: Path, data) -> None:
    """Write `data` atomically (a reader never sees half a file); StoreError if the
    store refuses it."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise StoreError(f"cannot write {path}: {describe_os_error(e)}") from None
