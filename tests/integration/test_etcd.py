"""End to end on real containers with real etcd 3.4: healthy runs of each workload are
valid; etcd's serializable reads, which are documented to be possibly stale, are caught
under partitions; the default (linearizable) configuration passes under partitions,
crashes and pauses. Each run's workload lasts at most 24 s (CI's time budget);
the file takes about 2.5 minutes."""

import json
import os

import pytest

from harness.control.docker import RUN

from .conftest import harness, results_of, run_dir_of
from .test_raftkv_docker import harness_objects


def history_of(store):
    with open(os.path.join(run_dir_of(store), "history.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize("workload, checker", [
    ("register", "linearizable"), ("set", "set"), ("list-append", "elle-list-append")])
def test_healthy_short_run_is_valid_and_cleaned_up(docker_client, tmp_path, workload, checker):
    """A fault-free run: the cluster comes up, every op kind succeeds, the checker passes,
    etcd's log is collected and nothing of the run is left behind."""
    store = str(tmp_path / "store")
    res = harness("test", "--system", "etcd", "--workload", workload, "--time-limit", "8",
                  "--store", store)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "etcd nodes ready in" in res.stdout
    results = results_of(store)
    assert results["valid"] is True and results[checker]["valid"] is True
    ok = [op for op in history_of(store) if op["type"] == "ok"]
    assert len(ok) > 200
    if workload == "list-append":
        # Appends were acknowledged and later reads saw them.
        assert any(m[0] == "r" and m[2] for op in ok for m in op["value"])
    run_dir = run_dir_of(store)
    log_path = os.path.join(run_dir, "nodes", "n1", "etcd", "etcd.log")
    assert os.path.exists(log_path) and os.path.getsize(log_path) > 0
    config = json.load(open(os.path.join(run_dir, "test.json")))
    assert config["cluster_ready_s"] < 15    # a bound for a loaded CI box; the goal is 10
    assert harness_objects(docker_client, store) == ([], [])


def test_serializable_reads_under_partitions_are_caught(docker_client, tmp_path):
    """Serializable reads are answered from a member's local state: a member cut off from
    the leader keeps answering with what it had while the majority moves on, so a read
    that began after a write completed misses it. Shapes `one`, `halves` and `primaries`
    always leave some member (or the old leader) serving alone; three faults fit into
    20 s at a 3 s interval."""
    store = str(tmp_path / "store")
    res = harness("test", "--system", "etcd", "--system-opt", "serializable-reads",
                  "--nemesis", "partition", "--partition-shapes", "one,halves,primaries",
                  "--time-limit", "20", "--nemesis-interval", "3", "--store", store)
    assert res.returncode == 1, res.stdout + res.stderr
    results = results_of(store)
    assert results["valid"] is False
    assert results["linearizable"]["failures"][0]["op"]["f"] == "read"
    assert harness_objects(docker_client, store) == ([], [])


@pytest.mark.parametrize("workload, checker", [
    ("register", "linearizable"), ("list-append", "elle-list-append")])
def test_linearizable_default_passes_under_partition_kill_and_pause(docker_client, tmp_path,
                                                                     workload, checker):
    """The default configuration under every fault kind, with leaders among the targets:
    register is linearizable, list-append strict-serializable (its guarded txns retried
    only after a failed compare)."""
    store = str(tmp_path / "store")
    res = harness("test", "--system", "etcd", "--workload", workload,
                  "--nemesis", "partition,kill,pause",
                  "--process-targets", "one,minority,primaries", "--time-limit", "24",
                  "--nemesis-interval", "3", "--store", store)
    assert res.returncode == 0, res.stdout + res.stderr
    history = history_of(store)
    started = {op["f"] for op in history if op["process"] == "nemesis"
               and (op.get("value") or {}).get("phase") == "start"}
    assert started == {"partition", "kill", "pause"}
    assert results_of(store)[checker]["valid"] is True
    assert harness_objects(docker_client, store) == ([], [])


def test_process_controls_are_idempotent_and_primaries_follow_the_leader(docker_client):
    """The System contract on real members: killing a dead member, starting a running
    one, resuming a running one do nothing; a killed leader is replaced and rejoins as a
    follower when started; a paused member is down until resumed."""
    import time
    import uuid

    from harness import image
    from harness.control.docker import DockerCluster

    from clusters.etcd import Etcd

    docker_cluster = DockerCluster(docker_client, "etcdtest" + uuid.uuid4().hex[:8],
                                   image.require(docker_client), 3)
    try:
        cluster = docker_cluster.create()
        etcd = Etcd()
        etcd.setup(cluster)
        [leader] = etcd.primaries(cluster)
        assert sorted(etcd.health(cluster).values()) == ["follower", "follower", "leader"]

        etcd.kill(cluster, leader)
        etcd.kill(cluster, leader)                       # dead already: nothing happens
        assert etcd.health(cluster)[leader] == "down"
        new_leader = wait_for(lambda: etcd.primaries(cluster))
        assert new_leader and new_leader != [leader]

        etcd.start(cluster, leader)
        etcd.start(cluster, leader)                      # running already: no second etcd
        _, count = cluster.exec(leader, "pgrep -c -x etcd", check=False)
        assert count.strip() == "1"
        assert wait_for(lambda: etcd.health(cluster)[leader] == "follower")

        follower = next(n for n in cluster.nodes if n not in etcd.primaries(cluster))
        etcd.resume(cluster, follower)                   # running: nothing happens
        etcd.pause(cluster, follower)
        time.sleep(0.2)
        assert etcd.health(cluster)[follower] == "down"
        etcd.resume(cluster, follower)
        assert wait_for(lambda: etcd.health(cluster)[follower] == "follower")
    finally:
        docker_cluster.destroy()
    assert docker_client.containers.list(
        all=True, filters={"label": f"{RUN}={docker_cluster.run_id}"}) == []


def wait_for(probe, timeout_s=15.0):
    """Poll `probe` until it returns something truthy (returned) or time runs out (the
    last value returned)."""
    import time
    deadline = time.monotonic() + timeout_s
    value = probe()
    while not value and time.monotonic() < deadline:
        time.sleep(0.2)
        value = probe()
    return value
