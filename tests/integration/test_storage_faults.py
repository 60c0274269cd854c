"""The storage faults take effect on real containers through the real FUSE layer: an
unsynced byte is gone after a power loss and a synced one kept, an injected EIO reaches
the process and heals; and the bundled Raft store is caught when it skips fsync and
passes when it does not."""

import logging
import random
import uuid

import pytest

from harness import image
from harness.control.docker import DockerCluster

from nemeses.data_fs import DiskNemesis, LoseUnfsyncedNemesis

from .conftest import harness, results_of

DATA = "/var/lib/probe"


class _ProbeSystem:
    """Only what the nemeses ask of a system: its data directory, kill and start (the
    probe's 'processes' are the test's own short commands, so both do nothing)."""

    data_dirs = ((DATA, "root"),)

    def kill(self, cluster, node):
        pass

    def start(self, cluster, node):
        pass


class _Run:
    def __init__(self, cluster):
        self.cluster = cluster
        self.system = _ProbeSystem()
        self.log = logging.getLogger("test")

    def primaries(self):
        return []


FSYNC = "python3 -c \"import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)\""


@pytest.fixture
def probe_cluster(docker_client):
    owner = DockerCluster(docker_client, "lazyfs" + uuid.uuid4().hex[:8],
                          image.require(docker_client), 1, features=frozenset({"fuse"}))
    try:
        yield owner.create()
    finally:
        owner.destroy()


def test_a_power_loss_drops_the_unsynced_bytes_and_names_and_keeps_the_synced(probe_cluster):
    cluster = probe_cluster
    nemesis = LoseUnfsyncedNemesis(targets=("all",))
    undo = nemesis.before_setup(cluster, _ProbeSystem())
    sh = lambda cmd: cluster.exec("n1", cmd)[1]    # noqa: E731
    sh(f"printf 'synced\\n' > {DATA}/log && {FSYNC} {DATA}/log && {FSYNC} {DATA}")
    sh(f"printf 'unsynced\\n' >> {DATA}/log && printf new > {DATA}/created && {FSYNC} {DATA}/created")
    assert sh(f"cat {DATA}/log") == "synced\nunsynced\n"
    value = nemesis.start(_Run(cluster), random.Random(0))
    assert value["nodes"] == ["n1"] and value["detail"]["n1"]["bytes"] >= len("unsynced\n")
    # Through the mount, as a restarted process would read it: the kernel kept nothing.
    assert sh(f"cat {DATA}/log") == "synced\n"
    assert sh(f"ls {DATA}").split() == ["log"]     # its name was never made durable
    nemesis.stop(_Run(cluster))
    undo()
    rc, _ = cluster.exec("n1", f"grep -q ' {DATA} fuse' /proc/mounts", check=False)
    assert rc != 0                                  # unmounted


def test_a_torn_power_loss_keeps_some_unsynced_pages_and_not_others(probe_cluster):
    """torn=0.5 over 64 unsynced pages rewritten on a synced file: through the real mount,
    some pages come back new and some old, each whole; the loss says how many were kept."""
    cluster = probe_cluster
    nemesis = LoseUnfsyncedNemesis(targets=("all",), torn=0.5)
    undo = nemesis.before_setup(cluster, _ProbeSystem())
    sh = lambda cmd: cluster.exec("n1", cmd)[1]    # noqa: E731
    write = ("python3 -c \"import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT); "
             "os.pwrite(fd, sys.argv[2].encode()*(64*4096), 0); os.close(fd)\"")
    sh(f"{write} {DATA}/f o && {FSYNC} {DATA}/f && {FSYNC} {DATA}")
    sh(f"{write} {DATA}/f n")
    value = nemesis.start(_Run(cluster), random.Random(0))
    kept = value["detail"]["n1"]["pages_kept"]
    assert value["torn"] == 0.5 and 0 < kept < 64, value
    pages = sh(f"python3 -c \"d=open('{DATA}/f','rb').read(); "
               f"print(' '.join(sorted(set(d[i:i+4096].decode() for i in range(0, len(d), 4096)))))\"")
    assert sorted(pages.split()) == sorted(["o" * 4096, "n" * 4096])
    count_new = sh(f"python3 -c \"print(open('{DATA}/f','rb').read().count(b'n') // 4096)\"")
    assert int(count_new) == kept
    nemesis.stop(_Run(cluster))
    undo()


def test_disk_faults_fail_the_chosen_operations_with_eio_and_heal(probe_cluster):
    cluster = probe_cluster
    nemesis = DiskNemesis(targets=("all",), ops=("fsync",), eio=1.0)
    nemesis.before_setup(cluster, _ProbeSystem())
    cluster.exec("n1", f"printf x > {DATA}/f")
    value = nemesis.start(_Run(cluster), random.Random(0))
    assert value["ops"] == ["fsync"] and value["eio"] == 1.0
    rc, out = cluster.exec("n1", f"{FSYNC} {DATA}/f", check=False)
    assert rc != 0 and "Input/output error" in out, out
    assert cluster.exec("n1", f"cat {DATA}/f")[1] == "x"      # reads are untouched
    nemesis.stop(_Run(cluster))
    assert cluster.exec("n1", f"{FSYNC} {DATA}/f", check=False)[0] == 0


def test_raftkv_that_never_fsyncs_loses_writes_to_a_power_loss_not_to_a_crash(docker_client,
                                                                              tmp_path):
    crash = str(tmp_path / "crash")
    res = harness("test", "--system", "raftkv", "--system-opt", "no-fsync", "--nemesis", "kill",
                  "--process-targets", "all", "--time-limit", "20", "--nemesis-interval", "4",
                  "--store", crash)
    assert res.returncode == 0, res.stdout + res.stderr
    power = str(tmp_path / "power")
    res = harness("test", "--system", "raftkv", "--system-opt", "no-fsync", "--nemesis",
                  "lose-unfsynced", "--process-targets", "all", "--time-limit", "25",
                  "--nemesis-interval", "4", "--store", power)
    assert res.returncode == 1, res.stdout + res.stderr
    assert results_of(power)["linearizable"]["invalid_keys"]


def test_safe_raftkv_survives_power_losses_and_disk_errors(docker_client, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "raftkv", "--nemesis", "lose-unfsynced,disk",
                  "--process-targets", "all", "--time-limit", "30", "--nemesis-interval", "4",
                  "--store", store)
    assert res.returncode == 0, res.stdout + res.stderr
    nemeses = results_of(store)["run"]["nemeses"]
    for kind in ("lose-unfsynced", "disk"):       # one shared file system serves both
        stats = nemeses[kind]
        assert stats["started"] >= 1, (kind, stats)
        assert stats["partial"] == stats["failed"] == stats["heal_failed"] == 0, (kind, stats)
