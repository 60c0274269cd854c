"""The file system under a system's data, and the two faults it carries: `lose-unfsynced`
(a power loss: unsynced writes vanish) and `disk` (I/O errors and slow I/O).

Before the system is set up, every node gets nemeses/lazyfs.py and one FUSE mount of it
per directory the system declares in `data_dirs` ((path, owner) pairs: the directories
that hold everything it must find again after a crash, which it never removes itself,
only their contents); the real files go to a backing directory beside it
(/var/lib/harness-lazyfs/<i>/data). The mount adds no fault until a nemesis acts; its cost
is one trip through a Python FUSE daemon per file system call (bench/fuse_overhead.py).

Systems declare the capability `data-dirs` and their `data_dirs`; both nemeses also need
`kill` (a power loss kills, a disk error may crash, and the heal restarts). Only nodes
with /dev/fuse and the right to mount can carry it: the Docker backend gives them that
when a run uses these nemeses (node feature "fuse").
"""

from __future__ import annotations

import json
import os
import shlex
from concurrent.futures import ThreadPoolExecutor

from harness.errors import DeployError
from harness.options import Option

from . import on_nodes
from .process import TARGETS_OPTION, _ProcessFault

LAZYFS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lazyfs.py")
CODE_DIR = "/opt/harness-lazyfs"
STATE_DIR = "/var/lib/harness-lazyfs"
RUN_DIR = "/run/harness-lazyfs"
MOUNT_TIMEOUT_S = 10
CTL_TIMEOUT_S = 30
DISK_OPS = ("read", "write", "fsync")


def socket_path(index: int) -> str:
    return f"{RUN_DIR}/{index}.sock"


def mount_cmd(index: int, path: str, owner: str, seed: int) -> str:
    """Start the FUSE daemon for data directory `index` over `path` (emptied: the system
    starts from nothing, as its own setup would), and wait until the mount is there.
    Nothing to do when it is there already: both storage nemeses of one run share it."""
    backing = f"{STATE_DIR}/{index}/data"
    pid_file = f"{RUN_DIR}/{index}.pid"
    q = shlex.quote
    return (f"if grep -q ' {path} fuse' /proc/mounts && [ -S {socket_path(index)} ]; then "
            f"exit 0; fi; "
            f"mkdir -p {q(backing)} {q(path)} {RUN_DIR} && rm -rf {q(backing)}/* && "
            f"chown {q(owner)}: {q(backing)} {q(path)} && "
            f"chmod --reference={q(path)} {q(backing)} && "
            f"(setsid python3 {CODE_DIR}/lazyfs.py mount {q(backing)} {q(path)} "
            f"{socket_path(index)} {seed} >>{RUN_DIR}/{index}.log 2>&1 </dev/null & "
            f"echo $! > {pid_file}) && "
            f"for i in $(seq 1 {MOUNT_TIMEOUT_S * 10}); do "
            f"grep -q ' {path} fuse' /proc/mounts && [ -S {socket_path(index)} ] && exit 0; "
            f"sleep 0.1; done; echo mount failed: $(tail -n 3 {RUN_DIR}/{index}.log); exit 1")


def unmount_cmd(paths: list[str]) -> str:
    umounts = "; ".join(f"umount -l {shlex.quote(p)} 2>/dev/null" for p in paths)
    return (f"{umounts}; for f in {RUN_DIR}/*.pid; do [ -f $f ] && kill -9 $(cat $f) "
            f"2>/dev/null; done; rm -rf {RUN_DIR} {STATE_DIR} {CODE_DIR}; true")


def ctl(cluster, node: str, index: int, request: dict) -> dict:
    """One control request to a node's lazyfs; raises when it answers with an error."""
    _, out = cluster.exec(node, f"python3 {CODE_DIR}/lazyfs.py ctl {socket_path(index)} "
                                f"{shlex.quote(json.dumps(request))}", timeout=CTL_TIMEOUT_S)
    reply = json.loads(out.strip().splitlines()[-1])
    if "error" in reply:
        raise RuntimeError(f"lazyfs on {node}: {reply['error']}")
    return reply


def data_dirs(system) -> list[tuple[str, str]]:
    return [(path, owner) for path, owner in getattr(system, "data_dirs", ())]


class _DataFSFault(_ProcessFault):
    """What both faults share: the mounts, laid before setup and undone after."""

    requires = frozenset({"kill", "data-dirs"})
    node_features = frozenset({"fuse"})
    dirs: list[tuple[str, str]] = []      # set by before_setup

    def before_setup(self, cluster, system):
        dirs = data_dirs(system)
        if not dirs:
            raise DeployError(None, f"{self.name}: the system declares no data_dirs")
        self.dirs = dirs

        def install(node):
            cluster.remote.upload(node, LAZYFS, CODE_DIR)
            for index, (path, owner) in enumerate(dirs):
                code, out = cluster.exec(node, mount_cmd(index, path, owner, seed=index),
                                         timeout=MOUNT_TIMEOUT_S + 20, check=False)
                if code != 0:
                    raise DeployError(node, f"{self.name}: could not mount the data file "
                                            f"system over {path}: {out.strip()[-300:]}")

        with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as pool:
            list(pool.map(install, cluster.nodes))
        paths = [path for path, _ in dirs]
        return lambda: on_nodes(lambda n: cluster.exec(n, unmount_cmd(paths), timeout=30),
                                cluster.nodes)

    def each_dir(self, run, node, request) -> dict:
        replies = [ctl(run.cluster, node, index, request) for index in range(len(self.dirs))]
        if not replies:
            raise RuntimeError(f"{self.name}: no data file system was mounted on {node}")
        return {key: sum(r.get(key, 0) for r in replies)
                for key in replies[0] if isinstance(replies[0][key], (int, float))}


class LoseUnfsyncedNemesis(_DataFSFault):
    """A power loss on the targets: kill the system's processes, drop every write no fsync
    made durable (data and names), and restart the processes when the fault heals. With
    `torn`, some of those writes reach the disk anyway, page by page (torn writes).

    A plain `kill` loses nothing the system wrote (the page cache outlives a process);
    this loses what a real power cut would. What was lost is recorded per node."""

    name = "lose-unfsynced"
    verb = "power loss"
    options = (
        TARGETS_OPTION,
        Option("torn", "float", 0.0, "probability (0-1) that each page written since its "
               "file's last fsync, and each file's new size, reached the disk anyway: torn "
               "writes, files come back as a mix of old and new pages (0: all lost)",
               minimum=0.0, maximum=1.0),
    )

    def __init__(self, targets=TARGETS_OPTION.default, torn=0.0):
        super().__init__(targets)
        self.torn = torn

    def start(self, run, rng):
        value = super().start(run, rng)
        if self.torn:
            value["torn"] = self.torn
        return value

    def inject(self, run, node):
        """Returns what was lost: files and bytes of data, and names."""
        run.system.kill(run.cluster, node)
        return self.each_dir(run, node, {"cmd": "lose", "torn": self.torn})

    def recover(self, run, node):
        run.system.start(run.cluster, node)


class DiskNemesis(_DataFSFault):
    """Disk faults on the targets' data directories: each chosen operation (read, write,
    fsync) fails with EIO with probability `eio`, and/or is delayed `delay` ms. A failed
    fsync loses what it covered at the next power loss, as on Linux. The system may crash
    on an error (the heal restarts it); it must not lose acknowledged writes."""

    name = "disk"
    verb = "disk faults"
    options = (
        TARGETS_OPTION,
        Option("ops", "list", ("write", "fsync"), "the file operations that fail or slow "
               "down", choices=DISK_OPS),
        Option("eio", "float", 0.1, "probability (0-1) that each chosen operation fails "
               "with EIO", minimum=0.0, maximum=1.0),
        Option("delay", "float", 0.0, "milliseconds each chosen operation is held first",
               minimum=0.0, maximum=60_000.0),
    )

    def __init__(self, targets=TARGETS_OPTION.default, ops=("write", "fsync"), eio=0.1,
                 delay=0.0):
        super().__init__(targets)
        self.ops, self.eio, self.delay = tuple(ops), eio, delay

    def problems(self, node_count: int) -> list[str]:
        found = super().problems(node_count)
        if not self.eio and not self.delay:
            found.append("disk.eio and disk.delay are both 0: the fault would do nothing")
        return found

    def start(self, run, rng):
        value = super().start(run, rng)
        value.update({"ops": list(self.ops), "eio": self.eio, "delay_ms": self.delay})
        return value

    def inject(self, run, node):
        self.each_dir(run, node, {"cmd": "faults", "ops": list(self.ops), "eio": self.eio,
                                  "delay_ms": self.delay})

    def recover(self, run, node):
        """Returns how many errors were injected on the node so far."""
        healed = self.each_dir(run, node, {"cmd": "heal"})
        run.system.start(run.cluster, node)     # in case an error crashed it
        return healed
