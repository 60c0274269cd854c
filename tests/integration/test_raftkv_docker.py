"""End to end on real containers with the real raftkv: the harness passes the correct
system, catches the broken one, and cleans up after itself whatever happens."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from harness.control.docker import MANAGED, RUN

from .conftest import ROOT, harness, results_of, run_dir_of


def harness_objects(client, store=None):
    """The harness's containers and networks: those of the run in `store`, or all."""
    run = ""
    if store is not None:
        run = "=" + json.load(open(os.path.join(run_dir_of(store), "test.json")))["run_id"]
    labels = {"label": [f"{MANAGED}=true", RUN + run]}
    containers = client.containers.list(all=True, filters=labels)
    networks = client.networks.list(filters=labels)
    return containers, networks


def test_safe_raftkv_under_partitions_is_linearizable(docker_client, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "raftkv", "--nemesis", "partition", "--time-limit", "20",
                  "--nemesis-interval", "4", "--store", store)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "valid" in res.stdout and "report:" in res.stdout
    results = results_of(store)
    assert results["valid"] is True
    assert results["linearizable"]["ops"] > 1000
    run_dir = run_dir_of(store)
    for name in ("history.jsonl", "test.json", "harness.log", "report.html", "results.json"):
        assert os.path.exists(os.path.join(run_dir, name)), name
    assert os.path.exists(os.path.join(run_dir, "nodes", "n1", "raftkv", "server.log"))
    history = [json.loads(line) for line in open(os.path.join(run_dir, "history.jsonl"))]
    phases = [op["value"]["phase"] for op in history
              if op["process"] == "nemesis" and op.get("value")]
    assert phases.count("start") >= 2 and phases.count("start") == phases.count("end")
    config = json.load(open(os.path.join(run_dir, "test.json")))
    assert config["seed"] is not None and config["cluster_ready_s"] < 15
    assert harness_objects(docker_client, store) == ([], [])


def test_unsafe_reads_are_caught_as_not_linearizable(docker_client, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "raftkv", "--system-opt", "unsafe-reads",
                  "--nemesis", "partition", "--time-limit", "20", "--nemesis-interval", "4",
                  "--store", store)
    assert res.returncode == 1, res.stdout + res.stderr
    results = results_of(store)
    assert results["valid"] is False
    failure = results["linearizable"]["failures"][0]
    assert failure["op"]["f"] == "read"
    report = open(os.path.join(run_dir_of(store), "report.html")).read()
    assert "is not linearizable" in report
    assert harness_objects(docker_client, store) == ([], [])


def test_kill_and_partition_together_on_safe_raftkv_is_valid(docker_client, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "raftkv", "--nemesis", "partition,kill,pause",
                  "--process-targets", "one,minority,majority,all,primaries",
                  "--time-limit", "24", "--nemesis-interval", "3", "--store", store)
    assert res.returncode == 0, res.stdout + res.stderr
    history = [json.loads(line) for line in open(os.path.join(run_dir_of(store), "history.jsonl"))]
    assert any(op["process"] == "nemesis" for op in history)


def test_kill_9_of_the_harness_leaves_a_checkable_history_and_clean_removes_only_ours(
        docker_client, tmp_path):
    from harness import image
    bystander = docker_client.containers.run(image.require(docker_client), detach=True,
                                             labels={"someone.else": "true"})
    try:
        store = str(tmp_path / "store")
        proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "test", "--system", "raftkv",
                                 "--nemesis", "partition", "--time-limit", "60",
                                 "--nemesis-interval", "3", "--store", store],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        history_path = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            latest = os.path.join(store, "latest", "history.jsonl")
            if os.path.exists(latest) and sum(1 for _ in open(latest)) > 2000:
                history_path = os.path.realpath(latest)
                break
            time.sleep(0.2)
        assert history_path, "the run never got going"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        containers, networks = harness_objects(docker_client, store)
        assert len(containers) == 5 and len(networks) == 1   # left behind by kill -9

        check = harness("check", history_path)
        assert check.returncode in (0, 1, 2), check.stdout + check.stderr
        assert history_path in check.stdout

        clean = harness("clean")      # only runs whose controller is gone: this one
        assert clean.returncode == 0
        assert "removed 5 container(s) and 1 network(s)" in clean.stdout
        assert harness_objects(docker_client, store) == ([], [])
        bystander.reload()
        assert bystander.status == "running"
    finally:
        bystander.remove(force=True)


def test_docker_down_is_exit_3_with_what_to_do(tmp_path):
    res = harness("test", "--system", "raftkv", "--store", str(tmp_path),
                  env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert res.returncode == 3
    assert "dockerd" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_mid_run_heals_cleans_up_and_keeps_the_history(docker_client, tmp_path, signum):
    store = str(tmp_path / "store")
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "test", "--system", "raftkv",
                             "--nemesis", "partition", "--time-limit", "60",
                             "--nemesis-interval", "2", "--store", store],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    latest = os.path.join(store, "latest", "history.jsonl")
    while time.monotonic() < deadline:
        if os.path.exists(latest) and any('"phase":"start"' in line for line in open(latest)):
            break          # a partition is in force right now or was
        time.sleep(0.2)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 3, out + err
    assert "interrupted" in (out + err)
    assert harness_objects(docker_client, store) == ([], [])
    run_dir = run_dir_of(store)
    results = json.load(open(os.path.join(run_dir, "results.json")))
    assert f"interrupted by {signal.Signals(signum).name}" in results["error"]
    history = [json.loads(line) for line in open(os.path.join(run_dir, "history.jsonl"))]
    phases = [op["value"]["phase"] for op in history if op["process"] == "nemesis" and op.get("value")]
    assert phases and phases.count("start") == phases.count("end")    # healed, and recorded
    # Honest artifacts: no green anywhere for a run that did not complete.
    assert results["valid"] == "unknown"
    import xml.etree.ElementTree as ET
    suite = ET.parse(os.path.join(run_dir, "junit.xml")).getroot()
    assert suite.get("errors") == "1" and suite.find("testcase[@name='run']/error") is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["seed"] and props["rerun"].startswith("harness test") and props["run_dir"]
    report = open(os.path.join(run_dir, "report.html")).read()
    assert "The run did not complete" in report and 'class="verdict unknown"' in report


def test_a_run_past_its_hard_deadline_cleans_up_and_exits_3(docker_client, tmp_path):
    store = str(tmp_path / "store")
    started = time.monotonic()
    res = harness("test", "--system", "raftkv", "--nemesis", "partition", "--time-limit", "60",
                  "--nemesis-interval", "2", "--deadline", "12", "--store", store, timeout=60)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "exceeded its hard deadline (12s)" in res.stderr
    assert time.monotonic() - started < 40
    assert harness_objects(docker_client, store) == ([], [])
    history = os.path.join(run_dir_of(store), "history.jsonl")
    check = harness("check", history)
    assert check.returncode in (0, 1, 2), check.stdout + check.stderr
