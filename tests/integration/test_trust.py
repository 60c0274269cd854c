"""Verdicts are earned: a run whose cluster disappears is a harness failure (exit 3), and
a run whose faults never took effect is unknown (exit 2), never valid."""

import json
import os
import subprocess
import sys
import time

import pytest

from harness.control.docker import MANAGED, RUN, NODE

from .conftest import ROOT, harness, results_of, run_dir_of
from tests.conftest import with_test_plugins


def start_run(store, *extra, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "test", "--system", "raftkv", "--store", store,
         *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)


def wait_for_ops(store, count, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    latest = os.path.join(store, "latest", "history.jsonl")
    while time.monotonic() < deadline:
        if os.path.exists(latest) and sum(1 for _ in open(latest)) >= count:
            return json.load(open(os.path.join(store, "latest", "test.json")))["run_id"]
        time.sleep(0.2)
    raise AssertionError("the run never got going")


def run_containers(client, run_id):
    return client.containers.list(all=True, filters={"label": [f"{MANAGED}=true",
                                                               f"{RUN}={run_id}"]})


def assert_history_still_checkable(store):
    check = harness("check", os.path.join(run_dir_of(store), "history.jsonl"))
    assert check.returncode in (0, 1, 2), check.stdout + check.stderr


def test_all_containers_removed_mid_run_is_a_harness_failure(docker_client, tmp_path):
    store = str(tmp_path / "store")
    proc = start_run(store, "--time-limit", "40")
    run_id = wait_for_ops(store, 500)
    for container in run_containers(docker_client, run_id):
        container.remove(force=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, out + err
    assert "the cluster was lost" in err and "container was removed" in err
    results = results_of(store)
    assert results["valid"] != True and "container was removed" in results["error"]  # noqa: E712
    assert results["run"]["cluster"]["lost"]
    assert_history_still_checkable(store)
    assert run_containers(docker_client, run_id) == []


def test_one_node_removed_mid_run_is_a_harness_failure(docker_client, tmp_path):
    store = str(tmp_path / "store")
    proc = start_run(store, "--time-limit", "40", "--nemesis", "partition",
                     "--nemesis-interval", "3")
    run_id = wait_for_ops(store, 500)
    victim = [c for c in run_containers(docker_client, run_id) if c.labels[NODE] == "n3"][0]
    victim.remove(force=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, out + err
    assert "node n3's container was removed" in err
    assert "n3's container was removed" in results_of(store)["error"]
    assert_history_still_checkable(store)
    assert run_containers(docker_client, run_id) == []


def test_a_nemesis_that_always_fails_makes_the_run_unknown(docker_client, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "raftkv", "--nemesis", "always-fails",
                  "--nemesis-opt", "always-fails.reason=no such device", "--time-limit", "10",
                  "--nemesis-interval", "2", "--store", store, env=with_test_plugins())
    assert res.returncode == 2, res.stdout + res.stderr
    assert "nemesis always-fails never took effect" in res.stdout
    results = results_of(store)
    assert results["valid"] == "unknown"
    stats = results["run"]["nemeses"]["always-fails"]
    assert stats["scheduled"] >= 2 and stats["failed"] == stats["scheduled"]
    assert stats["started"] == 0
    history = [json.loads(line) for line in
               open(os.path.join(run_dir_of(store), "history.jsonl"))]
    failures = [op for op in history if op["process"] == "nemesis"
                and (op.get("value") or {}).get("failed")]
    assert len(failures) == stats["failed"]
    assert all("no such device" in op["value"]["error"] for op in failures)
    log = open(os.path.join(run_dir_of(store), "harness.log")).read()
    assert "ERROR" in log and "no such device" in log
    report = open(os.path.join(run_dir_of(store), "report.html")).read()
    assert "never took effect" in report
