"""The written-values checker: every value a read returns was written before it.

Whatever the consistency model, a register must not invent data: an ok read returns nil
(never written) or a value that some write of that key had been invoked with before the
read completed. A checker is a pure function of the history: `check(history, options)`
returns a result with `valid` (True, False or "unknown"); `summary(result)` is its one
line for the terminal and the report. Writing files is not its business.
"""

from __future__ import annotations

from harness.options import Option


class WrittenValuesChecker:
    """Every read returns nil or a value written (invoked) to its key before it ended."""

    name = "written-values"
    options = (Option("max-shown", "int", 10, "violations kept in the result", minimum=1,
                      maximum=1000),)

    def __init__(self, max_shown: int = 10):
        self.max_shown = max_shown

    def check(self, history: list[dict], options: dict) -> dict:
        written: dict = {}          # key -> values some write was invoked with, so far
        violations, reads = [], 0
        for event in history:       # in history order: a write counts once invoked
            process, key = event.get("process"), event.get("key")
            if event.get("f") in ("write", "cas") and event.get("type") == "invoke":
                value = event.get("value")
                new = value[1] if event["f"] == "cas" and isinstance(value, list) else value
                written.setdefault(key, set()).add(repr(new))
            elif event.get("f") == "read" and event.get("type") == "ok":
                reads += 1
                value = event.get("value")
                if value is not None and repr(value) not in written.get(key, ()):
                    violations.append({"process": process, "key": key, "value": value,
                                       "index": event.get("index")})
        return {"valid": not violations, "reads": reads, "violation_count": len(violations),
                "violations": violations[:self.max_shown]}

    def summary(self, result: dict) -> str:
        if result.get("valid") is True:
            return f"{result.get('reads', 0)} reads, each of a written value"
        first = (result.get("violations") or [{}])[0]
        return (f"{result.get('violation_count')} reads of values never written; first: "
                f"process {first.get('process')} read {first.get('value')!r} of key "
                f"{first.get('key')}")
