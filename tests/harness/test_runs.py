"""Runs as a collection: `harness runs`, `harness rerun`, `harness serve`, --test-count."""

import json
import threading
import urllib.error
import urllib.request

import pytest

from harness.errors import UsageError
from harness.runner import RunOutcome, TestConfig
from harness.runs import config_of, find_run, list_runs
from harness.serve import make_server


def make_run(store, test, stamp, valid, seed=7, **config):
    run_dir = store / test / stamp
    run_dir.mkdir(parents=True)
    (run_dir / "test.json").write_text(json.dumps({
        "system": "raftkv", "test_name": test, "seed": seed, "nemeses": ["partition"],
        "time_limit": 30.0, "started_at": "2026-11-28T10:00:00+0000",
        "finished_at": "2026-11-28T10:00:40+0000", "run_id": "abc", **config}))
    if valid is not None:
        (run_dir / "results.json").write_text(json.dumps({"valid": valid}))
    (run_dir / "report.html").write_text("<p>report</p>")
    return run_dir


def test_runs_are_listed_oldest_first_with_verdict_duration_and_seed(tmp_path):
    make_run(tmp_path, "t-b", "20261128T100001.000", False)
    make_run(tmp_path, "t-a", "20261128T100000.000", True)
    make_run(tmp_path, "t-a", "20261128T100002.000", None)      # still running or crashed
    (tmp_path / "t-a" / "junk").mkdir()                            # not a run: skipped
    runs = list_runs(str(tmp_path))
    assert [(r.test, r.verdict) for r in runs] == [
        ("t-a", "valid"), ("t-b", "INVALID"), ("t-a", "no result")]
    assert runs[0].duration_s == 40 and runs[0].seed == 7


def test_a_run_is_found_by_folder_timestamp_or_latest_and_rebuilt_with_its_seed(tmp_path):
    path = make_run(tmp_path, "t", "20261128T100000.000", True, seed=99)
    (tmp_path / "latest").symlink_to(path)
    for ref in (str(path), "latest", "20261128T1000"):
        assert find_run(str(tmp_path), ref).path == path.resolve() or \
            find_run(str(tmp_path), ref).path == path
    cfg = config_of(find_run(str(tmp_path), "latest"), TestConfig)
    assert cfg.seed == 99 and cfg.nemeses == ["partition"] and cfg.time_limit == 30.0
    with pytest.raises(UsageError, match="no run 'nope'"):
        find_run(str(tmp_path), "nope")


def test_serve_lists_runs_and_serves_their_files_escaped_and_inside_the_store(tmp_path):
    hostile = '<script>alert(1)</script>'
    make_run(tmp_path, "t", "20261128T100000.000", False, test_name=hostile)
    server = make_server(str(tmp_path), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        index = urllib.request.urlopen(base + "/", timeout=5).read().decode()
        assert "INVALID" in index and "&lt;script&gt;" in index and hostile not in index
        report = urllib.request.urlopen(base + "/t/20261128T100000.000/report.html", timeout=5)
        assert report.read() == b"<p>report</p>"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(base + "/../../etc/passwd", timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_test_count_repeats_until_the_first_run_that_is_not_valid(monkeypatch, capsys):
    import harness.runner
    from harness.cli import main
    seeds, codes = [], iter([0, 0, 1, 0])

    def fake_run_test(cfg, echo):
        harness.runner.resolve(cfg)
        seeds.append(cfg.seed)
        return RunOutcome(next(codes), None, {"valid": True}, "done")

    monkeypatch.setattr(harness.runner, "run_test", fake_run_test)
    with pytest.raises(SystemExit) as e:
        main(["test", "--system", "raftkv", "--test-count", "5"])
    assert e.value.code == 1 and len(seeds) == 3 and len(set(seeds)) == 3
    assert "run 3 of at most 5" in capsys.readouterr().out


def test_the_pytest_plugin_passes_options_and_reports_anomalies():
    from harness.pytest_plugin import HarnessResult, _options
    assert _options(["unsafe-reads", "live-keys=8"]) == {"unsafe-reads": "true", "live-keys": "8"}
    assert _options({"a": 1}) == {"a": 1} and _options(None) == {}
    result = HarnessResult(1, False, "m", None, {
        "valid": False, "linearizable": {"valid": False, "invalid_keys": [3]},
        "stats": {"valid": True}})
    assert result.anomalies == {"linearizable": [3]}
