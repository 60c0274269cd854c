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

    # Optional: `is_observer(op) -> bool`, True when op never changes any state (a read).
    # The search then linearizes it greedily when legal, which is sound and much faster.

    def describe_state(self, state: Any) -> str: ...

    def describe_op(self, op: Operation) -> str: ...


def _fmt(v: Any) -> str:
    return "nil" if v is None else repr(v)


CAS_FAILED = "__cas_failed__"   # output of a cas known to have compared and lost


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
            if op.output is CAS_FAILED:       # observed failure: the value was not `old`
                return state != old, state
            if state == old:
                return True, new
            return not op.known, state
        return False, state

    def is_observer(self, op):
        """True for ops that never change the state (the search may place them greedily)."""
        return op.known and (op.f == "read" or op.output is CAS_FAILED)

    def describe_state(self, state):
        return _fmt(state)

    def describe_op(self, op):
        if op.f == "read":
            return f"read -> {_fmt(op.output) if op.known else '?'}"
        if op.f == "write":
            return f"write {_fmt(op.input)}"
        if op.f == "cas":
            lost = " (failed)" if op.output is CAS_FAILED else ""
            return f"cas {_fmt(op.input[0])} -> {_fmt(op.input[1])}{lost}"
        return f"{op.f} {_fmt(op.input)}"


class Register(CASRegister):
    """A read/write register (cas ops are illegal)."""

    name = "register"

    def step(self, state, op):
        if op.f == "cas":
            return False, state
        return super().step(state, op)


class KV:
    """One key of Porcupine's kv store: a string, with get, put and append.

    Histories are partitioned by key, so the state is just that key's string.
    """

    name = "kv"

    def __init__(self, initial: Any = ""):
        self.initial = "" if initial is None else initial

    def init(self):
        return self.initial

    def step(self, state, op):
        if op.f == "get":
            return (not op.known) or op.output == state, state
        if op.f == "put":
            return True, op.input
        if op.f == "append":
            return True, state + op.input
        return False, state

    def is_observer(self, op):
        return op.known and op.f == "get"

    def describe_state(self, state):
        return repr(state)

    def describe_op(self, op):
        if op.f == "get":
            return f"get -> {op.output!r}" if op.known else "get -> ?"
        return f"{op.f} {op.input!r}"


class Set:
    """A set of values: `add v` and `read` returning every element."""

    name = "set"

    def __init__(self, initial: Any = None):
        self.initial = frozenset(initial or ())

    def init(self):
        return self.initial

    def step(self, state, op):
        if op.f == "add":
            return True, state | {op.input}
        if op.f == "read":
            return (not op.known) or frozenset(op.output or ()) == state, state
        return False, state

    def is_observer(self, op):
        return op.known and op.f == "read"

    def describe_state(self, state):
        return "#{" + " ".join(map(_fmt, sorted(state, key=repr))) + "}"

    def describe_op(self, op):
        if op.f == "read":
            return f"read -> {sorted(op.output or (), key=repr)}" if op.known else "read -> ?"
        return f"add {_fmt(op.input)}"


class FIFOQueue:
    """A FIFO queue: `enqueue v`; `dequeue` returning the head (nil when empty)."""

    name = "fifo-queue"

    def __init__(self, initial: Any = None):
        self.initial = tuple(initial or ())

    def init(self):
        return self.initial

    def step(self, state, op):
        if op.f == "enqueue":
            return True, state + (op.input,)
        if op.f == "dequeue":
            if not op.known:       # took effect or not: if it did, it took the head
                return True, state[1:]
            if not state:
                return op.output is None, state
            return op.output == state[0], state[1:]
        return False, state

    def describe_state(self, state):
        return "[" + " ".join(map(_fmt, state)) + "]"

    def describe_op(self, op):
        if op.f == "dequeue":
            return f"dequeue -> {_fmt(op.output) if op.known else '?'}"
        return f"enqueue {_fmt(op.input)}"


class Mutex:
    """A lock: `acquire` is legal only when free, `release` only when held."""

    name = "mutex"

    def __init__(self, initial: Any = None):
        self.initial = bool(initial)

    def init(self):
        return self.initial

    def step(self, state, op):
        if op.f == "acquire":
            return not state, True
        if op.f == "release":
            return state, False
        return False, state

    def describe_state(self, state):
        return "held" if state else "free"

    def describe_op(self, op):
        return op.f


class MultiRegister:
    """Several registers read and written together: op `txn` with a list of micro-ops
    `["r", k, v]` / `["w", k, v]` that happen atomically. State: sorted (k, v) pairs."""

    name = "multi-register"

    def __init__(self, initial: Any = None):
        self.initial = tuple(sorted((initial or {}).items()))

    def init(self):
        return self.initial

    def step(self, state, op):
        if op.f != "txn":
            return False, state
        values = dict(state)
        micro_ops = op.output if op.known and op.output is not None else op.input
        for mop in micro_ops:
            kind, k, v = mop[0], mop[1], mop[2]
            if kind in ("r", "read"):
                if op.known and v != values.get(k):
                    return False, state
            elif kind in ("w", "write"):
                values[k] = v
        return True, tuple(sorted(values.items()))

    def describe_state(self, state):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in state) + "}"

    def describe_op(self, op):
        mops = op.output if op.known and op.output is not None else op.input
        return "txn " + " ".join(f"{m[0]} {m[1]} {_fmt(m[2])}" for m in mops)


MODELS = {"cas-register": CASRegister, "register": Register, "kv": KV, "set": Set,
          "fifo-queue": FIFOQueue, "mutex": Mutex, "multi-register": MultiRegister}


def make_model(name: str, initial: Any = None):
    cls = MODELS[name]
    return cls(initial) if initial is not None else cls()
