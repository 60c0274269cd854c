"""Third-party plugins through entry points: a nemesis with an option, and checkers that
crash or find malformed input. Nothing under harness/ knows their names."""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT, with_test_plugins


def harness(*args):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=with_test_plugins())


def history_file(tmp_path):
    path = tmp_path / "h.jsonl"
    ops = [{"index": 0, "type": "invoke", "process": 0, "f": "read", "value": None},
           {"index": 1, "type": "ok", "process": 0, "f": "read", "value": None}]
    path.write_text("".join(json.dumps(op) + "\n" for op in ops))
    return str(path)


def test_a_plugin_nemesis_and_its_options_are_listed():
    res = harness("list", "nemesis")
    assert res.returncode == 0, res.stderr
    assert "nemesis always-fails" in res.stdout
    assert "reason (str): what the failure says [default: injected failure]" in res.stdout
    help_text = harness("test", "--help").stdout
    assert "nemesis always-fails: reason" in help_text


def test_a_plugin_nemesis_option_is_typed_and_checked_before_anything_runs():
    res = harness("test", "--system", "raftkv", "--nemesis", "always-fails",
                  "--nemesis-opt", "always-fails.volume=3")
    assert res.returncode == 4
    assert "always-fails has no option 'volume'; valid: reason" in res.stderr


def test_a_checker_that_crashes_is_unknown_not_a_verdict(tmp_path):
    res = harness("check", history_file(tmp_path), "--checker", "crashes")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "unknown" in res.stdout and "checker crashed: ZeroDivisionError" in res.stdout
    assert "Traceback" not in res.stderr


def test_malformed_input_found_by_a_checker_is_exit_4_with_the_file(tmp_path):
    path = history_file(tmp_path)
    res = harness("check", path, "--checker", "malformed-first")
    assert res.returncode == 4, res.stdout + res.stderr
    assert res.stderr.startswith(f"error: {path}:1: ")
    assert "the test plugin finds this op malformed" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_the_registry_finds_plugins_only_through_entry_points():
    import harness
    source = ""
    for folder, _, files in os.walk(os.path.dirname(harness.__file__)):
        for name in files:
            if name.endswith(".py"):
                source += open(os.path.join(folder, name)).read()
    for plugin in ("always-fails", "malformed-first", '"partition"', '"kill"', '"pause"',
                   '"raftkv"'):
        assert plugin not in source


def test_a_signal_while_checking_is_exit_3_in_one_line(tmp_path):
    import signal
    import time
    for signum in (signal.SIGTERM, signal.SIGINT):
        started = tmp_path / f"started-{signum}"
        proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "check",
                                 history_file(tmp_path), "--checker", "slow"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**with_test_plugins(),
                                     "HARNESS_TEST_SLOW_STARTED": str(started)},
                                # A suite started in the background by a non-interactive
                                # shell inherits SIGINT ignored; a user's harness does not.
                                preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                                 signal.SIG_DFL))
        deadline = time.monotonic() + 60       # start-up is slow on a loaded machine
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), "the slow checker never started"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 3, (signum, out, err)
        assert err.strip() == f"interrupted by {signal.Signals(signum).name}"


def test_report_to_a_bad_path_is_refused_before_checking(tmp_path):
    res = harness("check", history_file(tmp_path), "--report", "/nonexistent/dir/r.html")
    assert res.returncode == 4 and "--report /nonexistent/dir/r.html" in res.stderr
    res = harness("check", history_file(tmp_path), "--junit", str(tmp_path))
    assert res.returncode == 4 and "is a directory" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
