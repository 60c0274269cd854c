"""Control: running commands on nodes and moving files to and from them.

A backend gives the rest of the harness one small interface, `Remote`, whatever the
nodes are: Docker containers (`docker.py`) or existing hosts over SSH (`ssh.py`,
`ssh_backend.py`). Everything that touches a node goes through it, so a nemesis or a
system never knows which backend it runs on. `backends.py` is the lifecycle the runner
drives for either (preflight, create, destroy); `bare_hosts.py` starts containers that
stand in for SSH hosts in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol


class Remote(Protocol):
    def exec(self, node: str, cmd: str, *, timeout: float = 30.0, check: bool = True,
             user: str | None = None) -> tuple[int, str]:
        """Run `cmd` with sh -c on `node`; returns (exit code, combined output).

        With check=True a non-zero exit raises RemoteCommandError. The command is killed
        after `timeout` seconds (exit code 124), so no control call can hang a run.
        """

    def upload(self, node: str, local_path: str, remote_dir: str) -> None:
        """Copy a local file or directory into remote_dir on node."""

    def download(self, node: str, remote_path: str, local_dir: str) -> None:
        """Copy a remote file or directory into local_dir (missing paths are skipped)."""


@dataclass
class Cluster:
    """The nodes of one run: names in order, their addresses, and how to reach them."""

    nodes: list[str]
    ips: dict[str, str]
    remote: Remote
    labels: dict[str, str] = field(default_factory=dict)
    # The backend's view of the cluster's health: a list of problems (engine unreachable,
    # a node's machine gone), empty when the cluster is as the harness left it.
    probe: Callable[[], list[str]] = field(default=lambda: [], repr=False)

    def exec(self, node: str, cmd: str, **kw) -> tuple[int, str]:
        return self.remote.exec(node, cmd, **kw)


def node_names(count: int) -> list[str]:
    return [f"n{i}" for i in range(1, count + 1)]
