"""The HTML report: verdict and summary first, then latency and throughput plots and the
first counterexample (all above the fold of a 1400x1000 window), the other
counterexamples folded, the timeline of every operation per process, faults, op counts,
the tails of the nodes' logs, links to the run's files, and the raw configuration and
results folded at the end. One self-contained file (inline CSS and SVG, no script, no
network), so it can be attached to a CI run or mailed.

Size: the plots are bounded (reports.plots says how: sampled points, bucketed throughput,
a timeline of at most lanes x columns bars), node logs are tails of at most
`LOG_TAIL_LINES` lines / `LOG_TAIL_BYTES` bytes of at most `LOG_FILES` files, so a long
run's report stays within a few hundred KB beyond its raw results.

Everything in a report comes from a history, a run or the nodes, so from whoever wrote
them: the template autoescapes and marks nothing from the data `|safe`. The SVG drawings
are built in Python (reports.cycles, reports.linearizability, reports.plots), which escape
every piece of data they put in; only their output is trusted as markup (`Markup` below).
tests/reports/test_hostile.py renders every view with hostile strings in every field.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from harness.history import NEMESIS, pair_ops

from .clocks import clock_svg
from .cycles import cycle_svg
from .linearizability import failure_svg, op_label
from .plots import (fault_color, fault_periods, has_real_times, latency_svg, throughput_svg,
                    timeline_svg)

LOG_FILES = 40
LOG_TAIL_LINES = 30
LOG_TAIL_BYTES = 6000

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=True, trim_blocks=True, lstrip_blocks=True)
_env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, default=str)
_env.filters["failure_svg"] = lambda failure: Markup(failure_svg(failure))
_env.filters["cycle_svg"] = lambda cycle: Markup(cycle_svg(cycle))
_env.filters["op_label"] = op_label
_env.filters["fault_color"] = fault_color


def verdict_word(valid) -> str:
    return {True: "valid", False: "INVALID"}.get(valid, "unknown")


def op_counts(history: list[dict]) -> list[dict]:
    counts: Counter = Counter()
    for invoke, completion in pair_ops(history):
        counts[(invoke["f"], completion["type"] if completion else "open")] += 1
    fs = sorted({f for f, _ in counts}, key=str)
    return [{"f": f, "ok": counts[(f, "ok")], "fail": counts[(f, "fail")],
             "info": counts[(f, "info")], "open": counts[(f, "open")],
             "total": sum(v for (g, _), v in counts.items() if g == f)} for f in fs]


def _with_nodes(failure: dict, by_index: dict) -> dict:
    """The failure with `node` on every op whose completion (or invocation) in the history
    names the node that served it."""
    def annotate(op):
        if not isinstance(op, dict):
            return op
        for index in (op.get("complete_index"), op.get("invoke_index")):
            node = by_index.get(index, {}).get("node")
            if node is not None:
                return {**op, "node": node}
        return op

    out = dict(failure)
    for field in ("linearized_prefix", "concurrent", "also_blocked"):
        if isinstance(failure.get(field), list):
            out[field] = [annotate(op) for op in failure[field]]
    if failure.get("op"):
        out["op"] = annotate(failure["op"])
    return out


def _checker_results(results: dict, history: list[dict]) -> dict:
    checkers = {k: v for k, v in results.items() if isinstance(v, dict) and "valid" in v}
    if not any(r.get("failures") for r in checkers.values()):
        return checkers
    by_index = {op.get("index"): op for op in history if op.get("index") is not None}
    return {k: ({**r, "failures": [_with_nodes(f, by_index) for f in r["failures"]
                                   if isinstance(f, dict)]}
                if isinstance(r.get("failures"), list) else r)
            for k, r in checkers.items()}


def _tail(path: Path) -> tuple[str, int]:
    """The last lines of a file (bounded in lines and bytes), and the file's size."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - LOG_TAIL_BYTES))
        data = f.read(LOG_TAIL_BYTES)
    lines = data.decode("utf-8", "replace").splitlines()
    if size > LOG_TAIL_BYTES and lines:
        lines = lines[1:]            # the first line was cut in the middle
    return "\n".join(lines[-LOG_TAIL_LINES:]), size


def node_logs(run_dir: Path | None) -> list[dict]:
    """[{node, path, href, size, tail}] of the logs collected under run_dir/nodes/, at most
    LOG_FILES files; symbolic links are not followed (a node wrote them)."""
    if run_dir is None:
        return []
    root = Path(run_dir) / "nodes"
    if not root.is_dir() or root.is_symlink():
        return []
    logs = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            relative = path.relative_to(root)
            try:
                tail, size = _tail(path)
            except OSError as e:
                tail, size = f"(cannot read: {e})", 0
            logs.append({"node": relative.parts[0] if len(relative.parts) > 1 else "",
                         "path": str(relative),
                         "href": "nodes/" + quote(relative.as_posix()),
                         "size": size, "tail": tail})
            if len(logs) >= LOG_FILES:
                return logs
    return logs


def render(*, title: str, config: dict, history: list[dict], results: dict,
           run_dir: Path | None = None) -> str:
    """The report as a string. `run_dir`: the run's folder, for the nodes' logs (None for
    a report of a history file, which has none)."""
    nemesis_events = [op for op in history if op.get("process") == NEMESIS]
    has_times = has_real_times(history)
    return _env.get_template("report.html.j2").render(
        title=title, config=config, results=results, verdict=verdict_word(results.get("valid")),
        valid=results.get("valid"), counts=op_counts(history),
        plot=Markup(latency_svg(history)), throughput=Markup(throughput_svg(history)),
        timeline=Markup(timeline_svg(history)), has_times=has_times,
        clock=Markup(clock_svg(history)),
        periods=fault_periods(history), nemesis_events=nemesis_events,
        checker_results=_checker_results(results, history), logs=node_logs(run_dir),
        log_bounds={"lines": LOG_TAIL_LINES, "bytes": LOG_TAIL_BYTES, "files": LOG_FILES})


def write(path: Path, **kwargs) -> None:
    """Write the report. A run's report (its config has a `run_id`) shows the logs under
    the folder it is written to. A lone surrogate (JSON can spell one, "\\ud800") cannot
    be encoded as UTF-8: it is written as "?" rather than failing the report."""
    if kwargs.get("run_dir") is None and (kwargs.get("config") or {}).get("run_id"):
        kwargs["run_dir"] = Path(path).parent
    Path(path).write_text(render(**kwargs), encoding="utf-8", errors="replace")
