"""Nemeses: fault injectors.

A nemesis is a small object with three operations (Jepsen's contract):

* `start(run, rng) -> dict` injects one fault and returns what it did (which nodes,
  what shape), recorded in the history when the fault takes effect;
* `stop(run) -> dict` heals the fault it started, returning what it healed;
* `heal_all(run)` returns every node to health whatever state it is in. It must be
  idempotent and safe to call at any time, including when nothing was started: the
  runner calls it at the end of every run, on Ctrl-C and on crashes.

`run` is the RunContext (cluster, system, logger); `rng` is the run's seeded random.
"""

from __future__ import annotations

import random
from typing import Any, Protocol


class Nemesis(Protocol):
    name: str

    def start(self, run: Any, rng: random.Random) -> dict: ...

    def stop(self, run: Any) -> dict: ...

    def heal_all(self, run: Any) -> None: ...
