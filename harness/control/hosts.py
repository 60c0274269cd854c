"""Hosts for the SSH backend: `[user@]host[:port] [key=PATH]`, one a line.

A hosts file names the machines a run deploys onto, in order: the first line is node n1,
the second n2, and so on. Blank lines and `#` comments are skipped. An IPv6 address is
written in brackets (`root@[fd00::5]:2222`). The optional `key=PATH` names the private
key for that host (otherwise `--ssh-key`, then ssh-agent and ~/.ssh/id_*); `~` is
expanded. A malformed line is an InputError naming file:line (exit 4).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..errors import InputError, UsageError

DEFAULT_PORT = 22
DEFAULT_USER = "root"

# A host name or IPv4 address (letters, digits, dots, dashes, underscores), or an IPv6
# address in brackets. Anything else (spaces, quotes, `;`) is refused outright: a host
# name ends up in commands and messages, and there is no good reason for it to hold more.
_SPEC = re.compile(r"^(?:(?P<user>[A-Za-z0-9._][A-Za-z0-9._-]*)@)?"
                   r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+))"
                   r"(?::(?P<port>\d{1,5}))?$")


@dataclass(frozen=True)
class HostSpec:
    """One host as the user wrote it: who to log in as, where, and with which key."""

    host: str
    port: int = DEFAULT_PORT
    user: str = DEFAULT_USER
    key: str | None = None

    @property
    def target(self) -> str:
        """`user@host:port`, as messages show it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """The name OpenSSH files this host's key under: `host`, or `[host]:port`."""
        return self.host if self.port == DEFAULT_PORT else f"[{self.host}]:{self.port}"

    def spec(self) -> str:
        """The line that parses back to this host (recorded in test.json for reruns)."""
        return self.target + (f" key={self.key}" if self.key else "")


def parse_host(text: str, default_user: str | None = None, default_key: str | None = None,
               where: str = "--host") -> HostSpec:
    """One `[user@]host[:port] [key=PATH]`; raises UsageError naming `where`."""
    parts = text.split()
    if not parts:
        raise UsageError(f"{where}: empty host")
    match = _SPEC.match(parts[0])
    if not match:
        raise UsageError(f"{where}: {parts[0]!r} is not [user@]host[:port]")
    key = default_key
    for extra in parts[1:]:
        name, eq, value = extra.partition("=")
        if name != "key" or not eq or not value:
            raise UsageError(f"{where}: unexpected {extra!r} (only key=PATH may follow the host)")
        key = value
    port = int(match.group("port") or DEFAULT_PORT)
    if not 1 <= port <= 65535:
        raise UsageError(f"{where}: port {port} is out of range")
    return HostSpec(host=match.group("ipv6") or match.group("host"), port=port,
                    user=match.group("user") or default_user or DEFAULT_USER,
                    key=os.path.expanduser(key) if key else None)


def parse_hosts_text(text: str, path: str, default_user: str | None = None,
                     default_key: str | None = None) -> list[HostSpec]:
    hosts: list[HostSpec] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            hosts.append(parse_host(line, default_user, default_key, where="line"))
        except UsageError as e:
            raise InputError(path, number, str(e).removeprefix("line: ")) from None
    return hosts


def read_hosts_file(path: str, default_user: str | None = None,
                    default_key: str | None = None) -> list[HostSpec]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(1 << 20)
    except OSError as e:
        raise UsageError(f"--hosts {path}: cannot read it ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise InputError(path, None, "not a text file") from None
    hosts = parse_hosts_text(text, path, default_user, default_key)
    if not hosts:
        raise InputError(path, None, "names no host")
    return hosts


def check_distinct(hosts: list[HostSpec]) -> None:
    seen: dict[tuple[str, int], str] = {}
    for spec in hosts:
        key = (spec.host.lower(), spec.port)
        if key in seen:
            raise UsageError(f"host {spec.target} is listed twice (each node needs its own host)")
        seen[key] = spec.target
