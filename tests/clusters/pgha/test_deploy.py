"""pgha's deployment logic without containers: the Patroni config, the start and process
fault commands, the options, and which workloads the system accepts."""

import pytest

from clusters.pgha import PgHA
from clusters.pgha.deploy import CONFIG, PID_FILE, patroni_config
from harness.control import Cluster
from harness.errors import UsageError
from harness.options import build


class RecordingRemote:
    def __init__(self):
        self.commands = []

    def exec(self, node, cmd, **kw):
        self.commands.append((node, cmd))
        return 0, ""


def cluster_of(n=3):
    nodes = [f"n{i}" for i in range(1, n + 1)]
    return Cluster(nodes, {node: f"10.9.0.1{node[1:]}" for node in nodes}, RecordingRemote())


def test_patroni_config_has_the_essentials():
    cluster = cluster_of()
    cfg = patroni_config(cluster, "n2", synchronous_mode=True, synchronous_mode_strict=False)
    assert cfg["name"] == "n2"
    assert cfg["etcd3"]["hosts"] == "10.9.0.11:2379,10.9.0.12:2379,10.9.0.13:2379"
    dcs = cfg["bootstrap"]["dcs"]
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (10, 1, 4)
    assert dcs["synchronous_mode"] is True and dcs["synchronous_mode_strict"] is False
    pg = cfg["postgresql"]
    assert pg["connect_address"] == "10.9.0.12:5432"
    assert pg["bin_dir"] == "/usr/lib/postgresql/15/bin"
    assert pg["parameters"]["unix_socket_directories"] == "/tmp"
    assert "host replication replicator 127.0.0.1/32 trust" in pg["pg_hba"]
    assert cfg["restapi"]["connect_address"] == "10.9.0.12:8008"


def test_patroni_runs_as_postgres_detached_with_a_pid_file():
    cluster = cluster_of()
    PgHA().start(cluster, "n1")
    (node, cmd), = cluster.remote.commands
    assert node == "n1" and "setsid" in cmd and PID_FILE in cmd
    assert ("setpriv --reuid postgres --regid postgres --init-groups env -u FAKETIME_SHARED "
            'LD_PRELOAD="$preload" patroni ' + CONFIG) in cmd
    # a preloaded library (the clock fault's) is loaded by Patroni only, not as root
    assert 'preload="$LD_PRELOAD"; LD_PRELOAD= exec setpriv' in cmd


@pytest.mark.parametrize("method, signal", [("kill", "KILL"), ("pause", "STOP"),
                                            ("resume", "CONT")])
def test_process_faults_signal_every_postgres_process(method, signal):
    cluster = cluster_of()
    getattr(PgHA(), method)(cluster, "n3")
    (node, cmd), = cluster.remote.commands
    assert node == "n3" and f"kill -{signal} " in cmd and "= postgres" in cmd


def test_options_and_patroni_versions():
    system = build(PgHA, "pgha", {"isolation": "repeatable-read",
                                  "synchronous-mode-strict": "true"}, "--system-opt")
    assert system.isolation == "repeatable-read"
    assert system.synchronous_mode and system.synchronous_mode_strict
    assert "setpriv" in system.start_command(cluster_of(), "n1") \
        and " patroni /etc/pgha" in system.start_command(cluster_of(), "n1")
    four = build(PgHA, "pgha", {"patroni": "4", "replica-reads": ""}, "--system-opt")
    assert "/opt/patroni4/bin/python3 -m patroni" in four.start_command(cluster_of(), "n1")
    assert four.replica_reads is True
    with pytest.raises(UsageError, match="patroni"):
        build(PgHA, "pgha", {"patroni": "5"}, "--system-opt")
    with pytest.raises(UsageError):
        build(PgHA, "pgha", {"isolation": "snapshot"}, "--system-opt")


def test_workloads():
    cluster = cluster_of()
    assert PgHA().client(cluster, "rw-register")().workload == "rw-register"
    for name in ("bank", "set", "list-append"):
        assert PgHA().client(cluster, name)().workload == name
    assert PgHA(replica_reads=True).client(cluster, "list-append")().replica is not None
    with pytest.raises(UsageError, match="register"):
        PgHA().client(cluster, "register")
