"""bank: the accounts option (issue 9 item 12)."""

from checkers import bank
from checkers.bank import BankChecker


def read(i, p, balances):
    return [{"index": 2 * i, "type": "invoke", "process": p, "f": "read", "value": None},
            {"index": 2 * i + 1, "type": "ok", "process": p, "f": "read", "value": balances}]


def test_an_unexpected_account_in_the_first_read_is_flagged_with_accounts_given():
    h = read(0, 0, {"0": 10, "1": 10, "7": 0}) + read(1, 0, {"0": 10, "1": 10})
    result = BankChecker().check(h, {"accounts": [0, 1], "total": 20})
    assert result["valid"] is False and result["counts"] == {"unexpected-key": 1}
    assert result["anomalies"]["unexpected-key"][0]["op"] == 1
    # inferred from the first read (no option), it cannot be
    assert bank.check(h)["valid"] is True


def test_accounts_compare_as_strings_whatever_the_format():
    """JSON turns integer keys into strings; EDN keeps them; a CLI list gives strings."""
    h = read(0, 0, {0: 5, 1: 5})
    assert bank.check(h, total=10, accounts=["0", "1"])["valid"] is True
    assert bank.check(h, total=10, accounts=[0])["counts"] == {"unexpected-key": 1}


def test_summary():
    h = read(0, 0, {"0": 10, "1": 9})
    result = BankChecker().check(h, {"total": 20})
    assert BankChecker().summary(result) == "1 reads, total 20; wrong-total: 1"
