"""The SSH backend without hosts: hosts files, command quoting, host-key verification,
the preflight's findings, the teardown script, and choosing a backend. Real hosts (sshd
in containers) are exercised in tests/integration/test_ssh.py."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest

paramiko = pytest.importorskip("paramiko")

from harness.control import backends  # noqa: E402
from harness.control.hosts import (HostSpec, check_distinct, parse_host,  # noqa: E402
                                   parse_hosts_text, read_hosts_file)
from harness.control.ssh import (AuthError, HostKeyError, HostKeyPolicy,  # noqa: E402
                                 SshConnection, fingerprint)
from harness.control.ssh_backend import (CHAIN_PREFIX, host_problems,  # noqa: E402
                                         read_facts, teardown_script)
from harness.errors import InputError, UsageError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---- hosts files
def test_a_hosts_line_gives_user_host_port_and_key():
    spec = parse_host("alice@db-1.example:2222 key=~/k")
    assert (spec.user, spec.host, spec.port) == ("alice", "db-1.example", 2222)
    assert spec.key == os.path.expanduser("~/k")
    assert spec.known_hosts_name == "[db-1.example]:2222"
    assert parse_host("10.0.0.5").target == "root@10.0.0.5:22"
    assert parse_host("10.0.0.5").known_hosts_name == "10.0.0.5"


def test_ipv6_hosts_are_written_in_brackets():
    spec = parse_host("root@[fd00::5]:2200")
    assert spec.host == "fd00::5" and spec.port == 2200
    assert spec.target == "root@[fd00::5]:2200"
    assert parse_host(spec.spec()) == spec


def test_defaults_for_user_and_key_apply_only_where_the_line_has_none():
    assert parse_host("h1", default_user="bob").user == "bob"
    assert parse_host("carol@h1", default_user="bob").user == "carol"
    assert parse_host("h1", default_key="/k").key == "/k"
    assert parse_host("h1 key=/mine", default_key="/k").key == "/mine"


@pytest.mark.parametrize("line", ["root@h1;rm -rf /", "root@h1 $(reboot)", "ro ot@h1",
                                  "root@h1:99999", "root@h1:22 port=3", "'h1'", "h1:abc"])
def test_hosts_lines_that_could_smuggle_shell_or_are_malformed_are_refused(line):
    with pytest.raises(UsageError):
        parse_host(line)


def test_a_bad_line_in_a_hosts_file_names_file_and_line(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("# cluster\nroot@10.0.0.1\n\nroot@10.0.0.2 # second\nroot@bad host!\n")
    with pytest.raises(InputError) as e:
        read_hosts_file(str(path))
    assert f"{path}:5" in str(e.value)
    hosts = parse_hosts_text("# c\nroot@10.0.0.1\n\nroot@10.0.0.2:23 # two\n", "f")
    assert [h.target for h in hosts] == ["root@10.0.0.1:22", "root@10.0.0.2:23"]


def test_an_empty_or_missing_hosts_file_is_a_usage_error(tmp_path):
    (tmp_path / "empty").write_text("# nothing\n")
    with pytest.raises(InputError, match="names no host"):
        read_hosts_file(str(tmp_path / "empty"))
    with pytest.raises(UsageError, match="cannot read"):
        read_hosts_file(str(tmp_path / "missing"))


def test_a_host_listed_twice_is_refused():
    with pytest.raises(UsageError, match="listed twice"):
        check_distinct([parse_host("root@h1"), parse_host("alice@H1:22")])
    check_distinct([parse_host("h1:22"), parse_host("h1:23")])


# ---- commands
def _connection(sudo=False):
    return SshConnection("n1", HostSpec("h1"), HostKeyPolicy(insecure=True), sudo=sudo)


@pytest.mark.parametrize("cmd", ["echo 'a b'; touch \"$HOME/x\"", "a' ; rm -rf / #",
                                 "$(reboot) `id` && || >&2 \\"])
def test_a_command_reaches_the_host_as_one_argument_under_a_timeout(cmd):
    words = shlex.split(_connection().wrap(cmd, timeout=7))
    assert words == ["timeout", "-s", "KILL", "7", "sh", "-c", cmd]
    words = shlex.split(_connection(sudo=True).wrap(cmd, timeout=0.2, user="postgres"))
    assert words == ["sudo", "-n", "--", "runuser", "-u", "postgres", "--",
                     "timeout", "-s", "KILL", "1", "sh", "-c", cmd]


def test_the_wrapped_command_runs_as_written_in_a_real_shell(tmp_path):
    marker = tmp_path / "pwned"
    cmd = f"printf '%s' 'it''s; touch {marker}'"
    out = subprocess.run(["sh", "-c", _connection().wrap(cmd, timeout=5)],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout == f"its; touch {marker}"
    assert not marker.exists()


# ---- host keys
def _key():
    return paramiko.RSAKey.generate(1024)


def _known(tmp_path, name, key, hashed=False):
    path = tmp_path / "known_hosts"
    host = paramiko.HostKeys.hash_host(name) if hashed else name
    with open(path, "a") as f:
        f.write(f"{host} {key.get_name()} {key.get_base64()}\n")
    return str(path)


def test_a_known_host_key_passes_plain_or_hashed(tmp_path):
    key = _key()
    spec = HostSpec("10.0.0.7", port=2222)
    HostKeyPolicy(_known(tmp_path, "[10.0.0.7]:2222", key)).verify("n1", spec, key)
    other = tmp_path / "h"
    other.mkdir()
    HostKeyPolicy(_known(other, "[10.0.0.7]:2222", key, hashed=True)).verify("n1", spec, key)


def test_an_unknown_host_key_is_refused_with_its_fingerprint_and_how_to_accept_it(tmp_path):
    key = _key()
    path = tmp_path / "known_hosts"
    path.write_text("")
    with pytest.raises(HostKeyError) as e:
        HostKeyPolicy(str(path)).verify("n3", HostSpec("10.0.0.3"), key)
    message = str(e.value)
    assert "\n" not in message and e.value.exit_code == 3
    assert "n3 (root@10.0.0.3:22)" in message and fingerprint(key) in message
    assert "ssh-keyscan" in message and "--accept-new-host-keys" in message


def test_a_changed_host_key_is_refused_even_when_accepting_new_ones(tmp_path):
    old, new = _key(), _key()
    path = _known(tmp_path, "10.0.0.3", old)
    for policy in (HostKeyPolicy(path), HostKeyPolicy(path, accept_new=True)):
        with pytest.raises(HostKeyError, match="CHANGED") as e:
            policy.verify("n3", HostSpec("10.0.0.3"), new)
        assert fingerprint(new) in str(e.value) and "ssh-keygen -R" in str(e.value)
    assert open(path).read().count("\n") == 1


def test_accepting_new_host_keys_writes_them_to_known_hosts(tmp_path):
    key = _key()
    path = tmp_path / "sub" / "known_hosts"
    policy = HostKeyPolicy(str(path), accept_new=True)
    policy.verify("n1", HostSpec("10.0.0.9", port=2200), key)
    assert policy.accepted == [f"[10.0.0.9]:2200 ssh-rsa {fingerprint(key)}"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    HostKeyPolicy(str(path)).verify("n1", HostSpec("10.0.0.9", port=2200), key)


def test_no_host_key_check_is_an_explicit_opt_in():
    HostKeyPolicy(insecure=True).verify("n1", HostSpec("h"), _key())


def test_the_fingerprint_is_the_one_ssh_keygen_prints(tmp_path):
    if shutil.which("ssh-keygen") is None:
        pytest.skip("no ssh-keygen here to compare with")
    key = _key()
    pub = tmp_path / "k.pub"
    pub.write_text(f"{key.get_name()} {key.get_base64()}\n")
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True)
    assert fingerprint(key) in out.stdout


def test_problems_of_many_hosts_fold_into_one_line():
    merged = HostKeyError.merge([
        HostKeyError("unknown host key", "n1 (a) ssh-rsa SHA256:x", "add it"),
        HostKeyError("unknown host key", "n2 (b) ssh-rsa SHA256:y", "add it")])
    assert str(merged) == "unknown host key: n1 (a) ssh-rsa SHA256:x, n2 (b) ssh-rsa SHA256:y; add it"
    one = AuthError.merge([AuthError("ssh key /k: no such file")] * 3)
    assert str(one) == "ssh key /k: no such file"


def test_an_encrypted_key_is_refused_without_asking_for_a_passphrase(tmp_path):
    path = tmp_path / "enc"
    _key().write_private_key_file(str(path), password="secret")
    from harness.control.ssh import load_keys
    with pytest.raises(AuthError, match="encrypted.*ssh-agent"):
        load_keys(str(path))


# ---- preflight
FACTS_OK = ("kernel Linux\nos debian-12\nuid 0\npython 3.11\niptables ok\ndisk_mb 9000\n"
            "clock 1700000000.5\n")


def test_a_healthy_host_has_no_problems():
    facts = read_facts(FACTS_OK)
    assert host_problems("n1", HostSpec("h1"), facts, sudo=False) == []
    assert facts["clock"] == "1700000000.5" and facts["os"] == "debian-12"


def test_every_problem_of_a_host_is_reported_at_once():
    facts = read_facts("kernel Linux\nuid 1000\nmissing iptables\nmissing setsid\n"
                       "python 3.7\niptables fails\ndisk_mb 100\nexists /opt/raftkv\n")
    problems = host_problems("n2", HostSpec("h2", user="alice"), facts, sudo=False)
    text = "\n".join(problems)
    assert all(p.startswith("n2 (alice@h2:22): ") for p in problems)
    assert "not root" in text and "--sudo" in text
    assert "missing iptables, setsid" in text
    assert "python3 is 3.7" in text
    assert "100 MiB free" in text
    assert "/opt/raftkv already exist" in text
    # iptables missing is said once (not also "does not work")
    assert "iptables does not work" not in text


def test_leftovers_of_an_earlier_run_point_at_harness_clean():
    facts = read_facts(FACTS_OK + "manifest eyJydW4iOiAieCJ9\nexists /opt/raftkv\n")
    [problem] = host_problems("n1", HostSpec("h1"), facts, sudo=False)
    assert "harness clean --hosts" in problem


# ---- teardown
def test_the_teardown_kills_what_runs_from_the_systems_paths_but_not_itself():
    script = teardown_script(("/opt/raftkv", "/var/lib/raftkv", "/run/raftkv.pid"),
                             ["HARNESS-HOST"])
    patterns = re.findall(r"pkill -9 -f -- (\S+)", script)
    assert len(patterns) == 2              # not for the pid file
    for pattern in patterns:
        regex = shlex.split(pattern)[0]
        assert not re.search(regex, script)                 # spares this very script
        assert not re.search(regex, shlex.join(["sh", "-c", script]))
    server = "python3 /opt/raftkv/server/raftkv_server.py --data-dir /var/lib/raftkv/x"
    assert re.search(shlex.split(patterns[0])[0], server)
    assert "rm -rf -- /opt/raftkv /var/lib/raftkv /run/raftkv.pid" in script
    assert f"/^{CHAIN_PREFIX}/" in script and "HARNESS-HOST" in script


def test_the_teardown_removes_only_new_harness_chains(tmp_path):
    """Run the chain part of the script against a fake iptables that logs its calls."""
    fake = tmp_path / "iptables"
    log = tmp_path / "calls"
    fake.write_text(f"""#!/bin/sh
echo "$@" >> {log}
if [ "$1" = "-S" ]; then printf -- '-P INPUT ACCEPT\\n-N HARNESS-HOST\\n-N HARNESS-PARTITION\\n-N DOCKER\\n'; fi
if [ "$1" = "-D" ]; then exit 1; fi
exit 0
""")
    fake.chmod(0o755)
    script = teardown_script((), ["HARNESS-HOST"]).replace(
        "PATH=$PATH:/usr/sbin:/sbin", f"PATH={tmp_path}:$PATH")
    script = script.replace("rm -rf -- /var/lib/harness", "true")
    subprocess.run(["sh", "-c", script], check=True, timeout=10)
    calls = log.read_text().splitlines()
    assert "-X HARNESS-PARTITION" in calls and "-F HARNESS-PARTITION" in calls
    assert not any("HARNESS-HOST" in c for c in calls)
    assert not any("DOCKER" in c for c in calls)


# ---- choosing a backend
def _cfg(**kw):
    base = dict(backend="docker", hosts=[], nodes=5, node_memory_mb=1024, node_pids=2048,
                ssh_key=None, ssh_user=None, sudo=False, known_hosts=None,
                accept_new_host_keys=False, insecure_no_host_key_check=False)
    return SimpleNamespace(**{**base, **kw})


def test_the_backend_is_chosen_from_the_config():
    assert backends.from_config(_cfg()).name == "docker"
    ssh = backends.from_config(_cfg(backend="ssh", nodes=2, hosts=["h1", "bob@h2:2"],
                                    ssh_user="alice"))
    assert ssh.name == "ssh" and ssh.nodes == ["n1", "n2"]
    assert [s.user for s in ssh.hosts] == ["alice", "bob"]


@pytest.mark.parametrize("kw, message", [
    (dict(backend="ssh"), "needs the hosts"),
    (dict(hosts=["h1"]), "need --backend ssh"),
    (dict(backend="ssh", hosts=["h1", "h2"], nodes=3), "2 host"),
    (dict(backend="ssh", hosts=["h1"], nodes=1, accept_new_host_keys=True,
          insecure_no_host_key_check=True), "exclude each other"),
    (dict(backend="ssh", hosts=["h1"], nodes=1, ssh_key="/no/such/key"), "no such file"),
    (dict(backend="ssh", hosts=["h1", "H1"], nodes=2), "listed twice"),
])
def test_backend_misconfigurations_are_usage_errors(kw, message):
    with pytest.raises(UsageError, match=message):
        backends.from_config(_cfg(**kw))


def test_the_cli_refuses_a_bad_hosts_file_in_one_line(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("root@10.0.0.1\nroot@10.0.0.2; reboot\n")
    res = subprocess.run([sys.executable, "-m", "harness.cli", "test", "--system", "raftkv",
                          "--backend", "ssh", "--hosts", str(hosts), "--store",
                          str(tmp_path / "store")], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 4, res.stderr
    assert res.stderr.strip().count("\n") == 0 and f"{hosts}:2" in res.stderr
    assert not (tmp_path / "store").exists()


def test_a_system_that_does_not_declare_its_host_paths_cannot_run_over_ssh():
    from harness.control.ssh_backend import SshBackend

    backend = SshBackend([parse_host("h1")])
    plan = SimpleNamespace(system=object(), workload=object(), nemeses={})
    with pytest.raises(UsageError, match="host_paths"):
        backend.preflight(plan, "etcd")


def test_a_fault_that_needs_a_node_feature_is_refused_over_ssh():
    from harness.control.ssh_backend import SshBackend
    from nemeses.data_fs import LoseUnfsyncedNemesis
    from clusters.raftkv.deploy import RaftKV

    backend = SshBackend([parse_host("h1")])
    plan = SimpleNamespace(system=RaftKV(), workload=object(),
                           nemeses={"lose-unfsynced": LoseUnfsyncedNemesis()})
    with pytest.raises(UsageError, match="lose-unfsynced needs nodes with fuse"):
        backend.preflight(plan, "raftkv")


# ---- harness clean --hosts
class _FakeRemote:
    """A host per node: its manifest text, and the commands it was given."""

    def __init__(self, manifests):
        self.manifests = manifests
        self.commands = {n: [] for n in manifests}

    def exec(self, node, cmd, *, timeout=30.0, check=True, user=None):
        self.commands[node].append(cmd)
        if cmd.startswith("cat "):
            return 0, self.manifests[node]
        return 0, ""


def _fake_backend(manifests):
    import json as _json
    nodes = list(manifests)
    remote = _FakeRemote({n: (_json.dumps(m) if m else "") for n, m in manifests.items()})
    return SimpleNamespace(nodes=nodes, specs={n: HostSpec(n) for n in nodes}, remote=remote,
                           connect_all=lambda: None, close=lambda: None)


def _manifest(run, owner, paths=("/opt/x",)):
    return {"run": run, "labels": {"harness.owner": owner}, "paths": list(paths),
            "chains_before": [], "nodes": {"n1": "10.0.0.1", "n2": "10.0.0.2"},
            "system": {"name": "fake", "options": {"o": "1"}}}


def test_clean_hosts_undoes_dead_runs_and_leaves_live_ones_unless_all():
    from harness.control.docker import owner_label
    from harness.control.ssh_backend import clean_hosts

    dead = "otherhost/boot/1/2"          # another machine: treated as alive (unknown)
    mine_dead = owner_label().rsplit("/", 2)[0] + "/999999999/1"   # this boot, no such pid
    built, torn = [], []

    def build_system(ref):
        built.append(ref)
        return SimpleNamespace(teardown=lambda cluster: torn.append(list(cluster.nodes)))

    backend = _fake_backend({"n1": _manifest("r1", mine_dead), "n2": _manifest("r2", dead),
                             "n3": None})
    cleaned, errors = clean_hosts(backend, build_system=build_system)
    assert (cleaned, errors) == (1, [])
    assert built == [{"name": "fake", "options": {"o": "1"}}] and torn == [["n1"]]
    assert any("rm -rf -- /opt/x" in c for c in backend.remote.commands["n1"])
    assert not any("rm -rf" in c for c in backend.remote.commands["n2"])
    assert backend.remote.commands["n3"] == [c for c in backend.remote.commands["n3"]
                                             if c.startswith("cat ")]

    backend = _fake_backend({"n1": _manifest("r1", mine_dead), "n2": _manifest("r2", dead)})
    cleaned, _ = clean_hosts(backend, include_live=True, run_id="r2",
                             build_system=build_system)
    assert cleaned == 1
    assert any("rm -rf -- /opt/x" in c for c in backend.remote.commands["n2"])
    assert not any("rm -rf" in c for c in backend.remote.commands["n1"])


def test_a_host_that_failed_to_connect_fails_fast_for_a_while(monkeypatch):
    from harness.control import ssh
    from harness.errors import BackendUnavailable

    connection = _connection()
    calls = []

    def failing_open():
        calls.append(1)
        raise BackendUnavailable("n1 (root@h1:22): cannot connect (timed out)")

    monkeypatch.setattr(connection, "_open", failing_open)
    for _ in range(3):
        with pytest.raises(BackendUnavailable, match="timed out"):
            connection.connect()
    assert len(calls) == 1
    monkeypatch.setattr(ssh, "RECONNECT_AFTER_S", 0.0)
    with pytest.raises(BackendUnavailable):
        connection.connect()
    assert len(calls) == 2
