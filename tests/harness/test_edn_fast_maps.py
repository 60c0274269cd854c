"""The EDN reader's fast path for flat op maps reads exactly what the general reader
reads: same values, same lines, same errors."""

from __future__ import annotations

import glob
import os
import random

import pytest

from harness.formats import edn

from tests.conftest import CORPUS


def both(text):
    out = []
    for fast in (True, False):
        edn.FAST_MAPS = fast
        try:
            out.append(repr(edn.read_forms(text)))
        except edn.EDNError as e:
            out.append(("error", e.line, e.what))
        finally:
            edn.FAST_MAPS = True
    return out


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(CORPUS, "**", "*.edn"),
                                                  recursive=True))[::3])
def test_corpus_files_read_the_same(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    fast, slow = both(text)
    assert fast == slow


ATOMS = ["nil", "true", "false", ":ok", ":a-b", "7", "-3", "007", "-0", "123456789012345678",
         "1234567890123456789", '"x y"', '""', '"a\\"b"', "[1 2]", "[]", "[ 1, 2 ]", "[1 -2 3]",
         "1.5", "1N", "nilx", ":a.b", "[1 nil]", "[[1]]", "{:x 1}", "#{1}", "sym", "\\c",
         '"é"', ":é", "٣"]
SEPS = [" ", ",", ", ", "\t", "", "\n", " ;c\n"]


def test_random_maps_read_the_same():
    rng = random.Random(3)
    for case in range(3000):
        entries = []
        for _ in range(rng.randint(0, 4)):
            key = rng.choice([":process", ":f", ":value", ":k-2", "1", '"s"'])
            entries.append(key + rng.choice(SEPS[:5]) + rng.choice(ATOMS))
        text = "{" + rng.choice(SEPS).join(entries) + rng.choice(["}", "", "]", " }"])
        text = rng.choice(["", "[", "#_", "[ ", "#jepsen.history.Op"]) + text + \
            rng.choice(["", "]", "\n{:a 1}"])
        fast, slow = both(text)
        assert fast == slow, text
