"""Installs examples/harness-plugin-example the way a user would (pip, from its own
pyproject.toml), into a folder of its own; shared by the unit and integration tests."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "harness-plugin-example")


def install_example(target) -> dict:
    """pip-install the example package (no dependencies: harness is the one running;
    no build isolation: no network) into `target`; returns an environment in which the
    installed package is importable and its entry points are found."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), EXAMPLE],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, ("pip could not install the example plugin (it needs "
                                  f"setuptools and wheel in the virtualenv): {done.stderr}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), ROOT, env.get("PYTHONPATH")) if p)
    return env
