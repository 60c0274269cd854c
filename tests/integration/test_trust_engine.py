"""The Docker engine stopped mid-run: exit 3, and `harness clean` removes what is left
once the engine is back. Runs last (it restarts the engine the way it was started)."""

import os
import signal
import subprocess
import time

import pytest

from .conftest import harness, results_of, run_dir_of
from .test_trust import run_containers, start_run, wait_for_ops


def dockerd_process():
    out = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True).stdout
    pids = [int(p) for p in out.split()]
    if len(pids) != 1 or os.environ.get("DOCKER_HOST"):
        return None, None
    with open(f"/proc/{pids[0]}/cmdline", "rb") as f:
        cmdline = [part.decode() for part in f.read().split(b"\0") if part]
    return pids[0], cmdline


def engine_answers():
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def test_engine_stopped_mid_run_is_a_harness_failure_and_clean_works_after(docker_client,
                                                                          tmp_path):
    pid, cmdline = dockerd_process()
    if pid is None:
        pytest.skip("the Docker engine is not a local dockerd process this test can restart")
    store = str(tmp_path / "store")
    proc = start_run(store, "--time-limit", "40")
    run_id = wait_for_ops(store, 500)
    os.kill(pid, signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=150)
    finally:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
            time.sleep(0.5)
        with open("/var/log/dockerd.log", "ab") as log:
            subprocess.Popen(cmdline, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not engine_answers():
            time.sleep(1)
    assert engine_answers(), "the engine did not come back"
    assert proc.returncode == 3, out + err
    assert "the cluster was lost" in err and "Docker engine" in err
    assert "Docker engine" in results_of(store)["error"]
    assert os.path.exists(os.path.join(run_dir_of(store), "history.jsonl"))
    clean = harness("clean", "--run", run_id)
    assert clean.returncode == 0, clean.stderr
    import docker
    client = docker.from_env()
    assert run_containers(client, run_id) == []
