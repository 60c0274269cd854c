"""Sets: elements added, then read (Jepsen's set and set-full checkers).

set: the final ok read is compared with the adds.
  lost        acknowledged adds missing from the final read (invalid);
  unexpected  elements read that were never added (invalid);
  recovered   adds of unknown outcome that are present (fine: they happened).

set-full: every ok read counts, with timing. For each element: when it became known (its
add completed ok, or a read saw it), the last read that saw it and the last read, begun
after it was known, that missed it:
  stable      every read begun after it was known saw it, or it reappeared for good;
  lost        a read after it was known missed it and no later read saw it (invalid);
  stale       some reads begun after it was known missed it before it showed up
              (invalid only when linearizable is asked for);
  never-read  no read began after it was known (no verdict possible).
Duplicates (an element twice in one read) are reported and invalid: Jepsen's own check
uses sets and can never see them. When no element could be judged (every one never-read,
or nothing added), set-full is unknown with that reason, as Jepsen's is: "valid" would
claim something that was never verified.

Both: a history without client operations is unknown ("no client operations"); an op
whose f is neither add nor read, or an ok read whose value is not a list, is malformed
(MalformedOp).
"""

from __future__ import annotations

from collections import Counter

from harness.history import NEMESIS, pair_ops
from harness.options import Option

from . import MalformedOp, UNKNOWN

MAX_EXAMPLES = 8
NO_CLIENT_OPS = {"valid": UNKNOWN, "reason": "no client operations", "attempt-count": 0}


def _validate(history: list[dict]) -> int:
    count = 0
    for op in history:
        if op.get("process") == NEMESIS:
            continue
        count += 1
        if op.get("f") not in ("add", "read"):
            raise MalformedOp(op, f"unknown f {op.get('f')!r} (a set knows add and read)")
        if op.get("f") == "read" and op.get("type") == "ok" and \
                not isinstance(op.get("value"), (list, tuple, type(None))):
            raise MalformedOp(op, f"an ok read's value must be a list, not {op.get('value')!r}")
    return count


def _h(v):
    return tuple(_h(x) for x in v) if isinstance(v, list) else v


def check_set(history: list[dict]) -> dict:
    if not _validate(history):
        return dict(NO_CLIENT_OPS)
    attempted, acknowledged, unsure = set(), set(), set()
    for invoke, completion in pair_ops(history):
        if invoke["f"] != "add":
            continue
        v = _h(invoke.get("value"))
        attempted.add(v)
        ctype = completion["type"] if completion else "info"
        if ctype == "ok":
            acknowledged.add(v)
        elif ctype == "info":
            unsure.add(v)
    reads = [op for op in history if op.get("type") == "ok" and op.get("f") == "read"
             and op.get("process") != NEMESIS]
    if not reads:
        return {"valid": "unknown", "reason": "no final read", "attempt-count": len(attempted)}
    final = [_h(v) for v in (reads[-1].get("value") or [])]
    present = set(final)
    lost = sorted(acknowledged - present, key=repr)
    unexpected = sorted(present - attempted, key=repr)
    recovered = sorted(unsure & present, key=repr)
    return {"valid": not lost and not unexpected, "attempt-count": len(attempted),
            "acknowledged-count": len(acknowledged), "ok-count": len(acknowledged & present),
            "lost-count": len(lost), "lost": lost[:50], "unexpected-count": len(unexpected),
            "unexpected": unexpected[:50], "recovered-count": len(recovered),
            "recovered": recovered[:50],
            "anomaly-types": sorted(n for n, xs in (("lost", lost), ("unexpected", unexpected)) if xs)}


def check_set_full(history: list[dict], linearizable: bool = False) -> dict:
    if not _validate(history):
        return dict(NO_CLIENT_OPS)
    known_at: dict = {}           # element -> index at which it became known
    added: set = set()
    for invoke, completion in pair_ops(history):
        if invoke["f"] == "add":
            v = _h(invoke.get("value"))
            added.add(v)
            if completion and completion["type"] == "ok":
                known_at[v] = min(known_at.get(v, completion["index"]), completion["index"])
    reads = []   # (invoke index, complete index, elements)
    duplicates = []
    for invoke, completion in pair_ops(history):
        if invoke["f"] != "read" or not completion or completion["type"] != "ok":
            continue
        values = [_h(v) for v in (completion.get("value") or [])]
        counts = Counter(values)
        dup = sorted((v for v, c in counts.items() if c > 1), key=repr)
        if dup:
            duplicates.append({"op": completion["index"], "elements": dup[:20]})
        elements = set(values)
        reads.append((invoke["index"], completion["index"], elements))
        for v in elements:
            if v not in known_at or completion["index"] < known_at[v]:
                known_at[v] = min(known_at.get(v, completion["index"]), completion["index"])
    outcomes: dict[str, list] = {"stable": [], "lost": [], "stale": [], "never-read": []}
    for v in sorted(added | set(known_at), key=repr):
        if v not in known_at:
            continue           # never acknowledged and never seen: nothing to judge
        known = known_at[v]
        after = [(inv, comp, els) for inv, comp, els in reads if inv > known or v in els]
        if not after:
            outcomes["never-read"].append(v)
            continue
        last_present = max((comp for inv, comp, els in after if v in els), default=None)
        absent = [comp for inv, comp, els in after if v not in els and inv > known]
        last_absent = max(absent, default=None)
        if last_present is None or (last_absent is not None and last_absent > last_present):
            outcomes["lost"].append(v)
        elif absent:
            outcomes["stale"].append(v)
        else:
            outcomes["stable"].append(v)
    unexpected = sorted({v for _, _, els in reads for v in els} - added, key=repr)
    bad = bool(outcomes["lost"]) or bool(duplicates) or (linearizable and bool(outcomes["stale"]))
    judged = len(outcomes["stable"]) + len(outcomes["lost"]) + len(outcomes["stale"])
    result = {"valid": False if bad else (UNKNOWN if not judged else True),
              "attempt-count": len(added), "read-count": len(reads),
              "duplicated-count": len(duplicates), "duplicated": duplicates[:MAX_EXAMPLES],
              "unexpected-count": len(unexpected), "unexpected": unexpected[:50]}
    for name, elements in outcomes.items():
        result[f"{name}-count"] = len(elements)
        result[name] = elements[:50]
    if not bad and not judged:
        result["reason"] = ("no ok read" if not reads else
                            "nothing verified: no read began after any element was known")
    result["anomaly-types"] = sorted(
        [n for n in ("lost",) if outcomes[n]] + (["duplicated"] if duplicates else [])
        + (["stale"] if linearizable and outcomes["stale"] else []))
    return result


class SetChecker:
    name = "set"
    options = ()          # reads no options

    def check(self, history, options):
        return check_set(history)

    def summary(self, result) -> str:
        if result.get("reason"):
            return result["reason"]
        return (f"{result['attempt-count']} attempted, {result['acknowledged-count']} "
                f"acknowledged; lost {result['lost-count']}, unexpected "
                f"{result['unexpected-count']}, recovered {result['recovered-count']}")


class SetFullChecker:
    name = "set-full"
    options = (Option("linearizable", "bool", False,
                      "stale reads (an element missing after it was known) are errors"),)

    def check(self, history, options):
        return check_set_full(history, options.get("linearizable", False))

    def summary(self, result) -> str:
        if result.get("reason") and not result.get("read-count"):
            return result["reason"]
        text = (f"{result['attempt-count']} attempted, {result['read-count']} reads; stable "
                f"{result['stable-count']}, lost {result['lost-count']}, stale "
                f"{result['stale-count']}, never read {result['never-read-count']}")
        if result.get("duplicated-count"):
            text += f", duplicated {result['duplicated-count']}"
        if result.get("reason"):
            text += f"; {result['reason']}"
        return text
