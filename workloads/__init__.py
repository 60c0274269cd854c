"""Workloads: what clients do and how the result is judged.

A workload is a small object:
* `generator(options)`: the client ops of the main phase (a harness.generator value);
* `final_generator(recent)`: ops for the final phase, after every fault is healed
  (e.g. a read of each key), built from what the run did; may return None. `recent` is
  a bounded view: the last events of the history (at most 10,000), oldest first, since
  the controller does not keep a long run's whole history in memory;
* `checkers(options)`: {name: (checker, checker options)} to run on the history;
* `options`: the harness.options.Option list its constructor takes (keywords).
"""

from __future__ import annotations

from typing import Any, Protocol

# The built-in workloads by name (entry points in the group harness.workloads add more).
BUILTINS = {
    "register": "workloads.register:RegisterWorkload",
    "list-append": "workloads.list_append:ListAppendWorkload",
    "rw-register": "workloads.rw_register:RWRegisterWorkload",
    "bank": "workloads.bank:BankWorkload",
    "set": "workloads.set:SetWorkload",
}


class Workload(Protocol):
    name: str

    def generator(self, options: dict) -> Any: ...

    def final_generator(self, history: list[dict]) -> Any: ...

    def checkers(self, options: dict) -> dict: ...
