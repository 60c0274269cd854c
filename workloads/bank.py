"""The bank workload: transfers between accounts and reads of every balance.

transfer `{"from": a, "to": b, "amount": n}` (a != b, 1 <= n <= max_transfer) and read
(ok value `{"<account>": balance, ...}`). The total is `accounts * initial_balance`; the
system must refuse a transfer that would make a balance negative unless allowed.
"""

from __future__ import annotations

from harness.generator import Fn
from harness.options import Option


class BankWorkload:
    name = "bank"
    options = (
        Option("accounts", "int", 8, "number of accounts", minimum=2, maximum=10_000),
        Option("initial-balance", "int", 10, "each account's starting balance", minimum=0),
        Option("max-transfer", "int", 5, "largest amount one transfer moves", minimum=1),
    )

    def __init__(self, accounts: int = 8, initial_balance: int = 10, max_transfer: int = 5):
        self.accounts = list(range(accounts))
        self.initial_balance = initial_balance
        self.max_transfer = max_transfer

    @property
    def total(self) -> int:
        return len(self.accounts) * self.initial_balance

    def generator(self, options: dict):
        def make(ctx):
            if ctx.rng.random() < 0.5:
                return {"f": "read", "value": None}
            a, b = ctx.rng.sample(self.accounts, 2)
            return {"f": "transfer",
                    "value": {"from": a, "to": b, "amount": ctx.rng.randint(1, self.max_transfer)}}
        return Fn(make)

    def final_generator(self, history):
        from harness.generator import UntilOk
        return UntilOk.of([{"f": "read", "value": None}])

    def checkers(self, options: dict) -> dict:
        from checkers.bank import BankChecker
        return {"bank": (BankChecker(), {"total": self.total, "accounts": self.accounts,
                                         "negative_balances": options.get("negative_balances", False)})}
