"""The SSH backend: a run on hosts the harness does not own.

Lifecycle, and what each step may touch:

1. `preflight`: connect to every host in parallel (host key check, public key auth), then
   run one read-only probe script on each: OS, python3 and the commands the harness and
   the system need, iptables usable (root or sudo, NET_ADMIN), free disk, the clock, the
   paths the system would create, and leftovers of an earlier run. Every problem on every
   host is reported together (PreflightError, exit 3) before anything is changed.
2. `create`: write a manifest on each host (`/var/lib/harness/run.json`: run id, owner,
   system and options, the paths the system declares, the HARNESS-* iptables chains that
   existed before) and hand out the Cluster.
3. `destroy` (the end of the run) and `clean_hosts` (`harness clean --hosts`, after a
   crash): the system's own teardown (it kills its processes), then any process still
   running from one of the system's paths, then every HARNESS-* chain the manifest did not
   list (with the jumps to it), then the system's paths, then the manifest. Nothing else.

A system runs on this backend only if it declares `host_paths` (everything it creates on a
node), since otherwise the harness could not undo it; and the paths must not exist before
the run (the harness removes only what it created).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from ..errors import BackendUnavailable, HarnessError, UsageError
from . import Cluster, node_names
from .hosts import HostSpec
from .ssh import AuthError, HostKeyError, HostKeyPolicy, SshConnection, SshRemote

log = logging.getLogger(__name__)

STATE_DIR = "/var/lib/harness"
MANIFEST = f"{STATE_DIR}/run.json"
CHAIN_PREFIX = "HARNESS-"
# What the harness itself runs on a host (partitions: iptables-restore; daemons: setsid;
# every command: timeout; files: tar; process cleanup: pkill).
BASE_COMMANDS = ("python3", "iptables", "iptables-restore", "setsid", "timeout", "tar",
                 "pkill")
MIN_FREE_DISK_MB = 512
MIN_PYTHON = (3, 9)
CLOCK_WARN_S = 1.0
PREFLIGHT_TIMEOUT_S = 20
TEARDOWN_TIMEOUT_S = 30


class PreflightError(HarnessError):
    """Hosts that cannot take the run, every problem listed (exit 3, nothing touched)."""


def in_parallel(fn: Callable[[str], object], nodes: list[str]) -> dict[str, object]:
    """fn(node) on every node at once: {node: result, or the exception it raised}."""
    def one(node):
        try:
            return node, fn(node)
        except Exception as e:  # noqa: BLE001 - the caller sorts the failures out
            return node, e
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        return dict(pool.map(one, nodes))


def probe_script(commands: tuple[str, ...], paths: tuple[str, ...]) -> str:
    """Read-only facts about a host, one `key value` a line (parsed by `read_facts`)."""
    q_paths = " ".join(shlex.quote(p) for p in paths)
    q_cmds = " ".join(shlex.quote(c) for c in commands)
    return (
        "PATH=$PATH:/usr/sbin:/sbin; "
        "echo kernel $(uname -s); "
        "echo os $( (. /etc/os-release && echo \"$ID-$VERSION_ID\") 2>/dev/null || echo unknown); "
        "echo uid $(id -u); "
        f"for c in {q_cmds}; do command -v \"$c\" >/dev/null 2>&1 || echo missing \"$c\"; done; "
        "command -v python3 >/dev/null 2>&1 && echo python $(python3 -c "
        "'import sys; print(\"%d.%d\" % sys.version_info[:2])'); "
        "iptables -n -L INPUT >/dev/null 2>&1 && echo iptables ok || echo iptables fails; "
        "echo disk_mb $(df -Pm /var 2>/dev/null | awk 'NR==2 {print $4}'); "
        f"for p in {q_paths}; do [ -e \"$p\" ] && echo exists \"$p\"; done; "
        f"[ -e {MANIFEST} ] && echo manifest $(base64 -w0 < {MANIFEST}); "
        "echo clock $(date +%s.%N)")


def read_facts(output: str) -> dict:
    facts: dict = {"missing": [], "exists": []}
    for line in output.splitlines():
        key, _, value = line.strip().partition(" ")
        if key in ("missing", "exists"):
            facts[key].append(value)
        elif key:
            facts[key] = value.strip()
    return facts


def host_problems(node: str, spec: HostSpec, facts: dict, sudo: bool) -> list[str]:
    """What keeps the run off this host, each as `node (user@host:port): what to do`."""
    where = f"{node} ({spec.target})"
    problems = []
    if facts.get("kernel") != "Linux":
        problems.append(f"{where}: not Linux ({facts.get('kernel') or 'no answer'})")
    if facts.get("uid") != "0":
        problems.append(f"{where}: commands run as uid {facts.get('uid')}, not root: "
                        + ("sudo did not make them root" if sudo else
                           "log in as root or pass --sudo (passwordless sudo)"))
    if facts["missing"]:
        problems.append(f"{where}: missing {', '.join(facts['missing'])} (install with "
                        "the host's package manager, e.g. `apt-get install python3 iptables "
                        "procps tar coreutils util-linux`)")
    python = facts.get("python")
    if python and tuple(int(x) for x in python.split(".")) < MIN_PYTHON:
        problems.append(f"{where}: python3 is {python}; "
                        f"{'.'.join(map(str, MIN_PYTHON))} or newer is needed")
    if "iptables" not in facts["missing"] and facts.get("iptables") != "ok":
        problems.append(f"{where}: iptables does not work here (needs root and NET_ADMIN; "
                        "in a container, --cap-add NET_ADMIN)")
    try:
        free = int(facts.get("disk_mb", ""))
        if free < MIN_FREE_DISK_MB:
            problems.append(f"{where}: only {free} MiB free under /var "
                            f"({MIN_FREE_DISK_MB} MiB needed)")
    except ValueError:
        problems.append(f"{where}: cannot tell the free disk space under /var")
    if facts.get("manifest"):
        problems.append(f"{where}: a harness run left state here ({MANIFEST}): run "
                        "`harness clean --hosts FILE` first")
    elif facts["exists"]:
        problems.append(f"{where}: {', '.join(facts['exists'])} already exist(s) and the "
                        "system would create it: the harness removes only what it created, "
                        "so move it away first")
    return problems


def teardown_script(paths: tuple[str, ...], chains_before: list[str]) -> str:
    """Undo what a run added: processes still running from the system's paths, HARNESS-*
    chains that did not exist before (jumps first), the paths, the manifest."""
    keep = " ".join(shlex.quote(c) for c in chains_before) or "-"
    lines = ["PATH=$PATH:/usr/sbin:/sbin"]
    for path in paths:
        if path.endswith(".pid"):
            continue
        # Processes started from a harness-created path (none existed before the run).
        # `[/]x/` matches "/x/" but not itself, so pkill spares this very script.
        bare = path.rstrip("/")
        pattern = f"[{bare[0]}]{re.escape(bare[1:])}/"
        lines.append(f"pkill -9 -f -- {shlex.quote(pattern)} || true")
    lines.append(
        f"for chain in $(iptables -S 2>/dev/null | awk '$1==\"-N\" && $2 ~ /^{CHAIN_PREFIX}/ "
        "{print $2}'); do "
        f"case \" {keep} \" in *\" $chain \"*) continue;; esac; "
        "for parent in INPUT OUTPUT FORWARD; do "
        "while iptables -D \"$parent\" -j \"$chain\" 2>/dev/null; do :; done; done; "
        "iptables -F \"$chain\" && iptables -X \"$chain\" || echo \"cannot remove chain $chain\"; "
        "done")
    if paths:
        lines.append("rm -rf -- " + " ".join(shlex.quote(p) for p in paths))
    lines.append(f"rm -rf -- {STATE_DIR}")
    return "; ".join(lines)


class SshBackend:
    """Nodes n1..nN are the hosts, in the order given."""

    name = "ssh"

    def __init__(self, hosts: list[HostSpec], *, ssh_key: str | None = None,
                 sudo: bool = False, known_hosts: str | None = None,
                 accept_new_host_keys: bool = False, insecure_no_host_key_check: bool = False):
        if accept_new_host_keys and insecure_no_host_key_check:
            raise UsageError("--accept-new-host-keys and --insecure-no-host-key-check "
                             "exclude each other")
        self.hosts = list(hosts)
        for path in {h.key or ssh_key for h in self.hosts} - {None}:
            if not os.path.isfile(os.path.expanduser(path)):
                raise UsageError(f"ssh key {path}: no such file")
        self.nodes = node_names(len(hosts))
        self.specs = dict(zip(self.nodes, self.hosts))
        self.sudo = sudo
        self.policy = HostKeyPolicy(known_hosts, accept_new_host_keys,
                                    insecure_no_host_key_check)
        self.connections = {n: SshConnection(n, s, self.policy, ssh_key, sudo)
                            for n, s in self.specs.items()}
        self.remote = SshRemote(self.connections)
        self.system = None
        self.system_ref: dict = {}
        self.facts: dict[str, dict] = {}
        self.clock_offsets: dict[str, float] = {}
        self.cluster: Cluster | None = None
        self.ips: dict[str, str] = {}
        self._probe_count = 0

    # ---- before anything is touched
    def connect_all(self) -> None:
        """Connect to every host; every failure is reported at once, host-key problems
        first (they are the ones to look at before anything else)."""
        results = in_parallel(lambda n: self.connections[n].connect(), self.nodes)
        failures = {n: r for n, r in results.items() if isinstance(r, Exception)}
        if not failures:
            return
        for kind in (HostKeyError, AuthError):
            errors = [e for e in failures.values() if isinstance(e, kind)]
            if errors:
                raise kind.merge(errors)
        for kind in (BackendUnavailable, HarnessError):
            errors = [e for e in failures.values() if isinstance(e, kind)]
            if errors:
                raise kind("; ".join(str(e) for e in errors))
        node, error = next(iter(failures.items()))
        raise BackendUnavailable(f"{node}: cannot connect ({type(error).__name__}: {error})")

    def preflight(self, plan, system_name: str = "", system_opts: dict | None = None) -> None:
        system = plan.system
        paths = tuple(getattr(system, "host_paths", ()) or ())
        if not paths:
            raise UsageError(f"--backend ssh: system {system_name or type(system).__name__} "
                             "does not declare `host_paths` (what it creates on a host), so "
                             "the harness could not undo it; it runs on the Docker backend only")
        for name, nemesis in plan.nemeses.items():
            features = sorted(getattr(nemesis, "node_features", ()))
            if features:
                raise UsageError(f"--nemesis {name} needs nodes with {', '.join(features)}, "
                                 "which the SSH backend does not set up yet; use the Docker "
                                 "backend")
        commands = list(BASE_COMMANDS)
        for plugin in [system, plan.workload, *plan.nemeses.values()]:
            commands += [c for c in getattr(plugin, "host_commands", ()) if c not in commands]
        self.system = system
        self.system_ref = {"name": system_name, "options": dict(system_opts or {})}
        try:
            self._check_hosts(tuple(commands), paths)
        except BaseException:
            self.close()
            raise

    def _check_hosts(self, commands: tuple[str, ...], paths: tuple[str, ...]) -> None:
        self.connect_all()
        script = probe_script(commands, paths)

        def facts_of(node):
            if self.sudo:
                code, out = self.connections[node].run("sudo -n true", timeout=15, raw=True)
                if code != 0:
                    text = out.decode("utf-8", "replace").strip().splitlines()
                    return {"sudo_error": (text[-1] if text else f"exit {code}")[:200]}
            before = time.time()
            code, output = self.remote.exec(node, script, timeout=PREFLIGHT_TIMEOUT_S,
                                            check=False)
            after = time.time()
            facts = read_facts(output)
            try:
                facts["clock_offset_s"] = float(facts.get("clock", "")) - (before + after) / 2
            except ValueError:
                pass
            return facts

        results = in_parallel(facts_of, self.nodes)
        problems = []
        for node in self.nodes:
            result = results[node]
            if isinstance(result, Exception):
                problems.append(f"{node} ({self.specs[node].target}): the checks did not run "
                                f"({result})")
                continue
            if "sudo_error" in result:
                problems.append(f"{node} ({self.specs[node].target}): `sudo -n true` fails "
                                f"({result['sudo_error']}): --sudo needs passwordless sudo "
                                "for this user (the harness never types a password)")
                continue
            self.facts[node] = result
            problems += host_problems(node, self.specs[node], result, self.sudo)
            if "clock_offset_s" in result:
                self.clock_offsets[node] = round(result["clock_offset_s"], 3)
        if self.clock_offsets:
            spread = max(self.clock_offsets.values()) - min(self.clock_offsets.values())
            if spread > CLOCK_WARN_S:
                log.warning("the hosts' clocks differ by %.1fs (node logs will not line up; "
                            "the history uses the controller's clock only)", spread)
        if problems:
            raise PreflightError(f"preflight found {len(problems)} problem(s), nothing was "
                                 "changed: " + "; ".join(problems))
        self.ips = self._addresses()

    def _addresses(self) -> dict[str, str]:
        """The address each node is reached at, by its peers and by the clients: the
        address this controller connected to (a name resolved once, here)."""
        ips = {}
        for node, connection in self.connections.items():
            peer = connection.transport.getpeername()[0] if connection.transport else None
            ips[node] = peer or self.specs[node].host
        return ips

    def describe(self) -> dict:
        """For test.json: where the run went and how the hosts were trusted."""
        policy = self.policy
        trust = ("insecure-no-check" if policy.insecure else
                 "accept-new" if policy.accept_new else "known-hosts")
        return {"backend": "ssh", "hosts": [s.target for s in self.hosts],
                "host_key_check": trust, "known_hosts": policy.path,
                "accepted_host_keys": list(policy.accepted), "sudo": self.sudo,
                "os": {n: f.get("os") for n, f in self.facts.items()},
                "clock_offsets_s": dict(self.clock_offsets)}

    def clean_command(self, run_id: str) -> str:
        return f"harness clean --hosts FILE --run {run_id}"

    # ---- the run
    def create(self, run_id: str, labels: dict[str, str]) -> Cluster:
        from .docker import MANAGED, OWNER, RUN, owner_label

        labels = {MANAGED: "true", RUN: run_id, OWNER: owner_label(), **labels}
        paths = list(getattr(self.system, "host_paths", ()))

        def install(node):
            code, out = self.remote.exec(
                node, f"iptables -S 2>/dev/null | awk '$1==\"-N\" && $2 ~ /^{CHAIN_PREFIX}/ "
                      "{print $2}'", timeout=15, check=False)
            manifest = {"run": run_id, "labels": labels, "node": node,
                        "nodes": dict(self.ips), "system": self.system_ref, "paths": paths,
                        "chains_before": out.split(), "created": time.time()}
            text = json.dumps(manifest, default=str)
            self.remote.exec(node, f"mkdir -p {STATE_DIR} && chmod 700 {STATE_DIR} && "
                                   f"printf '%s\\n' {shlex.quote(text)} > {MANIFEST}", timeout=15)
            return manifest

        results = in_parallel(install, self.nodes)
        self.manifests = {n: r for n, r in results.items() if isinstance(r, dict)}
        failed = {n: r for n, r in results.items() if isinstance(r, Exception)}
        self.cluster = Cluster(nodes=list(self.nodes), ips=dict(self.ips), remote=self.remote,
                               labels=dict(labels), probe=self.problems)
        if failed:
            raise HarnessError("could not record the run on " + "; ".join(
                f"{n}: {e}" for n, e in failed.items()))
        return self.cluster

    def problems(self) -> list[str]:
        """Hosts that stopped answering over SSH. Every third probe runs `true` on each
        host (a frozen host keeps its TCP connection open but answers nothing); a failure
        is retried once on a fresh connection before it is reported, so a dropped
        connection or one slow answer under load does not end the run."""
        self._probe_count += 1
        run_command = self._probe_count % 3 == 0

        def check(node):
            connection = self.connections[node]
            last = None
            for attempt in range(2):
                try:
                    connection.connect()
                    if run_command:
                        code, _ = connection.run("true", timeout=5, open_timeout=5)
                        if code != 0:
                            raise HarnessError(f"`true` exited {code}")
                    return None
                except Exception as e:  # noqa: BLE001 - the failure is the finding
                    last = e
                    connection.close()
            return f"{node} ({self.specs[node].target}) is unreachable over SSH: {last}"
        results = in_parallel(check, self.nodes)
        return [r for r in results.values() if isinstance(r, str)]

    def destroy(self) -> None:
        """Undo the run on every host (see the module's docstring); raises HarnessError
        naming the hosts where something could not be undone."""
        try:
            errors = teardown_hosts(self.cluster, self.system,
                                    getattr(self, "manifests", {}))
        finally:
            self.close()
        if errors:
            raise HarnessError("could not undo everything on " + "; ".join(errors))

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()


def teardown_hosts(cluster: Cluster | None, system, manifests: dict[str, dict]) -> list[str]:
    """The system's teardown, then the generic undo of each manifest; the errors."""
    errors = []
    if cluster is None or not manifests:
        return errors
    if system is not None:
        try:
            system.teardown(cluster)
        except Exception as e:  # noqa: BLE001 - the generic undo below still runs
            log.warning("the system's teardown failed: %s", e)
            errors.append(f"system teardown: {e}")

    def undo(node):
        manifest = manifests[node]
        script = teardown_script(tuple(manifest.get("paths", ())),
                                 list(manifest.get("chains_before", ())))
        return cluster.remote.exec(node, script, timeout=TEARDOWN_TIMEOUT_S, check=False)

    for node, result in in_parallel(undo, [n for n in cluster.nodes if n in manifests]).items():
        if isinstance(result, Exception):
            errors.append(f"{node}: {result}")
        elif result[0] != 0 or "cannot remove" in result[1]:
            errors.append(f"{node}: exit {result[0]} {result[1].strip()[-200:]}")
    return errors


def clean_hosts(backend: SshBackend, include_live: bool = False, run_id: str | None = None,
                build_system: Callable[[dict], object] | None = None) -> tuple[int, list[str]]:
    """`harness clean --hosts`: undo the runs whose manifests are on these hosts.

    Runs whose controller still lives are left alone unless `include_live`; `run_id`
    limits it to one run. `build_system(ref)` rebuilds the system recorded in a manifest
    (so its own teardown kills its processes). Returns (hosts cleaned, what failed)."""
    from .docker import OWNER, owner_alive

    backend.connect_all()

    def read(node):
        code, out = backend.remote.exec(node, f"cat {MANIFEST} 2>/dev/null || true",
                                        timeout=15, check=False)
        text = out.strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            # Unreadable: clean what can be cleaned without it (chains only).
            return {"run": "unknown", "labels": {}, "paths": [], "chains_before": []}

    manifests = {}
    for node, result in in_parallel(read, backend.nodes).items():
        if isinstance(result, Exception):
            raise HarnessError(f"{node}: cannot read {MANIFEST}: {result}")
        if result is None:
            continue
        if run_id and result.get("run") != run_id:
            continue
        if not include_live and owner_alive((result.get("labels") or {}).get(OWNER)) \
                and (result.get("labels") or {}).get(OWNER):
            log.warning("%s: run %s is still going; left alone (--all takes it)", node,
                        result.get("run"))
            continue
        manifests[node] = result
    if not manifests:
        backend.close()
        return 0, []
    ips = dict(next(iter(manifests.values())).get("nodes") or {})
    for node in backend.nodes:
        ips.setdefault(node, backend.specs[node].host)
    cluster = Cluster(nodes=[n for n in backend.nodes if n in manifests], ips=ips,
                      remote=backend.remote)
    errors = []
    systems = {}
    for manifest in manifests.values():
        ref = manifest.get("system") or {}
        key = json.dumps(ref, sort_keys=True, default=str)
        if key not in systems and ref.get("name") and build_system is not None:
            try:
                systems[key] = build_system(ref)
            except Exception as e:  # noqa: BLE001 - the generic undo still runs
                errors.append(f"cannot rebuild system {ref.get('name')}: {e}")
    try:
        for system in systems.values() or [None]:
            errors += teardown_hosts(cluster, system, manifests)
    finally:
        backend.close()
    return len(manifests), errors
