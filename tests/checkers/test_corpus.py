"""Every Porcupine and Knossos history in ../shared/corpus gets its expected verdict."""

import csv
import os

import pytest

from checkers.linearizable import check_history
from harness.formats import load

from tests.conftest import CORPUS


def cases():
    out = []
    for folder in ("porcupine", "knossos"):
        with open(os.path.join(CORPUS, folder, "EXPECTED.tsv")) as f:
            for row in csv.DictReader(f, delimiter="\t"):
                out.append(pytest.param(os.path.join(CORPUS, folder, row["file"]),
                                        row["expected"] == "linearizable",
                                        id=f"{folder}/{row['file']}"))
    return out


ALL = cases()


def test_the_corpus_is_there():
    assert len(ALL) >= 120


@pytest.mark.parametrize("engine", ["c", "python"])
@pytest.mark.parametrize("path, expected", ALL)
def test_corpus_verdict(path, expected, engine):
    history = load(path)
    result = check_history(history.ops, semantics=history.semantics, time_limit_s=60,
                           engine=engine)
    assert result["valid"] is expected
    if not expected:
        assert result["failures"] and result["failures"][0]["message"]


KNOSSOS = [case for case in ALL if case.id.startswith("knossos/")]


@pytest.mark.parametrize("path, expected", KNOSSOS[:12] + KNOSSOS[-3:])
def test_knossos_verdicts_hold_with_the_initial_value_given_as_init(path, expected):
    # The Knossos files start at 0: the same verdicts when that comes from the user's
    # `init` rather than from the format, through the checker's own entry point.
    from checkers.linearizable import LinearizableChecker
    from harness.formats import Semantics

    history = load(path)
    without_initial = Semantics(default_model=history.semantics.default_model,
                                nil_read_is_wildcard=history.semantics.nil_read_is_wildcard)
    checker = LinearizableChecker()
    result = checker.check(history.ops, {"semantics": without_initial, "init": 0})
    assert result["valid"] is expected
    assert checker.summary(result).startswith(f"{result['ops']} op")
    assert " on 1 key, " in checker.summary(result)
