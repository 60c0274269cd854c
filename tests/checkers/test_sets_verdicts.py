"""set and set-full: unknown when nothing was verified (issue 9 item 12)."""

from checkers import sets
from checkers.sets import SetFullChecker


def ops(*events):
    return [{"index": i, "type": t, "process": p, "f": f, "value": v}
            for i, (t, p, f, v) in enumerate(events)]


def test_set_full_with_nothing_verified_is_unknown():
    # the only read began before the add was known: the element is never-read
    h = ops(("invoke", 0, "read", None), ("invoke", 1, "add", 1), ("ok", 1, "add", 1),
            ("ok", 0, "read", []))
    result = sets.check_set_full(h)
    assert result["valid"] == "unknown" and result["never-read-count"] == 1
    assert "nothing verified" in result["reason"]
    assert "nothing verified" in SetFullChecker().summary(result)
    # adds and no read at all
    result = sets.check_set_full(ops(("invoke", 1, "add", 1), ("ok", 1, "add", 1)))
    assert result["valid"] == "unknown" and result["reason"] == "no ok read"


def test_set_full_with_a_verified_element_is_valid_or_lost():
    h = ops(("invoke", 1, "add", 1), ("ok", 1, "add", 1), ("invoke", 0, "read", None),
            ("ok", 0, "read", [1]))
    assert sets.check_set_full(h)["valid"] is True
    h[3]["value"] = []
    assert sets.check_set_full(h)["valid"] is False


def test_no_client_ops_is_unknown():
    for check in (sets.check_set, sets.check_set_full):
        assert check([])["valid"] == "unknown"
