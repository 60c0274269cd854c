"""The clock nemesis's logic against a fake cluster that keeps each node's files: what it
writes, whom it targets, what it records, and that healing is idempotent."""

import random
import re
import subprocess

import pytest

from harness.errors import DeployError, UsageError
from harness.options import build

from clusters.daemon import DAEMON_ENV_FILE, detached
from nemeses import FaultFailed
from nemeses.clock import (OFFSET_FILE, STROBE_CODE, STROBE_PID, ClockNemesis, env_file_text,
                           offset_text)

LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


class FakeCluster:
    """Interprets just what the nemesis sends: offset writes, strobe start/stop, dpkg."""

    def __init__(self, nodes=("n1", "n2", "n3", "n4", "n5"), broken=()):
        self.nodes = list(nodes)
        self.ips = {n: f"10.0.0.{i}" for i, n in enumerate(self.nodes, 1)}
        self.broken = set(broken)
        self.offset = {}            # node -> text in the offset file
        self.strobing = set()
        self.env = {}
        self.commands = []

    def exec(self, node, cmd, timeout=30, check=True, user=None):
        self.commands.append((node, cmd))
        if node in self.broken:
            if check:
                raise RuntimeError("node unreachable")
            return 1, ""
        if cmd.startswith("dpkg -L libfaketime"):
            return 0, LIB + "\n"
        if f"kill -9 $(cat {STROBE_PID})" in cmd:
            self.strobing.discard(node)
        written = re.search(r"printf '%s\\n' (\S+) > " + re.escape(OFFSET_FILE), cmd)
        if written:
            self.offset[node] = written.group(1)
        if "strobe.py" in cmd and "setsid" in cmd:
            self.strobing.add(node)
        if DAEMON_ENV_FILE in cmd and "printf %s" in cmd:
            self.env[node] = cmd
        if "rm -rf /run/harness-clock" in cmd:
            self.offset.pop(node, None)
            self.env.pop(node, None)
        return 0, ""


class FakeRun:
    def __init__(self, cluster, leader="n3"):
        self.cluster = cluster
        self.leader = leader

    def primaries(self):
        return [self.leader]


def ready(cluster, **options):
    nemesis = ClockNemesis(**options)
    undo = nemesis.before_setup(cluster, system=None)
    return nemesis, undo


def test_before_setup_preloads_libfaketime_for_the_daemons_with_a_zero_offset():
    cluster = FakeCluster()
    nemesis, undo = ready(cluster)
    assert cluster.offset == {n: "+0.000" for n in cluster.nodes}
    for node in cluster.nodes:
        assert f"LD_PRELOAD={LIB}" in cluster.env[node]
        assert f"FAKETIME_TIMESTAMP_FILE={OFFSET_FILE}" in cluster.env[node]
        assert "FAKETIME_DONT_FAKE_MONOTONIC=1" in cluster.env[node]
        assert "FAKETIME_NO_CACHE=1" in cluster.env[node]
        assert "PYTHONPATH=/run/harness-clock/python" in cluster.env[node]
        assert "sitecustomize.py" in cluster.env[node]
    undo()
    assert cluster.offset == {} and cluster.env == {}


def test_before_setup_names_the_node_that_cannot_take_the_fault():
    with pytest.raises(DeployError) as e:
        ready(FakeCluster(broken=("n2",)))
    assert e.value.node == "n2"


def test_the_env_file_is_what_a_shell_exports_to_the_daemon(tmp_path):
    env = tmp_path / "daemon.env"
    env.write_text(env_file_text("/lib/x.so"))
    out = subprocess.run(["sh", "-c", f"set -a; . {env}; set +a; env"], capture_output=True,
                         text=True).stdout
    assert "LD_PRELOAD=/lib/x.so" in out and f"FAKETIME_TIMESTAMP_FILE={OFFSET_FILE}" in out


def test_detached_daemons_inherit_the_env_file_and_helpers_do_not():
    line = detached("python3 s.py", "/run/s.pid", "/var/log/s.log")
    assert f". {DAEMON_ENV_FILE}; set +a" in line and line.index(DAEMON_ENV_FILE) < line.index("setsid")
    assert DAEMON_ENV_FILE not in detached("python3 s.py", "/run/s.pid", "/l", fault_env=False)


def test_the_python_shim_sleeps_on_the_monotonic_clock(tmp_path):
    from nemeses.clock import SITECUSTOMIZE
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    out = subprocess.run(["python3", "-c", "import time; t = time.monotonic(); time.sleep(0.1); "
                          "print(time.sleep.__module__, time.monotonic() - t)"],
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True)
    module, elapsed = out.stdout.split()
    assert module == "sitecustomize" and float(elapsed) >= 0.1, out


def test_offsets_are_signed_seconds():
    assert offset_text(2500) == "+2.500" and offset_text(-4) == "-0.004" and offset_text(0) == "+0.000"


@pytest.mark.parametrize("seed", range(20))
def test_a_bump_moves_each_target_within_the_range_and_records_every_node(seed):
    cluster = FakeCluster()
    nemesis, _ = ready(cluster, modes=("bump",), bump=3000.0)
    value = nemesis.start(FakeRun(cluster), random.Random(seed))
    assert value["phase"] == "start" and value["mode"] == "bump"
    assert set(value["offsets_ms"]) == set(cluster.nodes)
    moved = {n for n, ms in value["offsets_ms"].items() if ms != 0}
    assert moved == set(value["nodes"])
    for node in cluster.nodes:
        ms = value["offsets_ms"][node]
        assert -3000 <= ms <= 3000 and (node in moved) == (abs(ms) >= 1)
        assert float(cluster.offset[node]) == pytest.approx(ms / 1000, abs=0.001)
    end = nemesis.stop(FakeRun(cluster))
    assert end == {"phase": "end", "offsets_ms": {n: 0.0 for n in cluster.nodes}}
    assert set(cluster.offset.values()) == {"+0.000"}


def test_targets_follow_the_spec():
    cluster = FakeCluster()
    for spec, check in (("one", lambda ns: len(ns) == 1),
                        ("minority", lambda ns: 1 <= len(ns) <= 2),
                        ("majority", lambda ns: len(ns) == 3),
                        ("all", lambda ns: ns == cluster.nodes),
                        ("primaries", lambda ns: ns == ["n4"])):
        nemesis, _ = ready(cluster, modes=("bump",), targets=(spec,))
        value = nemesis.start(FakeRun(cluster, leader="n4"), random.Random(1))
        assert value["target"] == spec and check(value["nodes"]), (spec, value)
        nemesis.heal_all(FakeRun(cluster))


def test_both_signs_and_large_bumps_occur():
    cluster = FakeCluster()
    nemesis, _ = ready(cluster, modes=("bump",), targets=("all",), bump=300_000.0)
    rng = random.Random(7)
    seen = []
    for _ in range(20):
        seen += nemesis.start(FakeRun(cluster), rng)["offsets_ms"].values()
        nemesis.stop(FakeRun(cluster))
    assert min(seen) < -60_000 and max(seen) > 60_000


def test_a_strobe_runs_in_the_node_outside_the_fault_and_heal_stops_it():
    cluster = FakeCluster()
    nemesis, _ = ready(cluster, modes=("strobe",), targets=("all",), strobe_delta=500.0,
                       strobe_period=5.0, strobe_duration=3.0)
    value = nemesis.start(FakeRun(cluster), random.Random(3))
    assert value["mode"] == "strobe" and cluster.strobing == set(cluster.nodes)
    for node, strobe in value["strobe"].items():
        assert strobe["low_ms"] == 0 and 1 <= strobe["high_ms"] <= 500
        assert strobe["period_ms"] == 5.0 and strobe["duration_s"] == 3.0
    start_cmds = [c for _, c in cluster.commands if "strobe.py" in c and "setsid" in c]
    assert start_cmds and all(DAEMON_ENV_FILE not in c for c in start_cmds)
    nemesis.stop(FakeRun(cluster))
    assert not cluster.strobing and set(cluster.offset.values()) == {"+0.000"}


def test_the_strobe_loop_flips_between_two_offsets_and_ends_on_the_low_one(tmp_path):
    script = tmp_path / "strobe.py"
    script.write_text(STROBE_CODE)
    target = tmp_path / "offset"
    proc = subprocess.Popen(["python3", str(script), str(target), "-1000", "250", "2", "1.5"])
    seen = set()
    while proc.poll() is None:
        try:
            seen.add(target.read_text().strip())
        except FileNotFoundError:
            pass
    assert {"-1.000", "+0.250"} <= seen and seen <= {"-1.000", "+0.250"}
    assert target.read_text().strip() == "-1.000"


def test_heal_all_is_idempotent_and_safe_before_any_fault():
    cluster = FakeCluster()
    nemesis, _ = ready(cluster)
    nemesis.heal_all(FakeRun(cluster))
    nemesis.start(FakeRun(cluster), random.Random(5))
    nemesis.heal_all(FakeRun(cluster))
    nemesis.heal_all(FakeRun(cluster))
    assert set(cluster.offset.values()) == {"+0.000"} and not cluster.strobing
    assert nemesis.in_force(FakeRun(cluster)) == {n: 0.0 for n in cluster.nodes}


def test_a_node_that_cannot_be_healed_is_reported():
    cluster = FakeCluster()
    nemesis, _ = ready(cluster)
    cluster.broken = {"n2"}
    with pytest.raises(RuntimeError, match="n2"):
        nemesis.heal_all(FakeRun(cluster))
    value = nemesis.stop(FakeRun(cluster))
    assert "n2" in value["errors"]


def test_a_fault_that_reached_nobody_raises():
    cluster = FakeCluster()
    nemesis, _ = ready(cluster, modes=("bump",), targets=("one",))
    cluster.broken = set(cluster.nodes)
    with pytest.raises(FaultFailed):
        nemesis.start(FakeRun(cluster), random.Random(1))


def test_options_are_declared_and_bounded():
    built = build(ClockNemesis, "clock", {"bump": "300000", "modes": "bump,reset"},
                  "--nemesis-opt")
    assert built.bump == 300000.0 and built.modes == ("bump", "reset") or \
        list(built.modes) == ["bump", "reset"]
    for key, bad in (("bump", "0"), ("modes", "bend"), ("targets", "half")):
        with pytest.raises(UsageError):
            build(ClockNemesis, "clock", {key: bad}, "--nemesis-opt")
    assert ClockNemesis().problems(2) and not ClockNemesis().problems(3)
    assert ClockNemesis.requires == frozenset({"clock"})


def test_the_cache_option_trades_the_re_read_for_whole_seconds():
    assert "FAKETIME_NO_CACHE=1" in env_file_text(LIB)
    text = env_file_text(LIB, 1)
    assert "FAKETIME_CACHE_DURATION=1" in text and "NO_CACHE" not in text
    cluster = FakeCluster()
    ready(cluster, cache=2)
    assert all("FAKETIME_CACHE_DURATION=2" in cmd for cmd in cluster.env.values())
