"""End to end on real containers with real PostgreSQL 15 + Patroni (3.0.2 and 4.1.5) +
etcd 3.4: a healthy list-append run is valid and cleaned up; killing the primary makes
Patroni fail over, and the run ends with a verdict (valid or not), never a harness error;
each unsafe configuration is caught (bank at read committed loses money; replica reads are
stale), Patroni 4 with the set workload passes. Each run's workload lasts at most 30 s; the
file takes about 4 minutes."""

import json
import os

from .conftest import harness, results_of, run_dir_of
from .test_raftkv_docker import harness_objects


def history_of(store):
    with open(os.path.join(run_dir_of(store), "history.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_healthy_list_append_run_is_valid_and_cleaned_up(docker_client, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "pgha", "--workload", "list-append", "--time-limit", "12",
                  "--store", store)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "pgha nodes ready in" in res.stdout
    results = results_of(store)
    assert results["valid"] is True and results["elle-list-append"]["valid"] is True
    ok = [op for op in history_of(store) if op["type"] == "ok"]
    assert len(ok) > 100
    assert any(m[0] == "r" and m[2] for op in ok for m in op["value"])
    assert len({op["node"] for op in ok}) == 1            # one primary, no fault
    run_dir = run_dir_of(store)
    assert os.path.getsize(os.path.join(run_dir, "nodes", "n1", "pgha", "patroni.log")) > 0
    assert os.path.isdir(os.path.join(run_dir, "nodes", "n1", "pgha", "postgresql"))
    assert os.path.exists(os.path.join(run_dir, "nodes", "n1", "etcd", "etcd.log"))
    config = json.load(open(os.path.join(run_dir, "test.json")))
    assert config["cluster_ready_s"] < 30
    assert harness_objects(docker_client, store) == ([], [])


def test_killing_the_primary_fails_over(docker_client, tmp_path):
    """Kill (SIGKILL of Patroni and PostgreSQL) the primary at 12 s for 12 s: Patroni's
    leader key expires (ttl 10) and another node is promoted before the kill heals."""
    store = str(tmp_path / "store")
    res = harness("test", "--system", "pgha", "--workload", "list-append",
                  "--nemesis", "kill", "--process-targets", "primaries",
                  "--nemesis-interval", "12", "--time-limit", "30", "--store", store)
    assert res.returncode in (0, 1), res.stdout + res.stderr
    history = history_of(store)
    killed = [op["value"]["nodes"] for op in history if op["process"] == "nemesis"
              and op["f"] == "kill" and op["value"].get("phase") == "start"]
    assert killed and killed[0]
    kill_at = next(op["time"] for op in history if op["process"] == "nemesis"
                   and op["f"] == "kill" and op["value"].get("phase") == "start")
    before = {op["node"] for op in history if op["type"] == "ok" and op["time"] < kill_at}
    after = {op["node"] for op in history if op["type"] == "ok" and op["time"] > kill_at}
    assert before == set(killed[0])
    assert after - before, f"no op succeeded on a new primary: {before} -> {after}"
    assert harness_objects(docker_client, store) == ([], [])


def test_patroni_4_runs_the_set_workload_valid(docker_client, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "pgha", "--system-opt", "patroni=4", "--workload", "set",
                  "--time-limit", "10", "--store", store)
    assert res.returncode == 0, res.stdout + res.stderr
    results = results_of(store)
    assert results["valid"] is True and results["set"]["valid"] is True
    log = open(os.path.join(run_dir_of(store), "nodes", "n1", "pgha", "patroni.log")).read()
    assert "thread_pool_size" in log          # a Patroni 4 message; 3.0.2 has none such
    added = [op for op in history_of(store) if op["type"] == "ok" and op["f"] == "add"]
    assert len(added) > 50
    assert harness_objects(docker_client, store) == ([], [])


def test_bank_at_read_committed_loses_money(docker_client, tmp_path):
    """Transfers read both balances, then write them: at read committed two concurrent
    transfers from one account both succeed on the same old balance (a lost update), and
    the total changes. At serializable one of them fails instead."""
    store = str(tmp_path / "store")
    res = harness("test", "--system", "pgha", "--workload", "bank", "--system-opt",
                  "isolation=read-committed", "--time-limit", "15", "--store", store)
    assert res.returncode == 1, res.stdout + res.stderr
    results = results_of(store)
    assert "wrong-total" in json.dumps(results["bank"])
    safe = str(tmp_path / "safe")
    res = harness("test", "--system", "pgha", "--workload", "bank", "--time-limit", "10",
                  "--store", safe)
    assert res.returncode == 0, res.stdout + res.stderr
    transfers = [op for op in history_of(safe) if op["f"] == "transfer" and op["type"] == "ok"]
    assert transfers


def test_replica_reads_are_caught_as_stale(docker_client, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "pgha", "--system-opt", "replica-reads",
                  "--time-limit", "15", "--store", store)
    assert res.returncode == 1, res.stdout + res.stderr
    history = history_of(store)
    primary = {op["node"] for op in history if op["type"] == "ok"
               and any(m[0] == "append" for m in op["value"])}
    readers = {op["node"] for op in history if op["type"] == "ok"
               and all(m[0] == "r" for m in op["value"])}
    assert len(primary) == 1 and readers - primary    # reads served by standbys
    types = results_of(store)["elle-list-append"]["anomaly-types"]
    assert any(t.endswith("-realtime") or t == "lost-append" for t in types), types


def test_pausing_the_primary_past_a_failover(docker_client, tmp_path):
    """The default 20 s interval pauses the primary from 20 s to 40 s: another node is
    promoted and serves before the old one resumes. Patroni 3.0.2 then, in about one resume
    of five here, lets the old primary take the leader key back, and what the new primary
    acknowledged vanishes: the run is invalid with lost-append (a recorded history of that
    is checked in tests/checkers/test_recorded_pgha.py; the rate is in docs/systems.md).
    Otherwise the old primary rejoins as a replica and the run is valid. Either way the
    run ends with a verdict, never a harness error."""
    store = str(tmp_path / "store")
    res = harness("test", "--system", "pgha", "--nemesis", "pause", "--process-targets",
                  "primaries", "--time-limit", "45", "--store", store)
    assert res.returncode in (0, 1), res.stdout + res.stderr
    history = history_of(store)
    start = next(op for op in history if op["process"] == "nemesis" and op["f"] == "pause"
                 and op["type"] != "invoke" and op["value"].get("phase") == "start")
    (paused,) = start["value"]["nodes"]
    during = {op["node"] for op in history if op["type"] == "ok" and op.get("node")
              and start["time"] + 13e9 < op["time"] < start["time"] + 20e9}
    assert during and paused not in during, f"no failover away from {paused}: {during}"
    types = results_of(store)["elle-list-append"]["anomaly-types"]
    if res.returncode == 1:
        assert "lost-append" in types or "incompatible-order" in types, types
    final = [op for op in history if op["type"] == "ok" and op["time"] > 45e9]
    assert final, "the final reads never succeeded"


def test_asynchronous_commit_loses_acknowledged_appends_to_a_power_loss(docker_client,
                                                                        tmp_path):
    """PostgreSQL with synchronous_commit=off under a power loss of every node (the data
    file system of nemeses/lazyfs.py under /var/lib/postgresql): acknowledged appends are
    gone. (fsync=off loses more: in one run of two the bootstrap's own catalog, the
    replication role, and the cluster never came back: unknown, exit 2.)"""
    store = str(tmp_path / "store")
    res = harness("test", "--system", "pgha", "--system-opt", "async-commit", "--nemesis",
                  "lose-unfsynced", "--process-targets", "all", "--time-limit", "50",
                  "--nemesis-interval", "15", "--store", store, timeout=400)
    assert res.returncode == 1, res.stdout + res.stderr
    elle = results_of(store)["elle-list-append"]
    assert elle["valid"] is False and "lost-append" in elle["anomaly-types"], elle
