"""Checkers: pure functions from a history to a result.

A checker never writes files and never mutates the history. Its result is a dict with at
least `valid` (True, False or "unknown") and whatever explains that verdict. Results of
several checkers compose with `merge_valid`: false beats unknown beats true (Jepsen's
rule: one proof of a violation outweighs any number of "couldn't tell").
"""

from __future__ import annotations

import contextlib
import gc
from typing import Any, Protocol

UNKNOWN = "unknown"


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector around an analysis.

    A large history creates millions of small containers that are all still alive, and the
    collector would rescan them again and again (turning linear work superlinear). The
    analyses make no reference cycles worth collecting before they return.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Checker(Protocol):
    name: str

    def check(self, history: list[dict], options: dict) -> dict: ...


def merge_valid(values) -> Any:
    values = list(values)
    if any(v is False for v in values):
        return False
    if any(v == UNKNOWN for v in values):
        return UNKNOWN
    return True


def compose(results: dict[str, dict]) -> dict:
    """Combine named checker results into one, valid by `merge_valid`."""
    return {"valid": merge_valid(r.get("valid") for r in results.values()), **results}
