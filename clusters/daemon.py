"""One daemon per node, found by its pid file: the process controls a system lends the
kill and pause nemeses (Jepsen's Process and Pause protocols for a DB).

A system sets `pid_file` and writes `start_command(cluster, node)`; `detached(...)`
wraps a command line so it runs in the background, in its own session, with its output
appended to a log file, and does nothing when the daemon is already running. Every
control is idempotent, as harness.system requires: starting a running node, killing a
dead one, resuming a running one do nothing.
"""

from __future__ import annotations

CONTROL_TIMEOUT_S = 10


def detached(command: str, pid_file: str, log_file: str) -> str:
    """A shell line that starts `command` (which must write `pid_file` with its own pid,
    or `exec` into the daemon after writing it) unless the daemon in `pid_file` runs."""
    return (f"if [ -f {pid_file} ] && kill -0 $(cat {pid_file}) 2>/dev/null; then exit 0; fi; "
            f"cd / && setsid {command} >>{log_file} 2>&1 </dev/null & sleep 0.05")


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
