"""The clock nemesis on real containers: a daemon started the way systems start theirs
(clusters.daemon.detached) sees the offset the fault set, its monotonic clock does not
move, a strobe flips it, and after healing the offset is gone; raftkv's lease-reads mode
is caught by it. The probe daemon calls time.sleep, which libfaketime 0.9.10 breaks
(EINVAL) without the nemesis's sitecustomize shim: its readings show the shim works."""

import json
import logging
import random
import time
import uuid

from harness import image
from harness.control.docker import DockerCluster

from clusters.daemon import detached
from nemeses.clock import NODE_DIR, ClockNemesis

from .conftest import harness, results_of, run_dir_of

# A daemon that writes, every 20 ms, what its wall and monotonic clocks say; the test
# compares them with the file's modification time (set by the kernel: real) read by a
# python3 the fault does not touch.
PROBE = r"""
import os, time
while True:
    with open("/tmp/probe.tmp", "w") as f:
        f.write("%.6f %.6f\n" % (time.time(), time.monotonic()))
    os.replace("/tmp/probe.tmp", "/tmp/probe")
    time.sleep(0.02)
"""
READ = ("python3 -c 'import os, time; wall, mono = map(float, open(\"/tmp/probe\").read().split()); "
        "m = os.stat(\"/tmp/probe\").st_mtime; "
        "print(wall - m, mono - (time.monotonic() - (time.time() - m)))'")


class _Run:
    def __init__(self, cluster):
        self.cluster = cluster
        self.log = logging.getLogger("test")

    def primaries(self):
        return ["n1"]


def _seen(cluster, node) -> tuple[float, float]:
    """(wall offset, monotonic drift) in seconds that the probe daemon sees now."""
    time.sleep(0.15)
    _, out = cluster.exec(node, READ)
    wall, mono = out.split()
    return float(wall), float(mono)


def test_a_daemon_sees_the_offset_and_not_after_heal(docker_client):
    owner = DockerCluster(docker_client, "clock" + uuid.uuid4().hex[:8],
                          image.require(docker_client), 2)
    try:
        cluster = owner.create()
        run = _Run(cluster)
        nemesis = ClockNemesis(modes=("bump",), targets=("primaries",), bump=5000.0)
        undo = nemesis.before_setup(cluster, None)   # before the daemon, as in a run
        for node in cluster.nodes:
            cluster.exec(node, f"cat > /tmp/probe.py <<'EOF'\n{PROBE}\nEOF")
            cluster.exec(node, detached("python3 /tmp/probe.py", "/tmp/probe.pid",
                                        "/tmp/probe.log"))
        assert abs(_seen(cluster, "n1")[0]) < 0.05      # offset 0 until a fault

        value = nemesis.start(run, random.Random(4))
        offset_s = value["offsets_ms"]["n1"] / 1000
        assert value["nodes"] == ["n1"] and 1 <= abs(offset_s) <= 5
        wall, mono = _seen(cluster, "n1")
        assert abs(wall - offset_s) < 0.05, (wall, offset_s)
        assert abs(mono) < 0.05                      # CLOCK_MONOTONIC is not faked
        assert abs(_seen(cluster, "n2")[0]) < 0.05   # not a target

        # A process the harness starts for itself (fault_env=False) keeps real time.
        _, out = cluster.exec("n1", "python3 -c 'import time; print(time.time())'")
        assert abs(float(out) - time.time()) < 2

        end = nemesis.stop(run)
        assert end["offsets_ms"] == {"n1": 0.0, "n2": 0.0}
        assert abs(_seen(cluster, "n1")[0]) < 0.05

        nemesis.strobe_delta, nemesis.modes = 3000.0, ("strobe",)
        value = nemesis.start(run, random.Random(2))
        high = value["strobe"]["n1"]["high_ms"] / 1000
        readings = set()
        for _ in range(20):
            _, out = cluster.exec("n1", READ)
            readings.add(round(float(out.split()[0]) / high))
        assert readings == {0, 1}, readings               # it flips between 0 and high
        nemesis.heal_all(run)
        nemesis.heal_all(run)                              # idempotent
        assert abs(_seen(cluster, "n1")[0]) < 0.05
        rc, _ = cluster.exec("n1", "pgrep -f [s]trobe.py", check=False)
        assert rc != 0                                     # the strobe loop is gone

        undo()
        rc, _ = cluster.exec("n1", f"test -e {NODE_DIR} || test -e /run/harness/daemon.env",
                             check=False)
        assert rc != 0
    finally:
        owner.destroy()


def test_raftkv_lease_reads_are_caught_when_the_leaders_clock_steps(docker_client, tmp_path):
    """A targeted schedule (the leader's clock, then the leader cut off) checks the whole
    chain. Not every run of it is caught (measured: 4 of 5 and 5 of 5 at 60 s; a 40 s run
    with seed 3 was valid once in CI), so up to three runs, stopping at the first caught
    (--test-count): all three missing is about 1 in 100. Default runs: docs/faults.md."""
    store = str(tmp_path / "store")
    res = harness("test", "--system", "raftkv", "--system-opt", "lease-reads",
                  "--nemesis", "clock,partition", "--nemesis-opt", "clock.targets=primaries",
                  "--nemesis-opt", "clock.modes=strobe",
                  # D uniform up to 300 s outlasts the 5 s to the next partition in 97 %
                  # of draws (with the default 60 s, a 5.7 s strobe once did not).
                  "--nemesis-opt", "clock.strobe-delta=300000", "--nemesis-opt",
                  "partition.shapes=primaries", "--nemesis-interval", "5",
                  "--time-limit", "40", "--test-count", "3", "--store", store, timeout=600)
    assert res.returncode == 1, res.stdout + res.stderr
    results = results_of(store)
    assert results["valid"] is False
    with open(f"{run_dir_of(store)}/history.jsonl") as f:
        clock_ops = [json.loads(line) for line in f if '"clock"' in line]
    assert any(op.get("value", {}).get("mode") == "strobe" for op in clock_ops)


def _log_times(path: str) -> list[float]:
    """The wall-clock instants of a Patroni log's lines ("2026-11-28 23:30:51,123 INFO...")."""
    from datetime import datetime
    times = []
    with open(path, errors="replace") as f:
        for line in f:
            try:
                times.append(datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp())
            except ValueError:
                continue
    return times


def test_pgha_patroni_runs_on_the_faked_clock(tmp_path):
    """pgha declares `clock`: Patroni (and PostgreSQL under it) gets libfaketime as the
    postgres user (libfaketime made by a root process first left a semaphore Patroni could
    not open, and it exited). The run is valid, and each node whose clock was stepped by
    10 s or more shows that step in its Patroni log: two lines in a row that far apart."""
    store = str(tmp_path / "store")
    res = harness("test", "--system", "pgha", "--nemesis", "clock", "--nemesis-opt",
                  "clock.modes=bump", "--nemesis-opt", "clock.targets=all",
                  "--time-limit", "45", "--nemesis-interval", "15", "--store", store,
                  timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    run_dir = run_dir_of(store)
    with open(f"{run_dir}/history.jsonl") as f:
        starts = [json.loads(line)["value"] for line in f
                  if '"clock"' in line and '"start"' in line]
    assert starts
    offsets = starts[0]["offsets_ms"]
    stepped = {node: ms / 1000 for node, ms in offsets.items() if abs(ms) >= 10_000}
    assert stepped, offsets        # 5 nodes, each |offset| < 10 s with probability 1/6
    for node, offset_s in stepped.items():
        times = _log_times(f"{run_dir}/nodes/{node}/pgha/patroni.log")
        steps = [b - a for a, b in zip(times, times[1:])]
        assert any(abs(step - offset_s) < 4 for step in steps), (node, offset_s, steps)
