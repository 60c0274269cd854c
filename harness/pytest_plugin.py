"""A pytest plugin: run harness tests as pytest tests.

Installed with harness (entry point `pytest11`), it gives every test the fixture
`harness_test`, a function that runs one harness test and returns a `HarnessResult`:

    def test_my_system_survives_my_nemesis(harness_test):
        result = harness_test("mysystem", nemesis=["mynemesis"], time_limit=20)
        assert result.valid is True, result.message

Arguments: `system`, `workload`, `nemesis` (list), `time_limit`, `nodes`,
`nemesis_interval`, `system_opts` / `workload_opts` (dicts, or a list of NAME[=VALUE]
strings), `nemesis_opts` ({nemesis: {option: value}}), `seed`, `store` (default: a
temporary folder per test). The run folder is attached to the test's report as the user
property `harness_run_dir`, and printed when the test fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class HarnessResult:
    exit_code: int
    valid: object               # True, False or "unknown" (or None if nothing was checked)
    message: str
    run_dir: Path | None
    results: dict = field(default_factory=dict)

    @property
    def anomalies(self) -> dict:
        """Per checker: what it found (anomaly types, failing keys), for assertions."""
        found = {}
        for name, result in self.results.items():
            if isinstance(result, dict) and result.get("valid") is False:
                found[name] = (result.get("anomaly-types") or result.get("invalid_keys")
                               or result.get("summary"))
        return found


def _options(value) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    out = {}
    for item in value:
        name, eq, text = str(item).partition("=")
        out[name] = text if eq else "true"
    return out


@pytest.fixture
def harness_test(request, tmp_path):
    from harness.runner import TestConfig, run_test

    def run(system: str, *, workload: str | None = None, nemesis=(), time_limit: float = 30,
            nodes: int = 5, nemesis_interval: float = 10, system_opts=None, workload_opts=None,
            nemesis_opts=None, seed: int | None = None, store: str | None = None,
            **config) -> HarnessResult:
        cfg = TestConfig(system=system, workload=workload, nemeses=list(nemesis),
                         time_limit=time_limit, nodes=nodes, nemesis_interval=nemesis_interval,
                         system_opts=_options(system_opts), workload_opts=_options(workload_opts),
                         nemesis_opts={k: dict(v) for k, v in (nemesis_opts or {}).items()},
                         seed=seed, store=store or str(tmp_path / "store"), **config)
        outcome = run_test(cfg, echo=lambda message, err=False: None)
        if outcome.run_dir is not None:
            request.node.user_properties.append(("harness_run_dir", str(outcome.run_dir)))
        results = outcome.results or {}
        return HarnessResult(outcome.exit_code, results.get("valid"), outcome.message,
                             outcome.run_dir, results)

    return run


def pytest_runtest_makereport(item, call):
    """On failure, say where the run folder is (its report, history and logs)."""
    if call.when != "call" or call.excinfo is None:
        return
    for name, value in getattr(item, "user_properties", []):
        if name == "harness_run_dir":
            item.add_report_section("call", "harness", f"run folder: {value}")
