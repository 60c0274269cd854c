"""Typed errors, each carrying the exit code the CLI turns it into.

Code below the CLI raises these with a one-line message that names what is wrong and
where (file:line, flag, node) and, when there is one, what to do about it. The CLI
prints the message without a traceback and exits with `exit_code`.
"""

from __future__ import annotations

# Exit codes, fixed by the product brief and relied on by CI users.
EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNKNOWN = 2
EXIT_HARNESS_FAILURE = 3
EXIT_USAGE = 4


class HarnessError(Exception):
    """Base class: the harness itself could not do its job (exit 3)."""

    exit_code = EXIT_HARNESS_FAILURE


class UsageError(HarnessError):
    """Bad flags, unknown names, malformed input files (exit 4)."""

    exit_code = EXIT_USAGE


class InputError(UsageError):
    """A file the user gave us is malformed; the message carries file:line."""

    def __init__(self, path: str, line: int | None, what: str):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {what}")
        self.path, self.line, self.what = path, line, what


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM (exit 3). Not an Exception on purpose: nothing that guards
    against crashes with `except Exception` (check-safe, a worker thread) may swallow it."""

    exit_code = EXIT_HARNESS_FAILURE


class BackendUnavailable(HarnessError):
    """The control backend (Docker engine, SSH host) cannot be reached."""


class ImageMissing(HarnessError):
    """The node image the run needs does not exist locally."""


class DeployError(HarnessError):
    """A node could not be set up or a system would not start on it."""

    def __init__(self, node: str | None, what: str):
        super().__init__(f"{node}: {what}" if node else what)
        self.node = node


class RemoteCommandError(HarnessError):
    """A command run on a node exited non-zero."""

    def __init__(self, node: str, cmd: str, exit_code: int, output: str):
        short = output.strip().splitlines()[-1] if output.strip() else ""
        super().__init__(f"{node}: `{cmd}` exited {exit_code}: {short}")
        self.node, self.cmd, self.returncode, self.output = node, cmd, exit_code, output
