"""Deploying pgha onto a cluster: etcd on every node (clusters/etcd, reused as is), then
Patroni + PostgreSQL 15 on every node, Patroni pointed at the etcd members.

Each node gets /etc/pgha/patroni.yml (scope `harness`, ttl 10, loop_wait 1,
retry_timeout 4, trust authentication inside the cluster's network, the replication
line for 127.0.0.1 that Patroni 3.0.2 needs, the socket in /tmp). Patroni runs as user
postgres (setpriv), detached in its own session; a root shell wrapper writes its pid to
/run/pgha/patroni.pid first. Patroni's output goes to /var/log/pgha/patroni.log,
PostgreSQL's log (logging_collector) to /var/log/pgha/postgresql/.

Process faults act on the node's whole database: Patroni daemonizes nothing, but it
starts the postmaster in a session of its own, so one process group does not cover
both. kill / pause / resume therefore signal Patroni and the postmaster (found by their
command lines naming this cluster's config and data directory, so another PostgreSQL on an
SSH host is never touched) and all their descendants (backends); `start` re-launches Patroni, which recovers or
rewinds the data dir and rejoins. The node's etcd member keeps running: a database crash or
stall, not a host's. Pausing it too (the whole node frozen, as `docker pause` does) did not
make Patroni 3.0.2's split brain likelier here: 2 runs of 5 against 3 of 5 (2026-11-28,
`--nemesis pause --process-targets primaries --time-limit 120`).
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from harness.errors import DeployError, UsageError
from harness.image import PATRONI4_VENV
from harness.options import Option

from ..daemon import CONTROL_TIMEOUT_S, PidFileDaemon, detached
from ..etcd import Etcd
from ..etcd.client import CLIENT_PORT as ETCD_PORT

from .client import ISOLATION_LEVELS, PG_PORT, SCHEMA, WORKLOADS, PgClient, connect, prepare

log = logging.getLogger(__name__)

REST_PORT = 8008
CONFIG = "/etc/pgha/patroni.yml"
LOG_DIR = "/var/log/pgha"
PATRONI_LOG = f"{LOG_DIR}/patroni.log"
PG_LOG_DIR = f"{LOG_DIR}/postgresql"
DATA_DIR = "/var/lib/postgresql/pgha"
PID_FILE = "/run/pgha/patroni.pid"
BIN_DIR = "/usr/lib/postgresql/15/bin"
READY_TIMEOUT_S = 45.0
# How each Patroni version is started: Debian's package, or the image's PyPI venv.
PATRONI_COMMANDS = {3: "patroni", 4: f"{PATRONI4_VENV}/bin/python3 -m patroni"}


def signal_ours(sig: str) -> str:
    """A shell line sending `sig` to this cluster's processes only, never to another
    PostgreSQL of the host: the processes of user postgres whose command line names our
    config or data directory (Patroni, the postmaster), and every descendant of theirs
    (backends, pg_rewind, pg_basebackup). The shell running this is root's: never a match."""
    roots = ("for p in /proc/[0-9]*; do "
             "[ \"$(stat -c %U $p 2>/dev/null)\" = postgres ] && "
             f"tr '\\0' ' ' <$p/cmdline 2>/dev/null | grep -qF -e {CONFIG} -e {DATA_DIR} && "
             "echo ${p#/proc/}; done")
    descendants = ("BEGIN { n = split(roots, r, \" \"); for (i = 1; i <= n; i++) ours[r[i]] = 1 } "
                   "{ parent[$1] = $2 } "
                   "END { grew = 1; while (grew) { grew = 0; for (p in parent) "
                   "if (!(p in ours) && (parent[p] in ours)) { ours[p] = 1; grew = 1 } } "
                   "for (p in ours) print p }")
    return (f"roots=$({roots}); [ -n \"$roots\" ] && ps -e -o pid=,ppid= | "
            f"awk -v roots=\"$roots\" '{descendants}' | xargs -r kill -{sig} 2>/dev/null; true")


def patroni_config(cluster, node: str, synchronous_mode: bool,
                   synchronous_mode_strict: bool, parameters: dict | None = None) -> dict:
    ip = cluster.ips[node]
    hosts = ",".join(f"{cluster.ips[n]}:{ETCD_PORT}" for n in cluster.nodes)
    return {
        "scope": "harness",
        "name": node,
        "restapi": {"listen": f"0.0.0.0:{REST_PORT}", "connect_address": f"{ip}:{REST_PORT}"},
        "etcd3": {"hosts": hosts},
        "bootstrap": {
            "dcs": {
                "ttl": 10, "loop_wait": 1, "retry_timeout": 4,
                "maximum_lag_on_failover": 1048576,
                "synchronous_mode": synchronous_mode,
                "synchronous_mode_strict": synchronous_mode_strict,
                "postgresql": {
                    "use_pg_rewind": True, "use_slots": True,
                    "parameters": {"wal_level": "replica", "hot_standby": "on",
                                   "wal_log_hints": "on", "max_wal_senders": 10,
                                   "max_replication_slots": 10},
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C"}],
        },
        "postgresql": {
            "listen": f"0.0.0.0:{PG_PORT}",
            "connect_address": f"{ip}:{PG_PORT}",
            "data_dir": DATA_DIR,
            "bin_dir": BIN_DIR,
            "pgpass": "/tmp/pgpass",
            "authentication": {
                "superuser": {"username": "postgres", "password": "postgres"},
                "replication": {"username": "replicator", "password": "replicator"},
            },
            "parameters": {
                "unix_socket_directories": "/tmp",
                "logging_collector": "on", "log_directory": PG_LOG_DIR,
                "log_filename": "postgresql.log", "log_line_prefix": "%m [%p] %q%u@%d ",
                "max_connections": 200,
                # Transactions appending to the same keys in different orders deadlock;
                # PostgreSQL looks for deadlocks only after a lock wait of deadlock_timeout
                # (1 s by default), so each one stalled its clients (and everyone queued
                # behind them) for a second: p99 latency 1 s. 50 ms finds them 20x sooner.
                "deadlock_timeout": "50ms",
                **(parameters or {}),
            },
            "pg_hba": [
                "local all all trust",
                "host replication replicator 127.0.0.1/32 trust",
                "host replication replicator 0.0.0.0/0 trust",
                "host all all 0.0.0.0/0 trust",
            ],
        },
    }


class PgHA(PidFileDaemon):
    """PostgreSQL 15 + Patroni (3.0.2 from Debian, or 4.1.5 from PyPI) with etcd as DCS
    (list-append, rw-register, bank, set).

    Capabilities: kill/start and pause/resume of a node's Patroni and PostgreSQL, the
    current Patroni leader as `primaries`, the log folder (Patroni, PostgreSQL, etcd),
    and a health probe (each member's Patroni role and state)."""

    name = "pgha"
    pid_file = PID_FILE
    default_workload = "list-append"
    workloads = WORKLOADS
    # A failover takes about 12 s with Patroni 3 (ttl 10) and 22 s with Patroni 4 (which
    # raises ttl to 20): a fault shorter than that never shows one. 20 s lets a paused or
    # killed primary be replaced (Patroni 3) and the new primary serve before it heals.
    default_nemesis_interval = 20.0
    capabilities = frozenset({"kill", "pause", "primaries", "log-files", "health", "data-dirs",
                              "clock"})
    # PostgreSQL's data directory lives inside (Patroni may remove and recreate it).
    data_dirs = (("/var/lib/postgresql", "postgres"),)
    options = (
        Option("isolation", "str", "serializable", "the SQL isolation level of every "
               "transaction", choices=tuple(ISOLATION_LEVELS)),
        Option("synchronous-mode", "bool", False, "Patroni's synchronous_mode: the "
               "primary waits for a synchronous standby (unless none is available)"),
        Option("synchronous-mode-strict", "bool", False, "Patroni's "
               "synchronous_mode_strict: writes block when no synchronous standby is "
               "available"),
        Option("patroni", "int", 3, "Patroni major version: 3 (Debian's 3.0.2) or 4 "
               "(PyPI's 4.1.5, in a venv of the node image)", choices=(3, 4)),
        Option("replica-reads", "bool", False, "read-only transactions go to a hot "
               "standby (at repeatable read): stale reads the real-time models catch"),
        Option("no-fsync", "bool", False, "PostgreSQL's fsync=off: nothing is flushed to "
               "disk (a power loss, the lose-unfsynced nemesis, loses committed data)"),
        Option("async-commit", "bool", False, "PostgreSQL's synchronous_commit=off: a "
               "commit is acknowledged before its WAL is flushed (a power loss loses the "
               "last acknowledged transactions)"),
    )

    @property
    def host_paths(self) -> tuple[str, ...]:
        """For the SSH backend: what setup creates on a host (its etcd member's too)."""
        return (*self.etcd.host_paths, DATA_DIR, "/etc/pgha", LOG_DIR, PID_FILE.rsplit("/", 1)[0])

    @property
    def host_commands(self) -> tuple[str, ...]:
        """What a host needs (Debian: etcd-server, postgresql-15, patroni; Patroni 4 in
        the venv the node image makes, PATRONI4_VENV)."""
        return (*self.etcd.host_commands, f"{BIN_DIR}/postgres", "setpriv",
                PATRONI_COMMANDS[self.patroni].split()[0])

    def __init__(self, isolation: str = "serializable", synchronous_mode: bool = False,
                 synchronous_mode_strict: bool = False, patroni: int = 3,
                 replica_reads: bool = False, no_fsync: bool = False,
                 async_commit: bool = False):
        self.parameters = {**({"fsync": "off"} if no_fsync else {}),
                           **({"synchronous_commit": "off"} if async_commit else {})}
        self.patroni = patroni
        self.replica_reads = replica_reads
        self.isolation = isolation
        self.synchronous_mode = synchronous_mode or synchronous_mode_strict
        self.synchronous_mode_strict = synchronous_mode_strict
        self.etcd = Etcd()

    # ---- lifecycle
    def setup(self, cluster) -> None:
        started = time.monotonic()
        self.etcd.setup(cluster)
        log.info("pgha: etcd ready in %.1fs", time.monotonic() - started)

        def install(node):
            config = json.dumps(patroni_config(cluster, node, self.synchronous_mode,
                                               self.synchronous_mode_strict, self.parameters))
            encoded = base64.b64encode(config.encode()).decode()
            cluster.exec(node, f"rm -rf {DATA_DIR} {PID_FILE} && "
                               f"mkdir -p /etc/pgha {PG_LOG_DIR} $(dirname {PID_FILE}) && "
                               f"echo {encoded} | base64 -d > {CONFIG} && "
                               f"chown -R postgres:postgres {LOG_DIR} /etc/pgha && "
                               f"chmod 700 /etc/pgha", timeout=10)
            self.start(cluster, node)

        with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as pool:
            list(pool.map(install, cluster.nodes))
        leader = self.await_ready(cluster)
        log.info("pgha: leader %s, ready %.1fs after setup began", leader,
                 time.monotonic() - started)

    def teardown(self, cluster) -> None:
        for node in cluster.nodes:
            self.kill(cluster, node)
        self.etcd.teardown(cluster)

    def start_command(self, cluster, node) -> str:
        # YAML is a superset of JSON: the config file is JSON.
        # A preloaded library (the clock nemesis's libfaketime, through the daemon
        # environment) must reach Patroni as postgres with no semaphore of root's named:
        # libfaketime 0.9.10 in a root process (setsid, this shell) makes its semaphore
        # there, mode 0600, and names it to the children (FAKETIME_SHARED), which as
        # postgres could not open it and exited. So setpriv runs with LD_PRELOAD empty and
        # Patroni gets the library back without that name: it makes its own, as postgres.
        wrapper = (f"echo $$ > {PID_FILE}; preload=\"$LD_PRELOAD\"; LD_PRELOAD= exec setpriv "
                   f"--reuid postgres --regid postgres --init-groups env -u FAKETIME_SHARED "
                   f"LD_PRELOAD=\"$preload\" {PATRONI_COMMANDS[self.patroni]} {CONFIG}")
        return detached(f"sh -c '{wrapper}'", PID_FILE, PATRONI_LOG)

    def kill(self, cluster, node) -> None:
        cluster.exec(node, signal_ours("KILL") + f"; rm -f {PID_FILE}",
                     timeout=CONTROL_TIMEOUT_S)

    def _signal(self, cluster, node, signal: str) -> None:
        cluster.exec(node, signal_ours(signal), timeout=CONTROL_TIMEOUT_S)

    # ---- observation
    @staticmethod
    def member(cluster, node, timeout_s: float = 1.0) -> dict | None:
        """Patroni's own view of the member (GET /patroni), or None if it does not answer."""
        try:
            with urllib.request.urlopen(f"http://{cluster.ips[node]}:{REST_PORT}/patroni",
                                        timeout=timeout_s) as resp:
                return json.loads(resp.read())
        except Exception as e:                      # 503 answers carry the JSON too
            body = getattr(e, "read", None)
            if body is not None:
                try:
                    return json.loads(body())
                except Exception:
                    return None
            return None

    def members(self, cluster) -> dict[str, dict | None]:
        with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as pool:
            return dict(zip(cluster.nodes, pool.map(lambda n: self.member(cluster, n),
                                                    cluster.nodes)))

    @staticmethod
    def _is_leader(member: dict | None) -> bool:
        return bool(member) and member.get("role") in ("master", "primary") \
            and member.get("state") == "running"

    def primaries(self, cluster) -> list[str]:
        return sorted(n for n, m in self.members(cluster).items() if self._is_leader(m))

    def health(self, cluster) -> dict[str, str]:
        """Each member's Patroni role/state as it answers now ("down" when it does not)."""
        return {n: (f"{m.get('role', '?')}/{m.get('state', '?')}" if m else "down")
                for n, m in self.members(cluster).items()}

    def await_ready(self, cluster, timeout_s: float = READY_TIMEOUT_S) -> str:
        """Wait for one leader that accepts writes and every other member streaming from
        it; create the workloads' tables through it. Returns the leader's node name."""
        deadline = time.monotonic() + timeout_s
        last = "no member answered"
        while time.monotonic() < deadline:
            members = self.members(cluster)
            leaders = [n for n, m in members.items() if self._is_leader(m)]
            if len(leaders) == 1:
                leader = leaders[0]
                try:
                    with connect([cluster.ips[leader]], connect_timeout=2,
                                 statement_timeout_ms=5000) as conn:
                        conn.autocommit = True
                        streaming = conn.execute(
                            "SELECT count(*) FROM pg_stat_replication "
                            "WHERE state = 'streaming'").fetchone()[0]
                        if streaming >= len(cluster.nodes) - 1:
                            for statement in SCHEMA:
                                conn.execute(statement)
                            return leader
                        last = f"leader {leader}, {streaming} replica(s) streaming"
                except Exception as e:
                    last = f"leader {leader} does not serve yet ({type(e).__name__}: {e})"
            else:
                last = f"members: {self.health(cluster)}"
            time.sleep(0.2)
        node = cluster.nodes[0]
        _, tail = cluster.exec(node, f"tail -n 5 {PATRONI_LOG}", check=False)
        raise DeployError(None, f"pgha was not ready within {timeout_s:g}s ({last}); "
                                f"{node}'s Patroni log ends: {tail.strip()[-400:] or 'empty'}")

    def log_files(self, node) -> list[str]:
        return [LOG_DIR] + self.etcd.log_files(node)

    def prepare(self, cluster, workload) -> None:
        """Bank's accounts, created once through the primary before the clients start."""
        try:
            prepare([cluster.ips[n] for n in cluster.nodes], workload)
        except Exception as e:
            raise DeployError(None, f"pgha could not create the {workload.name} workload's "
                                    f"rows: {type(e).__name__}: {str(e).strip()[:200]}") from e

    def client(self, cluster, workload: str):
        if workload not in self.workloads:
            raise UsageError(f"pgha cannot run workload {workload!r}; valid: "
                             f"{', '.join(self.workloads)}")
        ips, isolation, replica_reads = dict(cluster.ips), self.isolation, self.replica_reads
        order = list(cluster.nodes)
        return lambda: PgClient(ips, workload, isolation=isolation, nodes=order,
                                replica_reads=replica_reads)
