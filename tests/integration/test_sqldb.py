"""End to end on real containers with the real sqldb: the safe system passes the
isolation and bank checkers under partitions, crashes and pauses; each unsafe mode is
caught as the anomaly it should produce."""

import json
import os

from .conftest import harness, results_of, run_dir_of

TXN_ANOMALIES_OF_LOST_READS = {"lost-update", "G-single-item", "G2-item", "G-single", "G2"}


def test_safe_sqldb_under_partition_kill_pause_is_strict_serializable(docker_client, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "sqldb", "--nemesis", "partition,kill,pause",
                  "--time-limit", "30", "--nemesis-interval", "4", "--store", store)
    assert res.returncode == 0, res.stdout + res.stderr
    results = results_of(store)
    elle = results["elle-list-append"]
    assert results["valid"] is True and elle["valid"] is True
    assert "strict-serializable" in elle["summary"] and elle["txns"] > 1000
    history = [json.loads(line) for line in open(os.path.join(run_dir_of(store), "history.jsonl"))]
    faults = {op["f"] for op in history if op["process"] == "nemesis"}
    assert len(faults) >= 3, faults           # partition, kill and pause all happened
    assert os.path.exists(os.path.join(run_dir_of(store), "nodes", "n1", "sqldb", "server.log"))


def test_safe_sqldb_bank_conserves_the_total_under_kill_and_pause(docker_client, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "sqldb", "--workload", "bank", "--workload-opt",
                  "accounts=5", "--workload-opt", "initial-balance=20", "--nemesis", "kill,pause",
                  "--time-limit", "20", "--nemesis-interval", "4", "--store", store)
    assert res.returncode == 0, res.stdout + res.stderr
    bank = results_of(store)["bank"]
    assert bank["valid"] is True and bank["total"] == 100 and bank["reads"] > 100


def test_stale_reads_under_partitions_are_caught_as_realtime_violations(docker_client, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "sqldb", "--system-opt", "stale-reads",
                  "--nemesis", "partition", "--time-limit", "30", "--nemesis-interval", "4",
                  "--store", store)
    assert res.returncode == 1, res.stdout + res.stderr
    elle = results_of(store)["elle-list-append"]
    assert elle["valid"] is False
    assert any(t.endswith("-realtime") for t in elle["anomaly-types"]), elle["anomaly-types"]


def test_read_before_log_is_caught_as_lost_updates_or_write_skew(docker_client, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "sqldb", "--system-opt", "read-before-log",
                  "--consistency-model", "serializable", "--time-limit", "20", "--store", store)
    assert res.returncode == 1, res.stdout + res.stderr
    elle = results_of(store)["elle-list-append"]
    assert elle["valid"] is False and elle["model-holds"] == {"serializable": False}
    assert TXN_ANOMALIES_OF_LOST_READS & set(elle["anomaly-types"]), elle["anomaly-types"]


def test_no_fsync_loses_acknowledged_adds_to_a_power_loss(docker_client, tmp_path):
    """A database that never fsyncs keeps nothing through a power loss of every node, not
    even the table the run created: the final reads then fail ("no such table"), and the
    set checker, without a final read, says unknown (exit 2); when some state survived
    instead, the lost adds are reported (exit 1). Never valid."""
    store = str(tmp_path / "store")
    res = harness("test", "--system", "sqldb", "--workload", "set", "--system-opt", "no-fsync",
                  "--nemesis", "lose-unfsynced", "--process-targets", "all", "--time-limit", "30",
                  "--nemesis-interval", "4", "--store", store)
    assert res.returncode in (1, 2), res.stdout + res.stderr
    result = results_of(store)["set"]
    if res.returncode == 1:
        assert result["valid"] is False and result["lost-count"] > 0, result
    else:
        with open(os.path.join(run_dir_of(store), "history.jsonl")) as f:
            errors = {json.loads(line).get("error") for line in f}
        assert "no such table: elements" in errors, result
