"""The SSH backend on real sshd: five bare hosts (node-image containers running sshd with
a test key, nothing of any system), the real raftkv deployed, partitioned, killed and its
logs collected over SSH; refusals before anything is touched; and `harness clean --hosts`
after a `kill -9` of the harness."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

from harness.control import bare_hosts
from harness.control.hosts import read_hosts_file
from harness.control.ssh_backend import MANIFEST, SshBackend

from .conftest import ROOT, harness, results_of, run_dir_of

RAFTKV_PATHS = ("/opt/raftkv", "/var/lib/raftkv", "/var/log/raftkv", "/run/raftkv.pid")


@pytest.fixture(scope="module")
def hosts(docker_client, tmp_path_factory):
    started = bare_hosts.start(5, str(tmp_path_factory.mktemp("bare-hosts")), docker_client)
    yield started
    started.destroy()


def ssh_args(hosts, *extra):
    return ["--backend", "ssh", "--hosts", hosts.hosts_file, "--known-hosts",
            hosts.known_hosts, *extra]


def leftovers(hosts) -> dict[str, str]:
    """What a run could leave on each host, seen through `docker exec` (not SSH): its
    paths, the manifest, HARNESS-* chains other than the testbed's own, raftkv processes."""
    found = {}
    check = ("ls -d " + " ".join(RAFTKV_PATHS) + f" {MANIFEST} 2>/dev/null; "
             "iptables -S | grep -- '-N HARNESS-' | grep -v HARNESS-HOST; "
             "pgrep -af '[r]aftkv_server'; ls -a /root | grep harness-stage; true")
    for node in hosts.nodes:
        _, out = hosts.cluster.exec(node, check)
        if out.strip():
            found[node] = out.strip()
    return found


def test_headline_over_ssh_is_valid_and_leaves_nothing(hosts, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "raftkv", "--nemesis", "partition,kill",
                  "--time-limit", "20", "--nemesis-interval", "4", "--store", store,
                  *ssh_args(hosts))
    assert res.returncode == 0, res.stdout + res.stderr
    results = results_of(store)
    assert results["valid"] is True and results["linearizable"]["ops"] > 1000
    for nemesis in ("partition", "kill"):
        stats = results["run"]["nemeses"][nemesis]
        assert stats["started"] >= 1 and stats["failed"] == 0 and stats["heal_failed"] == 0
    run_dir = run_dir_of(store)
    for node in hosts.nodes:          # logs collected over SSH
        assert os.path.getsize(os.path.join(run_dir, "nodes", node, "raftkv", "server.log")) > 0
    config = json.load(open(os.path.join(run_dir, "test.json")))
    assert config["backend"] == "ssh" and len(config["hosts"]) == 5
    info = config["backend_info"]
    assert info["host_key_check"] == "known-hosts" and info["accepted_host_keys"] == []
    assert set(info["os"].values()) == {"debian-12"}
    assert leftovers(hosts) == {}


def test_unsafe_reads_are_caught_over_ssh(hosts, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "raftkv", "--system-opt", "unsafe-reads",
                  "--nemesis", "partition", "--partition-shapes", "one,halves,primaries",
                  "--time-limit", "20", "--nemesis-interval", "3", "--store", store,
                  *ssh_args(hosts))
    assert res.returncode == 1, res.stdout + res.stderr
    assert results_of(store)["linearizable"]["valid"] is False
    assert leftovers(hosts) == {}


def test_an_unknown_host_key_stops_the_run_before_anything_is_touched(hosts, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    store = tmp_path / "store"
    res = harness("test", "--system", "raftkv", "--time-limit", "5", "--store", str(store),
                  "--backend", "ssh", "--hosts", hosts.hosts_file, "--known-hosts", str(empty))
    assert res.returncode == 3, res.stdout + res.stderr
    line = res.stderr.strip()
    assert "\n" not in line and "unknown host key" in line
    assert line.count("SHA256:") == 5 and "--accept-new-host-keys" in line
    assert not store.exists()
    assert leftovers(hosts) == {}
    assert empty.read_text() == ""


def test_accepting_new_host_keys_is_recorded(hosts, tmp_path):
    known = tmp_path / "known_hosts"
    store = str(tmp_path / "store")
    res = harness("test", "--system", "raftkv", "--time-limit", "3", "--store", store,
                  "--backend", "ssh", "--hosts", hosts.hosts_file, "--known-hosts", str(known),
                  "--accept-new-host-keys")
    assert res.returncode == 0, res.stdout + res.stderr
    info = json.load(open(os.path.join(run_dir_of(store), "test.json")))["backend_info"]
    assert info["host_key_check"] == "accept-new" and len(info["accepted_host_keys"]) == 5
    assert len(known.read_text().splitlines()) == 5
    assert leftovers(hosts) == {}


def test_a_wrong_private_key_is_one_line_and_exit_3(hosts, tmp_path):
    import paramiko
    wrong = tmp_path / "wrong"
    paramiko.RSAKey.generate(2048).write_private_key_file(str(wrong))
    hosts_file = tmp_path / "hosts"
    hosts_file.write_text("".join(f"{h.target} key={wrong}\n"
                                  for h in read_hosts_file(hosts.hosts_file)))
    res = harness("test", "--system", "raftkv", "--time-limit", "5", "--store",
                  str(tmp_path / "store"), "--backend", "ssh", "--hosts", str(hosts_file),
                  "--known-hosts", hosts.known_hosts)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "\n" not in res.stderr.strip() and "public key refused" in res.stderr
    assert leftovers(hosts) == {}


def test_the_preflight_names_every_missing_tool_before_touching_anything(hosts, tmp_path):
    hosts.cluster.exec("n3", "mv /usr/sbin/iptables /usr/sbin/iptables.hidden")
    hosts.cluster.exec("n5", "mkdir /opt/raftkv")
    try:
        res = harness("test", "--system", "raftkv", "--nemesis", "partition", "--time-limit",
                      "20", "--store", str(tmp_path / "store"), *ssh_args(hosts))
    finally:
        hosts.cluster.exec("n3", "mv /usr/sbin/iptables.hidden /usr/sbin/iptables")
        hosts.cluster.exec("n5", "rmdir /opt/raftkv")
    assert res.returncode == 3, res.stdout + res.stderr
    message = res.stderr.strip()
    assert "\n" not in message and "2 problem(s)" in message
    assert "n3 (" in message and "missing iptables" in message
    assert "n5 (" in message and "/opt/raftkv already exist" in message
    assert leftovers(hosts) == {}


def test_after_a_kill_9_harness_clean_hosts_leaves_nothing(hosts, tmp_path):
    store = str(tmp_path / "store")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "test", "--system", "raftkv", "--nemesis",
         "partition,kill", "--time-limit", "60", "--nemesis-interval", "2", "--store", store,
         *ssh_args(hosts)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        first = proc.stdout.readline()
        assert "ready" in first, first
        time.sleep(7)          # into the faults: a partition or a kill is in force
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    before = leftovers(hosts)
    assert len(before) == 5 and all("/var/lib/raftkv" in v for v in before.values())
    res = harness("clean", "--hosts", hosts.hosts_file, "--known-hosts", hosts.known_hosts)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "cleaned 5 of 5" in res.stdout
    assert leftovers(hosts) == {}
    # The testbed's own containment chain was there before the run: it stays.
    for node in hosts.nodes:
        assert "HARNESS-HOST" in hosts.cluster.exec(node, "iptables -S")[1]


def test_remote_calls_time_out_quote_and_move_files(hosts, tmp_path):
    backend = SshBackend(read_hosts_file(hosts.hosts_file)[:1], known_hosts=hosts.known_hosts)
    backend.connect_all()
    remote = backend.remote
    try:
        started = time.monotonic()
        code, _ = remote.exec("n1", "sleep 30", timeout=2, check=False)
        assert code != 0 and time.monotonic() - started < 10
        weird = "it's $(id) `x` ; rm -rf /tmp/nothing & \"q\""
        assert remote.exec("n1", "printf '%s' " + shlex.quote(weird))[1] == weird
        src = tmp_path / "dir with space"
        src.mkdir()
        (src / "a b.txt").write_text("payload\n")
        remote.upload("n1", str(src), "/tmp/harness-ssh-test")
        remote.download("n1", "/tmp/harness-ssh-test/dir with space", str(tmp_path / "back"))
        assert (tmp_path / "back" / "dir with space" / "a b.txt").read_text() == "payload\n"
        remote.download("n1", "/tmp/does-not-exist", str(tmp_path / "none"))
        assert not (tmp_path / "none").exists()
    finally:
        remote.exec("n1", "rm -rf /tmp/harness-ssh-test", check=False)
        backend.close()


def test_a_host_that_freezes_mid_run_ends_it_with_exit_3(hosts, tmp_path):
    """Outside the nemesis's control, a host stops answering (its container frozen):
    the monitor finds it, the run ends as a harness failure (never a verdict), and once
    the host is back `harness clean --hosts` undoes what the run could not."""
    store = str(tmp_path / "store")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "test", "--system", "raftkv", "--nemesis",
         "partition", "--time-limit", "40", "--store", store, *ssh_args(hosts)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    container = hosts.docker_cluster.containers["n4"]
    try:
        assert "ready" in proc.stdout.readline()
        time.sleep(3)
        container.pause()
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
        container.reload()
        if container.status == "paused":
            container.unpause()
    assert proc.returncode == 3, out + err
    assert "n4 (" in err and "unreachable over SSH" in err
    results = results_of(store)
    assert results["valid"] == "unknown" and "lost" in results["error"]
    res = harness("clean", "--hosts", hosts.hosts_file, "--known-hosts", hosts.known_hosts)
    assert res.returncode == 0, res.stdout + res.stderr
    assert leftovers(hosts) == {}


ETCD_PATHS = ("/var/lib/etcd/data", "/var/log/etcd", "/run/etcd.pid")
PGHA_PATHS = ETCD_PATHS + ("/var/lib/postgresql/pgha", "/etc/pgha", "/var/log/pgha", "/run/pgha")


def system_leftovers(hosts, paths) -> dict[str, str]:
    """The system's paths and any etcd, Patroni or PostgreSQL process left on each host."""
    found = {}
    for node in hosts.nodes:
        _, out = hosts.cluster.exec(node, "ls -d " + " ".join(paths) + " 2>/dev/null; "
                                    "pgrep -af '[e]tcd --name|[p]atroni|[p]ostgres -D'; true")
        if out.strip():
            found[node] = out.strip()
    return found


def test_etcd_runs_over_ssh_with_faults_and_leaves_nothing(hosts, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "etcd", "--nemesis", "partition,kill", "--time-limit",
                  "20", "--nemesis-interval", "4", "--store", store, *ssh_args(hosts))
    assert res.returncode == 0, res.stdout + res.stderr
    results = results_of(store)
    assert results["linearizable"]["ops"] > 500
    assert all(results["run"]["nemeses"][n]["started"] >= 1 for n in ("partition", "kill"))
    assert system_leftovers(hosts, ETCD_PATHS) == {} and leftovers(hosts) == {}


def test_pgha_runs_over_ssh_with_a_primary_kill_and_leaves_nothing(hosts, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "pgha", "--nemesis", "kill", "--process-targets",
                  "primaries", "--time-limit", "40", "--store", store, *ssh_args(hosts),
                  timeout=400)
    assert res.returncode == 0, res.stdout + res.stderr
    results = results_of(store)
    assert results["elle-list-append"]["valid"] is True
    assert results["run"]["nemeses"]["kill"]["started"] >= 1
    assert system_leftovers(hosts, PGHA_PATHS) == {} and leftovers(hosts) == {}


def test_sqldb_runs_over_ssh_and_leaves_nothing(hosts, tmp_path):
    store = str(tmp_path / "store")
    res = harness("test", "--system", "sqldb", "--nemesis", "kill", "--time-limit", "15",
                  "--nemesis-interval", "4", "--store", store, *ssh_args(hosts))
    assert res.returncode == 0, res.stdout + res.stderr
    assert results_of(store)["elle-list-append"]["valid"] is True
    assert system_leftovers(hosts, ("/opt/sqldb", "/opt/raft", "/var/lib/sqldb",
                                    "/var/log/sqldb", "/run/sqldb.pid")) == {}


def test_a_non_root_user_with_sudo_runs_the_headline_and_leaves_nothing(hosts, tmp_path):
    from harness.control.bare_hosts import SUDO_USER

    store = str(tmp_path / "store")
    res = harness("test", "--system", "raftkv", "--nemesis", "partition,kill",
                  "--time-limit", "15", "--nemesis-interval", "4", "--store", store,
                  "--backend", "ssh", "--hosts", hosts.sudo_hosts_file, "--known-hosts",
                  hosts.known_hosts, "--sudo")
    assert res.returncode == 0, res.stdout + res.stderr
    results = results_of(store)
    assert all(results["run"]["nemeses"][n]["started"] >= 1 for n in ("partition", "kill"))
    config = json.load(open(os.path.join(run_dir_of(store), "test.json")))
    assert config["sudo"] is True and all(h.startswith(SUDO_USER + "@") for h in config["hosts"])
    assert leftovers(hosts) == {}
    for node in hosts.nodes:       # the upload staging files in the user's home are gone
        _, out = hosts.cluster.exec(node, f"ls -a /home/{SUDO_USER} | grep harness-stage; true")
        assert not out.strip(), (node, out)
    # without --sudo the same user is refused before anything is touched
    res = harness("test", "--system", "raftkv", "--time-limit", "5", "--store",
                  str(tmp_path / "refused"), "--backend", "ssh", "--hosts",
                  hosts.sudo_hosts_file, "--known-hosts", hosts.known_hosts)
    assert res.returncode == 3 and "not root" in res.stderr, res.stderr
    assert leftovers(hosts) == {}
