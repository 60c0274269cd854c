"""One daemon per node, found by its pid file: the process controls a system lends the
kill and pause nemeses (Jepsen's Process and Pause protocols for a DB).

A system sets `pid_file` and writes `start_command(cluster, node)`; `detached(...)`
wraps a command line so it runs in the background, in its own session, with its output
appended to a log file, and does nothing when the daemon is already running. Every
control is idempotent, as harness.system requires: starting a running node, killing a
dead one, resuming a running one do nothing.

Node-level faults reach a daemon through its environment: `detached` sources
DAEMON_ENV_FILE, when a nemesis has written one on the node (exported, as `set -a; .
FILE; set +a`), before it starts the command. So every daemon started through
`detached`, now or after a restart by the kill nemesis, inherits what a fault put there
(the clock nemesis: LD_PRELOAD of libfaketime and its offset file). A daemon started
otherwise does not get node-level faults that act through the environment.
"""

from __future__ import annotations

from harness.errors import DeployError

CONTROL_TIMEOUT_S = 10
# The node-wide environment of the daemons `detached` starts (see the module docstring).
# Written by nemeses in `before_setup`; absent means no such fault.
DAEMON_ENV_FILE = "/run/harness/daemon.env"


def silent_node_error(cluster, statuses: dict, system: str, port: int, log_file: str,
                      timeout_s: float) -> DeployError | None:
    """The deploy error for the first node that never answered its status probe, with the
    tail of its log (what a user needs first), or None if every node answered."""
    silent = [n for n, s in statuses.items() if s is None]
    if not silent:
        return None
    node = silent[0]
    _, tail = cluster.exec(node, f"tail -n 3 {log_file}", check=False)
    return DeployError(node, f"{system} did not answer on port {port} within {timeout_s:g}s "
                             f"(log tail: {tail.strip()[-300:] or 'empty'}); see the node log "
                             "in the run's store")


def detached(command: str, pid_file: str, log_file: str, fault_env: bool = True) -> str:
    """A shell line that starts `command` (which must write `pid_file` with its own pid,
    or `exec` into the daemon after writing it) unless the daemon in `pid_file` runs.

    With `fault_env` (the default, for system daemons) the command inherits the node's
    DAEMON_ENV_FILE if there is one; the harness's own helper processes in a node (a
    nemesis's delayer or clock strobe) pass False, so a fault never acts on its maker."""
    env = (f"if [ -f {DAEMON_ENV_FILE} ]; then set -a; . {DAEMON_ENV_FILE}; set +a; fi; "
           if fault_env else "")
    return (f"if [ -f {pid_file} ] && kill -0 $(cat {pid_file}) 2>/dev/null; then exit 0; fi; "
            f"{env}cd / && setsid {command} >>{log_file} 2>&1 </dev/null & sleep 0.05")


class PidFileDaemon:
    """kill / start / pause / resume of the daemon whose pid is in `pid_file`."""

    pid_file: str

    def start_command(self, cluster, node) -> str:
        raise NotImplementedError

    def start(self, cluster, node) -> None:
        cluster.exec(node, self.start_command(cluster, node), timeout=CONTROL_TIMEOUT_S)

    def kill(self, cluster, node) -> None:
        cluster.exec(node, f"[ -f {self.pid_file} ] && kill -9 $(cat {self.pid_file}) "
                           f"2>/dev/null; rm -f {self.pid_file}; true", timeout=CONTROL_TIMEOUT_S)

    def pause(self, cluster, node) -> None:
        self._signal(cluster, node, "STOP")

    def resume(self, cluster, node) -> None:
        self._signal(cluster, node, "CONT")

    def _signal(self, cluster, node, signal: str) -> None:
        cluster.exec(node, f"[ -f {self.pid_file} ] && kill -{signal} $(cat {self.pid_file}); true",
                     timeout=CONTROL_TIMEOUT_S)
