"""Find systems, workloads, nemeses and checkers by name.

Each plugin package (clusters, workloads, nemeses, checkers) lists its built-ins in a
`BUILTINS` mapping, so the harness works from a source checkout; the entry point groups
`harness.systems`, `harness.workloads`, `harness.nemeses` and `harness.checkers` add to
(or override) them, so a user adds a plugin without forking. The harness core itself
names no plugin.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from .errors import UsageError

# kind -> (entry point group, package whose BUILTINS lists the built-in plugins)
KINDS = {
    "system": ("harness.systems", "clusters"),
    "workload": ("harness.workloads", "workloads"),
    "nemesis": ("harness.nemeses", "nemeses"),
    "checker": ("harness.checkers", "checkers"),
}


def _targets(kind: str) -> dict[str, str]:
    group, package = KINDS[kind]
    targets = dict(getattr(importlib.import_module(package), "BUILTINS", {}))
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
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise UsageError(f"{kind} {name!r} is registered as {targets[name]!r}, which cannot "
                         f"be loaded ({type(e).__name__}: {e})") from None


def plugins(kind: str) -> dict[str, type]:
    """Every loadable plugin of `kind`, by name (those that fail to load are left out)."""
    found = {}
    for name in names(kind):
        try:
            found[name] = lookup(kind, name)
        except UsageError:
            continue
    return found
