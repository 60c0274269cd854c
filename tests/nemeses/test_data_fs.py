"""The storage nemeses' logic with a fake cluster: what they ask each node, in what order,
and what they record (the effect on real nodes: tests/integration/test_storage_faults.py)."""

from __future__ import annotations

import json
import logging
import random

import pytest

from harness.errors import DeployError
from nemeses.data_fs import DiskNemesis, LoseUnfsyncedNemesis


class FakeCluster:
    nodes = ["n1", "n2", "n3"]

    def __init__(self, replies=None, fail_mount_on=()):
        self.calls: list[tuple[str, str]] = []
        self.replies = replies or {}
        self.fail_mount_on = fail_mount_on
        self.remote = self

    def upload(self, node, local, remote_dir):
        self.calls.append((node, f"upload {remote_dir}"))

    def exec(self, node, cmd, timeout=None, check=True):
        self.calls.append((node, cmd))
        if "lazyfs.py mount" in cmd:
            return (1, "mount failed: no /dev/fuse") if node in self.fail_mount_on else (0, "")
        for word, reply in self.replies.items():
            if f'"cmd": "{word}"' in cmd:
                return 0, json.dumps(reply) + "\n"
        return 0, ""


class FakeSystem:
    data_dirs = (("/var/lib/x", "root"), ("/var/lib/y", "postgres"))

    def __init__(self):
        self.events: list[tuple[str, str]] = []

    def kill(self, cluster, node):
        self.events.append(("kill", node))

    def start(self, cluster, node):
        self.events.append(("start", node))


class Run:
    def __init__(self, cluster, system):
        self.cluster, self.system, self.log = cluster, system, logging.getLogger("t")

    def primaries(self):
        return ["n2"]


def test_a_power_loss_kills_then_loses_every_dir_records_it_and_restarts_at_the_heal():
    cluster = FakeCluster({"lose": {"files": 1, "bytes": 10, "names": 2}})
    system = FakeSystem()
    nemesis = LoseUnfsyncedNemesis(targets=("all",))
    undo = nemesis.before_setup(cluster, system)
    mounts = [c for _, c in cluster.calls if "lazyfs.py mount" in c]
    assert len(mounts) == 6 and all("/var/lib/x" in c or "/var/lib/y" in c for c in mounts)
    run = Run(cluster, system)
    cluster.calls.clear()
    value = nemesis.start(run, random.Random(0))
    assert value["nodes"] == ["n1", "n2", "n3"]
    # two data dirs per node: their losses add up
    assert value["detail"]["n1"] == {"files": 2, "bytes": 20, "names": 4}
    for node in cluster.nodes:
        ours = [c for n, c in cluster.calls if n == node]
        assert len(ours) == 2 and all('"cmd": "lose"' in c for c in ours)
    assert sorted(system.events) == [("kill", n) for n in cluster.nodes]
    end = nemesis.stop(run)
    assert end["nodes"] == cluster.nodes and ("start", "n3") in system.events
    nemesis.heal_all(run)                       # idempotent: starts again, no error
    undo()
    assert all("umount -l" in c for _, c in cluster.calls[-3:])


def test_torn_writes_are_asked_of_every_node_and_recorded():
    from harness.options import build
    nemesis = build(LoseUnfsyncedNemesis, "lose-unfsynced", {"torn": "0.25", "targets": "all"},
                    "--nemesis-opt")
    assert nemesis.torn == 0.25
    cluster = FakeCluster({"lose": {"files": 1, "bytes": 10, "names": 0}})
    system = FakeSystem()
    nemesis.before_setup(cluster, system)
    cluster.calls.clear()
    value = nemesis.start(Run(cluster, system), random.Random(0))
    assert value["torn"] == 0.25
    asked = [json.loads(c.split("ctl ", 1)[1].split(" ", 1)[1].strip("'"))
             for _, c in cluster.calls if '"cmd": "lose"' in c]
    assert len(asked) == 6 and all(a == {"cmd": "lose", "torn": 0.25} for a in asked)
    for bad in ("1.5", "-0.1", "x"):
        with pytest.raises(Exception):
            build(LoseUnfsyncedNemesis, "lose-unfsynced", {"torn": bad}, "--nemesis-opt")


def test_a_mount_that_fails_is_a_deploy_error_naming_the_node():
    nemesis = LoseUnfsyncedNemesis()
    with pytest.raises(DeployError) as e:
        nemesis.before_setup(FakeCluster(fail_mount_on=("n2",)), FakeSystem())
    assert e.value.node == "n2" and "no /dev/fuse" in str(e.value)


def test_disk_faults_are_set_on_the_targets_and_healed_with_a_restart():
    cluster = FakeCluster({"faults": {"ops": ["fsync"], "eio": 0.5, "delay_ms": 0},
                           "heal": {"injected": 7}})
    system = FakeSystem()
    nemesis = DiskNemesis(targets=("primaries",), ops=("fsync",), eio=0.5)
    nemesis.before_setup(cluster, system)
    run = Run(cluster, system)
    cluster.calls.clear()
    value = nemesis.start(run, random.Random(0))
    assert value["nodes"] == ["n2"] and value["ops"] == ["fsync"] and value["eio"] == 0.5
    assert all(n == "n2" and '"eio": 0.5' in c for n, c in cluster.calls)
    end = nemesis.stop(run)
    assert end["detail"] == {"n2": {"injected": 14}} and system.events == [("start", "n2")]


def test_a_disk_fault_that_does_nothing_is_refused():
    assert DiskNemesis(eio=0.0, delay=0.0).problems(5)
    assert not DiskNemesis(eio=0.0, delay=5.0).problems(5)


def test_the_mount_command_does_nothing_where_the_file_system_is_already_there():
    """lose-unfsynced and disk in one run each lay the file system: the second must find
    the first's mount and socket and leave them alone (two stacked daemons fought over
    one socket: the first real run of both together lost its control channel)."""
    from nemeses.data_fs import mount_cmd, socket_path

    cmd = mount_cmd(0, "/var/lib/x", "root", seed=0)
    check = cmd.index(f"grep -q ' /var/lib/x fuse' /proc/mounts && [ -S {socket_path(0)} ]")
    assert check < cmd.index("rm -rf") and cmd.index("exit 0") < cmd.index("setsid")
