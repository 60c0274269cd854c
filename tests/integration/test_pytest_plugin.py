"""The pytest plugin on the real raftkv: the example passes on the safe system and fails
on unsafe-reads, naming the run folder."""

import os
import subprocess
import sys

from .conftest import ROOT


def run_example(tmp_path, env_extra):
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "examples/test_raftkv.py", "--basetemp", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env_extra})


def test_the_example_passes_on_raftkv_and_fails_on_unsafe_reads(docker_client, tmp_path):
    safe = run_example(tmp_path / "safe", {})
    assert safe.returncode == 0, safe.stdout + safe.stderr
    unsafe = run_example(tmp_path / "unsafe", {"HARNESS_SYSTEM_OPTS": "unsafe-reads"})
    assert unsafe.returncode == 1, unsafe.stdout + unsafe.stderr
    assert "INVALID" in unsafe.stdout and "run folder:" in unsafe.stdout
