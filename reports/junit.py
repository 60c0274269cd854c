"""JUnit XML: one test case per checker, so CI systems show a run like a test suite.

valid -> passed; invalid -> a <failure> with the anomalies; unknown -> <skipped> with the
reason (a checker that could not decide is neither a pass nor a failure).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


def _summary(result: dict) -> str:
    parts = []
    if result.get("anomaly-types"):
        parts.append("anomalies: " + ", ".join(result["anomaly-types"]))
    keys = [k for k in result.get("invalid_keys", []) if k is not None]
    if keys:
        parts.append("not linearizable on key(s) " + ", ".join(map(str, keys[:10])))
    for failure in result.get("failures", [])[:3]:
        if failure.get("message"):
            parts.append(failure["message"])
    if result.get("not"):
        parts.append("not " + ", ".join(result["not"]))
    return "; ".join(parts) or "invalid"


def render(suite_name: str, results: dict) -> str:
    checkers = {k: v for k, v in results.items() if isinstance(v, dict) and "valid" in v}
    suite = ET.Element("testsuite", name=suite_name, tests=str(len(checkers)),
                       failures=str(sum(1 for r in checkers.values() if r["valid"] is False)),
                       skipped=str(sum(1 for r in checkers.values()
                                       if r["valid"] not in (True, False))))
    for name, result in checkers.items():
        case = ET.SubElement(suite, "testcase", classname=suite_name, name=name,
                             time=str(result.get("elapsed_s", 0)))
        if result["valid"] is False:
            ET.SubElement(case, "failure", message=_summary(result)[:500]).text = _summary(result)
        elif result["valid"] is not True:
            reason = result.get("unknown_reason") or result.get("reason") or result.get("error") \
                or "the checker could not decide"
            ET.SubElement(case, "skipped", message=str(reason)[:500])
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def write(path: Path, suite_name: str, results: dict) -> None:
    Path(path).write_text(render(suite_name, results), encoding="utf-8")
