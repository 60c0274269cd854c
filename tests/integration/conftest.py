import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def docker_client():
    """The real engine and node image; an integration test fails (not skips) without them."""
    from harness import image
    from harness.control.docker import connect
    client = connect()
    image.require(client)
    return client


def harness(*args, timeout=300, env=None):
    """Run the real CLI as a user would; returns CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def run_dir_of(store):
    latest = os.path.join(store, "latest")
    return os.path.realpath(latest)


def results_of(store):
    with open(os.path.join(run_dir_of(store), "results.json")) as f:
        return json.load(f)
