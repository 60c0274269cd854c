"""Checkers: pure functions from a history to a result.

A checker never writes files and never mutates the history. Its result is a dict with at
least `valid` (True, False or "unknown") and whatever explains that verdict. Results of
several checkers compose with `merge_valid`: false beats unknown beats true (Jepsen's
rule: one proof of a violation outweighs any number of "couldn't tell").

Contract of a checker (the `Checker` protocol):
* `check(history, options) -> dict`: pure; the history is a list of op dicts in file order;
* `summary(result) -> str`: a one-line description of its own result for the terminal
  (without the verdict word, which the caller prints), e.g. "41230 ops on 312 keys";
* `options`: a tuple of `harness.options.Option` it understands (documentation and CLI);
* an op that is well-formed JSON but not a valid op for this checker (a cas whose value
  is not a pair, a micro-op of the wrong arity) raises `MalformedOp(op, what)`: that is
  an input error (exit 4, with the op's file:line), never a verdict.

`check_safe` runs a checker as Jepsen's check-safe does: an exception other than
MalformedOp becomes `valid: "unknown"` with the error, so a crash is never a verdict.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, Protocol

from harness.gcpause import gc_paused  # noqa: F401 - re-exported for the analyses

UNKNOWN = "unknown"

# The built-in checkers by name (entry points in the group harness.checkers add more).
BUILTINS = {
    "linearizable": "checkers.linearizable:LinearizableChecker",
    "elle-list-append": "checkers.list_append:ListAppendChecker",
    "elle-rw-register": "checkers.rw_register:RWRegisterChecker",
    "bank": "checkers.bank:BankChecker",
    "set": "checkers.sets:SetChecker",
    "set-full": "checkers.sets:SetFullChecker",
    "counter": "checkers.counter:CounterChecker",
    "long-fork": "checkers.long_fork:LongForkChecker",
}
VERDICTS = (True, False, UNKNOWN)

log = logging.getLogger(__name__)


class MalformedOp(ValueError):
    """An op that parses but cannot be an op of this checker's kind.

    `op` is the offending op dict itself (the caller maps it to its file:line by
    identity), `what` says what is wrong with it in a few words.
    """

    def __init__(self, op: dict, what: str):
        super().__init__(what)
        self.op = op
        self.what = what


class Checker(Protocol):
    name: str

    def check(self, history: list[dict], options: dict) -> dict: ...

    def summary(self, result: dict) -> str: ...


def merge_valid(values) -> Any:
    """false beats unknown beats true. Anything but True, False and "unknown" (None, a
    missing verdict, 0, "valid") is a bug in a checker, not a pass: it raises ValueError."""
    values = list(values)
    for v in values:
        if not (v is True or v is False or v == UNKNOWN):
            raise ValueError(f"not a verdict: {v!r} (a checker must return true, false "
                             "or \"unknown\")")
    if any(v is False for v in values):
        return False
    if any(v == UNKNOWN for v in values):
        return UNKNOWN
    return True


def compose(results: dict[str, dict]) -> dict:
    """Combine named checker results into one, valid by `merge_valid`.

    A result without a `valid` field is an error (merge_valid raises); check_safe
    results always have one."""
    return {"valid": merge_valid(r.get("valid") for r in results.values()), **results}


def check_safe(checker, history: list[dict], options: dict) -> dict:
    """Run `checker`; a crash yields {"valid": "unknown", "error": ...} instead of escaping.

    MalformedOp is re-raised: bad input is the user's to fix, not a verdict. A result
    whose `valid` is not a verdict is turned into unknown with that reason as well.
    """
    try:
        result = checker.check(history, options)
    except MalformedOp:
        raise
    except MemoryError:
        return {"valid": UNKNOWN, "error": "the checker ran out of memory"}
    except Exception as e:  # noqa: BLE001 - that is the point: never a crash as a verdict
        log.error("checker %s raised: %s", getattr(checker, "name", checker), e)
        log.debug("%s", traceback.format_exc())
        return {"valid": UNKNOWN, "error": f"checker crashed: {type(e).__name__}: {e}"}
    if not isinstance(result, dict) or not any(result.get("valid") is v for v in (True, False)) \
            and result.get("valid") != UNKNOWN:
        got = result.get("valid") if isinstance(result, dict) else result
        return {"valid": UNKNOWN, "error": f"checker returned no verdict (valid={got!r})"}
    return result


def summarize(checker, result: dict) -> str:
    """The checker's own summary line (its `summary` method), or the generic one for a
    checker without it; never a crash."""
    if result.get("error") and result.get("valid") == UNKNOWN:
        return str(result["error"])
    try:
        own = getattr(checker, "summary", None)
        return own(result) if own is not None else generic_summary(result)
    except Exception:  # noqa: BLE001 - a summary must not cost the verdict
        return generic_summary(result)


def generic_summary(result: dict) -> str:
    """A summary from the fields results commonly carry (for checkers without their own)."""
    parts = []
    if "ops" in result or "txns" in result:
        size = f"{result['ops']} ops" if "ops" in result else f"{result['txns']} txns"
        parts.append(f"{size}, {result.get('elapsed_s', 0):.3f}s")
    if result.get("anomaly-types"):
        parts.append("anomalies: " + ", ".join(map(str, result["anomaly-types"])))
    if result.get("not"):
        parts.append("not " + ", ".join(map(str, result["not"])))
    failures = result.get("failures") or []
    if failures and isinstance(failures[0], dict):
        first = failures[0]
        key = "" if first.get("key") is None else f"key {first['key']}: "
        parts.append(f"{key}{first.get('message', '')}".strip())
    if result.get("unknown_reason"):
        parts.append(str(result["unknown_reason"]))
    return "; ".join(p for p in parts if p)
