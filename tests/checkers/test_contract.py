"""The checker contract: verdicts merge strictly, crashes are never verdicts."""

import pytest

from checkers import UNKNOWN, MalformedOp, check_safe, compose, merge_valid, summarize
from checkers.stats import StatsChecker


def test_merge_valid_false_beats_unknown_beats_true():
    assert merge_valid([True, True]) is True
    assert merge_valid([True, UNKNOWN]) == UNKNOWN
    assert merge_valid([UNKNOWN, False, True]) is False
    assert merge_valid([]) is True


@pytest.mark.parametrize("bad", [None, 0, 1, "valid", "true", {}])
def test_merge_valid_refuses_anything_but_a_verdict(bad):
    with pytest.raises(ValueError, match="not a verdict"):
        merge_valid([True, bad])


def test_compose_refuses_a_result_without_a_verdict():
    with pytest.raises(ValueError):
        compose({"a": {"valid": True}, "b": {"ops": 3}})


class Raises:
    name = "raises"

    def check(self, history, options):
        raise KeyError("value")


class Malformed:
    def check(self, history, options):
        raise MalformedOp(history[0], "cas value must be a pair")


class NoVerdict:
    def check(self, history, options):
        return {"valid": None}


def test_a_checker_that_raises_yields_unknown_with_the_error():
    result = check_safe(Raises(), [], {})
    assert result["valid"] == UNKNOWN and "KeyError" in result["error"]
    assert summarize(Raises(), result) == result["error"]


def test_a_checker_without_a_verdict_yields_unknown():
    assert check_safe(NoVerdict(), [], {})["valid"] == UNKNOWN


def test_malformed_input_is_not_swallowed():
    op = {"f": "cas", "value": 3}
    with pytest.raises(MalformedOp) as e:
        check_safe(Malformed(), [op], {})
    assert e.value.op is op


def ops(*events):
    return [dict(e, index=i) for i, e in enumerate(events)]


def test_stats_is_unknown_when_a_function_never_succeeded():
    history = ops({"type": "invoke", "process": 0, "f": "read", "time": 1},
                  {"type": "ok", "process": 0, "f": "read", "time": 2},
                  {"type": "invoke", "process": 0, "f": "write", "time": 3},
                  {"type": "fail", "process": 0, "f": "write", "time": 4})
    result = StatsChecker().check(history, {})
    assert result["valid"] == UNKNOWN
    assert result["unknown_reason"] == "no write operation succeeded (1 failed, 0 indeterminate)"


def test_stats_is_unknown_when_the_final_phase_saw_no_success():
    history = ops({"type": "invoke", "process": 0, "f": "read", "time": 1},
                  {"type": "ok", "process": 0, "f": "read", "time": 2},
                  {"type": "invoke", "process": 0, "f": "read", "time": 10},
                  {"type": "fail", "process": 0, "f": "read", "time": 11})
    assert StatsChecker().check(history, {"final_phase_start": 5})["valid"] == UNKNOWN
    assert StatsChecker().check(history, {"final_phase_start": 1})["valid"] is True
    assert StatsChecker().check(history, {})["valid"] is True


def test_stats_of_an_empty_history_is_unknown():
    result = StatsChecker().check([{"type": "info", "process": "nemesis", "f": "kill"}], {})
    assert result["valid"] == UNKNOWN and "no client operation" in result["unknown_reason"]
