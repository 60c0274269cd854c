"""junit.xml is valid JUnit XML for every kind of run (issue 15, item 1).

The schema (tests/reports/junit.xsd) is the structure of the Jenkins/Ant JUnit XSD that CI
systems read, with the counts and times typed as numbers. Each test renders the file the
way the runner or `harness check --junit` does, from results produced by the real checkers,
and validates it; the counts must also agree with the test cases (a schema cannot say that,
and a CI system that reads `failures="0"` shows a failing run as green).
"""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from lxml import etree

from harness.runner import TestConfig, check
from reports.junit import render
from workloads.register import RegisterWorkload

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).with_name("junit.xsd"))))
ROOT = Path(__file__).resolve().parents[2]
PROPERTIES = {"seed": 42, "run_dir": "store/t/20261128T000000.000",
              "rerun": "harness test --system raftkv --seed 42", "exit_code": 0}


def op(index, type_, process, f, value, key=1, t=None):
    return {"index": index, "type": type_, "process": process, "f": f, "value": value,
            "key": key, "time": (t if t is not None else index) * 1_000_000}


def linearizable_history():
    return [op(0, "invoke", 0, "write", 1), op(1, "ok", 0, "write", 1),
            op(2, "invoke", 1, "read", None), op(3, "ok", 1, "read", 1)]


def stale_read_history():
    """A read that returns the value before a write that had completed."""
    return [op(0, "invoke", 0, "write", 1), op(1, "ok", 0, "write", 1),
            op(2, "invoke", 0, "write", 2), op(3, "ok", 0, "write", 2),
            op(4, "invoke", 1, "read", None), op(5, "ok", 1, "read", 1)]


def checked(history):
    results, _ = check(RegisterWorkload(), history, TestConfig(system="any"))
    return results


def assert_valid_junit(xml: str) -> ET.Element:
    doc = etree.fromstring(xml.encode("utf-8"))
    if not SCHEMA.validate(doc):
        raise AssertionError(f"junit.xml does not validate: {SCHEMA.error_log}\n{xml}")
    suite = ET.fromstring(xml)
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases)
    for attribute, child in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
        assert int(suite.get(attribute)) == sum(1 for c in cases if c.find(child) is not None)
    return suite


def test_a_valid_run_validates_and_every_case_passes():
    results = checked(linearizable_history())
    assert results["valid"] is True
    suite = assert_valid_junit(render("t", results, PROPERTIES, 68.2))
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    assert suite.get("time") == "68.200"       # the run's wall time, not the checker's
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["seed"] == "42" and props["rerun"].startswith("harness test")


def test_an_invalid_run_validates_with_a_failure_case():
    results = checked(stale_read_history())
    assert results["valid"] is False
    suite = assert_valid_junit(render("t", results, PROPERTIES, 3.0))
    [failing] = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failing.get("name") == "linearizable"
    assert suite.get("failures") == "1"


def test_an_unknown_run_validates_with_a_skipped_case():
    # Only reads that never succeeded: the stats check cannot call the run valid.
    history = [op(0, "invoke", 0, "read", None), op(1, "fail", 0, "read", None)]
    results = checked(history)
    assert results["valid"] not in (True, False)
    suite = assert_valid_junit(render("t", results, PROPERTIES, 1.0))
    assert int(suite.get("skipped")) >= 1 and suite.get("failures") == "0"


@pytest.mark.parametrize("partial", ["valid", "invalid", "none"])
def test_a_failed_run_validates_with_an_error_case(partial):
    """Interrupted, cluster lost, deadline: the run's `error` is an <error> case, whatever
    the partial history showed; a run that failed before its first op has no checker."""
    if partial == "none":
        results = {"valid": "unknown", "error": "deploy failed: n3 did not answer"}
    else:
        results = checked(linearizable_history() if partial == "valid" else stale_read_history())
        results["partial_valid"], results["valid"] = results["valid"], "unknown"
        results["error"] = "interrupted by SIGTERM"
    suite = assert_valid_junit(render("t", results, PROPERTIES, 12.5))
    assert suite.get("errors") == "1"
    [run_case] = [c for c in suite.iter("testcase") if c.get("name") == "run"]
    assert "SIGTERM" in run_case.find("error").get("message") or partial == "none"


def test_times_that_are_not_numbers_are_written_as_zero():
    results = {"valid": True, "a": {"valid": True, "elapsed_s": None},
               "b": {"valid": True, "elapsed_s": "soon"}, "c": {"valid": True, "elapsed_s": -1}}
    suite = assert_valid_junit(render("t", results, None, float("nan")))
    assert {c.get("time") for c in suite.iter("testcase")} == {"0.000"}


def test_the_schema_rejects_what_ci_systems_reject():
    """The validator is real: a suite without its counts, or a time that is not a number,
    does not validate."""
    bad = ['<testsuite name="t" tests="1"><testcase name="x"/></testsuite>',
           '<testsuite name="t" tests="1" failures="0" errors="0" skipped="0" time="None">'
           '<testcase name="x"/></testsuite>',
           '<testsuite name="t" tests="1" failures="0" errors="0" skipped="0" time="1">'
           '<testcase name="x"><failure/><skipped/></testcase></testsuite>']
    for xml in bad:
        assert not SCHEMA.validate(etree.fromstring(xml.encode())), xml


def test_harness_check_junit_validates(tmp_path):
    """`harness check --junit` over two files (one valid, one not) writes one valid suite."""
    paths = []
    for name, history in (("ok.jsonl", linearizable_history()),
                          ("stale.jsonl", stale_read_history())):
        path = tmp_path / name
        path.write_text("".join(json.dumps(o) + "\n" for o in history))
        paths.append(str(path))
    junit_path = tmp_path / "junit.xml"
    done = subprocess.run([sys.executable, "-m", "harness.cli", "check", *paths,
                           "--junit", str(junit_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    suite = assert_valid_junit(junit_path.read_text(encoding="utf-8"))
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
