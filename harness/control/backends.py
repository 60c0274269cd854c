"""Choosing a backend: where a run's nodes come from (Docker containers or SSH hosts).

Every backend has the same small lifecycle, so the runner never names one:

* `preflight(plan, system_name, system_opts)`: everything that can fail before the run
  folder exists (engine and image; hosts, their keys, what they lack);
* `create(run_id, labels) -> Cluster`: the nodes, ready for the system's setup;
* `destroy()`: undo exactly what `create` and the run added;
* `describe() -> dict`: what test.json records about it;
* `clean_command(run_id) -> str`: what a user runs when the teardown failed.
"""

from __future__ import annotations

from typing import Protocol

from ..errors import UsageError
from . import Cluster

BACKENDS = ("docker", "ssh")


class Backend(Protocol):
    name: str

    def preflight(self, plan, system_name: str = "", system_opts: dict | None = None) -> None: ...

    def create(self, run_id: str, labels: dict[str, str]) -> Cluster: ...

    def destroy(self) -> None: ...

    def describe(self) -> dict: ...

    def clean_command(self, run_id: str) -> str:
        """The command that removes what a run left behind, for messages."""


class DockerBackend:
    """One container per node of the node image, on an internal network of their own."""

    name = "docker"

    def __init__(self, nodes: int, memory_mb: int, pids: int):
        self.nodes, self.memory_mb, self.pids = nodes, memory_mb, pids
        self.client = None
        self.image_tag = None
        self.docker_cluster = None
        self.features: frozenset[str] = frozenset()

    def preflight(self, plan, system_name: str = "", system_opts: dict | None = None) -> None:
        from .. import image
        from . import docker

        self.client = docker.connect()
        self.image_tag = image.require(self.client)
        self.features = frozenset().union(*(getattr(n, "node_features", ())
                                            for n in plan.nemeses.values()))

    def create(self, run_id: str, labels: dict[str, str]) -> Cluster:
        from . import docker

        self.docker_cluster = docker.DockerCluster(
            self.client, run_id, self.image_tag, self.nodes, labels,
            memory_mb=self.memory_mb, pids=self.pids, features=self.features)
        return self.docker_cluster.create()

    def destroy(self) -> None:
        if self.docker_cluster is not None:
            self.docker_cluster.destroy()

    def describe(self) -> dict:
        return {"backend": "docker", "image": self.image_tag}

    def clean_command(self, run_id: str) -> str:
        return f"harness clean --run {run_id}"


def from_config(cfg) -> Backend:
    """The backend a TestConfig asks for (`cfg.backend`, default docker)."""
    backend = getattr(cfg, "backend", "docker") or "docker"
    if backend == "docker":
        if cfg.hosts:
            raise UsageError("--hosts/--host need --backend ssh")
        return DockerBackend(cfg.nodes, cfg.node_memory_mb, cfg.node_pids)
    if backend == "ssh":
        from .hosts import check_distinct, parse_host
        from .ssh_backend import SshBackend

        if not cfg.hosts:
            raise UsageError("--backend ssh needs the hosts: --hosts FILE or --host "
                             "[user@]host[:port] (repeatable)")
        hosts = [parse_host(h, cfg.ssh_user, cfg.ssh_key, where="host") for h in cfg.hosts]
        check_distinct(hosts)
        if len(hosts) != cfg.nodes:
            raise UsageError(f"--nodes {cfg.nodes} but {len(hosts)} host(s) given: with "
                             "--backend ssh the cluster is the hosts")
        return SshBackend(hosts, ssh_key=cfg.ssh_key, sudo=cfg.sudo,
                          known_hosts=cfg.known_hosts,
                          accept_new_host_keys=cfg.accept_new_host_keys,
                          insecure_no_host_key_check=cfg.insecure_no_host_key_check)
    raise UsageError(f"unknown --backend {backend!r}; valid: {', '.join(BACKENDS)}")
