"""The suite's own set-up: a missing corpus is one clear error, and integration tests
are those under tests/integration/ whatever the checkout's path."""

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_a_missing_corpus_is_one_clear_error_at_collection():
    res = subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider",
                          "tests/harness/test_options.py"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120,
                         env={**os.environ, "HARNESS_SHARED": "/nonexistent/shared"})
    assert res.returncode == 4
    assert "the history corpus is missing: no folder /nonexistent/shared/corpus" in res.stderr


def test_integration_marker_follows_the_folder(request):
    items = request.session.items
    marked = {item.nodeid for item in items if item.get_closest_marker("integration")}
    assert all(nodeid.startswith("tests/integration/") for nodeid in marked)
    assert request.node.get_closest_marker("integration") is None
