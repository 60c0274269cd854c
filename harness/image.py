"""The node image: a Debian bookworm rootfs built offline, with everything every bundled
system needs, so it is built once per recipe.

No container registry is reachable from the machines this runs on, so the image cannot
start `FROM debian`. Instead `debootstrap` builds a minimal root file system from the
Debian mirror apt already uses, and `docker import` turns it into an image. The tag is a
hash of the recipe (package list, trim steps, this module's RECIPE_VERSION): the image is
rebuilt only when the recipe changes, and a stale image is never mistaken for a fresh one.

A Dockerfile with the same package list is written next to the built image's recipe
(`harness image dockerfile`) for hosts that can pull `debian:bookworm`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import HarnessError, ImageMissing

log = logging.getLogger(__name__)

IMAGE_REPOSITORY = "harness-node"

# Bump when the build steps change in a way the package list does not show.
RECIPE_VERSION = 3

SUITE = "bookworm"

# What every bundled system and fault primitive needs inside a node:
#  raftkv / sqldb servers: python3 (standard library only)
#  faults: iproute2, iptables, nftables (partitions, packet loss), procps (pkill),
#          libfaketime (clock), fuse3 + python3-fusepy + libfuse2 (lost un-fsynced writes)
#  etcd: etcd-server, etcd-client;  pgha: postgresql-15, patroni (with its etcd3 deps)
#  the SSH backend's bare hosts: openssh-server, sudo (a non-root user with --sudo)
#  PID 1: tini (reaps the daemons we start with `docker exec`)
PACKAGES = (
    "python3", "iproute2", "iptables", "nftables", "procps", "iputils-ping", "tini",
    "etcd-server", "etcd-client", "postgresql-15", "patroni", "python3-etcd3",
    "python3-psycopg2", "fuse3", "libfuse2", "python3-fusepy", "libfaketime",
    "curl", "ca-certificates", "sqlite3", "openssh-server", "sudo",
)

# Patroni 4 for pgha's `patroni=4`: Debian ships 3.0.2 only. The PyPI wheels (pure Python)
# go into a venv at PATRONI4_VENV that sees Debian's site-packages, so Patroni 4 runs on
# the same Debian psycopg2, python-etcd, PyYAML, psutil, click and urllib3 as Patroni 3;
# only ydiff (which Debian calls cdiff) comes from PyPI with it. Installed with --no-deps:
# the wheels' other declared dependencies (py-consul) are for DCSs we do not use.
PATRONI4_VENV = "/opt/patroni4"
PYPI_PACKAGES = ("patroni==4.1.5", "ydiff==1.3")

TRIM_PATHS = (
    "var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
    "usr/share/man", "usr/share/locale", "usr/share/info",
)

CONTAINER_COMMAND = ["/usr/bin/tini", "--", "sleep", "infinity"]


def recipe() -> dict:
    """The inputs that determine the image's contents, hashed into its tag."""
    return {
        "version": RECIPE_VERSION,
        "suite": SUITE,
        "packages": sorted(PACKAGES),
        "pypi": {PATRONI4_VENV: sorted(PYPI_PACKAGES)},
        "trim": sorted(TRIM_PATHS),
        "cmd": CONTAINER_COMMAND,
    }


def image_tag() -> str:
    digest = hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()
    return f"{IMAGE_REPOSITORY}:{digest[:12]}"


def dockerfile() -> str:
    """The same recipe as a Dockerfile, for hosts that can pull debian:bookworm."""
    return (
        f"FROM debian:{SUITE}\n"
        "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
        "--no-install-recommends " + " ".join(PACKAGES) + " \\\n"
        " python3-venv python3-pip \\\n"
        " && (pg_dropcluster 15 main || true) && rm -rf /var/lib/apt/lists/*\n"
        f"RUN python3 -m venv --system-site-packages {PATRONI4_VENV} && "
        f"{PATRONI4_VENV}/bin/pip install --no-deps " + " ".join(PYPI_PACKAGES) + "\n"
        "LABEL harness.image=node\n"
        f"CMD {json.dumps(CONTAINER_COMMAND)}\n"
    )


@dataclass
class ImageStatus:
    tag: str
    exists: bool


def status(client) -> ImageStatus:
    import docker.errors

    tag = image_tag()
    try:
        client.images.get(tag)
        return ImageStatus(tag, True)
    except docker.errors.ImageNotFound:
        return ImageStatus(tag, False)


def require(client) -> str:
    """The tag of the node image, or ImageMissing saying how to build it."""
    st = status(client)
    if not st.exists:
        raise ImageMissing(
            f"node image {st.tag} is missing: build it with `harness image build` "
            "(about 2 minutes, needs debootstrap and the Debian mirror)"
        )
    return st.tag


def debian_mirror() -> str:
    """The Debian mirror apt already uses on this host (offline machines reach only it)."""
    candidates = [Path("/etc/apt/sources.list")]
    d = Path("/etc/apt/sources.list.d")
    if d.is_dir():
        candidates += sorted(d.iterdir())
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        # deb822 style: "URIs: http://.../debian" next to "Suites: bookworm ..."
        for stanza in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split() and "security" not in uris.group(1):
                return uris.group(1)
        for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", text, re.M):
            return m.group(1)
    return "http://deb.debian.org/debian"


def build(client, *, force: bool = False, workdir: str | None = None) -> str:
    """Build the node image unless an image with the recipe's tag exists. Returns the tag."""
    st = status(client)
    if st.exists and not force:
        log.info("node image %s already exists", st.tag)
        return st.tag
    if shutil.which("debootstrap") is None:
        raise HarnessError("debootstrap is not installed: run `apt-get install -y debootstrap`")
    if os.geteuid() != 0:
        raise HarnessError("building the node image needs root (debootstrap chroots)")
    mirror = debian_mirror()
    base = tempfile.mkdtemp(prefix="harness-rootfs-", dir=workdir or "/var/tmp")
    rootfs = Path(base) / "rootfs"
    try:
        log.info("debootstrap %s from %s into %s", SUITE, mirror, rootfs)
        _run(["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
              SUITE, str(rootfs), mirror])
        # The default PostgreSQL cluster is not wanted: systems create their own.
        _run(["chroot", str(rootfs), "sh", "-c", "pg_dropcluster 15 main || true"])
        install_pypi_venv(rootfs)
        for rel in TRIM_PATHS:
            target = rootfs / rel
            if target.is_dir():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)
        (rootfs / "tmp").mkdir(exist_ok=True)
        os.chmod(rootfs / "tmp", 0o1777)
        repo, tag = st.tag.split(":")
        log.info("importing rootfs as %s", st.tag)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        try:
            client.api.import_image_from_stream(
                tar.stdout, repository=repo, tag=tag,
                # Not harness.managed: image labels are inherited by every container made
                # from the image, and `harness clean` must not take someone else's.
                changes=[f"CMD {json.dumps(CONTAINER_COMMAND)}", "LABEL harness.image=node"],
            )
        finally:
            tar.stdout.close()
            if tar.wait() != 0:
                raise HarnessError("tar of the node rootfs failed")
        client.images.get(st.tag)  # raises if the import silently failed
        return st.tag
    finally:
        shutil.rmtree(base, ignore_errors=True)


def install_pypi_venv(rootfs: Path) -> None:
    """Make PATRONI4_VENV in the rootfs and put PYPI_PACKAGES into it. The image has no
    pip (and the chroot may not reach PyPI), so this host's pip downloads the wheels and
    installs them into the venv's site-packages; they are pure Python."""
    _run(["chroot", str(rootfs), "python3", "-m", "venv", "--without-pip",
          "--system-site-packages", PATRONI4_VENV])
    purelib = subprocess.run(
        ["chroot", str(rootfs), f"{PATRONI4_VENV}/bin/python3", "-c",
         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
          "--disable-pip-version-check", "--target", str(rootfs) + purelib, *PYPI_PACKAGES])
    _run(["chroot", str(rootfs), "python3", "-m", "compileall", "-q", PATRONI4_VENV])


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-5:])
        raise HarnessError(f"`{' '.join(cmd[:3])} ...` exited {proc.returncode}: {tail}")
