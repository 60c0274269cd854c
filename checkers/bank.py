"""Bank: transfers between accounts must conserve the total (Jepsen's bank checker).

Only ok reads are judged (a read's balances must all come from one snapshot):
  wrong-total     the balances do not sum to the total;
  negative-value  a balance below zero (unless negative balances are allowed);
  unexpected-key  an account that is not one of the accounts;
  nil-balance     an account read as nil.
The total and the accounts are options (`total`, `accounts`: a list of account ids); when
absent they are inferred from the first ok read. With `accounts` given, every read is held
to them, the first one included (inferring from the first read can never flag it).
Transfers are `{"from": a, "to": b, "amount": n}`; one without those fields, an ok read
whose value is not a map, or an unknown f is malformed (MalformedOp), and a history
without client operations is unknown ("no client operations").
"""

from __future__ import annotations

from collections import Counter

from harness.history import NEMESIS
from harness.options import Option

from . import MalformedOp, UNKNOWN

MAX_EXAMPLES = 8


def _validate(history: list[dict]) -> int:
    count = 0
    for op in history:
        if op.get("process") == NEMESIS:
            continue
        count += 1
        f, value = op.get("f"), op.get("value")
        if f == "transfer":
            if op.get("type") == "invoke" or value is not None:
                if not isinstance(value, dict) or not all(x in value for x in
                                                          ("from", "to", "amount")):
                    raise MalformedOp(op, "a transfer's value must be {from, to, amount}")
        elif f == "read":
            if op.get("type") == "ok" and not isinstance(value, dict):
                raise MalformedOp(op, f"an ok read's value must be a map of balances, "
                                      f"not {value!r}")
            if op.get("type") == "ok" and not all(
                    v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                    for v in value.values()):
                raise MalformedOp(op, "balances must be numbers (or null)")
        else:
            raise MalformedOp(op, f"unknown f {f!r} (bank knows transfer and read)")
    return count


def _accounts_of(value: dict) -> dict:
    # EDN maps keep integer keys; JSON turns them into strings: compare as strings.
    return {str(k): v for k, v in value.items()}


def check(history: list[dict], total=None, accounts=None, negative_balances=False) -> dict:
    if not _validate(history):
        return {"valid": UNKNOWN, "reason": "no client operations", "reads": 0}
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
    options = (
        Option("total", "int", None, "the sum of all balances (default: the first read's sum)"),
        Option("accounts", "list", None, "the account ids; a read of any other account is "
               "unexpected-key, the first read included (default: the first read's)"),
        Option("negative-balances", "bool", False, "allow balances below zero"),
    )

    def check(self, history, options):
        return check(history, options.get("total"), options.get("accounts"),
                     options.get("negative_balances", False))

    def summary(self, result) -> str:
        if result.get("reason"):
            return result["reason"]
        text = f"{result['reads']} reads, total {result.get('total')}"
        if result.get("counts"):
            text += "; " + ", ".join(f"{k}: {n}" for k, n in sorted(result["counts"].items()))
        return text
