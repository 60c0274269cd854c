"""The clock plot: each node's offset as a step line from the nemesis events, only in
reports of runs with clock faults."""

import re

from reports import html
from reports.clocks import clock_events, clock_svg

from .test_report import sample_history

S = 1_000_000_000


def clock_history():
    ops = [
        {"index": 0, "type": "invoke", "process": 0, "f": "read", "value": None, "time": 0, "key": 1},
        {"index": 1, "type": "ok", "process": 0, "f": "read", "value": None, "time": 1 * S, "key": 1},
        {"index": 2, "type": "info", "process": "nemesis", "f": "clock", "time": 10 * S,
         "value": {"phase": "start", "mode": "bump", "target": "all", "nodes": ["n1", "n2"],
                   "offsets_ms": {"n1": 2500.0, "n2": -40000.0, "n3": 0.0}}},
        {"index": 3, "type": "info", "process": "nemesis", "f": "clock", "time": 20 * S,
         "value": {"phase": "end", "offsets_ms": {"n1": 0.0, "n2": 0.0, "n3": 0.0}}},
        {"index": 4, "type": "info", "process": "nemesis", "f": "clock", "time": 30 * S,
         "value": {"phase": "start", "mode": "strobe", "target": "one", "nodes": ["n3"],
                   "strobe": {"n3": {"low_ms": 0.0, "high_ms": 9000.0, "period_ms": 10.0,
                                     "duration_s": 5.0}},
                   "offsets_ms": {"n1": 0.0, "n2": 0.0, "n3": 0.0}}},
        {"index": 5, "type": "info", "process": "nemesis", "f": "clock", "time": 40 * S,
         "value": {"phase": "end", "offsets_ms": {"n1": 0.0, "n2": 0.0, "n3": 0.0}}},
        {"index": 6, "type": "invoke", "process": 0, "f": "read", "value": None, "time": 50 * S, "key": 1},
        {"index": 7, "type": "ok", "process": 0, "f": "read", "value": None, "time": 51 * S, "key": 1},
    ]
    return ops


def test_the_offsets_in_force_are_steps_per_node():
    events = clock_events(clock_history())
    assert [t for t, _, _ in events] == [10, 20, 30, 40]
    svg = clock_svg(clock_history())
    lines = re.findall(r'<polyline[^>]*points="([^"]*)"><title>(n\d)</title>', svg)
    assert [node for _, node in lines] == ["n1", "n2", "n3"]
    ys = {node: sorted({float(p.split(",")[1]) for p in pts.split()}) for pts, node in lines}
    assert len(ys["n1"]) == 2 and len(ys["n2"]) == 2 and len(ys["n3"]) == 1
    zero = ys["n3"][0]
    assert min(ys["n1"]) < zero < max(ys["n2"])      # n1 went up, n2 down (SVG y grows down)
    assert zero - min(ys["n1"]) < max(ys["n2"]) - zero   # 2.5 s is drawn smaller than 40 s
    assert "n3 strobe 0..9000 ms 30.0-35.0s" in svg and 'fill="url(#strobe)"' in svg
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")   # self-contained


def test_the_report_has_a_clock_plot_only_with_clock_faults():
    page = html.render(title="t", config={"seed": 1, "nodes": 3}, history=clock_history(),
                       results={"valid": True})
    assert 'id="clocks"' in page and "clock offsets over time" in page
    page = html.render(title="t", config={"seed": 1, "nodes": 3}, history=sample_history(),
                       results={"valid": True})
    assert 'id="clocks"' not in page and clock_svg(sample_history()) == ""


def test_hostile_values_are_escaped_or_ignored():
    history = clock_history()
    history[2]["value"]["offsets_ms"] = {"<script>": 5.0, "n2": "lots", "n3": True}
    svg = clock_svg(history)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
