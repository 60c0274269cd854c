"""A computation on the second core: a forked child runs a function over what the parent
holds (inherited, nothing copied up front) and sends its result back through a pipe.

For a checker whose analysis splits in two parts that share their input but not their
work (the list-append anomalies and the dependency graph with its components): the parent
computes one part while the child computes the other. Whatever goes wrong on the way (no
fork here, threads running, the child crashing or killed, a result that cannot be read,
too long a wait) ends in `None` from `start` or `ChildFailed` from `result`, and the
caller computes that part itself: the second core is an optimisation, never a verdict.

Fork, not a process pool: a pool would pickle the input across (as long as computing
from it), a fork shares it copy-on-write. Only where no other thread runs (a thread
holding a lock at the fork would leave it held forever in the child).
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import sys
import threading
import time


class ChildFailed(Exception):
    """The child gave no result (crashed, killed, timed out, or raised)."""


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available() -> bool:
    """Whether a forked computation can run beside this one: fork exists, two cores or
    more, and no other thread runs."""
    return hasattr(os, "fork") and cores() >= 2 and threading.active_count() == 1


def core_free() -> bool:
    """Whether a second core looks free: the 1-minute load average leaves one idle. On
    a busy machine the child only competes with its parent, and both run slower than one
    process would alone (100k list-append transactions at load 3 on 2 cores: 4.8 s on
    two processes, 3.4 s on one)."""
    try:
        return os.getloadavg()[0] <= cores() - 1
    except OSError:
        return False


class Job:
    """A function running in a forked child; `result` waits for its value."""

    def __init__(self, pid: int, fd: int):
        self.pid = pid
        self.fd = fd
        self.done = False

    def result(self, timeout_s: float):
        """The function's return value, or ChildFailed (the child is then gone)."""
        deadline = time.monotonic() + timeout_s
        chunks = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ChildFailed(f"no result within {timeout_s:.0f} s")
                ready, _, _ = select.select([self.fd], [], [], left)
                if not ready:
                    continue
                chunk = os.read(self.fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
            try:
                ok, value = pickle.loads(b"".join(chunks))
            except Exception as e:  # noqa: BLE001 - a torn result: the child died writing
                raise ChildFailed(f"unreadable result ({type(e).__name__})") from None
            if not ok:
                raise ChildFailed(value)
            return value
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Stop the child (if still running) and reap it; idempotent."""
        if self.done:
            return
        self.done = True
        try:
            os.close(self.fd)
        except OSError:
            pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except OSError:
            pass


def start(fn) -> Job | None:
    """Run `fn()` in a forked child; None when that is not possible here (the caller
    then runs it itself)."""
    if not available():
        return None
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:                                   # the child: compute, send, vanish
        code = 0
        try:
            os.close(read_fd)
            try:
                payload = pickle.dumps((True, fn()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as e:  # noqa: BLE001 - reported, the parent falls back
                payload = pickle.dumps((False, f"{type(e).__name__}: {e}"[:500]))
            view = memoryview(payload)
            while view:
                view = view[os.write(write_fd, view):]
        except BaseException:  # noqa: BLE001 - nothing to tell anyone: the parent sees EOF
            code = 1
        finally:
            # No interpreter teardown, no exit handlers, no buffered output of the
            # parent's flushed twice: the child only ever computed.
            os._exit(code)
    os.close(write_fd)
    return Job(pid, read_fd)


__all__ = ["ChildFailed", "Job", "available", "core_free", "cores", "start"]

if sys.platform == "win32":   # pragma: no cover - no fork: every caller runs serially
    available = lambda: False  # noqa: E731
