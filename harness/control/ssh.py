"""SSH: one verified, authenticated connection per host, and `Remote` over it.

Why paramiko (the `ssh` extra) and not asyncssh: the rest of the harness is threads (the
interpreter's workers, the nemesis dispatcher, the monitor), and `Remote.exec` is a
blocking call made from them. paramiko's Transport is thread-safe for opening channels,
so one connection per host serves every thread at once with no event loop to bridge;
asyncssh would need a loop thread and a future per call for the same result. paramiko
also reads OpenSSH's known_hosts (hashed entries included) and private keys as they are.

Contracts:
* host keys are verified against known_hosts before any authentication: an unknown key
  or a changed one is HostKeyError (exit 3), one line naming the host, the key's SHA256
  fingerprint and how to accept it. `accept_new` (trust on first use) appends unknown keys
  to the known_hosts file, never replaces a changed one; `insecure` skips the check.
  Both are opt-ins the runner records in test.json;
* authentication is by public key only (the key given, or ssh-agent, or ~/.ssh/id_*);
  the harness never asks for, stores or logs a password or a passphrase;
* every command runs as `timeout -s KILL N sh -c CMD` on the host (prefixed with
  `sudo -n` for a non-root user) and the channel is abandoned after N + 5 s on this
  side: no call can hang a run. The command itself is one argument, quoted with shlex;
* files move over SFTP, as a tar file staged in the login user's home directory and
  unpacked (or packed) on the host by tar, so directories and sudo both work.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import secrets
import shlex
import socket
import tarfile
import threading
import time

from ..errors import BackendUnavailable, HarnessError, RemoteCommandError
from .hosts import HostSpec

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_S = 15
GRACE_S = 5.0          # how long past a command's own timeout this side waits for it
RECONNECT_AFTER_S = 15.0   # a host that just failed to connect fails fast until then
DEFAULT_KEY_FILES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


class HostProblem(HarnessError):
    """A problem with one host that several hosts may share: `what` (the kind, e.g.
    "unknown host key"), `host` (the node and its key or detail) and `advice` (what to
    do). `merge` folds those of many hosts into one line: the kind once, each host, the
    advice once."""

    def __init__(self, what: str, host: str, advice: str):
        super().__init__(f"{what}: {host}; {advice}")
        self.what, self.host, self.advice = what, host, advice

    @classmethod
    def merge(cls, problems: list["HostProblem"]) -> "HostProblem":
        first = problems[0]
        merged = cls(first.what, ", ".join(p.host for p in problems), first.advice)
        if any(not p.host for p in problems) or len({(p.what, p.advice) for p in problems}) > 1:
            # Not one kind with one advice: each distinct message whole, once.
            merged.args = ("; ".join(dict.fromkeys(str(p) for p in problems)),)
        return merged


class HostKeyError(HostProblem):
    """A host's key is unknown or differs from known_hosts (exit 3: nothing is touched)."""


class AuthError(HostProblem):
    """No key the harness may use was accepted by a host (exit 3)."""

    def __init__(self, what: str, host: str = "", advice: str = ""):
        if host or advice:
            super().__init__(what, host, advice)
        else:
            HarnessError.__init__(self, what)
            self.what, self.host, self.advice = what, "", ""


def _paramiko():
    try:
        import paramiko
        # paramiko logs a traceback at ERROR for every failed handshake on its own
        # thread; the harness raises its own one-line error for each, so keep it quiet.
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)
        return paramiko
    except ImportError:
        raise HarnessError("the SSH backend needs paramiko: install the `ssh` extra "
                           "(pip install -e '.[ssh]')") from None


def fingerprint(key) -> str:
    """OpenSSH's SHA256 fingerprint of a public key (`SHA256:...`, unpadded base64)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class HostKeyPolicy:
    """How host keys are checked: against `known_hosts`, optionally accepting new ones
    (written back to that file), or not at all (`insecure`)."""

    def __init__(self, known_hosts: str | None = None, accept_new: bool = False,
                 insecure: bool = False):
        self.path = os.path.expanduser(known_hosts or DEFAULT_KNOWN_HOSTS)
        self.explicit = known_hosts is not None
        self.accept_new = accept_new
        self.insecure = insecure
        self._lock = threading.Lock()
        self._keys = None
        self.accepted: list[str] = []     # "host fingerprint" of keys accepted on first use

    def _load(self):
        paramiko = _paramiko()
        if self._keys is None:
            keys = paramiko.HostKeys()
            if os.path.exists(self.path):
                try:
                    keys.load(self.path)
                except (OSError, paramiko.SSHException, ValueError) as e:
                    raise HarnessError(f"--known-hosts {self.path}: cannot read it ({e})") \
                        from None
            elif self.explicit and not self.accept_new:
                raise HarnessError(f"--known-hosts {self.path}: no such file")
            self._keys = keys
        return self._keys

    def verify(self, node: str, spec: HostSpec, key) -> None:
        if self.insecure:
            log.warning("%s (%s): host key NOT checked (--insecure-no-host-key-check): %s %s",
                        node, spec.target, key.get_name(), fingerprint(key))
            return
        with self._lock:
            known = self._load().lookup(spec.known_hosts_name)
            name, print_ = key.get_name(), fingerprint(key)
            if known:
                if name in known and known[name] == key:
                    return
                if name in known or known:
                    # A key of this type that differs, or keys of other types only: OpenSSH
                    # treats both as a changed host (someone may be in the middle).
                    raise HostKeyError(
                        f"host key CHANGED (not the one {self.path} lists)",
                        f"{node} ({spec.target}) offers {name} {print_}",
                        "if a host was reinstalled, remove its old entry with `ssh-keygen -R "
                        f"HOST -f {shlex.quote(self.path)}` and retry; otherwise someone may "
                        "be in the middle")
            if not self.accept_new:
                raise HostKeyError(
                    f"unknown host key (not in {self.path})",
                    f"{node} ({spec.target}) {name} {print_}",
                    "compare with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the host, "
                    f"then add it with `ssh-keyscan -p PORT HOST >> {shlex.quote(self.path)}` "
                    "or rerun with --accept-new-host-keys (trust on first use)")
            self._append(spec.known_hosts_name, key)
            self.accepted.append(f"{spec.known_hosts_name} {name} {print_}")
            log.warning("%s (%s): accepted new host key %s %s into %s", node, spec.target,
                        name, print_, self.path)

    def _append(self, name: str, key) -> None:
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(f"{name} {key.get_name()} {key.get_base64()}\n")
        self._keys.add(name, key.get_name(), key)


def load_keys(explicit: str | None) -> list:
    """The private keys to offer: the one given (an error if unusable), else ssh-agent's,
    then the default files that exist and load without a passphrase."""
    paramiko = _paramiko()
    if explicit:
        path = os.path.expanduser(explicit)
        try:
            return [paramiko.PKey.from_path(path)]
        except FileNotFoundError:
            raise AuthError(f"ssh key {path}: no such file") from None
        except (paramiko.PasswordRequiredException, TypeError):
            # TypeError: how the cryptography package says "encrypted, no password given"
            raise AuthError(f"ssh key {path} is encrypted: the harness never asks for a "
                            "passphrase; load it into ssh-agent (`ssh-add`) and leave out "
                            "the key") from None
        except (paramiko.SSHException, ValueError, OSError) as e:
            raise AuthError(f"ssh key {path}: cannot load it ({e})") from None
    keys = []
    try:
        keys.extend(paramiko.Agent().get_keys())
    except paramiko.SSHException:
        pass
    for candidate in DEFAULT_KEY_FILES:
        path = os.path.expanduser(candidate)
        if os.path.exists(path):
            try:
                keys.append(paramiko.PKey.from_path(path))
            except (paramiko.SSHException, ValueError, TypeError, OSError):
                log.info("skipping %s (encrypted or unreadable)", path)
    return keys


class SshConnection:
    """One host: a verified, authenticated Transport, reopened when it drops."""

    def __init__(self, node: str, spec: HostSpec, policy: HostKeyPolicy,
                 default_key: str | None = None, sudo: bool = False):
        self.node, self.spec, self.policy = node, spec, policy
        self.key_path = spec.key or default_key
        self.sudo = sudo
        self.transport = None
        self._lock = threading.Lock()
        self.home: str | None = None
        self._failure: tuple[float, Exception] | None = None

    def connect(self):
        """Open (or return) the transport: TCP, key exchange, host key check, public key
        authentication. Raises BackendUnavailable, HostKeyError or AuthError.

        A host that failed to connect raises the same error again, at once, for
        RECONNECT_AFTER_S: a dead host costs one connect timeout, not one per command
        (the teardown sends it several)."""
        with self._lock:
            if self.transport is not None and self.transport.is_active():
                return self.transport
            if self._failure and time.monotonic() - self._failure[0] < RECONNECT_AFTER_S:
                raise self._failure[1]
            try:
                self.transport = self._open()
            except Exception as e:
                self._failure = (time.monotonic(), e)
                raise
            self._failure = None
            return self.transport

    def _open(self):
        paramiko = _paramiko()
        where = f"{self.node} ({self.spec.target})"
        try:
            sock = socket.create_connection((self.spec.host, self.spec.port),
                                            timeout=CONNECT_TIMEOUT_S)
        except OSError as e:
            raise BackendUnavailable(f"{where}: cannot connect ({e.strerror or e})") from None
        # Commands are small request/response exchanges: without TCP_NODELAY, Nagle and
        # delayed ACKs add about 40 ms to each round trip.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(sock)
        try:
            try:
                transport.start_client(timeout=CONNECT_TIMEOUT_S)
                # start_client returns at its timeout without an error: check it finished.
                if not transport.is_active() or not getattr(transport, "initial_kex_done", True):
                    raise BackendUnavailable(f"{where}: the SSH handshake did not finish "
                                             f"within {CONNECT_TIMEOUT_S:g}s")
                server_key = transport.get_remote_server_key()
            except (paramiko.SSHException, EOFError, OSError) as e:
                raise BackendUnavailable(f"{where}: SSH handshake failed ({e or type(e).__name__})"
                                         ) from None
            self.policy.verify(self.node, self.spec, server_key)
            keys = load_keys(self.key_path)
            if not keys:
                raise AuthError("no SSH key to offer (none given, no ssh-agent, no ~/.ssh/id_*)",
                                where, "pass --ssh-key or key= in the hosts file")
            refused = []
            for key in keys:
                try:
                    transport.auth_publickey(self.spec.user, key)
                    break
                except paramiko.AuthenticationException:
                    refused.append(f"{key.get_name()} {fingerprint(key)}")
                except (paramiko.SSHException, EOFError, OSError) as e:
                    raise BackendUnavailable(f"{where}: authentication failed ({e})") from None
            if not transport.is_authenticated():
                raise AuthError(f"public key refused ({', '.join(refused)})",
                                f"{where} for user {self.spec.user}",
                                "add the public key to the user's ~/.ssh/authorized_keys there, "
                                "or pass the right key with --ssh-key / key= in the hosts file")
            transport.set_keepalive(KEEPALIVE_S)
            return transport
        except BaseException:
            transport.close()
            raise

    def close(self) -> None:
        with self._lock:
            if self.transport is not None:
                self.transport.close()
                self.transport = None

    # ---- commands
    def wrap(self, cmd: str, timeout: float, user: str | None = None) -> str:
        """The command line the host's login shell runs: a hard timeout around `sh -c`,
        as another user (runuser) and/or through sudo when asked. `cmd` is one quoted
        argument, so nothing in it reaches the login shell."""
        line = f"timeout -s KILL {int(max(1, timeout))} sh -c {shlex.quote(cmd)}"
        if user:
            line = f"runuser -u {shlex.quote(user)} -- {line}"
        if self.sudo:
            line = f"sudo -n -- {line}"
        return line

    def run(self, cmd: str, timeout: float = 30.0, user: str | None = None,
            raw: bool = False, open_timeout: float = CONNECT_TIMEOUT_S) -> tuple[int, bytes]:
        """Run `cmd`; returns (exit code, stdout and stderr). 124 or 137 after a timeout.
        `raw` hands `cmd` to the login shell as it is (no timeout, no sudo): only for
        fixed command lines of the harness's own, such as the check that sudo works."""
        transport = self.connect()
        try:
            channel = transport.open_session(timeout=open_timeout)
        except Exception as e:   # noqa: BLE001 - paramiko raises several types here
            self.close()         # the next call reconnects
            raise RemoteCommandError(self.node, cmd, -1, f"cannot open a channel: {e}") from None
        deadline = time.monotonic() + timeout + GRACE_S
        chunks: list[bytes] = []
        try:
            channel.set_combine_stderr(True)
            channel.settimeout(0.5)
            channel.exec_command(cmd if raw else self.wrap(cmd, timeout, user))
            channel.shutdown_write()
            while True:
                try:
                    data = channel.recv(65536)
                    if data:
                        chunks.append(data)
                        continue
                    if channel.exit_status_ready() or channel.closed or channel.eof_received:
                        break
                except socket.timeout:
                    pass
                if time.monotonic() > deadline:
                    log.warning("%s: `%s` did not finish within %gs", self.node, cmd[:80],
                                timeout + GRACE_S)
                    return 124, b"".join(chunks)
            channel.status_event.wait(GRACE_S)     # sshd sends the exit status after EOF
            code = channel.recv_exit_status() if channel.exit_status_ready() else 124
            return code, b"".join(chunks)
        except (OSError, EOFError, _paramiko().SSHException) as e:
            self.close()         # the next call reconnects
            raise RemoteCommandError(self.node, cmd, -1, f"connection lost: {e}") from None
        finally:
            channel.close()

    def home_dir(self) -> str:
        if self.home is None:
            with self.sftp() as sftp:
                self.home = sftp.normalize(".")
        return self.home

    def sftp(self):
        transport = self.connect()
        client = _paramiko().SFTPClient.from_transport(transport)
        client.get_channel().settimeout(60)
        return client


class SshRemote:
    """`Remote` over one SshConnection per node (created by SshBackend)."""

    def __init__(self, connections: dict[str, SshConnection]):
        self.connections = connections

    def exec(self, node, cmd, *, timeout=30.0, check=True, user=None):
        code, raw = self.connections[node].run(cmd, timeout=timeout, user=user)
        output = raw.decode("utf-8", "replace")
        if check and code != 0:
            raise RemoteCommandError(node, cmd, code, output)
        return code, output

    def _stage_name(self, node: str) -> str:
        return f"{self.connections[node].home_dir()}/.harness-stage-{secrets.token_hex(6)}.tar"

    def upload(self, node, local_path, remote_dir):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(local_path, arcname=os.path.basename(local_path.rstrip("/")))
        buf.seek(0)
        stage = self._stage_name(node)
        connection = self.connections[node]
        with connection.sftp() as sftp:
            sftp.putfo(buf, stage)
        q_dir, q_stage = shlex.quote(remote_dir), shlex.quote(stage)
        self.exec(node, f"mkdir -p {q_dir} && tar -C {q_dir} --no-same-owner -xf {q_stage}; "
                        f"status=$?; rm -f {q_stage}; exit $status", timeout=120)

    def download(self, node, remote_path, local_dir):
        stage = self._stage_name(node)
        parent, name = os.path.split(remote_path.rstrip("/"))
        q_stage = shlex.quote(stage)
        owner = shlex.quote(self.connections[node].spec.user)
        code, out = self.exec(
            node, f"[ -e {shlex.quote(remote_path)} ] || exit 3; "
                  f"tar -C {shlex.quote(parent or '/')} -cf {q_stage} {shlex.quote(name)} "
                  f"&& chown {owner} {q_stage}", timeout=120, check=False)
        if code == 3:
            return         # the path is not there: nothing to collect
        try:
            if code != 0:
                raise RemoteCommandError(node, f"download {remote_path}", code, out)
            buf = io.BytesIO()
            with self.connections[node].sftp() as sftp:
                sftp.getfo(stage, buf)
            buf.seek(0)
            os.makedirs(local_dir, exist_ok=True)
            with tarfile.open(fileobj=buf) as tar:
                tar.extractall(local_dir, filter="data")
        finally:
            self.exec(node, f"rm -f {q_stage}", timeout=15, check=False)
