"""Models for the linearizability checker: sequential specifications of objects.

A model is the whole extension surface of the linearizability search (as in Porcupine):
a user adds one without reading the search. It has

* `init()`: the initial state, a hashable value;
* `step(state, op) -> (legal, next_state)`: whether the sequential object in `state`
  could have answered `op` as it did, and the state afterwards. `op` is an `Operation`:
  `f`, `input` (the invoke's value) and `output` (the completion's value; None when the
  op's outcome is unknown, in which case only the effect matters: the search itself
  decides whether an unknown op took effect at all, so `step` never has to allow for
  "it did not happen");
* `describe_state(state)` and `describe_op(op)`: short text for reports;
* optionally `malformed(op) -> str | None`: why the model cannot take this op at all (an
  `f` it does not know, a value of the wrong shape), which is an input error rather than
  a violation; it is asked once with the op's outcome hidden (about the invoke) and once
  with it (about the completion);
* optionally `for_key(key) -> Model`: the model for one independent key, when the initial
  state depends on the key (kv with a map of initial values);
* optionally `is_observer(op) -> bool`: True when op never changes any state (a read);
  the search then linearizes it greedily when legal, which is sound and much faster.

A model class is built as `cls(initial)` from the user's `init` (a parsed JSON value,
already in the form of `json_value`) or `cls()` for its default; a constructor raises
ValueError, saying what it expected, when `initial` does not fit.

Values are JSON values and compare as JSON values (`json_value`): true is not 1, 1 is
not 1.0 (as in Clojure, where (= 1 1.0) is false, so Jepsen and Knossos tell them
apart), a map is not its list of [key, value] pairs. States must be hashable and compare
equal exactly when they behave the same: the search memoizes (linearized set, state)
pairs, so a state that hides behaviour behind equality would make the search unsound.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol


class JSONFloat(float):
    """A JSON number with a fraction or an exponent (1.0, 2e3): equal only to another
    such number of the same value, never to an integer, as in Clojure and Knossos."""

    __slots__ = ()

    def __eq__(self, other):
        return type(other) is JSONFloat and float.__eq__(self, other)

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash((JSONFloat, float(self)))

    __repr__ = float.__repr__


class JSONBool:
    """JSON true / false: equal only to itself (Python's True == 1 is not JSON's)."""

    __slots__ = ("value",)

    def __init__(self, value: bool):
        self.value = bool(value)

    def __eq__(self, other):
        return type(other) is JSONBool and other.value is self.value

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash((JSONBool, self.value))

    def __bool__(self):
        return self.value

    def __repr__(self):
        return "true" if self.value else "false"


class JSONMap(tuple):
    """A JSON object as its (key, value) pairs in a canonical order: equal only to a map
    with the same pairs, never to a list of pairs."""

    __slots__ = ()

    def __new__(cls, items):
        return super().__new__(cls, sorted(items, key=lambda kv: repr(kv[0])))

    def __eq__(self, other):
        return type(other) is JSONMap and tuple.__eq__(self, other)

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash((JSONMap, tuple(self)))

    def __repr__(self):
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in self) + "}"

    def get(self, key, default=None):
        for k, v in self:
            if k == key:
                return v
        return default


def json_value(v: Any) -> Any:
    """`v` (a parsed JSON or EDN value) in hashable form, comparing as JSON values do.

    null, integers and strings stay as they are (the common case costs nothing); a list
    becomes a tuple; a float a JSONFloat; a bool a JSONBool; a map a JSONMap; an EDN set
    a frozenset. `plain` turns it back."""
    t = type(v)
    if t is int or t is str or v is None:
        return v
    if t is list or t is tuple:
        return tuple(json_value(x) for x in v)
    if t is bool:
        return JSONBool(v)
    if t is float:
        return JSONFloat(v)
    if t is dict:
        return JSONMap((json_value(k), json_value(x)) for k, x in v.items())
    if t is set or t is frozenset:
        return frozenset(json_value(x) for x in v)
    return v           # already canonical (JSONFloat, JSONBool, JSONMap, ...)


def plain(v: Any) -> Any:
    """The JSON-serializable value of a `json_value` (for results and reports)."""
    t = type(v)
    if t is int or t is str or v is None:
        return v
    if t is JSONBool:
        return v.value
    if t is JSONFloat:
        return float(v)
    if t is JSONMap:
        return {(k if isinstance(k, str) else json.dumps(plain(k))): plain(x) for k, x in v}
    if t is tuple or t is list:
        return [plain(x) for x in v]
    if t is frozenset:
        return sorted((plain(x) for x in v), key=repr)
    if v is CAS_FAILED:
        return repr(v)
    return v


def lookup_by_name(mapping: JSONMap, key: Any, default: Any) -> Any:
    """`mapping[key]` for a JSON object whose member names stand for history keys: a
    string key is looked up as itself, any other as its JSON text (3 as "3")."""
    if not isinstance(key, str):
        text = json.dumps(plain(key), separators=(",", ":"))
        found = mapping.get(text, _MISSING)
        if found is not _MISSING:
            return found
    return mapping.get(key, default)


_MISSING = object()


# Not frozen, but hashed and compared by value as if it were (unsafe_hash): no code
# changes an Operation, and a frozen dataclass's __init__ (object.__setattr__ per field)
# was a third of building the partitions of a 1M-op history.
@dataclass(slots=True, unsafe_hash=True)
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

    # Optional: native(ops) -> a program the compiled core steps without Python or the
    # GIL (("register", initial_id, [(code, a, b), ...]) or ("kv", initial, table); see
    # checkers/_wgl.c), or None to step through `step`. It must mean exactly what `step`
    # does on these ops: tests/checkers/test_native_models.py compares the two.


# Op codes of the compiled core's native register (checkers/_wgl.c documents them).
REG_ANY, REG_EQUAL, REG_SET, REG_SWAP, REG_MAYBE, REG_NOT_EQUAL, REG_ILLEGAL = range(7)


class _ValueIds(dict):
    """Small ids for values, equal exactly when the values are equal (dict semantics:
    json_value forms hash and compare as the models compare them)."""

    def __missing__(self, value):
        self[value] = len(self)
        return self[value]


def _fmt(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, str):
        return repr(v)
    return json.dumps(plain(v), separators=(",", ":"))


def _unknown_f(model, op) -> str:
    return (f"{op.f!r} is not an operation of the {model.name} model "
            f"(it takes {', '.join(model.fs)})")


def _is_list(v) -> bool:
    return type(v) is tuple


class _CasFailed:
    """The output of a cas known to have compared and lost (Porcupine etcd's failed cas)."""

    __slots__ = ()

    def __repr__(self):
        return "__cas_failed__"


CAS_FAILED = _CasFailed()


class CASRegister:
    """A register holding one value, with read, write and compare-and-set.

    Ops: `read` (invoke null; ok: the value read), `write v`, `cas [old, new]`.
    Initial state (`init`): any JSON value; default null (absent); the format may set
    another (Knossos EDN files start at 0).

    read returning v is legal iff the register holds v. A cas that completed ok swapped
    `old` for `new` and is legal iff the register held `old`; a cas known to have failed
    only where the format says so (Porcupine etcd: it compared and lost) is legal iff it
    did not. A cas whose outcome is unknown, if it took effect at all, swapped where the
    register held `old` and changed nothing elsewhere.
    """

    name = "cas-register"
    fs = ("read", "write", "cas")
    has_cas = True

    def __init__(self, initial: Any = None):
        self.initial = initial

    def init(self):
        return self.initial

    def malformed(self, op):
        if op.f not in self.fs:
            return _unknown_f(self, op)
        if op.f == "cas" and not (_is_list(op.input) and len(op.input) == 2):
            return f"a cas takes [old, new], got {_fmt(op.input)}"
        return None

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

    def native(self, ops):
        """The ops as the compiled core's register program (same meaning as `step`)."""
        ids = _ValueIds()
        initial = ids[self.initial]
        table = []
        for op in ops:
            f = op.f
            if f == "read":
                table.append((REG_EQUAL, ids[op.output], 0) if op.known else (REG_ANY, 0, 0))
            elif f == "write":
                table.append((REG_SET, ids[op.input], 0))
            elif f == "cas" and self.has_cas:
                old, new = op.input
                code = (REG_NOT_EQUAL if op.output is CAS_FAILED else
                        REG_SWAP if op.known else REG_MAYBE)
                table.append((code, ids[old], ids[new]))
            else:
                table.append((REG_ILLEGAL, 0, 0))
        return ("register", initial, table)

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
    """A read/write register (Knossos's `register`): read and write as in cas-register.

    Initial state (`init`): any JSON value, as for cas-register.

    The register has no compare-and-set: a cas is a well-formed op it cannot perform, so
    a cas that completed ok is a violation and one whose outcome is unknown never took
    effect.
    """

    name = "register"
    has_cas = False         # a cas is well formed but never legal

    def step(self, state, op):
        if op.f == "cas":
            return False, state
        return super().step(state, op)


_KV_CODES = {"get": 0, "put": 1, "append": 2}


class KV:
    """One key of Porcupine's kv store: a string, with `get` (ok: the string),
    `put s` and `append s`. Values are strings; anything else is malformed.

    Histories are partitioned by key, so the state is just that key's string.
    Initial state (`init`): a string for every key (default ""), or a map from key to
    string (a key missing from it starts at ""; a non-string key is named by its JSON
    text, e.g. "3").
    """

    name = "kv"
    fs = ("get", "put", "append")

    def __init__(self, initial: Any = ""):
        if initial is None:
            initial = ""
        if type(initial) is JSONMap:
            bad = [k for k, v in initial if not isinstance(v, str)]
            if bad:
                raise ValueError(f"kv init: the value of key {_fmt(bad[0])} must be a string")
        elif not isinstance(initial, str):
            raise ValueError(f"kv init must be a string or a map from key to string, "
                             f"got {_fmt(initial)}")
        self.initial = initial

    def for_key(self, key):
        if type(self.initial) is not JSONMap:
            return self
        return KV(lookup_by_name(self.initial, key, ""))

    def init(self):
        if type(self.initial) is JSONMap:    # not partitioned: every key starts empty
            return ""
        return self.initial

    def malformed(self, op):
        if op.f not in self.fs:
            return _unknown_f(self, op)
        if op.f != "get" and not isinstance(op.input, str):
            return f"kv values are strings: {op.f} of {_fmt(op.input)}"
        if op.f == "get" and op.known and not isinstance(op.output, str):
            return f"kv values are strings: get returned {_fmt(op.output)}"
        return None

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

    def native(self, ops):
        """The ops as the compiled core's kv program (same meaning as `step`), or None when
        a value is not a string."""
        initial = self.init()
        if not isinstance(initial, str):
            return None
        table = []
        for op in ops:
            code = _KV_CODES.get(op.f)
            if code is None:
                return None
            if code == 0:
                if op.known and not isinstance(op.output, str):
                    return None
                table.append((0, "", op.output, op.known))
            elif isinstance(op.input, str):
                table.append((code, op.input, op.output, op.known))
            else:
                return None
        return ("kv", initial, table)

    def describe_state(self, state):
        return repr(state)

    def describe_op(self, op):
        if op.f == "get":
            return f"get -> {op.output!r}" if op.known else "get -> ?"
        return f"{op.f} {op.input!r}"


class Set:
    """A set of values: `add v`, and `read` (ok: a list of every element, in any order).

    Initial state (`init`): a list of elements; default empty.
    """

    name = "set"
    fs = ("add", "read")

    def __init__(self, initial: Any = None):
        if initial is None:
            initial = ()
        if not _is_list(initial):
            raise ValueError(f"set init must be a list of elements, got {_fmt(initial)}")
        self.initial = frozenset(initial)

    def init(self):
        return self.initial

    def malformed(self, op):
        if op.f not in self.fs:
            return _unknown_f(self, op)
        if op.f == "read" and op.known and not _is_list(op.output):
            return f"a set read returns a list of elements, got {_fmt(op.output)}"
        return None

    def step(self, state, op):
        if op.f == "add":
            return True, state | {op.input}
        if op.f == "read":
            return (not op.known) or frozenset(op.output) == state, state
        return False, state

    def is_observer(self, op):
        return op.known and op.f == "read"

    def describe_state(self, state):
        return "#{" + " ".join(map(_fmt, sorted(state, key=repr))) + "}"

    def describe_op(self, op):
        if op.f == "read":
            return (f"read -> {_fmt(sorted(op.output, key=repr))}" if op.known
                    else "read -> ?")
        return f"add {_fmt(op.input)}"


class FIFOQueue:
    """A FIFO queue: `enqueue v`; `dequeue` (ok: the head, or null when empty).

    Initial state (`init`): a list, head first; default empty.
    """

    name = "fifo-queue"
    fs = ("enqueue", "dequeue")

    def __init__(self, initial: Any = None):
        if initial is None:
            initial = ()
        if not _is_list(initial):
            raise ValueError(f"fifo-queue init must be a list (head first), got {_fmt(initial)}")
        self.initial = tuple(initial)

    def init(self):
        return self.initial

    def malformed(self, op):
        return _unknown_f(self, op) if op.f not in self.fs else None

    def step(self, state, op):
        if op.f == "enqueue":
            return True, state + (op.input,)
        if op.f == "dequeue":
            if not op.known:       # if it took effect, it took the head (if any)
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
    """A lock: `acquire` is legal only when free, `release` only when held.

    Initial state (`init`): true (held) or false (free); default free.
    """

    name = "mutex"
    fs = ("acquire", "release")

    def __init__(self, initial: Any = None):
        if initial is None:
            initial = False
        if type(initial) is JSONBool:
            initial = initial.value
        if type(initial) is not bool:
            raise ValueError(f"mutex init must be true (held) or false (free), "
                             f"got {_fmt(initial)}")
        self.initial = initial

    def init(self):
        return self.initial

    def malformed(self, op):
        return _unknown_f(self, op) if op.f not in self.fs else None

    def step(self, state, op):
        if op.f == "acquire":
            return not state, True
        if op.f == "release":
            return state, False
        return False, state

    def native(self, ops):
        """The ops as the compiled core's register program: free 0, held 1; acquire swaps
        free for held and release held for free, whatever their outcome (as `step`)."""
        swaps = {"acquire": (REG_SWAP, 0, 1), "release": (REG_SWAP, 1, 0)}
        return ("register", int(bool(self.initial)),
                [swaps.get(op.f, (REG_ILLEGAL, 0, 0)) for op in ops])

    def describe_state(self, state):
        return "held" if state else "free"

    def describe_op(self, op):
        return op.f


class MultiRegister:
    """Several registers read and written together: op `txn` with a list of micro-ops
    `["r", k, v]` / `["w", k, v]` (or "read" / "write") that happen atomically; an ok
    txn's completion value carries the values read.

    Initial state (`init`): a map from register name to value (Knossos builds its test
    model at {"x": 0, "y": 0}; a register missing from it starts at null; a non-string
    name is looked up by its JSON text), or a single value every register starts at;
    default: every register null. State: the set of (register, value) pairs that differ
    from the initial value, so equal states behave the same.
    """

    name = "multi-register"
    fs = ("txn",)

    def __init__(self, initial: Any = None):
        self.initial = initial

    def _initial_of(self, register):
        if type(self.initial) is JSONMap:
            return lookup_by_name(self.initial, register, None)
        return self.initial

    def init(self):
        return frozenset()

    def malformed(self, op):
        if op.f not in self.fs:
            return _unknown_f(self, op)
        for what, mops in (("invoke", op.input), ("completion", op.output if op.known else ())):
            if not _is_list(mops):
                return f"a txn's {what} value is a list of micro-ops, got {_fmt(mops)}"
            for mop in mops:
                if not (_is_list(mop) and len(mop) == 3 and mop[0] in ("r", "read", "w", "write")):
                    return (f"a micro-op is [\"r\", register, value] or [\"w\", register, "
                            f"value], got {_fmt(mop)}")
        return None

    def step(self, state, op):
        if op.f != "txn":
            return False, state
        values = dict(state)
        micro_ops = op.output if op.known else op.input
        for kind, register, v in micro_ops:
            if kind in ("r", "read"):
                if op.known and v != values.get(register, self._initial_of(register)):
                    return False, state
            elif v == self._initial_of(register):
                values.pop(register, None)
            else:
                values[register] = v
        return True, frozenset(values.items())

    def describe_state(self, state):
        values = dict(state)
        if type(self.initial) is JSONMap:
            for register, v in self.initial:
                values.setdefault(register, v)
        shown = ", ".join(f"{_fmt(k)}: {_fmt(v)}" for k, v in sorted(values.items(), key=repr))
        rest = "" if type(self.initial) is JSONMap or self.initial is None \
            else f"; others {_fmt(self.initial)}"
        return "{" + shown + rest + "}"

    def describe_op(self, op):
        mops = op.output if op.known else op.input
        return "txn " + " ".join(f"{m[0]} {_fmt(m[1])} {_fmt(m[2])}" for m in mops)


MODELS = {"cas-register": CASRegister, "register": Register, "kv": KV, "set": Set,
          "fifo-queue": FIFOQueue, "mutex": Mutex, "multi-register": MultiRegister}


def make_model(name: str, initial: Any = None):
    """The model `name` starting at `initial` (a parsed JSON value; None: the model's
    default). Raises ValueError naming the model and what it expected when `name` is
    unknown or `initial` does not fit."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(sorted(MODELS))}")
    cls = MODELS[name]
    return cls(json_value(initial)) if initial is not None else cls()
