"""A hostile environment: stores that cannot be written, runs started at the same
instant, nodes that try to reach the host. Each ends cleanly, in one line."""

import os
import socket
import subprocess
import sys
import threading

import pytest

from harness import image
from harness.control.docker import DockerCluster, HOST_CHAIN

from .conftest import ROOT, harness
from .test_raftkv_docker import harness_objects


@pytest.fixture
def tmpfs(tmp_path):
    """A 1 MB tmpfs of our own (unmounted afterwards)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def one_line(text):
    return len(text.strip().splitlines()) == 1 and "Traceback" not in text


def test_a_store_that_is_a_file_is_a_usage_error(docker_client, tmp_path):
    store = tmp_path / "store"
    store.write_text("not a folder")
    res = harness("test", "--system", "raftkv", "--time-limit", "5", "--store", str(store))
    assert res.returncode == 4, res.stdout + res.stderr
    assert "is a file, not a folder" in res.stderr and one_line(res.stderr)


def test_a_read_only_store_is_a_harness_failure(docker_client, tmpfs):
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    res = harness("test", "--system", "raftkv", "--time-limit", "5", "--store", str(tmpfs / "s"))
    assert res.returncode == 3, res.stdout + res.stderr
    assert "read-only" in res.stderr and one_line(res.stderr)


def test_a_store_that_fills_up_mid_run_stops_cleanly(docker_client, tmpfs):
    store = str(tmpfs / "store")
    res = harness("test", "--system", "raftkv", "--nemesis", "partition", "--time-limit", "60",
                  "--nemesis-interval", "3", "--store", store, timeout=200)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "no space left on the device" in res.stderr
    assert "holds the first" in res.stderr            # how much of the history is on disk
    assert "Traceback" not in res.stderr
    assert harness_objects(docker_client, store) == ([], [])


def test_two_runs_started_at_the_same_instant_both_succeed(docker_client, tmp_path):
    barrier = threading.Barrier(2)
    results = {}

    def one(i):
        barrier.wait()
        results[i] = subprocess.run(
            [sys.executable, "-m", "harness.cli", "test", "--system", "raftkv", "--nodes", "3",
             "--time-limit", "8", "--store", str(tmp_path / f"store{i}")],
            cwd=ROOT, capture_output=True, text=True, timeout=200)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(2):
        assert results[i].returncode == 0, results[i].stdout + results[i].stderr


def test_nodes_cannot_open_connections_to_the_host_but_the_controller_reaches_them(
        docker_client):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    cluster_owner = DockerCluster(docker_client, "contain" + os.urandom(3).hex(),
                                  image.require(docker_client), 1)
    try:
        cluster = cluster_owner.create()
        subnet = cluster_owner.network.attrs["IPAM"]["Config"][0]["Gateway"]
        probe = (f"python3 -c \"import socket; socket.create_connection(('{subnet}', {port}), "
                 "timeout=3); print('CONNECTED')\"")
        rc, out = cluster.exec("n1", probe, check=False)
        assert rc != 0 and "CONNECTED" not in out
        # The controller still reaches the node (this exec and a TCP connect to it) ...
        rc, _ = cluster.exec("n1", "python3 -c 'import socket; s=socket.socket(); "
                                   "s.bind((\"0.0.0.0\", 9999)); s.listen(1); "
                                   "import time; time.sleep(5)' >/dev/null 2>&1 &", check=False)
        for _ in range(30):
            try:
                socket.create_connection((cluster.ips["n1"], 9999), timeout=1).close()
                break
            except OSError:
                import time
                time.sleep(0.1)
        else:
            raise AssertionError("the controller could not reach the node")
        # ... and the fence is what stops the node: without it, the connection is made.
        cluster.exec("n1", f"iptables -F {HOST_CHAIN}")
        rc, out = cluster.exec("n1", probe, check=False)
        assert rc == 0 and "CONNECTED" in out
        container = cluster_owner.containers["n1"]
        container.reload()
        assert container.attrs["HostConfig"]["Memory"] == 1024 * 2**20
        assert container.attrs["HostConfig"]["PidsLimit"] == 2048
    finally:
        cluster_owner.destroy()
        listener.close()


def test_clean_beside_two_live_runs_leaves_them_alone(docker_client, tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "harness.cli", "test", "--system", "raftkv",
                               "--nodes", "3", "--time-limit", "12",
                               "--store", str(tmp_path / f"store{i}")],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    import time
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not all(
            os.path.exists(tmp_path / f"store{i}" / "latest" / "history.jsonl") for i in range(2)):
        time.sleep(0.2)
    clean = harness("clean")
    assert clean.returncode == 0 and clean.stdout.startswith("removed 0 container(s)")
    for proc in procs:
        out, err = proc.communicate(timeout=200)
        assert proc.returncode == 0, out + err
