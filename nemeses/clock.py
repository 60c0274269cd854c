"""Clock faults (the `clock` nemesis): per-node wall-clock offsets through libfaketime.

The nodes share the host's kernel clock, so the real clock is never set. Instead, before
the system is set up, `before_setup` writes on every node the daemon environment file
(clusters/daemon.py DAEMON_ENV_FILE) that preloads libfaketime into every daemon the
system starts through `detached`, with the node's own offset file, and an offset of 0.
A fault rewrites offset files; the daemons see the new offset within one clock call.

Faults, Jepsen's (jepsen.nemesis.time):
* `bump`: each target's clock jumps by +-N ms, N uniform in [1, `bump`];
* `strobe`: each target's clock flips between its offset and offset + D (D uniform in
  [1, `strobe-delta`]) every `strobe-period` ms for `strobe-duration` s, by a small loop
  in the node (detached, outside the fault's environment), killed on heal;
* `reset`: the targets' clocks back to 0.
Targets are chosen per fault like the process nemeses' (one, minority, majority, all,
primaries). Healing stops every strobe and resets every node to 0; it is idempotent.

Each start/end value records the offsets in force on every node (`offsets_ms`), and a
strobe's range (`strobe`), so the report can draw each node's clock over time.

What it reaches: libfaketime replaces the libc clock functions, so it acts on programs
that read the clock through libc and not on Go binaries (etcd), which read it through the
vDSO themselves: a system declares the capability `clock` (raftkv, sqldb, pgha).
libfaketime 0.9.10 in a root process makes a semaphore only root can open and names it to
the children, so a system whose daemon drops privileges loads it only after (pgha's start
command does: docs/faults.md). Only CLOCK_REALTIME is faked (FAKETIME_DONT_FAKE_MONOTONIC=1): a real monotonic
clock never steps, and a faked one stalls asyncio timers for as long as it was stepped
back (docs/faults.md has the measurements). The clock a step acts on is the one wall-clock
leases, timestamps and TTLs are computed on, as with Jepsen's clock nemesis.
"""

from __future__ import annotations

import os
import random
import shlex

from harness.errors import DeployError
from harness.options import Option

from clusters.daemon import DAEMON_ENV_FILE, detached

from . import FaultFailed, Unhealed, on_nodes
from .process import ALL_TARGETS, choose_targets, target_problems

NODE_DIR = "/run/harness-clock"
OFFSET_FILE = f"{NODE_DIR}/offset"          # libfaketime's FAKETIME_TIMESTAMP_FILE
STROBE_PID = f"{NODE_DIR}/strobe.pid"
STROBE_SCRIPT = f"{NODE_DIR}/strobe.py"
SHIM_DIR = f"{NODE_DIR}/python"              # on the daemons' PYTHONPATH: sitecustomize.py
EXEC_TIMEOUT_S = 10
MODES = ("bump", "strobe", "reset")

# The cache (option `cache`, default 0): FAKETIME_NO_CACHE=1 makes libfaketime re-read
# the offset file on every clock call (about 7 us instead of 0.4 us per time.time() in
# the node's python3); its cache keeps an offset for FAKETIME_CACHE_DURATION whole
# seconds (10 by default), so at best 1 s. A strobe flips every few ms and a bump must be
# in force when the run records it, so the default is no cache. Measured on raftkv with
# bench/system_throughput.py (docs/faults.md): 290 and 310 ok ops/s with no cache, 393 and
# 268 with a 1 s cache, 383 and 420 without libfaketime, on a machine at load 12-20: the
# cache buys nothing measurable, so fidelity decides.


def cache_setting(cache_s: int) -> str:
    return "FAKETIME_NO_CACHE=1" if cache_s <= 0 else f"FAKETIME_CACHE_DURATION={cache_s}"

# The strobe loop, run by the node's python3 outside libfaketime: argv offset_a_ms
# offset_b_ms period_ms duration_s. Each write is atomic (rename), so a reader never sees
# half a file; it leaves offset a in force when it ends.
STROBE_CODE = """\
import os, sys, time
path = sys.argv[1]
a, b, period, duration = (float(x) for x in sys.argv[2:6])
def put(ms):
    with open(path + ".tmp", "w") as f:
        f.write("%+.3f\\n" % (ms / 1000.0))
    os.replace(path + ".tmp", path)
end = time.monotonic() + duration
high = False
while time.monotonic() < end:
    high = not high
    put(b if high else a)
    time.sleep(period / 1000.0)
put(a)
"""


# libfaketime 0.9.10 with FAKETIME_DONT_FAKE_MONOTONIC=1 fails clock_nanosleep(
# CLOCK_MONOTONIC, TIMER_ABSTIME) with EINVAL, and Python 3.11's time.sleep is exactly that
# call: any Python daemon that sleeps (Patroni does) would crash under the fault. Measured
# in the node image: time.sleep(0.2) raises OSError 22 while threading waits, select and
# asyncio are fine. So Python daemons get this sitecustomize (PYTHONPATH in the daemon
# environment) that sleeps with select() on the monotonic clock instead, then runs the
# distribution's own sitecustomize. (With monotonic faked, threading waits hang instead.)
SITECUSTOMIZE = """\
# Written by the harness's clock nemesis (nemeses/clock.py): see SITECUSTOMIZE there.
import select as _select
import time as _time


def _sleep(seconds):
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = _time.monotonic() + seconds
    while True:
        left = deadline - _time.monotonic()
        if left <= 0:
            return
        _select.select([], [], [], left)


_time.sleep = _sleep

try:        # then the distribution's sitecustomize, which this one shadows
    import os as _os
    import sys as _sys
    _here = _os.path.dirname(_os.path.abspath(__file__))
    for _path in _sys.path:
        _file = _os.path.join(_path, "sitecustomize.py")
        if _path and _os.path.abspath(_path) != _here and _os.path.exists(_file):
            with open(_file) as _f:
                exec(compile(_f.read(), _file, "exec"), {"__name__": "sitecustomize",
                                                        "__file__": _file})
            break
except Exception:
    pass
"""


def offset_text(ms: float) -> str:
    """libfaketime's relative offset format: signed seconds ("+2.500", "-0.004")."""
    return f"{ms / 1000.0:+.3f}"


def write_offset_cmd(ms: float) -> str:
    return (f"mkdir -p {NODE_DIR} && printf '%s\\n' {offset_text(ms)} > {OFFSET_FILE}.tmp "
            f"&& mv -f {OFFSET_FILE}.tmp {OFFSET_FILE}")


def env_file_text(libfaketime: str, cache_s: int = 0) -> str:
    """The daemons' environment: every system daemon started by `detached` reads it."""
    return (f"LD_PRELOAD={libfaketime}\n"
            f"PYTHONPATH={SHIM_DIR}\n"
            f"FAKETIME_TIMESTAMP_FILE={OFFSET_FILE}\n"
            f"FAKETIME_DONT_FAKE_MONOTONIC=1\n"
            f"{cache_setting(cache_s)}\n")


def strobe_start_cmd(a_ms: float, b_ms: float, period_ms: float, duration_s: float) -> str:
    command = (f"sh -c 'echo $$ > {STROBE_PID}; exec python3 {STROBE_SCRIPT} {OFFSET_FILE} "
               f"{a_ms:g} {b_ms:g} {period_ms:g} {duration_s:g}'")
    # Outside the fault's environment: the loop keeps real time.
    return detached(command, STROBE_PID, f"{NODE_DIR}/strobe.log", fault_env=False)


def strobe_stop_cmd() -> str:
    return (f"if [ -f {STROBE_PID} ]; then kill -9 $(cat {STROBE_PID}) 2>/dev/null; fi; "
            f"rm -f {STROBE_PID}")


def find_libfaketime_cmd() -> str:
    return "dpkg -L libfaketime 2>/dev/null | grep '/libfaketime\\.so\\.1$' | head -n 1"


class ClockNemesis:
    """Bumps, strobes and resets the wall clocks of the system's daemons, per node."""

    name = "clock"
    requires = frozenset({"clock"})
    options = (
        Option("modes", "list", default=("bump", "strobe"), choices=MODES,
               help="fault shapes to choose from per fault: bump (jump by +-N ms), strobe "
                    "(flip between two offsets every few ms), reset (back to 0)"),
        Option("targets", "list", default=ALL_TARGETS, choices=ALL_TARGETS,
               help="whose clocks each fault moves, chosen per fault: one, minority, "
                    "majority, all, primaries"),
        Option("bump", "float", 60_000.0, "largest bump in ms, either way (each target "
               "jumps by a uniform 1..bump ms, sign at random; 300000 = 5 minutes)",
               minimum=1.0, maximum=86_400_000.0),
        Option("strobe-delta", "float", 60_000.0, "largest strobe amplitude in ms (each "
               "target flips between its offset and offset + 1..delta ms)",
               minimum=1.0, maximum=86_400_000.0),
        Option("strobe-period", "float", 10.0, "ms between two flips of a strobe",
               minimum=1.0, maximum=60_000.0),
        Option("strobe-duration", "float", 10.0, "seconds a strobe lasts (it is stopped "
               "at heal in any case)", minimum=0.1, maximum=86_400.0),
        Option("cache", "int", 0, "seconds libfaketime may keep an offset before "
               "re-reading it (0: every clock call re-reads it; a cache makes strobes and "
               "short bumps invisible)", minimum=0, maximum=3600),
    )

    def __init__(self, modes=("bump", "strobe"), targets=ALL_TARGETS, bump=60_000.0,
                 strobe_delta=60_000.0, strobe_period=10.0, strobe_duration=10.0,
                 cache=0):
        self.modes = tuple(modes)
        self.targets = tuple(targets)
        self.bump, self.strobe_delta = bump, strobe_delta
        self.strobe_period, self.strobe_duration = strobe_period, strobe_duration
        self.cache = int(cache)
        self.offsets: dict[str, float] = {}       # node -> ms in force (0 when absent)
        self.strobes: dict[str, dict] = {}        # node -> running strobe

    def problems(self, node_count: int) -> list[str]:
        return target_problems(self.targets, node_count)

    # ---- before the system
    def before_setup(self, cluster, system):
        """Write the daemon environment file and an offset of 0 on every node; the undo
        removes both (the Docker backend discards the nodes anyway)."""
        def lay(node):
            _, out = cluster.exec(node, find_libfaketime_cmd(), check=False,
                                  timeout=EXEC_TIMEOUT_S)
            lib = out.strip()
            if not lib:
                raise DeployError(node, "libfaketime is not installed (dpkg -L libfaketime "
                                        "found no libfaketime.so.1); the clock nemesis needs "
                                        "it in the node image")
            env_dir = os.path.dirname(DAEMON_ENV_FILE)
            cluster.exec(node, f"{write_offset_cmd(0)} && mkdir -p {env_dir} {SHIM_DIR} && "
                               f"printf %s {shlex.quote(SITECUSTOMIZE)} > "
                               f"{SHIM_DIR}/sitecustomize.py && chmod -R a+rX {NODE_DIR} && "
                               f"printf %s {shlex.quote(env_file_text(lib, self.cache))} > "
                               f"{DAEMON_ENV_FILE}", timeout=EXEC_TIMEOUT_S)

        done, errors = on_nodes(lay, list(cluster.nodes))
        if errors:
            node = sorted(errors)[0]
            raise DeployError(node, f"clock nemesis setup failed: {errors[node]}")
        self.offsets = {n: 0.0 for n in cluster.nodes}

        def undo():
            on_nodes(lambda n: cluster.exec(
                n, f"{strobe_stop_cmd()}; rm -rf {NODE_DIR} {DAEMON_ENV_FILE}",
                check=False, timeout=EXEC_TIMEOUT_S), list(cluster.nodes))
        return undo

    # ---- faults
    def plan(self, mode: str, nodes: list[str], rng: random.Random) -> dict[str, float]:
        """The new offset (ms) of each target node for a bump or reset; for a strobe, the
        amplitude D of each target."""
        if mode == "bump":
            return {n: self.offsets.get(n, 0.0) + rng.choice((-1, 1)) * rng.uniform(1, self.bump)
                    for n in nodes}
        if mode == "strobe":
            return {n: rng.uniform(1, self.strobe_delta) for n in nodes}
        return {n: 0.0 for n in nodes}

    def start(self, run, rng):
        mode = rng.choice(self.modes)
        spec = rng.choice(self.targets)
        primaries = run.primaries() if spec == "primaries" else []
        nodes = choose_targets(spec, run.cluster.nodes, rng, primaries)
        planned = {n: round(v, 3) for n, v in self.plan(mode, nodes, rng).items()}
        value = {"phase": "start", "mode": mode, "target": spec}
        if mode == "strobe":
            strobes = {n: {"low_ms": self.offsets.get(n, 0.0),
                           "high_ms": self.offsets.get(n, 0.0) + d,
                           "period_ms": self.strobe_period,
                           "duration_s": self.strobe_duration} for n, d in planned.items()}
            done, errors = on_nodes(lambda n: self._start_strobe(run, n, strobes[n]), nodes)
            self.strobes.update({n: strobes[n] for n in done})
            value["strobe"] = {n: strobes[n] for n in done}
        else:
            done, errors = on_nodes(lambda n: self._set(run, n, planned[n]), nodes)
        if not done:
            raise FaultFailed(f"clock {mode} of {', '.join(nodes)}", errors)
        value["nodes"] = done
        value["offsets_ms"] = self.in_force(run)
        if errors:
            value["errors"] = errors
        return value

    def stop(self, run):
        errors = self._heal(run)
        if errors and len(errors) == len(run.cluster.nodes):
            raise FaultFailed("healing clock faults", errors)
        value = {"phase": "end", "offsets_ms": self.in_force(run)}
        if errors:
            value["errors"] = errors
        return value

    def heal_all(self, run):
        errors = self._heal(run)
        if errors:
            raise Unhealed("reset the clock", errors)

    def in_force(self, run) -> dict[str, float]:
        """Every node's offset now (a strobing node: the offset it returns to)."""
        return {n: self.offsets.get(n, 0.0) for n in sorted(run.cluster.nodes)}

    # ---- per node
    def _set(self, run, node, ms: float) -> None:
        run.cluster.exec(node, write_offset_cmd(ms), timeout=EXEC_TIMEOUT_S)
        self.offsets[node] = ms

    def _start_strobe(self, run, node, strobe: dict) -> None:
        run.cluster.exec(node, f"mkdir -p {NODE_DIR} && printf %s {shlex.quote(STROBE_CODE)} "
                               f"> {STROBE_SCRIPT} && {strobe_stop_cmd()} && "
                               + strobe_start_cmd(strobe["low_ms"], strobe["high_ms"],
                                                  strobe["period_ms"], strobe["duration_s"]),
                         timeout=EXEC_TIMEOUT_S)

    def _heal(self, run) -> dict[str, str]:
        """Stop every strobe, then every node's offset back to 0 (in that order: a strobe
        still running would overwrite the reset)."""
        def reset(node):
            run.cluster.exec(node, f"{strobe_stop_cmd()}; {write_offset_cmd(0)}",
                             timeout=EXEC_TIMEOUT_S)
            self.offsets[node] = 0.0
            self.strobes.pop(node, None)

        _, errors = on_nodes(reset, list(run.cluster.nodes))
        return errors
