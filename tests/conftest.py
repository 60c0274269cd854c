import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# The shared corpus lies beside the checkout (../shared), as on the developers' machines and CI.
SHARED = os.environ.get("HARNESS_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
CORPUS = os.path.join(SHARED, "corpus")
INTEGRATION_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration")


def pytest_configure(config):
    if not os.path.isdir(CORPUS):
        raise pytest.UsageError(
            f"the history corpus is missing: no folder {CORPUS}. Put the shared/ folder "
            "beside the checkout, or set HARNESS_SHARED to where it is.")


def pytest_collection_modifyitems(items):
    """Integration tests are those under tests/integration/ (by folder, not by a
    substring of the path: a checkout may itself live under a folder named so)."""
    for item in items:
        path = os.path.abspath(str(item.fspath))
        if os.path.commonpath([path, INTEGRATION_DIR]) == INTEGRATION_DIR:
            item.add_marker(pytest.mark.integration)


PLUGINS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "plugins")


def with_test_plugins(env=None) -> dict:
    """An environment in which the test plugins (tests/fixtures/plugins) are installed,
    found through their entry points like any third-party package's."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PLUGINS_DIR, ROOT, env.get("PYTHONPATH"))
                                        if p)
    return env
