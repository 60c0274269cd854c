"""Counter: reads must fall between what certainly and what possibly was added
(Jepsen's counter checker). For a read, the lower bound sums the adds that completed ok
before it was invoked; the upper bound sums every add invoked before it completed that
did not fail (ok or unknown). A negative increment moves the bounds the other way."""

from __future__ import annotations

from harness.history import NEMESIS

MAX_EXAMPLES = 8


def check(history: list[dict]) -> dict:
    ops = [op for op in history if op.get("process") != NEMESIS]
    failed_invokes = set()
    open_: dict = {}
    for op in ops:                       # which adds failed: they never count
        if op["type"] == "invoke":
            open_[op["process"]] = op
        elif op["type"] == "fail":
            inv = open_.pop(op["process"], None)
            if inv is not None:
                failed_invokes.add(inv["index"])
        else:
            open_.pop(op["process"], None)
    lower = upper = 0
    in_flight: dict = {}                 # process -> (f, amount, invoke index)
    read_lower: dict = {}
    errors, error_count, reads = [], 0, 0
    for op in ops:
        p, f, t = op["process"], op.get("f"), op["type"]
        if t == "invoke":
            if f == "add":
                amount = op.get("value") or 0
                in_flight[p] = amount
                if op["index"] not in failed_invokes:
                    upper += max(amount, 0)
                    lower += min(amount, 0)
            elif f == "read":
                read_lower[p] = lower
            continue
        if f == "add":
            amount = in_flight.pop(p, 0)
            if t == "ok":                # certainly applied now
                lower += max(amount, 0)
                upper += min(amount, 0)
        elif f == "read" and t == "ok":
            reads += 1
            lo = read_lower.pop(p, lower)
            value = op.get("value")
            if value is None or not (lo <= value <= upper):
                error_count += 1
                if len(errors) < MAX_EXAMPLES:
                    errors.append({"op": op.get("index"), "value": value, "bounds": [lo, upper]})
    # No reads: nothing contradicts the adds (Jepsen calls that valid too).
    return {"valid": error_count == 0, "reads": reads,
            "error-count": error_count, "errors": errors,
            "anomaly-types": ["out-of-bounds"] if error_count else []}


class CounterChecker:
    name = "counter"

    def check(self, history, options):
        return check(history)
