"""Models for the linearizability checker: sequential specifications of objects.

A model is the whole extension surface of the linearizability search (as in Porcupine):
a user adds one without reading the search. It has

* `init()`: the initial state, a hashable value;
* `step(state, op) -> (legal, next_state)`: whether the sequential object in `state`
  could have answered `op` as it did, and the state afterwards. `op` is an `Operation`:
  `f`, `input` (the invoke's value) and `output` (the completion's value; None when the
  op's outcome is unknown, in which case only the effect matters);
* `describe_state(state)` and `describe_op(op)`: short text for reports.

States must be hashable and compare equal exactly when they behave the same: the search
memoizes (linearized set, state) pairs, so a state that hides behaviour behind equality
would make the search unsound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Operation:
    id: int
    f: str
    input: Any
    output: Any
    known: bool          # False: the completion was info / missing (outcome unknown)
    invoke_index: int
    complete_index: int | None
    process: Any = None
    invoke_time: int | None = None
    complete_time: int | None = None


class Model(Protocol):
    name: str

    def init(self) -> Any: ...

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]: ...

    def describe_state(self, state: Any) -> str: ...

    def describe_op(self, op: Operation) -> str: ...


def _fmt(v: Any) -> str:
    return "nil" if v is None else repr(v)


class CASRegister:
    """A register holding one value (initially `initial`, None = absent), with read,
    write and compare-and-set.

    read returning v is legal iff the register holds v. A cas whose outcome is unknown
    is legal in any state: where the register holds `old` it swaps, elsewhere it is a cas
    that found another value and changed nothing (the client just never heard so).
    """

    name = "cas-register"

    def __init__(self, initial: Any = None):
        self.initial = initial

    def init(self):
        return self.initial

    def step(self, state, op):
        f = op.f
        if f == "read":
            if not op.known:
                return True, state
            return op.output == state, state
        if f == "write":
            return True, op.input
        if f == "cas":
            old, new = op.input
            if state == old:
                return True, new
            return not op.known, state
        return False, state

    def describe_state(self, state):
        return _fmt(state)

    def describe_op(self, op):
        if op.f == "read":
            return f"read -> {_fmt(op.output) if op.known else '?'}"
        if op.f == "write":
            return f"write {_fmt(op.input)}"
        if op.f == "cas":
            return f"cas {_fmt(op.input[0])} -> {_fmt(op.input[1])}"
        return f"{op.f} {_fmt(op.input)}"


class Register(CASRegister):
    """A read/write register (cas ops are illegal)."""

    name = "register"

    def step(self, state, op):
        if op.f == "cas":
            return False, state
        return super().step(state, op)


MODELS = {"cas-register": CASRegister, "register": Register}
