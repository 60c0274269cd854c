"""etcd's deployment logic without containers: who counts as leader from the members'
statuses, what a member is started with, and which workloads the system accepts."""

import pytest

from clusters.etcd import Etcd
from clusters.etcd.client import EtcdClient
from clusters.etcd.deploy import PID_FILE
from harness.control import Cluster
from harness.errors import UsageError


class RecordingRemote:
    def __init__(self):
        self.commands = []

    def exec(self, node, cmd, **kw):
        self.commands.append((node, cmd))
        return 0, ""


def cluster_of(n=3):
    nodes = [f"n{i}" for i in range(1, n + 1)]
    return Cluster(nodes, {node: f"10.9.0.1{node[1:]}" for node in nodes},
                   RecordingRemote())


def status(member, leader, term):
    return {"member": member, "leader": leader, "term": term}


def test_roles_name_the_member_that_leads_itself_in_the_highest_term():
    """An old leader cut off from the others may still name itself in an older term:
    only the newest term's self-named leader is the primary."""
    roles = Etcd._roles({"n1": status("1", "1", 2), "n2": status("2", "2", 3),
                         "n3": status("3", "2", 3), "n4": status("4", "0", 3), "n5": None})
    assert roles == {"n1": "follower", "n2": "leader", "n3": "follower",
                     "n4": "no-leader", "n5": "down"}


def test_no_answer_at_all_means_no_primary():
    assert Etcd._roles({"n1": None, "n2": None}) == {"n1": "down", "n2": "down"}


def test_primaries_and_health_come_from_the_statuses(monkeypatch):
    cluster = cluster_of()
    answers = {"n1": status("a", "b", 4), "n2": status("b", "b", 4), "n3": None}
    monkeypatch.setattr(Etcd, "status", lambda self, c, node, timeout_s=0.5: answers[node])
    assert Etcd().primaries(cluster) == ["n2"]
    assert Etcd().health(cluster) == {"n1": "follower", "n2": "leader", "n3": "down"}


def test_start_command_bootstraps_the_whole_cluster_and_is_guarded_by_the_pid_file():
    cluster = cluster_of()
    command = Etcd().start_command(cluster, "n2")
    assert command.startswith(f"if [ -f {PID_FILE} ] && kill -0 $(cat {PID_FILE})")
    assert "--name n2" in command
    assert "--listen-client-urls http://10.9.0.12:2379" in command
    assert ("--initial-cluster n1=http://10.9.0.11:2380,n2=http://10.9.0.12:2380,"
            "n3=http://10.9.0.13:2380") in command
    assert f"echo $$ > {PID_FILE}" in command and "exec etcd" in command


@pytest.mark.parametrize("action, signal", [("kill", "-9"), ("pause", "-STOP"),
                                            ("resume", "-CONT")])
def test_process_controls_signal_the_pid_file_process_and_never_fail(action, signal):
    cluster = cluster_of()
    getattr(Etcd(), action)(cluster, "n1")
    [(node, command)] = cluster.remote.commands
    assert node == "n1" and f"kill {signal} $(cat {PID_FILE})" in command
    assert command.rstrip().endswith("true")     # nothing to signal is not an error


def test_client_factory_carries_the_read_mode_and_rejects_other_workloads():
    cluster = cluster_of()
    client = Etcd(serializable_reads=True).client(cluster, "list-append")()
    assert isinstance(client, EtcdClient)
    assert client.serializable_reads is True and client.workload == "list-append"
    assert Etcd().client(cluster, "set")().serializable_reads is False
    with pytest.raises(UsageError, match="etcd cannot run workload 'bank'"):
        Etcd().client(cluster, "bank")


def test_client_urls_list_every_member():
    assert Etcd.client_urls(cluster_of(2)) == ["http://10.9.0.11:2379", "http://10.9.0.12:2379"]
