"""Bank: transfers between accounts must conserve the total (Jepsen's bank checker).

Only ok reads are judged (a read's balances must all come from one snapshot):
  wrong-total     the balances do not sum to the total;
  negative-value  a balance below zero (unless negative balances are allowed);
  unexpected-key  an account that is not one of the accounts;
  nil-balance     an account read as nil.
The total and the accounts are options; when absent they are inferred from the first ok read.
"""

from __future__ import annotations

from collections import Counter

from harness.history import NEMESIS

MAX_EXAMPLES = 8


def _accounts_of(value: dict) -> dict:
    # EDN maps keep integer keys; JSON turns them into strings: compare as strings.
    return {str(k): v for k, v in value.items()}


def check(history: list[dict], total=None, accounts=None, negative_balances=False) -> dict:
    reads = [op for op in history if op.get("type") == "ok" and op.get("f") == "read"
             and op.get("process") != NEMESIS and isinstance(op.get("value"), dict)]
    if not reads:
        return {"valid": "unknown", "reason": "no ok reads", "reads": 0}
    first = _accounts_of(reads[0]["value"])
    if total is None:
        total = sum(v for v in first.values() if isinstance(v, (int, float)))
    expected_accounts = {str(a) for a in accounts} if accounts is not None else set(first)
    errors: dict[str, list] = {}
    counts: Counter = Counter()
    for op in reads:
        balances = _accounts_of(op["value"])
        problems = []
        nil = sorted(k for k, v in balances.items() if v is None)
        if nil:
            problems.append(("nil-balance", {"accounts": nil}))
        numeric = {k: v for k, v in balances.items() if v is not None}
        if sum(numeric.values()) != total and not nil:
            problems.append(("wrong-total", {"total": sum(numeric.values()), "expected": total}))
        negative = {k: v for k, v in numeric.items() if v < 0}
        if negative and not negative_balances:
            problems.append(("negative-value", {"accounts": negative}))
        unexpected = sorted(set(balances) - expected_accounts)
        if unexpected:
            problems.append(("unexpected-key", {"accounts": unexpected}))
        for kind, detail in problems:
            counts[kind] += 1
            errors.setdefault(kind, [])
            if len(errors[kind]) < MAX_EXAMPLES:
                errors[kind].append({"op": op.get("index"), "value": op["value"], **detail})
    return {"valid": not counts, "reads": len(reads), "total": total,
            "anomaly-types": sorted(counts), "counts": dict(counts), "anomalies": errors}


class BankChecker:
    name = "bank"

    def check(self, history, options):
        return check(history, options.get("total"), options.get("accounts"),
                     options.get("negative_balances", False))
