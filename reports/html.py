"""The HTML report: verdict, configuration, op counts, latency with faults shaded, and the
checkers' explanations. One self-contained file (inline CSS and SVG, no scripts from
anywhere), so it can be attached to a CI run or mailed.

Everything in a report comes from a history or a run, so from whoever wrote them: the
template autoescapes and marks nothing from the data `|safe`. The SVG drawings are built
in Python (reports.cycles, reports.linearizability, reports.plots), which escape every
piece of data they put in; only their output is trusted as markup (`Markup` below).
tests/reports/test_hostile.py renders every view with hostile strings in every field.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import jinja2
from markupsafe import Markup

from harness.history import NEMESIS, pair_ops

from .cycles import cycle_svg
from .linearizability import failure_svg
from .plots import fault_periods, latency_svg

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=True, trim_blocks=True, lstrip_blocks=True)
_env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, default=str)
_env.filters["failure_svg"] = lambda failure: Markup(failure_svg(failure))
_env.filters["cycle_svg"] = lambda cycle: Markup(cycle_svg(cycle))


def verdict_word(valid) -> str:
    return {True: "valid", False: "INVALID"}.get(valid, "unknown")


def op_counts(history: list[dict]) -> list[dict]:
    counts: Counter = Counter()
    for invoke, completion in pair_ops(history):
        counts[(invoke["f"], completion["type"] if completion else "open")] += 1
    fs = sorted({f for f, _ in counts})
    return [{"f": f, "ok": counts[(f, "ok")], "fail": counts[(f, "fail")],
             "info": counts[(f, "info")], "open": counts[(f, "open")],
             "total": sum(v for (g, _), v in counts.items() if g == f)} for f in fs]


def render(*, title: str, config: dict, history: list[dict], results: dict) -> str:
    nemesis_events = [op for op in history if op.get("process") == NEMESIS]
    return _env.get_template("report.html.j2").render(
        title=title, config=config, results=results, verdict=verdict_word(results.get("valid")),
        valid=results.get("valid"), counts=op_counts(history), plot=Markup(latency_svg(history)),
        periods=fault_periods(history), nemesis_events=nemesis_events,
        checker_results={k: v for k, v in results.items()
                         if isinstance(v, dict) and "valid" in v})


def write(path: Path, **kwargs) -> None:
    """Write the report. A lone surrogate (JSON can spell one, "\\ud800") cannot be
    encoded as UTF-8: it is written as "?" rather than failing the report."""
    Path(path).write_text(render(**kwargs), encoding="utf-8", errors="replace")
