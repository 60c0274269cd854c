"""The stats check (Jepsen's `stats` checker): did the workload do anything at all?

A run in which some kind of operation never once succeeded proves nothing about that
kind: a cluster that refused every write "loses" no writes. Neither does a run whose final
phase (after every fault was healed) saw no successful operation: the system never
recovered, or the clients could not reach it. Both make the run `unknown`, never valid.

Pure function of the history: `check(history, options)` with `final_phase_start` (ns on
the history's clock; None when the history has no final phase).
"""

from __future__ import annotations

from collections import Counter

from harness.history import FAIL, INFO, INVOKE, NEMESIS, OK

from . import UNKNOWN


class StatsChecker:
    name = "stats"
    options = ()

    def check(self, history: list[dict], options: dict) -> dict:
        final_start = options.get("final_phase_start")
        counts: dict[str, Counter] = {}
        final_ok = final_total = 0
        for op in history:
            if op.get("process") == NEMESIS or op.get("type") == INVOKE:
                continue
            f = str(op.get("f"))
            counts.setdefault(f, Counter())[op.get("type")] += 1
            if final_start is not None and (op.get("time") or 0) >= final_start:
                final_total += 1
                final_ok += op.get("type") == OK
        by_f = {f: {t: c[t] for t in (OK, FAIL, INFO)} for f, c in sorted(counts.items())}
        reasons = [f"no {f} operation succeeded ({c[FAIL]} failed, {c[INFO]} indeterminate)"
                   for f, c in sorted(counts.items()) if c[OK] == 0]
        if not counts:
            reasons.append("no client operation completed")
        if final_start is not None and final_ok == 0:
            reasons.append(f"no operation succeeded in the final phase, after the faults "
                           f"were healed ({final_total} completed)")
        result = {"valid": UNKNOWN if reasons else True, "by_f": by_f}
        if final_start is not None:
            result["final_phase"] = {"ok": final_ok, "completed": final_total}
        if reasons:
            result["unknown_reason"] = "; ".join(reasons)
        return result

    def summary(self, result: dict) -> str:
        if result.get("unknown_reason"):
            return result["unknown_reason"]
        return ", ".join(f"{f} {c[OK]} ok" for f, c in result.get("by_f", {}).items())
