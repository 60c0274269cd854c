"""JUnit XML: one test case per checker, so CI systems show a run like a test suite.

valid -> passed; invalid -> a <failure> with the anomalies; unknown -> <skipped> with the
reason (a checker that could not decide is neither a pass nor a failure). A run that
failed (interrupted, cluster lost, deadline) adds a test case `run` with an <error>, so
CI never shows it as passed. `properties` (seed, run folder, the rerun command) and the
run's wall time go on the suite, with a timestamp and the host's name. The file is
valid against the Jenkins/Ant JUnit schema (tests/reports/junit.xsd pins that down).
"""

from __future__ import annotations

import datetime
import math
import re
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

# Characters XML 1.0 cannot hold at all, even escaped. ElementTree escapes markup but
# writes these as they are, and the file would not parse: they are replaced.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text) -> str:
    """`text` as a string XML can hold (ElementTree escapes <, >, & and quotes)."""
    return _NOT_XML.sub("\ufffd", str(text))


def _seconds(value) -> str:
    """A time attribute: seconds as a plain decimal ("12.345"), as CI systems parse it.
    Anything else a result may hold there (None, a string, NaN, a negative clock step)
    is written as 0 rather than making the file invalid."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return "0.000"
    return f"{seconds:.3f}" if math.isfinite(seconds) and seconds >= 0 else "0.000"


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


def render(suite_name: str, results: dict, properties: dict | None = None,
           time_s: float | None = None) -> str:
    checkers = {k: v for k, v in results.items() if isinstance(v, dict) and "valid" in v}
    error = results.get("error")
    suite = ET.Element("testsuite", name=_xml(suite_name),
                       tests=str(len(checkers) + (1 if error else 0)),
                       failures=str(sum(1 for r in checkers.values() if r["valid"] is False)),
                       errors=str(1 if error else 0),
                       skipped=str(sum(1 for r in checkers.values()
                                       if r["valid"] not in (True, False))),
                       time=_seconds(time_s),
                       timestamp=datetime.datetime.now().isoformat(timespec="seconds"),
                       hostname=_xml(socket.gethostname()))
    if properties:
        props = ET.SubElement(suite, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", name=_xml(key), value=_xml(value))
    if error:
        case = ET.SubElement(suite, "testcase", classname=_xml(suite_name), name="run",
                             time=_seconds(time_s))
        ET.SubElement(case, "error", message=_xml(error)[:500]).text = _xml(error)
    for name, result in checkers.items():
        case = ET.SubElement(suite, "testcase", classname=_xml(suite_name), name=_xml(name),
                             time=_seconds(result.get("elapsed_s")))
        if result["valid"] is False:
            summary = _xml(result.get("summary") or _summary(result))
            ET.SubElement(case, "failure", message=summary[:500]).text = summary
        elif result["valid"] is not True:
            reason = result.get("unknown_reason") or result.get("reason") or result.get("error") \
                or "the checker could not decide"
            ET.SubElement(case, "skipped", message=_xml(reason)[:500])
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def write(path: Path, suite_name: str, results: dict, properties: dict | None = None,
          time_s: float | None = None) -> None:
    Path(path).write_text(render(suite_name, results, properties, time_s), encoding="utf-8")
