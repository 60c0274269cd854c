"""Bare hosts: containers of the node image that stand in for machines reached over SSH.

Each is an ordinary node container of the Docker backend (internal network, harness
labels, NET_ADMIN, memory and pid limits) running sshd with a fresh host key of its own
and a test public key in root's authorized_keys, and nothing of any system. The SSH
backend's tests and the "Testing your own hosts" walk-through run against them.

`start(count, folder)` writes into `folder`: `id_rsa` (the test key, 0600), `hosts`
(one `root@IP:22 key=.../id_rsa` a line) and `known_hosts` (every host key, read through
`docker exec`, a channel that needs no trust on first use). `BareHosts.destroy()` removes
the containers and network; so does `harness clean` once the process that started them
is gone (they carry the harness labels).

    python -m harness.control.bare_hosts --count 5 --dir /tmp/hosts   # until Ctrl-C
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import DeployError
from . import Cluster

SSHD_READY_TIMEOUT_S = 20


@dataclass
class BareHosts:
    cluster: Cluster
    docker_cluster: object
    hosts_file: str
    sudo_hosts_file: str          # the same hosts as SUDO_USER (run with --sudo)
    known_hosts: str
    key_file: str
    folder: str

    @property
    def nodes(self) -> list[str]:
        return self.cluster.nodes

    def destroy(self) -> None:
        self.docker_cluster.destroy()


def _keypair(folder: str) -> tuple[str, str]:
    """A fresh RSA key for the test (private file, public line)."""
    import paramiko

    key = paramiko.RSAKey.generate(2048)
    path = os.path.join(folder, "id_rsa")
    if os.path.exists(path):
        os.unlink(path)
    key.write_private_key_file(path)
    os.chmod(path, 0o600)
    public = f"{key.get_name()} {key.get_base64()} harness-bare-hosts"
    with open(path + ".pub", "w") as f:
        f.write(public + "\n")
    return path, public


SUDO_USER = "tester"


def sshd_command(public_key: str) -> str:
    """Inside a node container: root's authorized key, and the same key for SUDO_USER, a
    user with passwordless sudo (for --sudo); new host keys; sshd as a daemon."""
    home = f"/home/{SUDO_USER}"
    return ("mkdir -p /root/.ssh /run/sshd && chmod 700 /root/.ssh && "
            f"printf '%s\\n' {shlex.quote(public_key)} > /root/.ssh/authorized_keys && "
            "chmod 600 /root/.ssh/authorized_keys && "
            f"useradd -m -s /bin/sh {SUDO_USER} && mkdir -p {home}/.ssh && "
            f"cp /root/.ssh/authorized_keys {home}/.ssh/ && "
            f"chown -R {SUDO_USER}: {home}/.ssh && chmod 700 {home}/.ssh && "
            f"echo '{SUDO_USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/{SUDO_USER} && "
            f"chmod 440 /etc/sudoers.d/{SUDO_USER} && rm -f /etc/ssh/ssh_host_* && "
            "ssh-keygen -A >/dev/null && /usr/sbin/sshd -E /var/log/sshd.log "
            "-o PermitRootLogin=prohibit-password -o PasswordAuthentication=no "
            "-o KbdInteractiveAuthentication=no -o UseDNS=no -o MaxSessions=100 "
            "-o MaxStartups=100")


def _wait_for_port(ip: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((ip, port), timeout=1) as sock:
                sock.settimeout(2)
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise DeployError(None, f"sshd on {ip}:{port} did not answer within {timeout_s:g}s")
        time.sleep(0.1)


def start(count: int, folder: str, client=None, run_id: str | None = None) -> BareHosts:
    from .. import image
    from . import docker

    os.makedirs(folder, exist_ok=True)
    client = client or docker.connect()
    tag = image.require(client)
    key_file, public = _keypair(folder)
    docker_cluster = docker.DockerCluster(client, run_id or "bare" + uuid.uuid4().hex[:6], tag,
                                          count, {"harness.test": "bare-hosts"})
    try:
        cluster = docker_cluster.create()

        def boot(node):
            cluster.exec(node, sshd_command(public), timeout=30)
            _wait_for_port(cluster.ips[node], 22, SSHD_READY_TIMEOUT_S)
            _, keys = cluster.exec(node, "cat /etc/ssh/ssh_host_*_key.pub", timeout=10)
            return [f"{cluster.ips[node]} {' '.join(line.split()[:2])}"
                    for line in keys.splitlines() if line.strip()]

        with ThreadPoolExecutor(max_workers=count) as pool:
            known = [line for lines in pool.map(boot, cluster.nodes) for line in lines]
    except BaseException:
        docker_cluster.destroy()
        raise
    hosts_file = os.path.join(folder, "hosts")
    with open(hosts_file, "w") as f:
        f.write("# bare hosts (harness.control.bare_hosts): node n1 is the first line\n")
        for node in cluster.nodes:
            f.write(f"root@{cluster.ips[node]}:22 key={key_file}\n")
    sudo_hosts_file = os.path.join(folder, "hosts-sudo")
    with open(sudo_hosts_file, "w") as f:
        f.write(f"# the same bare hosts as {SUDO_USER}, a user with passwordless sudo\n")
        for node in cluster.nodes:
            f.write(f"{SUDO_USER}@{cluster.ips[node]}:22 key={key_file}\n")
    known_hosts = os.path.join(folder, "known_hosts")
    with open(known_hosts, "w") as f:
        f.write("\n".join(known) + "\n")
    return BareHosts(cluster, docker_cluster, hosts_file, sudo_hosts_file, known_hosts,
                     key_file, folder)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Start bare SSH hosts until interrupted.")
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--dir", required=True, help="where to write hosts, known_hosts, id_rsa")
    args = parser.parse_args(argv)
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    hosts = start(args.count, args.dir)
    print(f"{args.count} bare hosts up: --hosts {hosts.hosts_file} --known-hosts "
          f"{hosts.known_hosts} (Ctrl-C removes them)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        hosts.destroy()


if __name__ == "__main__":
    main()
