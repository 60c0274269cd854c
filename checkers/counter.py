"""Counter: reads must fall between what certainly and what possibly was added
(Jepsen's counter checker, extended to negative increments).

For a read with interval [invoked, completed], an add (not failed) is
  certain   when it completed ok before the read was invoked: it is in the value;
  possible  when it was invoked before the read completed but is not certain (still
            running, completed during the read, or never completed): it may be in it;
  absent    otherwise (invoked after the read completed, or failed).
The value must lie in [certain + the possible negative adds, certain + the possible positive
adds]. With only positive adds this is Jepsen's rule; with decrements, a decrement running
concurrently with the read may or may not be in it, so it widens the bounds downwards,
and a decrement that completed while the read ran is still only possible.

Both bounds are kept as running sums, so the check is linear: bound(read) = bound at its
invocation + the increments invoked while it ran. A history without client operations is
unknown ("no client operations"); adds without reads contradict nothing (valid, as in
Jepsen).
"""

from __future__ import annotations

from numbers import Real

from harness.history import NEMESIS

from . import MalformedOp, UNKNOWN

MAX_EXAMPLES = 8


def _number(x) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


def check(history: list[dict]) -> dict:
    ops = [op for op in history if op.get("process") != NEMESIS]
    if not ops:
        return {"valid": UNKNOWN, "reason": "no client operations", "reads": 0,
                "error-count": 0, "errors": [], "anomaly-types": []}
    failed_invokes = set()
    open_: dict = {}
    for op in ops:                       # which adds failed: they never count
        if op.get("f") not in ("add", "read"):
            raise MalformedOp(op, f"unknown f {op.get('f')!r} (counter knows add and read)")
        if op["type"] == "invoke":
            if op["f"] == "add" and not _number(op.get("value")):
                raise MalformedOp(op, f"an add's value must be a number, not {op.get('value')!r}")
            open_[op["process"]] = op
        elif op["type"] == "fail":
            inv = open_.pop(op["process"], None)
            if inv is not None:
                failed_invokes.add(inv["index"])
        else:
            open_.pop(op["process"], None)
    certain_low = certain_high = 0      # ok-completed adds + in-flight min / max(amount, 0)
    invoked_neg = invoked_pos = 0       # running sums over every non-failed add invoked
    in_flight: dict = {}                 # process -> amount
    at_read: dict = {}                   # process -> bounds and sums at the read's invocation
    errors, error_count, reads = [], 0, 0
    for op in ops:
        p, f, t = op["process"], op.get("f"), op["type"]
        if t == "invoke":
            if f == "add":
                amount = op["value"]
                in_flight[p] = amount
                if op["index"] not in failed_invokes:
                    certain_high += max(amount, 0)
                    certain_low += min(amount, 0)
                    invoked_neg += min(amount, 0)
                    invoked_pos += max(amount, 0)
            else:
                at_read[p] = (certain_low, certain_high, invoked_neg, invoked_pos)
            continue
        if f == "add":
            amount = in_flight.pop(p, 0)
            if t == "ok":                # certainly applied from now on
                certain_low += max(amount, 0)
                certain_high += min(amount, 0)
        elif t == "ok":
            reads += 1
            low0, high0, neg0, pos0 = at_read.pop(p, (certain_low, certain_high,
                                                      invoked_neg, invoked_pos))
            lo = low0 + (invoked_neg - neg0)
            hi = high0 + (invoked_pos - pos0)
            value = op.get("value")
            if value is not None and not _number(value):
                raise MalformedOp(op, f"a read's value must be a number, not {value!r}")
            if value is None or not (lo <= value <= hi):
                error_count += 1
                if len(errors) < MAX_EXAMPLES:
                    errors.append({"op": op.get("index"), "value": value, "bounds": [lo, hi]})
        else:
            at_read.pop(p, None)
    return {"valid": error_count == 0, "reads": reads,
            "error-count": error_count, "errors": errors,
            "anomaly-types": ["out-of-bounds"] if error_count else []}


class CounterChecker:
    name = "counter"
    options = ()          # reads no options

    def check(self, history, options):
        return check(history)

    def summary(self, result) -> str:
        if result.get("reason"):
            return result["reason"]
        text = f"{result['reads']} reads"
        if result.get("error-count"):
            e = result["errors"][0]
            text += (f", {result['error-count']} out of bounds (e.g. op {e['op']} read "
                     f"{e['value']}, bounds {e['bounds']})")
        return text
