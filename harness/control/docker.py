"""The Docker backend: one internal bridge network and one container per node.

Every object carries the label `harness.managed=true` and `harness.run=<run id>`, so
`harness clean` finds exactly what the harness created and nothing else. The network is
created with `internal=True`: the cluster has no route off the machine. Each node gets a
fixed address (.11, .12, ... in the run's /24) and hostname n1..nN, and NET_ADMIN so
the nemesis can install firewall rules inside it.

Containment: each node has memory and pids limits, and a firewall chain of its own
(HARNESS-HOST, in OUTPUT) that refuses new connections to the bridge gateway, i.e. to
services on the host; the controller still reaches the nodes (the nodes answer on
connections it opened). Subnets are chosen under a machine-wide lock and retried on
overlap, so runs started at the same instant never collide.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import ipaddress
import logging
import os
import shlex
import socket
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor

from ..errors import BackendUnavailable, DeployError, RemoteCommandError
from . import Cluster, node_names

log = logging.getLogger(__name__)

MANAGED = "harness.managed"
RUN = "harness.run"
NODE = "harness.node"
OWNER = "harness.owner"       # host/boot id/pid/start time of the controller that owns a run
SUBNET_POOL = ipaddress.ip_network("10.213.0.0/16")
API_TIMEOUT_S = 60
SUBNET_LOCK = "/tmp/harness-docker-subnets.lock"
HOST_CHAIN = "HARNESS-HOST"
DEFAULT_NODE_MEMORY_MB = 1024
DEFAULT_NODE_PIDS = 2048


def connect():
    """A Docker client, or BackendUnavailable with what to do about it."""
    try:
        import docker
        client = docker.from_env(timeout=API_TIMEOUT_S)
        client.ping()
        return client
    except Exception as e:  # docker raises several types for "not there"
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        text = str(e)
        if "FileNotFoundError" in text or "ConnectionRefused" in text or "No such file" in text:
            reason = f"nothing listening at {where}"
        else:
            reason = text.splitlines()[0][:160] if text else type(e).__name__
        raise BackendUnavailable(
            f"cannot reach the Docker engine ({reason}): start it with "
            "`dockerd >/var/log/dockerd.log 2>&1 &` (or `systemctl start docker`) and retry"
        ) from None


class DockerRemote:
    """`Remote` over `docker exec` and the archive API."""

    def __init__(self, client, containers: dict[str, object]):
        self.client = client
        self.containers = containers

    def exec(self, node, cmd, *, timeout=30.0, check=True, user=None):
        container = self.containers[node]
        wrapped = ["timeout", "-s", "KILL", str(int(max(1, timeout))), "sh", "-c", cmd]
        try:
            res = container.exec_run(wrapped, user=user or "", demux=False)
        except Exception as e:
            raise RemoteCommandError(node, cmd, -1, str(e)) from None
        output = (res.output or b"").decode("utf-8", "replace")
        if check and res.exit_code != 0:
            raise RemoteCommandError(node, cmd, res.exit_code, output)
        return res.exit_code, output

    def upload(self, node, local_path, remote_dir):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(local_path, arcname=os.path.basename(local_path.rstrip("/")))
        self.exec(node, f"mkdir -p {shlex.quote(remote_dir)}")
        self.containers[node].put_archive(remote_dir, buf.getvalue())

    def download(self, node, remote_path, local_dir):
        import docker.errors
        container = self.containers[node]
        try:
            stream, _ = container.get_archive(remote_path)
        except docker.errors.NotFound:
            try:
                container.reload()
            except docker.errors.NotFound:
                raise RemoteCommandError(node, f"download {remote_path}", -1,
                                         "the node's container is gone") from None
            return      # the container is there, the path is not: nothing to collect
        buf = io.BytesIO(b"".join(stream))
        os.makedirs(local_dir, exist_ok=True)
        with tarfile.open(fileobj=buf) as tar:
            tar.extractall(local_dir, filter="data")


@contextlib.contextmanager
def _subnet_lock():
    """Serialise choose-and-create of networks among harness processes on this machine
    (two runs listing networks at once would otherwise pick the same free /24)."""
    with open(SUBNET_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def contain_cmd(gateway: str) -> str:
    """Refuse new TCP connections and UDP datagrams from the node to the host (the bridge
    gateway), in the harness's own chain; replies on connections the controller opened
    are not new, so they pass."""
    return (f"(iptables -N {HOST_CHAIN} 2>/dev/null || true) && iptables -F {HOST_CHAIN} && "
            f"iptables -A {HOST_CHAIN} -d {gateway} -p tcp --syn -j REJECT --reject-with tcp-reset && "
            f"iptables -A {HOST_CHAIN} -d {gateway} -p udp -j REJECT && "
            f"(iptables -C OUTPUT -j {HOST_CHAIN} 2>/dev/null || iptables -I OUTPUT 1 -j {HOST_CHAIN})")


def node_privileges(features: frozenset[str]) -> dict:
    """The container options a run's node features need, beyond NET_ADMIN (iptables, which
    every run may use). "fuse": the FUSE device and the right to mount it (SYS_ADMIN; the
    default AppArmor profile forbids mount even then, so the node runs unconfined)."""
    options: dict = {"cap_add": ["NET_ADMIN"]}
    if "fuse" in features:
        options["cap_add"].append("SYS_ADMIN")
        options["devices"] = ["/dev/fuse:/dev/fuse:rwm"]
        options["security_opt"] = ["apparmor:unconfined"]
    unknown = sorted(set(features) - {"fuse"})
    if unknown:
        raise DeployError(None, f"the Docker backend cannot give nodes {', '.join(unknown)}")
    return options


def _free_subnet(client, avoid=()) -> ipaddress.IPv4Network:
    used = list(avoid)
    for net in client.networks.list():
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
            if cfg.get("Subnet"):
                try:
                    used.append(ipaddress.ip_network(cfg["Subnet"]))
                except ValueError:
                    pass
    for candidate in SUBNET_POOL.subnets(new_prefix=24):
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    raise DeployError(None, f"no free /24 left in {SUBNET_POOL}: run `harness clean`")


class DockerCluster:
    """Creates and destroys the containers and network of one run."""

    def __init__(self, client, run_id: str, image: str, node_count: int,
                 extra_labels: dict | None = None, memory_mb: int = DEFAULT_NODE_MEMORY_MB,
                 pids: int = DEFAULT_NODE_PIDS, features: frozenset[str] = frozenset()):
        self.features = features
        self.memory_mb = memory_mb
        self.pids = pids
        self.client = client
        self.run_id = run_id
        self.image = image
        self.node_names = node_names(node_count)
        self.labels = {MANAGED: "true", RUN: run_id, OWNER: owner_label(),
                       **(extra_labels or {})}
        self.network = None
        self.containers: dict[str, object] = {}

    def create(self) -> Cluster:
        from docker.types import EndpointConfig, IPAMConfig, IPAMPool

        import docker.errors

        started = time.monotonic()
        net_name = f"harness-{self.run_id}"
        tried: list = []
        with _subnet_lock():
            for _ in range(16):
                subnet = _free_subnet(self.client, tried)
                hosts = list(subnet.hosts())
                gateway = str(hosts[0])
                try:
                    self.network = self.client.networks.create(
                        net_name, driver="bridge", internal=True, labels=self.labels,
                        ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet),
                                                               gateway=gateway)]))
                    break
                except docker.errors.APIError as e:
                    if "overlap" not in str(e).lower():
                        raise DeployError(None, f"network would not start: {str(e)[:200]}") \
                            from None
                    tried.append(subnet)      # taken by someone outside the lock: next one
            else:
                raise DeployError(None, f"no free subnet after {len(tried)} tries")
        ips = {n: str(hosts[10 + i]) for i, n in enumerate(self.node_names)}

        def start(node: str):
            try:
                return node, self.client.containers.run(
                    self.image, name=f"harness-{self.run_id}-{node}", hostname=node,
                    detach=True, network=net_name, **node_privileges(self.features),
                    networking_config={net_name: EndpointConfig(version="1.41",
                                                                ipv4_address=ips[node])},
                    extra_hosts={n: ip for n, ip in ips.items() if n != node},
                    labels={**self.labels, NODE: node}, stop_signal="SIGKILL",
                    mem_limit=f"{self.memory_mb}m", memswap_limit=f"{self.memory_mb}m",
                    pids_limit=self.pids)
            except Exception as e:
                raise DeployError(node, f"container would not start: {str(e)[:200]}") from None

        with ThreadPoolExecutor(max_workers=len(self.node_names)) as pool:
            for node, container in pool.map(start, self.node_names):
                self.containers[node] = container
        remote = DockerRemote(self.client, self.containers)

        def contain(node):
            try:
                remote.exec(node, contain_cmd(gateway), timeout=15)
            except RemoteCommandError as e:
                raise DeployError(node, f"could not fence the node off the host: {e}") from None

        with ThreadPoolExecutor(max_workers=len(self.node_names)) as pool:
            list(pool.map(contain, self.node_names))
        log.info("created network %s (%s) and %d containers in %.1fs", net_name, subnet,
                 len(self.containers), time.monotonic() - started)
        return Cluster(nodes=list(self.node_names), ips=ips, remote=remote,
                       labels=self.labels, probe=self.problems)

    def problems(self) -> list[str]:
        """What is wrong with this run's engine, network and containers right now.

        A container that is running or paused is fine (nemeses stop processes inside
        it, or freeze it); one that is gone, exited or restarting was not the harness's
        doing, and neither is a missing network or an engine that does not answer."""
        import docker.errors
        try:
            self.client.ping()
        except Exception as e:  # noqa: BLE001 - any failure to answer is the finding
            return [f"the Docker engine stopped answering ({_first_line(e)})"]
        try:
            listed = self.client.containers.list(all=True, filters={"label": f"{RUN}={self.run_id}"})
        except Exception as e:  # noqa: BLE001
            return [f"cannot list the run's containers ({_first_line(e)})"]
        status = {c.labels.get(NODE): c.status for c in listed}
        problems = []
        for node in self.node_names:
            if node not in status:
                problems.append(f"node {node}'s container was removed")
            elif status[node] not in ("running", "paused"):
                problems.append(f"node {node}'s container is {status[node]}")
        if self.network is not None:
            try:
                self.client.networks.get(self.network.id)
            except docker.errors.NotFound:
                problems.append(f"the run's network {self.network.name} was removed")
            except Exception as e:  # noqa: BLE001
                problems.append(f"cannot inspect the run's network ({_first_line(e)})")
        return problems

    def destroy(self) -> None:
        remove_by_label(self.client, {RUN: self.run_id})


def owner_label() -> str:
    """Who owns what this process creates: host, boot, pid and the pid's start time (so a
    recycled pid is not mistaken for the owner)."""
    return f"{socket.gethostname()}/{_boot_id()}/{os.getpid()}/{_start_time(os.getpid())}"


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return "unknown-boot"


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_alive(owner: str | None) -> bool:
    """Is the controller that created an object still running? Unknown owners (another
    host, no label) count as alive: the harness removes only what it knows is abandoned."""
    if not owner:
        return True
    try:
        host, boot, pid, start = owner.rsplit("/", 3)
    except ValueError:
        return True
    if host != socket.gethostname():
        return True                # another controller's machine: cannot tell, leave it
    if boot != _boot_id():
        return False               # this machine rebooted since: the owner is gone
    return pid.isdigit() and _start_time(int(pid)) == start


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return (text.splitlines()[0][:160] if text else type(e).__name__)


def remove_by_label(client, labels: dict[str, str], include_live: bool = True
                    ) -> tuple[int, int]:
    """Remove the containers, then networks, carrying all of `labels` (and managed=true).

    With include_live=False, only runs whose controller is gone (see `owner_alive`) are
    touched, so `harness clean` never pulls a cluster from under a run still going.
    Returns (containers removed, networks removed). Never touches anything unlabelled.
    """
    # Both labels: harness.run is set only on objects a run created, never inherited
    # from an image, so a container someone else made from our image is never matched.
    filters = [f"{MANAGED}=true", RUN] + [f"{k}={v}" for k, v in labels.items() if k != MANAGED]
    containers = client.containers.list(all=True, filters={"label": filters})
    networks = client.networks.list(filters={"label": filters})
    if not include_live:
        labels_of = [c.labels for c in containers] + [n.attrs.get("Labels") or {}
                                                      for n in networks]
        live = {labels.get(RUN) for labels in labels_of if owner_alive(labels.get(OWNER))}
        containers = [c for c in containers if c.labels.get(RUN) not in live]
        networks = [n for n in networks if (n.attrs.get("Labels") or {}).get(RUN) not in live]

    def remove(container):
        try:
            container.remove(force=True)
            return 1
        except Exception as e:
            log.warning("could not remove container %s: %s", container.name, e)
            return 0

    with ThreadPoolExecutor(max_workers=8) as pool:
        removed_containers = sum(pool.map(remove, containers))
    removed_networks = 0
    for net in networks:
        try:
            net.remove()
            removed_networks += 1
        except Exception as e:
            log.warning("could not remove network %s: %s", net.name, e)
    return removed_containers, removed_networks
