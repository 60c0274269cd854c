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
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

DEFAULT_STORE = "store"


def new_run_dir(base: str, test_name: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime())
    stamp += f".{int(time.time() * 1000) % 1000:03d}"
    run_dir = Path(base) / test_name / stamp
    run_dir.mkdir(parents=True, exist_ok=False)
    _relink(Path(base) / test_name / "latest", stamp)
    _relink(Path(base) / "latest", os.path.join(test_name, stamp))
    return run_dir


def _relink(link: Path, target: str) -> None:
    tmp = link.with_name(link.name + ".tmp")
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)
    except OSError:
        pass  # a store on a file system without symlinks still works, just without `latest`


def write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, default=str)
        f.write("\n")
    os.replace(tmp, path)
