"""`harness check` pays only for what checking needs (issue 16: start-up counts in every
check's wall clock): no system, workload or nemesis plugin, no report templates, no
runner, no database driver is imported; and its exit (without the interpreter's teardown)
still writes everything and gives the verdict's code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TWO_TXNS = ('{"index":0,"type":"invoke","process":0,"f":"txn","value":[["append",1,1]]}\n'
           '{"index":1,"type":"ok","process":0,"f":"txn","value":[["append",1,1]]}\n'
           '{"index":2,"type":"invoke","process":0,"f":"txn","value":[["r",1,null]]}\n'
           '{"index":3,"type":"ok","process":0,"f":"txn","value":[["r",1,[1]]]}\n')

# Which top-level modules a `check` left imported, printed as it exits (SystemExit is
# caught so the process can report; `main` itself would end it at once).
PROBE = """
import sys
from harness import cli
try:
    cli._main(sys.argv[1:])
except SystemExit as e:
    code = e.code
sys.stdout.flush()
print("MODULES " + " ".join(sorted({m.split('.')[0] for m in sys.modules})))
print("CODE", code)
"""


def _probe(*args):
    res = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    lines = res.stdout.splitlines()
    modules = set(next(l for l in lines if l.startswith("MODULES ")).split()[1:])
    code = int(next(l for l in lines if l.startswith("CODE ")).split()[1])
    return modules, code, res


def test_check_imports_no_plugin_it_does_not_use(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text(TWO_TXNS)
    modules, code, res = _probe("check", "--checker", "elle-list-append", str(path))
    assert code == 0, res.stderr
    assert "checkers" in modules                       # the probe sees what was imported
    for heavy in ("clusters", "workloads", "nemeses", "reports", "psycopg", "jinja2",
                  "docker"):
        assert heavy not in modules, f"harness check imported {heavy}"


def test_test_command_still_offers_the_plugin_flags():
    res = subprocess.run([sys.executable, "-m", "harness.cli", "test", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "--partition-shapes" in res.stdout          # a flag a nemesis declares
    assert "nemesis partition: shapes" in res.stdout   # the plugins' epilog


def test_check_exit_codes_and_outputs_without_teardown(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(TWO_TXNS)
    junit = tmp_path / "j.xml"
    cmd = [sys.executable, "-m", "harness.cli", "check", "--json", "--checker",
           "elle-list-append", "--junit", str(junit), str(good)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["valid"] is True     # stdout flushed before the exit
    assert junit.read_text().startswith("<?xml")
    # An invalid history: exit 1, through a pipe (stdout not a terminal).
    bad_file = tmp_path / "bad.jsonl"
    bad_file.write_text(
        '{"index":0,"type":"ok","process":0,"f":"txn","value":[["append","x",1],["r","y",[]]]}\n'
        '{"index":1,"type":"ok","process":1,"f":"txn","value":[["append","y",1],["r","x",[]]]}\n'
        '{"index":2,"type":"ok","process":2,"f":"txn","value":[["r","x",[1]],["r","y",[1]]]}\n')
    res = subprocess.run(cmd[:-1] + [str(bad_file)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 1, res.stderr
    assert json.loads(res.stdout)["valid"] is False


def test_main_called_with_arguments_ends_in_system_exit(tmp_path, capsys):
    """Only the program itself skips the teardown: a caller of main([...]) (a test, an
    embedding tool) gets SystemExit and goes on."""
    from harness.cli import main
    path = tmp_path / "h.jsonl"
    path.write_text(TWO_TXNS)
    try:
        main(["check", "--checker", "elle-list-append", str(path)])
    except SystemExit as e:
        assert e.code == 0
    else:
        raise AssertionError("no SystemExit")
    assert "valid" in capsys.readouterr().out
