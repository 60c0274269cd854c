"""The System role: how to deploy, operate and talk to one database on a cluster.

Jepsen calls this the DB: setup/teardown plus the optional process controls a nemesis
needs. Every method takes the `Cluster` explicitly; a system keeps no global state.

Contract:
* `setup(cluster)` installs and starts the system on every node and returns only when it
  serves requests (or raises DeployError naming the node and what to do);
* `start`, `kill`, `pause`, `resume` act on one node and are idempotent: starting a
  running node, resuming a running one, killing a dead one do nothing;
* `primaries(cluster)` names the nodes that lead now (empty if none or unknown);
* `log_files(node)` lists the paths collected into the run's store at the end;
* `client(cluster, workload)` returns a factory of Clients (see harness.interpreter)
  for that workload, or raises UsageError if the system cannot run it;
* `prepare(cluster, workload)` (optional) is called once, after `setup` and before the
  clients start, with the built workload plugin: the place to create what the workload
  needs beyond the system's schema (bank's accounts with their initial balances);
* `health(cluster)` (capability `health`) returns each node's state as the system sees it
  (e.g. its Raft role, or "down"); the run samples it into results.json.

Declarations the harness reads, so it never needs a system's name:
* `options`: tuple of harness.options.Option; the system is built as `cls(**values)`;
* `capabilities`: what nemeses may ask of it: `kill` (kill/start), `pause` (pause/resume),
  `primaries`, `log-files`, `health`, `clock` (its daemons read the wall clock through
  libc and are started so that they inherit the node's daemon environment file, which
  node-level faults write). A nemesis that `requires` a capability
  the system lacks is refused before the run starts (exit 4);
* `workloads`, `default_workload`;
* `default_nemesis_interval` (optional, seconds): the interval a run uses when the user
  gives none; a system whose failover takes longer than the harness's 10 s declares it.
"""

from __future__ import annotations

from typing import Callable, Protocol

from .control import Cluster
from .interpreter import Client


class System(Protocol):
    name: str
    default_workload: str
    workloads: tuple[str, ...]

    def setup(self, cluster: Cluster) -> None: ...

    def teardown(self, cluster: Cluster) -> None: ...

    def start(self, cluster: Cluster, node: str) -> None: ...

    def kill(self, cluster: Cluster, node: str) -> None: ...

    def pause(self, cluster: Cluster, node: str) -> None: ...

    def resume(self, cluster: Cluster, node: str) -> None: ...

    def primaries(self, cluster: Cluster) -> list[str]: ...

    def log_files(self, node: str) -> list[str]: ...

    def client(self, cluster: Cluster, workload: str) -> Callable[[], Client]: ...
