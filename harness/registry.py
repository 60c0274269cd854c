"""Find systems, workloads, nemeses and checkers by name.

Built-ins are listed here so the harness works from a source checkout; the entry point
groups `harness.systems`, `harness.workloads`, `harness.nemeses` and `harness.checkers`
add to (or override) them, so a user adds a system without forking the harness.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from .errors import UsageError

KINDS = {
    "system": ("harness.systems", {"raftkv": "clusters.raftkv:RaftKV"}),
    "workload": ("harness.workloads", {
        "register": "workloads.register:RegisterWorkload",
        "list-append": "workloads.list_append:ListAppendWorkload",
        "rw-register": "workloads.rw_register:RWRegisterWorkload",
        "bank": "workloads.bank:BankWorkload",
        "set": "workloads.set:SetWorkload",
    }),
    "nemesis": ("harness.nemeses", {
        "partition": "nemeses.partition:PartitionNemesis",
        "kill": "nemeses.process:KillNemesis",
        "pause": "nemeses.process:PauseNemesis",
    }),
    "checker": ("harness.checkers", {
        "linearizable": "checkers.linearizable:LinearizableChecker",
        "elle-list-append": "checkers.list_append:ListAppendChecker",
        "elle-rw-register": "checkers.rw_register:RWRegisterChecker",
        "bank": "checkers.bank:BankChecker",
        "set": "checkers.sets:SetChecker",
        "set-full": "checkers.sets:SetFullChecker",
        "counter": "checkers.counter:CounterChecker",
        "long-fork": "checkers.long_fork:LongForkChecker",
    }),
}


def _targets(kind: str) -> dict[str, str]:
    group, builtins = KINDS[kind]
    targets = dict(builtins)
    for ep in entry_points(group=group):
        targets[ep.name] = ep.value
    return targets


def names(kind: str) -> list[str]:
    return sorted(_targets(kind))


def lookup(kind: str, name: str, flag: str | None = None):
    """The class registered as `name`, or UsageError listing the valid names."""
    targets = _targets(kind)
    if name not in targets:
        where = f"{flag} " if flag else ""
        raise UsageError(f"unknown {kind} {where}{name!r}; valid: {', '.join(sorted(targets))}")
    module, _, attr = targets[name].partition(":")
    return getattr(importlib.import_module(module), attr)
