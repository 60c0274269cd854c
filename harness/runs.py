"""The runs in a store, as a collection: list them, find one, rebuild its configuration.

A run is a folder `store/<test>/<timestamp>/` holding `test.json` (written first) and,
once it ended, `results.json`. Reading never fails on a half-written or foreign folder:
whatever cannot be read is shown as such.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

from .errors import UsageError

VERDICT_WORDS = {True: "valid", False: "INVALID"}


@dataclass
class RunInfo:
    path: Path
    test: str
    started_at: str
    finished_at: str | None
    seed: int | None
    verdict: str              # valid / INVALID / unknown / running-or-crashed
    error: str | None
    config: dict

    @property
    def duration_s(self) -> float | None:
        try:
            start = datetime.strptime(self.started_at, "%Y-%m-%dT%H:%M:%S%z")
            end = datetime.strptime(self.finished_at or "", "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None
        return (end - start).total_seconds()


def _read_json(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_run(path: Path) -> RunInfo | None:
    config = _read_json(path / "test.json")
    if not isinstance(config, dict):
        return None
    results = _read_json(path / "results.json")
    if isinstance(results, dict):
        verdict = VERDICT_WORDS.get(results.get("valid"), "unknown")
        error = results.get("error")
    else:
        verdict, error = "no result", None
    seed = config.get("seed")
    return RunInfo(path=path, test=str(config.get("test_name", path.parent.name)),
                   started_at=str(config.get("started_at", "")),
                   finished_at=config.get("finished_at"),
                   seed=seed if isinstance(seed, int) else None,
                   verdict=verdict, error=error, config=config)


def list_runs(store: str) -> list[RunInfo]:
    """Every run in `store`, oldest first (by folder name, a timestamp)."""
    base = Path(store)
    if not base.is_dir():
        raise UsageError(f"--store {store}: no such folder")
    runs = []
    for test_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.is_symlink()):
        for run_dir in sorted(p for p in test_dir.iterdir() if p.is_dir() and not p.is_symlink()):
            info = read_run(run_dir)
            if info is not None:
                runs.append(info)
    return sorted(runs, key=lambda r: (r.path.name, r.test))


def find_run(store: str, ref: str) -> RunInfo:
    """A run by folder path, by `latest`, or by its timestamp (unique prefix)."""
    candidates = [Path(ref), Path(store) / ref]
    for candidate in candidates:
        if (candidate / "test.json").exists():
            info = read_run(candidate.resolve())
            if info is not None:
                return info
    matches = [r for r in list_runs(store) if r.path.name.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"no run {ref!r} in {store} (give a run folder, `latest`, or a "
                         "timestamp from `harness runs`)")
    raise UsageError(f"{ref!r} names {len(matches)} runs; give more of the timestamp")


def config_of(run: RunInfo, config_type):
    """The run's configuration as `config_type` (TestConfig): same options, same seed."""
    known = {f.name for f in fields(config_type)}
    values = {k: v for k, v in run.config.items() if k in known}
    if "system" not in values:
        raise UsageError(f"{run.path / 'test.json'}: no `system`: not a harness test run")
    return config_type(**values)


def relative(path: Path, store: str) -> str:
    return os.path.relpath(path, store)
