"""The example plugin package (examples/harness-plugin-example, docs/plugins.md) works as a
third party's would: pip-installed from its own pyproject.toml, it is listed by
`harness list`, its options are checked, its checker checks a history and a test with its
system, workload and nemesis resolves. (tests/integration/test_plugin_example.py runs it
on real containers.)"""

import json
import subprocess
import sys

import pytest

from tests.plugin_example import ROOT, install_example


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return install_example(tmp_path_factory.mktemp("plugin") / "site")


def harness(env, *args):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_installed_plugins_are_listed_with_their_options(env):
    listing = harness(env, "list")
    assert listing.returncode == 0, listing.stderr
    out = listing.stdout
    assert "system onekv" in out and "no-forward (bool)" in out
    assert "capabilities: kill, log-files, pause, primaries" in out
    assert "nemesis stall - Pause the servers" in out and "(requires: pause)" in out
    assert "count (int)" in out
    assert "workload ascending" in out and "checker written-values" in out
    # ...and without the package they are not (the listing came from the install).
    bare = harness({k: v for k, v in env.items() if k != "PYTHONPATH"}, "list")
    assert "onekv" not in bare.stdout


def test_a_fault_the_plugin_says_cannot_happen_is_refused_before_docker(env):
    res = harness(env, "test", "--system", "onekv", "--nemesis", "stall", "--stall-count", "6",
                  "--nodes", "5", "--store", "/nonexistent/store")
    assert res.returncode == 4, res.stdout + res.stderr
    assert "stall.count=6 but the cluster has 5 nodes" in res.stderr
    assert "Traceback" not in res.stderr


def test_the_plugin_checker_checks_a_history(env, tmp_path):
    def write(name, read_value):
        ops = [{"index": 0, "type": "invoke", "process": 0, "f": "write", "key": 1, "value": 3},
               {"index": 1, "type": "ok", "process": 0, "f": "write", "key": 1, "value": 3},
               {"index": 2, "type": "invoke", "process": 1, "f": "read", "key": 1, "value": None},
               {"index": 3, "type": "ok", "process": 1, "f": "read", "key": 1, "value": read_value}]
        path = tmp_path / name
        path.write_text("".join(json.dumps(o) + "\n" for o in ops))
        return str(path)

    good = harness(env, "check", write("good.jsonl", 3), "--checker", "written-values")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "each of a written value" in good.stdout
    bad = harness(env, "check", write("bad.jsonl", 99), "--checker", "written-values")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "1 reads of values never written" in bad.stdout


def test_a_test_with_the_plugin_system_workload_and_nemesis_resolves(env):
    code = ("from harness.runner import TestConfig, resolve\n"
            "plan = resolve(TestConfig(system='onekv', nemeses=['stall'], "
            "system_opts={'no-forward': 'true'}, nemesis_opts={'stall': {'count': '2'}}))\n"
            "print(type(plan.system).__name__, plan.system.no_forward, "
            "type(plan.workload).__name__, plan.nemeses['stall'].count, "
            "sorted(plan.workload.checkers({})))\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["OneKV", "True", "AscendingWorkload", "2",
                                  "['linearizable',", "'written-values']"]
