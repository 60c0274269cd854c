"""Control-plane cost: one exec round trip over SSH vs `docker exec`, on the same node.

    .venv/bin/python bench/ssh_exec.py [--count 50]

Starts one bare host (a node container running sshd, harness.control.bare_hosts), then
times `true` through both backends' `Remote.exec` on it: the SSH backend on its open
connection (a new channel per command), and the Docker backend's exec API. Also times a
new SSH connection (TCP, key exchange, host key check, public key auth). Prints median,
p90 and min in milliseconds; removes the host at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness.control import bare_hosts  # noqa: E402
from harness.control.hosts import read_hosts_file  # noqa: E402
from harness.control.ssh_backend import SshBackend  # noqa: E402


def timed(fn, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def line(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (f"{name:<38} median {statistics.median(samples):7.1f} ms   p90 {p90:7.1f} ms   "
            f"min {ordered[0]:7.1f} ms   (n={len(samples)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        hosts = bare_hosts.start(1, folder)
        try:
            specs = read_hosts_file(hosts.hosts_file)
            backend = SshBackend(specs, known_hosts=hosts.known_hosts)
            backend.connect_all()
            ssh_exec = timed(lambda: backend.remote.exec("n1", "true"), args.count)
            docker_exec = timed(lambda: hosts.cluster.exec("n1", "true"), args.count)

            def reconnect():
                backend.close()
                backend.connections["n1"].connect()
            connect = timed(reconnect, max(5, args.count // 5))
            backend.close()
        finally:
            hosts.destroy()
    print(line("exec `true` over SSH (open connection)", ssh_exec))
    print(line("exec `true` with docker exec (SDK)", docker_exec))
    print(line("new SSH connection + key check + auth", connect))
    print(f"ratio ssh/docker (medians): "
          f"{statistics.median(ssh_exec) / statistics.median(docker_exec):.2f}")


if __name__ == "__main__":
    main()
